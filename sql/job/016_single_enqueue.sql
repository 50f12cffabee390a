-- A cheaper single enqueue.
--
-- Measured on PostgreSQL 15 as the best of 30 batches of 100 calls in one
-- transaction, a call of herald.enqueue() took about 31 us in the server.
-- An insert of the same row into herald.jobs takes 21 us of it: 7 us for the
-- three check constraints, which the server reads and plans again for
-- every statement, and about 7 us for the count trigger.  The other 10 us
-- were the function itself.  It matched two names against the bounded
-- repetition {0,62}, which PostgreSQL 15 matches about ten times slower
-- than a star (2.4 us for both names).  It evaluated five checks one by
-- one, and it ran two queries to wake the queue.
--
-- Here the function checks a star pattern and the length, evaluates all
-- checks as one expression and leaves the messages to
-- herald.enqueue_fail().  It takes the advisory lock in an expression and
-- reads herald.waiters in the insert.  The count trigger appends the row
-- of a one-job insert without grouping.  A call now takes about 25 us.

-- Raise the error of the first invalid argument of herald.enqueue(), in
-- the order and with the messages of herald.enqueue() before this
-- migration.  Return normally when every argument is valid.
CREATE FUNCTION herald.enqueue_fail(p_task text, p_queue text,
    p_payload jsonb, p_priority integer, p_max_attempts integer)
RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM herald.check_name('task', p_task);
    PERFORM herald.check_name('queue', p_queue);
    IF p_payload IS NULL
       OR jsonb_typeof(p_payload) NOT IN ('object', 'array') THEN
        RAISE EXCEPTION 'payload must be a JSON object or array'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_priority IS NULL OR p_priority NOT BETWEEN -32768 AND 32767 THEN
        RAISE EXCEPTION 'priority % is out of range', p_priority
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Use a whole number from -32768 to 32767.';
    END IF;
    IF p_max_attempts IS NULL OR p_max_attempts NOT BETWEEN 1 AND 1000 THEN
        RAISE EXCEPTION 'max_attempts % is out of range', p_max_attempts
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Use a whole number from 1 to 1000.';
    END IF;
END
$$;

-- The enqueue of 006 with the same checks, messages, signature and
-- wake-up.  The name pattern is that of herald.check_name, with the
-- length checked apart.  The shared advisory lock is now taken before the
-- insert, which reads herald.waiters.  At READ COMMITTED the insert takes
-- its snapshot after the lock, so the protocol of 006 holds.
CREATE OR REPLACE FUNCTION herald.enqueue(
    task text,
    queue text DEFAULT 'default',
    payload jsonb DEFAULT '{}',
    priority integer DEFAULT 0,
    run_at timestamptz DEFAULT NULL,
    max_attempts integer DEFAULT 10,
    event_id text DEFAULT NULL,
    event_type text DEFAULT NULL) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    v_id bigint;
    v_due boolean;
    v_wake boolean;
    v_locked text;
BEGIN
    IF task IS NULL OR length(task) > 63
       OR task !~ '^[A-Za-z0-9][A-Za-z0-9_.:-]*$'
       OR queue IS NULL OR length(queue) > 63
       OR queue !~ '^[A-Za-z0-9][A-Za-z0-9_.:-]*$'
       OR payload IS NULL
       OR jsonb_typeof(payload) NOT IN ('object', 'array')
       OR priority IS NULL OR priority NOT BETWEEN -32768 AND 32767
       OR max_attempts IS NULL OR max_attempts NOT BETWEEN 1 AND 1000 THEN
        PERFORM herald.enqueue_fail(task, queue, payload, priority,
            max_attempts);
    END IF;

    v_due := enqueue.run_at IS NULL OR enqueue.run_at <= now();
    IF v_due THEN
        -- PERFORM would run a query, but an assignment is evaluated as
        -- an expression.  The void result is stored as ''.
        v_locked := pg_advisory_xact_lock_shared(herald.wait_lock_class(),
            hashtext(enqueue.queue));
    END IF;

    INSERT INTO herald.jobs AS j
        (task, queue, payload, priority, run_at, max_attempts,
         event_id, event_type)
    VALUES (enqueue.task, enqueue.queue, enqueue.payload, enqueue.priority,
            coalesce(enqueue.run_at, now()), enqueue.max_attempts,
            enqueue.event_id, enqueue.event_type)
    RETURNING j.id, v_due AND EXISTS (SELECT 1 FROM herald.waiters w
                                      WHERE w.queue = enqueue.queue)
    INTO v_id, v_wake;

    IF enqueue.event_type IS NOT NULL THEN
        PERFORM herald.count_event_jobs(ARRAY[enqueue.event_type],
            ARRAY[1::bigint]);
    END IF;
    IF v_wake THEN
        PERFORM pg_notify('herald', enqueue.queue);
    END IF;
    RETURN v_id;
END
$$;

-- The insert trigger of 013.  A statement that inserts one job, as
-- herald.enqueue() does, appends its row without grouping, because the
-- hash table of the grouping cost more than the row itself.
CREATE OR REPLACE FUNCTION herald.count_jobs_inserted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT FROM inserted OFFSET 1) THEN
        INSERT INTO herald.count_deltas (queue, task, event_type, kind,
            minute, jobs)
        SELECT n.queue, n.task, coalesce(n.event_type, ''),
            CASE WHEN n.attempt > 0 THEN 'retry' ELSE 'new' END,
            herald.count_minute(n.run_at), count(*)
        FROM inserted n
        GROUP BY 1, 2, 3, 4, 5;
    ELSE
        INSERT INTO herald.count_deltas (queue, task, event_type, kind,
            minute, jobs)
        SELECT n.queue, n.task, coalesce(n.event_type, ''),
            CASE WHEN n.attempt > 0 THEN 'retry' ELSE 'new' END,
            herald.count_minute(n.run_at), 1
        FROM inserted n;
    END IF;
    RETURN NULL;
END
$$;

-- Privileges (see 007).  CREATE OR REPLACE kept the grants of
-- herald.enqueue, not its settings.
ALTER FUNCTION herald.enqueue(text, text, jsonb, integer, timestamptz,
    integer, text, text)
    SECURITY DEFINER SET search_path = pg_catalog, herald, pg_temp;
REVOKE ALL ON FUNCTION
    herald.enqueue_fail(text, text, jsonb, integer, integer)
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    herald.enqueue_fail(text, text, jsonb, integer, integer)
    TO herald_worker;
