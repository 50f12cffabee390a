-- Waiting workers hold a lock, and producers insert without a function.
--
-- A single enqueue of libherald was a call of herald.enqueue(), a
-- PL/pgSQL function that runs as its owner.  Measured with pgbench on
-- the 2-vCPU VM of bench/RESULTS.md, with 8 clients and one job per
-- transaction, the call ran at 0.75 to 0.85 of a plain insert of one row,
-- while a prepared insert of the same job into herald.inbox ran at 1.04
-- to 1.20.  The difference is the call: the change of role and
-- search_path, the function's own insert through SPI and the two queries
-- of the wake-up.
--
-- The wake-up was why the enqueue had to be a function.  A waiting worker
-- was only a row of herald.waiters.  A producer took the queue's advisory
-- lock in shared mode and then read the table, and the read needed a
-- snapshot taken after the lock, so a second query.  Now the worker that
-- waits for a queue also holds the queue's advisory lock in exclusive
-- mode, at session level, until it stops waiting.  A producer asks for
-- the lock in shared mode and does not wait for it:
--
--   - when it does not get it, a worker waits, and the producer notifies
--     the queue.
--   - when it gets it, it holds it until it commits.  A worker that
--     starts to wait meanwhile cannot take the lock, so it claims again a
--     moment later, and that claim sees the job.
--
-- A lock is no snapshot, so this also holds for a producer at REPEATABLE
-- READ or SERIALIZABLE, which could miss a waiting worker before.
--
-- Only one worker of a queue can hold the lock.  The other workers of the
-- queue that wait keep their rows in herald.waiters, find the lock taken
-- and claim again at growing intervals up to the poll interval.  They
-- need no lock of their own, since a notification reaches every worker
-- that listens.  A holder that stops waiting notifies the queue when
-- another worker has a row, so that one of those takes the lock over.  A
-- holder whose connection ends drops the lock without a notification.
-- Until another worker of the queue takes it, a job due now waits for a
-- worker's next claim or the janitor's next round.
--
-- With the wake-up down to a function call of pg_catalog, a producer may
-- insert into herald.new_jobs, a view of the inbox whose check option
-- admits only the rows that herald.enqueue() accepts.  herald_enqueue()
-- of libherald is one prepared insert into it, which also asks for the
-- lock and notifies.  In three alternating runs of herald-bench, its
-- enqueue_single ran at 0.89 to 0.96 of the plain insert, against 0.71
-- to 0.74 before.  herald.enqueue() stays for SQL, with its checks and
-- messages, and takes the lock in the same way.

-- Record that p_worker waits for jobs of p_queue, and take the queue's
-- lock if no producer or other worker holds it.  Returns true when this
-- connection took it: a claim after this commits sees every job whose
-- producer did not notify.  On false the row is written all the same,
-- and the caller must call again later.  Never waits for a lock.  The
-- lock is taken last, so that no error can leave it behind.
CREATE OR REPLACE FUNCTION herald.wait_begin(p_worker text, p_queue text)
RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO herald.waiters AS w (worker_id, queue)
    VALUES (p_worker, p_queue)
    ON CONFLICT (worker_id) DO UPDATE
        SET queue = excluded.queue, since = now()
        WHERE w.queue IS DISTINCT FROM excluded.queue;
    RETURN pg_try_advisory_lock(herald.wait_lock_class(),
        hashtext(p_queue));
END
$$;

