-- A cheaper single enqueue.
--
-- A call of herald.enqueue() took about 31 us in the server, of which an
-- insert into herald.jobs with the same values takes 21 us (its three
-- check constraints, which the server reads and plans again for every
-- statement, about 7 of them; the count trigger about 7).  The rest was
-- the function: two names matched against the bounded repetition
-- {0,62}, which PostgreSQL 15 matches about ten times slower than a
-- star (2.4 us for both), five checks evaluated one by one, and two
-- statements for the wake-up, each started and ended as a query.  Here
-- it checks a star pattern and the length, evaluates every check in one
-- expression and leaves the checks that name the bad value to
-- herald.enqueue_fail(), takes the advisory lock as an expression and
-- reads herald.waiters in the insert itself.  The count trigger inserts
-- one job's row without grouping.  Together about 25 us a call.

-- Raise the error of the first bad argument of herald.enqueue(), in the
-- order and with the messages of herald.enqueue() before this
-- migration.  Returns when every argument is good.
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
-- wake-up.  The name pattern is that of herald.check_name with the
-- length checked apart.  The shared advisory lock is taken before the
-- insert, and the insert reads herald.waiters: at READ COMMITTED its
-- snapshot is taken after the lock, so the protocol of 006 holds, and
-- the lock is held a little longer, until the same commit.
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
        -- An assignment is evaluated as an expression; PERFORM would
        -- run a query.  The function returns void, read as ''.
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
-- herald.enqueue() does, appends its row without the grouping, whose
-- hash table cost more than the row itself.
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
