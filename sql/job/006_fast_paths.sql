-- Fast paths: bulk enqueue, NOTIFY only when a worker waits, and batched
-- completion.
--
-- A transaction that calls pg_notify takes a database-wide lock while it
-- commits, so transactions that notify commit one at a time.  A NOTIFY per
-- enqueue therefore caps the whole server at the rate of one fsync per
-- commit.  Producers notify only when a worker of the queue waits for
-- work, which a worker records in herald.waiters before it sleeps.
--
-- No wake-up is lost between the two sides.  An enqueue holds a shared
-- advisory lock on its queue from the moment it reads herald.waiters until
-- it commits.  A worker writes its row while it holds the same lock
-- exclusively, then claims once more before it sleeps.  So either the
-- producer sees the row and notifies, or its job is committed before the
-- worker's last claim looks.  The lock key is (herald.wait_lock_class(),
-- hashtext(queue)); two queues with the same hash share a lock, which
-- costs nothing but an occasional wait.

-- Workers waiting for work, one row per idle worker.  A row of a worker
-- that died goes with its registration in herald.processes.
CREATE TABLE herald.waiters (
    worker_id       text PRIMARY KEY
                    REFERENCES herald.processes (id) ON DELETE CASCADE,
    queue           text NOT NULL,
    since           timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX waiters_queue_idx ON herald.waiters (queue);

-- The first half of the advisory lock key of every queue, a constant so
-- that producers and workers agree: hashtext('herald.waiters') on
-- PostgreSQL 15, to keep clear of other users of two-key advisory locks.
CREATE FUNCTION herald.wait_lock_class() RETURNS integer
LANGUAGE sql IMMUTABLE AS $$
    SELECT -89426726;
$$;

-- Wake the queue's waiting workers when the transaction commits, if any
-- waits.  PostgreSQL sends one notification per channel and payload per
-- transaction, so calling this for each job of a transaction notifies a
-- queue at most once.
--
-- NOTE: a producer transaction at REPEATABLE READ or SERIALIZABLE reads
-- herald.waiters with its first snapshot and can miss a worker that went
-- idle later; that worker then finds the job at its next poll.
CREATE FUNCTION herald.wake(p_queue text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock_shared(herald.wait_lock_class(),
        hashtext(p_queue));
    IF EXISTS (SELECT 1 FROM herald.waiters w WHERE w.queue = p_queue) THEN
        PERFORM pg_notify('herald', p_queue);
    END IF;
END
$$;

-- Record that p_worker waits for jobs of p_queue.  Returns true when no
-- enqueue into the queue was in progress, so that a claim after this
-- commits sees every job whose producer did not notify.  On false the
-- row is written all the same, but the caller must call again shortly,
-- because a producer that has not committed yet may have read the table
-- before the row was there.  Never waits for a lock.
CREATE FUNCTION herald.wait_begin(p_worker text, p_queue text)
RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    v_locked boolean;
BEGIN
    v_locked := pg_try_advisory_xact_lock(herald.wait_lock_class(),
        hashtext(p_queue));
    INSERT INTO herald.waiters AS w (worker_id, queue)
    VALUES (p_worker, p_queue)
    ON CONFLICT (worker_id) DO UPDATE
        SET queue = excluded.queue, since = now()
        WHERE w.queue IS DISTINCT FROM excluded.queue;
    RETURN v_locked;
END
$$;

-- Record that p_worker is busy again: producers stop notifying for it.
CREATE FUNCTION herald.wait_end(p_worker text) RETURNS void
LANGUAGE sql AS $$
    DELETE FROM herald.waiters WHERE worker_id = p_worker;
$$;

-- The enqueue of 001 with the same checks, messages and signature.  A
-- job due now wakes the queue only when one of its workers waits (the
-- body of herald.wake, written out), and the checks are plain
-- expressions, which PL/pgSQL evaluates without running a query.
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
    IF task IS NULL OR task !~ '^[A-Za-z0-9][A-Za-z0-9_.:-]{0,62}$' THEN
        PERFORM herald.check_name('task', task);
    END IF;
    IF queue IS NULL OR queue !~ '^[A-Za-z0-9][A-Za-z0-9_.:-]{0,62}$' THEN
        PERFORM herald.check_name('queue', queue);
    END IF;
    IF payload IS NULL OR jsonb_typeof(payload) NOT IN ('object', 'array') THEN
        RAISE EXCEPTION 'payload must be a JSON object or array'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF priority IS NULL OR priority NOT BETWEEN -32768 AND 32767 THEN
        RAISE EXCEPTION 'priority % is out of range', priority
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Use a whole number from -32768 to 32767.';
    END IF;
    IF max_attempts IS NULL OR max_attempts NOT BETWEEN 1 AND 1000 THEN
        RAISE EXCEPTION 'max_attempts % is out of range', max_attempts
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Use a whole number from 1 to 1000.';
    END IF;

    INSERT INTO herald.jobs AS j
        (task, queue, payload, priority, run_at, max_attempts,
         event_id, event_type)
    VALUES (enqueue.task, enqueue.queue, enqueue.payload, enqueue.priority,
            coalesce(enqueue.run_at, now()), enqueue.max_attempts,
            enqueue.event_id, enqueue.event_type)
    RETURNING j.id INTO v_id;

    IF enqueue.event_type IS NOT NULL THEN
        PERFORM herald.count_event_jobs(ARRAY[enqueue.event_type],
            ARRAY[1::bigint]);
    END IF;
    IF enqueue.run_at IS NULL OR enqueue.run_at <= now() THEN
        PERFORM pg_advisory_xact_lock_shared(herald.wait_lock_class(),
            hashtext(enqueue.queue));
        IF EXISTS (SELECT 1 FROM herald.waiters w
                   WHERE w.queue = enqueue.queue) THEN
            PERFORM pg_notify('herald', enqueue.queue);
        END IF;
    END IF;
    RETURN v_id;
END
$$;

-- The rows of a herald.enqueue_many() argument with their defaults
-- filled in, numbered from 1 in array order.
CREATE FUNCTION herald.enqueue_rows(p_jobs jsonb)
RETURNS TABLE (ord bigint, task text, queue text, payload jsonb,
    priority integer, run_at timestamptz, max_attempts integer)
LANGUAGE sql STABLE AS $$
    SELECT r.ord, r.task, coalesce(r.queue, 'default'),
        coalesce(r.payload, '{}'), coalesce(r.priority, 0),
        coalesce(to_timestamp(r.run_at_us / 1000000)
            + (r.run_at_us % 1000000) * interval '1 microsecond', now()),
        coalesce(r.max_attempts, 10)
    FROM ROWS FROM (jsonb_to_recordset(p_jobs)
        AS (task text, queue text, payload jsonb, priority integer,
            run_at_us bigint, max_attempts integer))
        WITH ORDINALITY AS r(task, queue, payload, priority, run_at_us,
            max_attempts, ord);
$$;

-- Enqueue many jobs in one statement, all or none, and return their ids
-- in the order of p_jobs.  p_jobs is a JSON array of objects with the
-- keys task, queue, payload, priority, run_at_us (Unix microseconds) and
-- max_attempts; every key but task may be missing or null, which gives
-- the defaults of herald.enqueue.  The checks are those of herald.enqueue,
-- and an error names the first bad job by its position, counted from 1.
CREATE FUNCTION herald.enqueue_many(p_jobs jsonb) RETURNS SETOF bigint
LANGUAGE plpgsql AS $$
DECLARE
    v_ids bigint[];
    v_bad bigint;
    v_queues text[];
    v_queue text;
    v_job record;
BEGIN
    IF p_jobs IS NULL OR jsonb_typeof(p_jobs) <> 'array' THEN
        RAISE EXCEPTION 'jobs must be a JSON array'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    -- One statement reads p_jobs once: it checks every row and inserts
    -- them only when none is bad.  Identity values follow the order of
    -- the rows inserted, so sorting the new ids gives the order of p_jobs.
    WITH b AS MATERIALIZED (
        SELECT * FROM herald.enqueue_rows(p_jobs)
    ), checked AS (
        SELECT min(b.ord) FILTER (WHERE b.task IS NULL
                OR b.task !~ '^[A-Za-z0-9][A-Za-z0-9_.:-]{0,62}$'
                OR b.queue !~ '^[A-Za-z0-9][A-Za-z0-9_.:-]{0,62}$'
                OR jsonb_typeof(b.payload) NOT IN ('object', 'array')
                OR b.priority NOT BETWEEN -32768 AND 32767
                OR b.max_attempts NOT BETWEEN 1 AND 1000) AS bad,
            array_agg(DISTINCT b.queue) FILTER (WHERE b.run_at <= now())
                AS queues
        FROM b
    ), inserted AS (
        INSERT INTO herald.jobs AS j
            (task, queue, payload, priority, run_at, max_attempts)
        SELECT b.task, b.queue, b.payload, b.priority, b.run_at,
            b.max_attempts
        FROM b, checked
        WHERE checked.bad IS NULL
        ORDER BY b.ord
        RETURNING j.id
    )
    SELECT (SELECT array_agg(i.id ORDER BY i.id) FROM inserted i),
        checked.bad, checked.queues
    INTO v_ids, v_bad, v_queues
    FROM checked;

    IF v_bad IS NOT NULL THEN
        SELECT * INTO v_job FROM herald.enqueue_rows(p_jobs) b
        WHERE b.ord = v_bad;
        IF v_job.task IS NULL
           OR v_job.task !~ '^[A-Za-z0-9][A-Za-z0-9_.:-]{0,62}$' THEN
            RAISE EXCEPTION 'job %: invalid task name "%"', v_bad, v_job.task
                USING ERRCODE = 'invalid_parameter_value';
        ELSIF v_job.queue !~ '^[A-Za-z0-9][A-Za-z0-9_.:-]{0,62}$' THEN
            RAISE EXCEPTION 'job %: invalid queue name "%"', v_bad,
                v_job.queue
                USING ERRCODE = 'invalid_parameter_value';
        ELSIF jsonb_typeof(v_job.payload) NOT IN ('object', 'array') THEN
            RAISE EXCEPTION 'job %: payload must be a JSON object or array',
                v_bad
                USING ERRCODE = 'invalid_parameter_value';
        ELSIF v_job.priority NOT BETWEEN -32768 AND 32767 THEN
            RAISE EXCEPTION 'job %: priority % is out of range', v_bad,
                v_job.priority
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'Use a whole number from -32768 to 32767.';
        ELSE
            RAISE EXCEPTION 'job %: max_attempts % is out of range', v_bad,
                v_job.max_attempts
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'Use a whole number from 1 to 1000.';
        END IF;
    END IF;

    FOREACH v_queue IN ARRAY coalesce(v_queues, '{}'::text[]) LOOP
        PERFORM herald.wake(v_queue);
    END LOOP;
    RETURN QUERY SELECT unnest(coalesce(v_ids, '{}'::bigint[]));
END
$$;

-- Count jobs created from events with one upsert per event type and
-- statement, instead of the row trigger of 004, which ran a PL/pgSQL
-- upsert for every job and cost the relay about 40 % of its insert time
-- (500-job batches of herald.relay: 100 a second with the trigger, 175
-- without).  The only functions that create jobs from events, herald.relay
-- and herald.enqueue with an event type, call this instead.  As before,
-- the first count of a minute and type deletes that type's counters older
-- than a week.
CREATE FUNCTION herald.count_event_jobs(p_types text[], p_counts bigint[])
RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_new text[];
BEGIN
    WITH counted AS (
        INSERT INTO herald.event_counters AS c (minute, event_type, jobs)
        SELECT date_trunc('minute', now()), t.event_type, t.jobs
        FROM unnest(p_types, p_counts) AS t(event_type, jobs)
        ON CONFLICT (minute, event_type) DO UPDATE
            SET jobs = c.jobs + excluded.jobs
        RETURNING c.event_type, c.xmax = 0 AS inserted
    )
    SELECT array_agg(event_type) FILTER (WHERE inserted) INTO v_new
    FROM counted;
    IF v_new IS NOT NULL THEN
        DELETE FROM herald.event_counters
        WHERE event_type = ANY (v_new)
          AND minute < now() - interval '7 days';
    END IF;
END
$$;

DROP TRIGGER jobs_count_event ON herald.jobs;

-- The relay of 003 with the same signature, waking each queue only when
-- one of its workers waits, and counting its jobs per event type.
CREATE OR REPLACE FUNCTION herald.relay(p_origin text, p_ids bigint[],
    p_jobs jsonb)
RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    v_count bigint;
    v_queues text[];
    v_queue text;
    v_types text[];
    v_counts bigint[];
BEGIN
    WITH fresh AS (
        INSERT INTO herald.relayed (origin, outbox_id)
        SELECT p_origin, unnest(p_ids)
        ON CONFLICT DO NOTHING
        RETURNING outbox_id
    ), inserted AS (
        INSERT INTO herald.jobs
            (task, queue, payload, priority, run_at, max_attempts,
             event_id, event_type)
        SELECT r.task, r.queue, r.payload, coalesce(r.priority, 0),
            coalesce(to_timestamp(r.run_at_us / 1e6), now()),
            coalesce(r.max_attempts, 10), r.event_id, r.event_type
        FROM jsonb_to_recordset(p_jobs) AS r(outbox_id bigint, task text,
            queue text, payload jsonb, priority smallint, run_at_us bigint,
            max_attempts integer, event_id text, event_type text)
        WHERE r.outbox_id IN (SELECT outbox_id FROM fresh)
        ORDER BY r.outbox_id
        RETURNING queue, run_at, event_type
    ), types AS (
        SELECT event_type, count(*) AS jobs FROM inserted
        WHERE event_type IS NOT NULL
        GROUP BY event_type
    )
    SELECT (SELECT count(*) FROM inserted),
        (SELECT array_agg(DISTINCT queue) FROM inserted
         WHERE run_at <= now()),
        (SELECT array_agg(event_type ORDER BY event_type) FROM types),
        (SELECT array_agg(jobs ORDER BY event_type) FROM types)
    INTO v_count, v_queues, v_types, v_counts;

    IF v_types IS NOT NULL THEN
        PERFORM herald.count_event_jobs(v_types, v_counts);
    END IF;
    FOREACH v_queue IN ARRAY coalesce(v_queues, '{}'::text[]) LOOP
        PERFORM herald.wake(v_queue);
    END LOOP;
    RETURN v_count;
END
$$;

-- Delete finished jobs whose lease tokens still match, count them with
-- one counter update per queue and task, and return the ids deleted.  A
-- job missing from the result was handed to another worker.
CREATE FUNCTION herald.complete_many(p_ids bigint[], p_tokens bigint[])
RETURNS SETOF bigint
LANGUAGE sql AS $$
    WITH done AS (
        DELETE FROM herald.jobs j
        USING unnest(p_ids, p_tokens) AS c(id, token)
        WHERE j.id = c.id AND j.lease_token = c.token
        RETURNING j.id, j.queue, j.task
    ), counted AS (
        INSERT INTO herald.counters AS c (minute, queue, task, completed)
        SELECT date_trunc('minute', now()), d.queue, d.task, count(*)
        FROM done d
        GROUP BY d.queue, d.task
        ON CONFLICT (minute, queue, task) DO UPDATE
            SET completed = c.completed + excluded.completed
    )
    SELECT d.id FROM done d;
$$;