-- Record that p_worker is busy again and drop its lock, so producers stop
-- notifying for it.  A worker's connection holds no other advisory lock
-- at session level, so all of them are released, which also covers a
-- lock taken twice.  When another worker of the queue has a row, the queue is
-- notified, so that one of them takes the lock over.
CREATE OR REPLACE FUNCTION herald.wait_end(p_worker text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_queue text;
BEGIN
    DELETE FROM herald.waiters w WHERE w.worker_id = p_worker
    RETURNING w.queue INTO v_queue;
    PERFORM pg_advisory_unlock_all();
    IF EXISTS (SELECT 1 FROM herald.waiters w WHERE w.queue = v_queue) THEN
        PERFORM pg_notify('herald', v_queue);
    END IF;
END
$$;

-- Wake the queue's waiting workers when the transaction commits, if one
-- holds the queue's lock.  PostgreSQL sends one notification per channel
-- and payload per transaction, so calling this for each job of a
-- transaction notifies a queue at most once.
CREATE OR REPLACE FUNCTION herald.wake(p_queue text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT pg_try_advisory_xact_lock_shared(herald.wait_lock_class(),
        hashtext(p_queue)) THEN
        PERFORM pg_notify('herald', p_queue);
    END IF;
END
$$;

-- The enqueue of 028 with the same checks, messages and signature.  A
-- job due now goes to herald.jobs with a notification when a worker holds
-- the queue's lock, else to the inbox.  A job due later goes to the inbox
-- without the lock.
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

    IF (enqueue.run_at IS NULL OR enqueue.run_at <= now())
       AND NOT pg_try_advisory_xact_lock_shared(herald.wait_lock_class(),
           hashtext(enqueue.queue)) THEN
        INSERT INTO herald.jobs AS j
            (task, queue, payload, priority, run_at, max_attempts,
             event_id, event_type)
        VALUES (enqueue.task, enqueue.queue, enqueue.payload,
            enqueue.priority, coalesce(enqueue.run_at, now()),
            enqueue.max_attempts, enqueue.event_id, enqueue.event_type)
        RETURNING j.id INTO v_id;
        PERFORM pg_notify('herald', enqueue.queue);
    ELSE
        INSERT INTO herald.inbox AS i
            (task, queue, payload, priority, run_at, max_attempts,
             event_id, event_type)
        VALUES (enqueue.task, enqueue.queue, enqueue.payload,
            enqueue.priority, coalesce(enqueue.run_at, now()),
            enqueue.max_attempts, enqueue.event_id, enqueue.event_type)
        RETURNING i.id INTO v_id;
    END IF;
    IF enqueue.event_type IS NOT NULL THEN
        PERFORM herald.count_event_jobs(ARRAY[enqueue.event_type],
            ARRAY[1::bigint]);
    END IF;
    RETURN v_id;
END
$$;
ALTER FUNCTION herald.enqueue(text, text, jsonb, integer, timestamptz,
    integer, text, text) SECURITY DEFINER
    SET search_path = pg_catalog, herald, pg_temp;

-- The jobs a producer may insert itself: a view of the inbox that admits
-- the rows herald.enqueue() accepts, with its defaults.  The check option
-- tests each new row against the view's condition, which is planned with
-- the statement, so a prepared insert plans it once.  A violation raises
-- SQLSTATE 44000 (with_check_option_violation) without saying which
-- column, so SQL producers are better served by herald.enqueue(), whose
-- messages name it.  id and created_at come from the inbox's defaults,
-- and the event columns stay NULL: the jobs of an event come through the
-- relay.
CREATE VIEW herald.new_jobs AS
    SELECT i.id, i.task, i.queue, i.payload, i.priority, i.run_at,
        i.max_attempts
    FROM herald.inbox i
    WHERE length(i.task) <= 63
      AND i.task ~ '^[A-Za-z0-9][A-Za-z0-9_.:-]*$'
      AND length(i.queue) <= 63
      AND i.queue ~ '^[A-Za-z0-9][A-Za-z0-9_.:-]*$'
      AND jsonb_typeof(i.payload) IN ('object', 'array')
      AND i.max_attempts BETWEEN 1 AND 1000
    WITH CHECK OPTION;

ALTER VIEW herald.new_jobs ALTER COLUMN queue SET DEFAULT 'default';
ALTER VIEW herald.new_jobs ALTER COLUMN payload SET DEFAULT '{}';
ALTER VIEW herald.new_jobs ALTER COLUMN priority SET DEFAULT 0;
ALTER VIEW herald.new_jobs ALTER COLUMN run_at SET DEFAULT now();
ALTER VIEW herald.new_jobs ALTER COLUMN max_attempts SET DEFAULT 10;

-- Privileges (see 007).  A producer writes the columns of a job and reads
-- back the id, and nothing else of the inbox: no payload, and no id of
-- its own choosing, which could collide with a job in herald.jobs.  The
-- id's default calls nextval() as the producer, so it may use the
-- sequence: that lets it take ids, not set the sequence back.
REVOKE ALL ON herald.new_jobs FROM PUBLIC;
GRANT INSERT (task, queue, payload, priority, run_at, max_attempts),
    SELECT (id) ON herald.new_jobs TO herald_producer;
GRANT USAGE ON SEQUENCE herald.jobs_id_seq TO herald_producer;
GRANT EXECUTE ON FUNCTION herald.wait_lock_class() TO herald_producer;
