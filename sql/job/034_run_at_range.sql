-- run_at from 1970 to the end of 9999 in every SQL enqueue, and readers
-- that survive an infinite run_at.
--
-- libherald and herald enqueue accept a run_at from the Unix epoch to
-- 9999-12-31 23:59:59.999999 UTC, but the SQL functions and the view
-- herald.new_jobs took any timestamptz.  A job with run_at 'infinity' or
-- '-infinity' made herald.queue_health() and herald.next_due_ms() fail
-- with "cannot subtract infinite timestamps", so herald status, jobs and
-- metrics failed for every operator and a worker's claim failed for the
-- queue.  A run_at in 1900 gave an oldest wait of 46359 days.
--
-- Every enqueue function now rejects a run_at outside that range with
-- SQLSTATE 22023 and a message that names run_at, and the view admits
-- only that range.  herald.enqueue() tests it in its single check
-- expression, so a valid call costs one more comparison.
-- herald.enqueue_many() also rejects keys that it does not read: it took
-- {"run_at": "2030-01-01T00:00:00Z"} for a job due now, because its key
-- is run_at_us.  A job written before this migration may still have an
-- infinite run_at, so herald.oldest_ready() and herald.next_due_ms() clamp
-- the times they subtract to the range.
--
-- The relay functions are not changed.  The relay of heraldd reads run_at
-- from the outbox, which a producer may write with plain SQL.  It clamps
-- run_at to the range before it calls them (src/lib/outbox.c): a batch
-- that failed would be tried again forever and hold up every row after
-- it.

-- Raise the error of the first invalid argument of herald.enqueue(), in
-- the order of its arguments.  Return normally when every argument is
-- valid.  It replaces the enqueue_fail of 016, which had no run_at.
DROP FUNCTION herald.enqueue_fail(text, text, jsonb, integer, integer);

CREATE FUNCTION herald.enqueue_fail(p_task text, p_queue text,
    p_payload jsonb, p_priority integer, p_run_at timestamptz,
    p_max_attempts integer)
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
    IF p_run_at NOT BETWEEN timestamptz '1970-01-01 00:00:00+00'
                        AND timestamptz '9999-12-31 23:59:59.999999+00' THEN
        RAISE EXCEPTION 'run_at % is out of range', p_run_at
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Use a time from 1970-01-01 00:00:00+00 to 9999-12-31 23:59:59.999999+00, or NULL for now.';
    END IF;
    IF p_max_attempts IS NULL OR p_max_attempts NOT BETWEEN 1 AND 1000 THEN
        RAISE EXCEPTION 'max_attempts % is out of range', p_max_attempts
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Use a whole number from 1 to 1000.';
    END IF;
END
$$;

-- The enqueue of 032 with the range of run_at in its check expression.
-- A NULL run_at makes that comparison NULL, which the IF takes as false.
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
BEGIN
    IF task IS NULL OR length(task) > 63
       OR task !~ '^[A-Za-z0-9][A-Za-z0-9_.:-]*$'
       OR queue IS NULL OR length(queue) > 63
       OR queue !~ '^[A-Za-z0-9][A-Za-z0-9_.:-]*$'
       OR payload IS NULL
       OR jsonb_typeof(payload) NOT IN ('object', 'array')
       OR priority IS NULL OR priority NOT BETWEEN -32768 AND 32767
       OR enqueue.run_at NOT BETWEEN timestamptz '1970-01-01 00:00:00+00'
                                 AND timestamptz '9999-12-31 23:59:59.999999+00'
       OR max_attempts IS NULL OR max_attempts NOT BETWEEN 1 AND 1000 THEN
        PERFORM herald.enqueue_fail(task, queue, payload, priority,
            enqueue.run_at, max_attempts);
    END IF;

    v_due := enqueue.run_at IS NULL OR enqueue.run_at <= now();
    v_wake := (v_due OR enqueue.run_at <= now() + interval '1 minute')
        AND NOT pg_try_advisory_xact_lock_shared(herald.wait_lock_class(),
            hashtext(enqueue.queue));
    IF v_due AND v_wake THEN
        INSERT INTO herald.jobs AS j
            (task, queue, payload, priority, run_at, max_attempts,
             event_id, event_type)
        VALUES (enqueue.task, enqueue.queue, enqueue.payload,
            enqueue.priority, coalesce(enqueue.run_at, now()),
            enqueue.max_attempts, enqueue.event_id, enqueue.event_type)
        RETURNING j.id INTO v_id;
    ELSE
        INSERT INTO herald.inbox AS i
            (task, queue, payload, priority, run_at, max_attempts,
             event_id, event_type)
        VALUES (enqueue.task, enqueue.queue, enqueue.payload,
            enqueue.priority, coalesce(enqueue.run_at, now()),
            enqueue.max_attempts, enqueue.event_id, enqueue.event_type)
        RETURNING i.id INTO v_id;
    END IF;
    IF v_wake THEN
        PERFORM pg_notify('herald', enqueue.queue);
    END IF;
    IF enqueue.event_type IS NOT NULL THEN
        PERFORM herald.count_event_jobs(ARRAY[enqueue.event_type],
            ARRAY[1::bigint]);
    END IF;
    RETURN v_id;
END
$$;

-- The enqueue_checked_id of 010 with the run_at check of
-- herald.enqueue(), for herald.enqueue_unique().  As before, a call
-- whose key another job holds returns that job's id without these checks.
CREATE OR REPLACE FUNCTION herald.enqueue_checked_id(p_id bigint,
    p_task text, p_queue text, p_payload jsonb, p_priority integer,
    p_run_at timestamptz, p_max_attempts integer, p_event_id text,
    p_event_type text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM herald.enqueue_fail(p_task, p_queue, p_payload, p_priority,
        p_run_at, p_max_attempts);

    INSERT INTO herald.jobs
        (id, task, queue, payload, priority, run_at, max_attempts,
         event_id, event_type)
    VALUES (p_id, p_task, p_queue, p_payload, p_priority,
            coalesce(p_run_at, now()), p_max_attempts, p_event_id,
            p_event_type);
    IF p_event_type IS NOT NULL THEN
        PERFORM herald.count_event_jobs(ARRAY[p_event_type],
            ARRAY[1::bigint]);
    END IF;
    IF p_run_at IS NULL OR p_run_at <= now() THEN
        PERFORM herald.wake(p_queue);
    END IF;
END
$$;

-- The enqueue_rows of 006.  run_at is NULL where run_at_us is outside 0
-- to 253402300799999999 (the end of 9999), so that herald.enqueue_many()
-- rejects that job instead of to_timestamp() failing without naming it.
CREATE OR REPLACE FUNCTION herald.enqueue_rows(p_jobs jsonb)
RETURNS TABLE (ord bigint, task text, queue text, payload jsonb,
    priority integer, run_at timestamptz, max_attempts integer)
LANGUAGE sql STABLE AS $$
    SELECT r.ord, r.task, coalesce(r.queue, 'default'),
        coalesce(r.payload, '{}'), coalesce(r.priority, 0),
        CASE WHEN r.run_at_us IS NULL THEN now()
             WHEN r.run_at_us BETWEEN 0 AND 253402300799999999
             THEN to_timestamp(r.run_at_us / 1000000)
                 + (r.run_at_us % 1000000) * interval '1 microsecond'
        END,
        coalesce(r.max_attempts, 10)
    FROM ROWS FROM (jsonb_to_recordset(p_jobs)
        AS (task text, queue text, payload jsonb, priority integer,
            run_at_us bigint, max_attempts integer))
        WITH ORDINALITY AS r(task, queue, payload, priority, run_at_us,
            max_attempts, ord);
$$;

-- The enqueue_many of 006.  Each job must be a JSON object with no keys
-- but task, queue, payload, priority, run_at_us and max_attempts, and
-- run_at_us must lie from 0 to 253402300799999999.
CREATE OR REPLACE FUNCTION herald.enqueue_many(p_jobs jsonb)
RETURNS SETOF bigint
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

    -- Removing the known keys from a job leaves its unrecognized ones.
    SELECT e.ord, jsonb_typeof(e.job) AS type,
        (SELECT min(k.key) FROM jsonb_object_keys(
            CASE WHEN jsonb_typeof(e.job) = 'object'
                 THEN e.job - ARRAY['task', 'queue', 'payload', 'priority',
                     'run_at_us', 'max_attempts']
                 ELSE '{}' END) AS k(key)) AS key
    INTO v_job
    FROM jsonb_array_elements(p_jobs) WITH ORDINALITY AS e(job, ord)
    WHERE jsonb_typeof(e.job) <> 'object'
       OR e.job - ARRAY['task', 'queue', 'payload', 'priority', 'run_at_us',
           'max_attempts'] <> '{}'
    ORDER BY e.ord
    LIMIT 1;
    IF FOUND AND v_job.type <> 'object' THEN
        RAISE EXCEPTION 'job %: must be a JSON object, not %', v_job.ord,
            v_job.type
            USING ERRCODE = 'invalid_parameter_value';
    ELSIF FOUND THEN
        RAISE EXCEPTION 'job %: unrecognized key "%"', v_job.ord, v_job.key
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Use task, queue, payload, priority, run_at_us (Unix time in microseconds) or max_attempts.';
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
                OR b.run_at IS NULL
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
        ELSIF v_job.run_at IS NULL THEN
            RAISE EXCEPTION 'job %: run_at_us % is out of range', v_bad,
                p_jobs -> (v_bad - 1)::integer -> 'run_at_us'
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'Use Unix time in microseconds from 0 to 253402300799999999 (9999-12-31 23:59:59.999999+00), or leave it out for now.';
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

-- Raise the error of the first bad job of a bulk enqueue, checking its
-- columns in the order of herald.enqueue()'s arguments.  It replaces the
-- enqueue_arrays_fail of 014, which had no run_at.
DROP FUNCTION herald.enqueue_arrays_fail(text[], text[], jsonb[], integer[],
    integer[]);

CREATE FUNCTION herald.enqueue_arrays_fail(p_tasks text[],
    p_queues text[], p_payloads jsonb[], p_priorities integer[],
    p_run_at timestamptz[], p_max_attempts integer[])
RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_job record;
BEGIN
    SELECT b.ord, b.task, b.queue, b.payload, b.priority, b.run_at,
        b.max_attempts
    INTO v_job
    FROM unnest(p_tasks, p_queues, p_payloads, p_priorities, p_run_at,
        p_max_attempts) WITH ORDINALITY
        AS b(task, queue, payload, priority, run_at, max_attempts, ord)
    WHERE b.task IS NULL
       OR b.task !~ '^[A-Za-z0-9][A-Za-z0-9_.:-]{0,62}$'
       OR b.queue !~ '^[A-Za-z0-9][A-Za-z0-9_.:-]{0,62}$'
       OR jsonb_typeof(b.payload) NOT IN ('object', 'array')
       OR b.priority NOT BETWEEN -32768 AND 32767
       OR b.run_at NOT BETWEEN timestamptz '1970-01-01 00:00:00+00'
                           AND timestamptz '9999-12-31 23:59:59.999999+00'
       OR b.max_attempts NOT BETWEEN 1 AND 1000
    ORDER BY b.ord
    LIMIT 1;

    IF NOT FOUND THEN
        RAISE EXCEPTION 'jobs were not all inserted, but none is invalid';
    ELSIF v_job.task IS NULL
       OR v_job.task !~ '^[A-Za-z0-9][A-Za-z0-9_.:-]{0,62}$' THEN
        RAISE EXCEPTION 'job %: invalid task name "%"', v_job.ord,
            v_job.task
            USING ERRCODE = 'invalid_parameter_value';
    ELSIF v_job.queue !~ '^[A-Za-z0-9][A-Za-z0-9_.:-]{0,62}$' THEN
        RAISE EXCEPTION 'job %: invalid queue name "%"', v_job.ord,
            v_job.queue
            USING ERRCODE = 'invalid_parameter_value';
    ELSIF jsonb_typeof(v_job.payload) NOT IN ('object', 'array') THEN
        RAISE EXCEPTION 'job %: payload must be a JSON object or array',
            v_job.ord
            USING ERRCODE = 'invalid_parameter_value';
    ELSIF v_job.priority NOT BETWEEN -32768 AND 32767 THEN
        RAISE EXCEPTION 'job %: priority % is out of range', v_job.ord,
            v_job.priority
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Use a whole number from -32768 to 32767.';
    ELSIF v_job.run_at NOT BETWEEN timestamptz '1970-01-01 00:00:00+00'
                               AND timestamptz '9999-12-31 23:59:59.999999+00'
    THEN
        RAISE EXCEPTION 'job %: run_at % is out of range', v_job.ord,
            v_job.run_at
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Use a time from 1970-01-01 00:00:00+00 to 9999-12-31 23:59:59.999999+00, or NULL for now.';
    ELSE
        RAISE EXCEPTION 'job %: max_attempts % is out of range',
            v_job.ord, v_job.max_attempts
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Use a whole number from 1 to 1000.';
    END IF;
END
$$;

-- The enqueue_arrays of 014 with the range of run_at.
CREATE OR REPLACE FUNCTION herald.enqueue_arrays(
    p_tasks text[],
    p_queues text[] DEFAULT NULL,
    p_payloads jsonb[] DEFAULT NULL,
    p_priorities integer[] DEFAULT NULL,
    p_run_at timestamptz[] DEFAULT NULL,
    p_max_attempts integer[] DEFAULT NULL)
RETURNS bigint[]
LANGUAGE plpgsql AS $$
DECLARE
    v_n integer := coalesce(cardinality(p_tasks), 0);
    v_ids bigint[];
    v_queues text[];
    v_queue text;
BEGIN
    IF p_tasks IS NULL THEN
        RAISE EXCEPTION 'jobs must have a task array'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF (p_queues IS NOT NULL AND cardinality(p_queues) <> v_n)
       OR (p_payloads IS NOT NULL AND cardinality(p_payloads) <> v_n)
       OR (p_priorities IS NOT NULL AND cardinality(p_priorities) <> v_n)
       OR (p_run_at IS NOT NULL AND cardinality(p_run_at) <> v_n)
       OR (p_max_attempts IS NOT NULL
           AND cardinality(p_max_attempts) <> v_n) THEN
        RAISE EXCEPTION 'job arrays must have as many elements as the task array (%)',
            v_n
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF v_n = 0 THEN
        RETURN '{}';
    END IF;

    -- One pass over the arrays checks and inserts the jobs.  A bad job
    -- is left out, so fewer ids than jobs mean one was bad, and the
    -- exception raised below takes back the rows inserted (see 014).
    WITH inserted AS (
        INSERT INTO herald.jobs AS j
            (task, queue, payload, priority, run_at, max_attempts)
        SELECT b.task, coalesce(b.queue, 'default'),
            coalesce(b.payload, '{}'), coalesce(b.priority, 0),
            coalesce(b.run_at, now()), coalesce(b.max_attempts, 10)
        FROM unnest(p_tasks, p_queues, p_payloads, p_priorities, p_run_at,
            p_max_attempts) WITH ORDINALITY
            AS b(task, queue, payload, priority, run_at, max_attempts, ord)
        WHERE length(b.task) <= 63
          AND b.task ~ '^[A-Za-z0-9][A-Za-z0-9_.:-]*$'
          AND (b.queue IS NULL OR (length(b.queue) <= 63
               AND b.queue ~ '^[A-Za-z0-9][A-Za-z0-9_.:-]*$'))
          AND (b.payload IS NULL
               OR jsonb_typeof(b.payload) IN ('object', 'array'))
          AND (b.priority IS NULL OR b.priority BETWEEN -32768 AND 32767)
          AND (b.run_at IS NULL
               OR b.run_at BETWEEN timestamptz '1970-01-01 00:00:00+00'
                               AND timestamptz '9999-12-31 23:59:59.999999+00')
          AND (b.max_attempts IS NULL
               OR b.max_attempts BETWEEN 1 AND 1000)
        ORDER BY b.ord
        RETURNING j.id, j.queue, j.run_at
    )
    SELECT (SELECT array_agg(i.id ORDER BY i.id) FROM inserted i),
        (SELECT array_agg(d.queue)
         FROM (SELECT DISTINCT i.queue FROM inserted i
               WHERE i.run_at <= now()) d)
    INTO v_ids, v_queues;

    IF coalesce(cardinality(v_ids), 0) <> v_n THEN
        PERFORM herald.enqueue_arrays_fail(p_tasks, p_queues, p_payloads,
            p_priorities, p_run_at, p_max_attempts);
    END IF;
    FOREACH v_queue IN ARRAY coalesce(v_queues, '{}'::text[]) LOOP
        PERFORM herald.wake(v_queue);
    END LOOP;
    RETURN v_ids;
END
$$;

-- The enqueue_batch of 018 with the range of run_at.
CREATE OR REPLACE FUNCTION herald.enqueue_batch(
    p_count integer,
    p_tasks text[],
    p_queues text[] DEFAULT NULL,
    p_payloads jsonb[] DEFAULT NULL,
    p_priorities integer[] DEFAULT NULL,
    p_run_at timestamptz[] DEFAULT NULL,
    p_max_attempts integer[] DEFAULT NULL)
RETURNS bigint[]
LANGUAGE plpgsql AS $$
DECLARE
    -- The value that every job takes, from an array of one element.
    v_task text;
    v_queue text;
    v_payload jsonb;
    v_priority integer;
    v_run_at timestamptz;
    v_max_attempts integer;
    v_ids bigint[];
    v_queues text[];
BEGIN
    IF p_count IS NULL OR p_count < 0 THEN
        RAISE EXCEPTION 'job count % is out of range', p_count
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_tasks IS NULL THEN
        RAISE EXCEPTION 'jobs must have a task array'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF cardinality(p_tasks) NOT IN (1, p_count)
       OR coalesce(cardinality(p_queues), 1) NOT IN (1, p_count)
       OR coalesce(cardinality(p_payloads), 1) NOT IN (1, p_count)
       OR coalesce(cardinality(p_priorities), 1) NOT IN (1, p_count)
       OR coalesce(cardinality(p_run_at), 1) NOT IN (1, p_count)
       OR coalesce(cardinality(p_max_attempts), 1) NOT IN (1, p_count) THEN
        RAISE EXCEPTION 'job arrays must have one element or as many as there are jobs (%)',
            p_count
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_count = 0 THEN
        RETURN '{}';
    END IF;

    -- An array of one element becomes a value and the array NULL, so
    -- that the insert reads only the arrays that vary from job to job.
    -- When p_count is 1, every array becomes a value.
    IF cardinality(p_tasks) = 1 THEN
        v_task := p_tasks[1];
        p_tasks := NULL;
    END IF;
    IF cardinality(p_queues) = 1 THEN
        v_queue := p_queues[1];
        p_queues := NULL;
    END IF;
    IF cardinality(p_payloads) = 1 THEN
        v_payload := p_payloads[1];
        p_payloads := NULL;
    END IF;
    IF cardinality(p_priorities) = 1 THEN
        v_priority := p_priorities[1];
        p_priorities := NULL;
    END IF;
    IF cardinality(p_run_at) = 1 THEN
        v_run_at := p_run_at[1];
        p_run_at := NULL;
    END IF;
    IF cardinality(p_max_attempts) = 1 THEN
        v_max_attempts := p_max_attempts[1];
        p_max_attempts := NULL;
    END IF;

    -- The values are checked once here and the arrays row by row below
    -- (see 018).
    IF (p_tasks IS NULL AND (v_task IS NULL OR length(v_task) > 63
           OR v_task !~ '^[A-Za-z0-9][A-Za-z0-9_.:-]*$'))
       OR (p_queues IS NULL AND v_queue IS NOT NULL
           AND (length(v_queue) > 63
                OR v_queue !~ '^[A-Za-z0-9][A-Za-z0-9_.:-]*$'))
       OR (p_payloads IS NULL AND v_payload IS NOT NULL
           AND jsonb_typeof(v_payload) NOT IN ('object', 'array'))
       OR (p_priorities IS NULL AND v_priority IS NOT NULL
           AND v_priority NOT BETWEEN -32768 AND 32767)
       OR (p_run_at IS NULL AND v_run_at IS NOT NULL
           AND v_run_at NOT BETWEEN timestamptz '1970-01-01 00:00:00+00'
                                AND timestamptz '9999-12-31 23:59:59.999999+00')
       OR (p_max_attempts IS NULL AND v_max_attempts IS NOT NULL
           AND v_max_attempts NOT BETWEEN 1 AND 1000) THEN
        v_ids := '{}';
    ELSE
        WITH inserted AS (
            INSERT INTO herald.jobs AS j
                (task, queue, payload, priority, run_at, max_attempts)
            SELECT coalesce(b.task, v_task),
                coalesce(b.queue, v_queue, 'default'),
                coalesce(b.payload, v_payload, '{}'),
                coalesce(b.priority, v_priority, 0),
                coalesce(b.run_at, v_run_at, now()),
                coalesce(b.max_attempts, v_max_attempts, 10)
            FROM unnest(p_tasks, p_queues, p_payloads, p_priorities,
                p_run_at, p_max_attempts,
                array_fill(NULL::boolean, ARRAY[p_count])) WITH ORDINALITY
                AS b(task, queue, payload, priority, run_at, max_attempts,
                     fill, ord)
            WHERE (p_tasks IS NULL OR (length(b.task) <= 63
                   AND b.task ~ '^[A-Za-z0-9][A-Za-z0-9_.:-]*$'))
              AND (b.queue IS NULL OR (length(b.queue) <= 63
                   AND b.queue ~ '^[A-Za-z0-9][A-Za-z0-9_.:-]*$'))
              AND (b.payload IS NULL
                   OR jsonb_typeof(b.payload) IN ('object', 'array'))
              AND (b.priority IS NULL
                   OR b.priority BETWEEN -32768 AND 32767)
              AND (b.run_at IS NULL
                   OR b.run_at BETWEEN timestamptz '1970-01-01 00:00:00+00'
                       AND timestamptz '9999-12-31 23:59:59.999999+00')
              AND (b.max_attempts IS NULL
                   OR b.max_attempts BETWEEN 1 AND 1000)
            ORDER BY b.ord
            RETURNING j.id, j.queue, j.run_at
        )
        SELECT (SELECT array_agg(i.id ORDER BY i.id) FROM inserted i),
            (SELECT array_agg(d.queue)
             FROM (SELECT DISTINCT i.queue FROM inserted i
                   WHERE i.run_at <= now()) d)
        INTO v_ids, v_queues;
    END IF;

    IF coalesce(cardinality(v_ids), 0) <> p_count THEN
        PERFORM herald.enqueue_arrays_fail(
            coalesce(p_tasks, array_fill(v_task, ARRAY[p_count])),
            coalesce(p_queues, array_fill(v_queue, ARRAY[p_count])),
            coalesce(p_payloads, array_fill(v_payload, ARRAY[p_count])),
            coalesce(p_priorities,
                array_fill(v_priority, ARRAY[p_count])),
            coalesce(p_run_at, array_fill(v_run_at, ARRAY[p_count])),
            coalesce(p_max_attempts,
                array_fill(v_max_attempts, ARRAY[p_count])));
    END IF;
    FOREACH v_queue IN ARRAY coalesce(v_queues, '{}'::text[]) LOOP
        PERFORM herald.wake(v_queue);
    END LOOP;
    RETURN v_ids;
END
$$;

-- The enqueue_batch_unique of 021 with the range of run_at.
CREATE OR REPLACE FUNCTION herald.enqueue_batch_unique(
    p_count integer,
    p_tasks text[],
    p_queues text[] DEFAULT NULL,
    p_payloads jsonb[] DEFAULT NULL,
    p_priorities integer[] DEFAULT NULL,
    p_run_at timestamptz[] DEFAULT NULL,
    p_max_attempts integer[] DEFAULT NULL,
    p_unique_keys text[] DEFAULT NULL,
    p_unique_for_ms bigint[] DEFAULT NULL,
    p_unique_states text[] DEFAULT NULL)
RETURNS bigint[]
LANGUAGE plpgsql AS $$
DECLARE
    v_bad record;
    -- For each job, the position of the job whose id it gets when its
    -- key is free: its own, or that of an earlier job with its key.
    v_owner bigint[];
    v_new bigint[];
    -- For each job, the id of the job at its v_owner position.
    v_ids bigint[];
    v_take_keys text[];
    v_take_ids bigint[];
    v_take_for_ms bigint[];
    v_take_states text[];
    v_holders bigint[];
    v_result bigint[];
    v_queues text[];
    v_queue text;
BEGIN
    IF p_count IS NULL OR p_count < 0 THEN
        RAISE EXCEPTION 'job count % is out of range', p_count
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_tasks IS NULL THEN
        RAISE EXCEPTION 'jobs must have a task array'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF cardinality(p_tasks) NOT IN (1, p_count)
       OR coalesce(cardinality(p_queues), 1) NOT IN (1, p_count)
       OR coalesce(cardinality(p_payloads), 1) NOT IN (1, p_count)
       OR coalesce(cardinality(p_priorities), 1) NOT IN (1, p_count)
       OR coalesce(cardinality(p_run_at), 1) NOT IN (1, p_count)
       OR coalesce(cardinality(p_max_attempts), 1) NOT IN (1, p_count)
       OR coalesce(cardinality(p_unique_keys), 1) NOT IN (1, p_count)
       OR coalesce(cardinality(p_unique_for_ms), 1) NOT IN (1, p_count)
       OR coalesce(cardinality(p_unique_states), 1) NOT IN (1, p_count)
    THEN
        RAISE EXCEPTION 'job arrays must have one element or as many as there are jobs (%)',
            p_count
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_count = 0 THEN
        RETURN '{}';
    END IF;

    -- From here on every array is NULL or has an element for each job.
    p_tasks := herald.batch_spread(p_tasks, p_count);
    p_queues := herald.batch_spread(p_queues, p_count);
    p_payloads := herald.batch_spread(p_payloads, p_count);
    p_priorities := herald.batch_spread(p_priorities, p_count);
    p_run_at := herald.batch_spread(p_run_at, p_count);
    p_max_attempts := herald.batch_spread(p_max_attempts, p_count);
    p_unique_keys := coalesce(herald.batch_spread(p_unique_keys, p_count),
        array_fill(NULL::text, ARRAY[p_count]));
    p_unique_for_ms := herald.batch_spread(p_unique_for_ms, p_count);
    p_unique_states := herald.batch_spread(p_unique_states, p_count);

    -- The checks of herald.enqueue_batch(), with the name patterns of
    -- herald.check_name written as there (see 014).
    IF EXISTS (
        SELECT FROM unnest(p_tasks, p_queues, p_payloads, p_priorities,
            p_run_at, p_max_attempts) AS b(task, queue, payload, priority,
            run_at, max_attempts)
        WHERE b.task IS NULL OR length(b.task) > 63
           OR b.task !~ '^[A-Za-z0-9][A-Za-z0-9_.:-]*$'
           OR length(b.queue) > 63
           OR b.queue !~ '^[A-Za-z0-9][A-Za-z0-9_.:-]*$'
           OR jsonb_typeof(b.payload) NOT IN ('object', 'array')
           OR b.priority NOT BETWEEN -32768 AND 32767
           OR b.run_at NOT BETWEEN timestamptz '1970-01-01 00:00:00+00'
                               AND timestamptz '9999-12-31 23:59:59.999999+00'
           OR b.max_attempts NOT BETWEEN 1 AND 1000)
    THEN
        PERFORM herald.enqueue_arrays_fail(p_tasks, p_queues, p_payloads,
            p_priorities, p_run_at, p_max_attempts);
    END IF;

    -- The checks of herald.enqueue_unique(), naming the job.
    SELECT b.ord, b.key, b.for_ms, b.states INTO v_bad
    FROM unnest(p_unique_keys, p_unique_for_ms, p_unique_states)
        WITH ORDINALITY AS b(key, for_ms, states, ord)
    WHERE b.key IS NOT NULL
      AND (length(b.key) NOT BETWEEN 1 AND 255
           OR b.for_ms < 0
           OR cardinality(string_to_array(b.states, ',')) = 0
           OR NOT string_to_array(b.states, ',')
               <@ ARRAY['queued', 'running']::text[])
    ORDER BY b.ord
    LIMIT 1;
    IF FOUND THEN
        IF length(v_bad.key) NOT BETWEEN 1 AND 255 THEN
            RAISE EXCEPTION 'job %: unique key must have 1 to 255 characters',
                v_bad.ord
                USING ERRCODE = 'invalid_parameter_value';
        ELSIF v_bad.for_ms < 0 THEN
            RAISE EXCEPTION 'job %: unique period % ms is negative',
                v_bad.ord, v_bad.for_ms
                USING ERRCODE = 'invalid_parameter_value';
        ELSE
            RAISE EXCEPTION 'job %: unique states "%" must be queued, running or both',
                v_bad.ord, v_bad.states
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
    END IF;

    -- Called job by job, herald.enqueue_unique() would give a later job
    -- with the key of an earlier job of the batch the earlier one's id
    -- while that job holds the key.  A new job is queued, so it holds its
    -- key when its states include queued or it has a period ("blocks"),
    -- and else the next job with the key takes the key over.  So of the
    -- jobs with one key, those up to the first that blocks (all of them
    -- when none does) are new jobs, and the jobs after it get its id.
    SELECT array_agg(CASE WHEN o.key IS NULL THEN o.ord
                          ELSE least(o.ord, o.last) END ORDER BY o.ord)
    INTO v_owner
    FROM (SELECT b.ord, b.key,
              coalesce(min(b.ord) FILTER (WHERE b.blocks)
                           OVER (PARTITION BY b.key),
                       max(b.ord) OVER (PARTITION BY b.key)) AS last
          FROM (SELECT k.ord, k.key,
                    coalesce(k.for_ms, 0) > 0 OR k.states IS NULL
                    OR 'queued' = ANY (string_to_array(k.states, ','))
                    AS blocks
                FROM unnest(p_unique_keys, p_unique_for_ms, p_unique_states)
                    WITH ORDINALITY AS k(key, for_ms, states, ord)) b) o;

    -- Ids for the jobs that are their own owners, drawn in the order of
    -- the jobs, so that jobs due at one time are claimed in that order.
    v_new := ARRAY(
        SELECT nextval(pg_get_serial_sequence('herald.jobs', 'id'))
        FROM generate_series(1, (SELECT count(*)
            FROM unnest(v_owner) WITH ORDINALITY AS f(owner, ord)
            WHERE f.owner = f.ord)));
    SELECT array_agg(v_new[c.rank] ORDER BY f.ord) INTO v_ids
    FROM unnest(v_owner) WITH ORDINALITY AS f(owner, ord)
    JOIN (SELECT g.ord, row_number() OVER (ORDER BY g.ord) AS rank
          FROM unnest(v_owner) WITH ORDINALITY AS g(owner, ord)
          WHERE g.owner = g.ord) c ON c.ord = f.owner;

    -- Each key goes to the last of its new jobs, as it would job by job,
    -- with that job's period and states.
    SELECT array_agg(b.key ORDER BY b.ord), array_agg(b.id ORDER BY b.ord),
        array_agg(b.for_ms ORDER BY b.ord),
        array_agg(b.states ORDER BY b.ord)
    INTO v_take_keys, v_take_ids, v_take_for_ms, v_take_states
    FROM (SELECT k.key, k.id, k.for_ms, k.states, k.ord,
              max(k.owner) OVER (PARTITION BY k.key) AS last
          FROM unnest(p_unique_keys, v_ids, p_unique_for_ms,
              p_unique_states, v_owner)
              WITH ORDINALITY AS k(key, id, for_ms, states, owner, ord)
          WHERE k.key IS NOT NULL) b
    WHERE b.ord = b.last;
    IF v_take_keys IS NOT NULL THEN
        v_holders := herald.take_unique_keys(v_take_keys, v_take_ids,
            v_take_for_ms, v_take_states);
    END IF;

    -- Where another job holds a key, every job with the key gets that
    -- job's id and none is inserted.
    SELECT array_agg(CASE WHEN h.holder IS NULL OR h.holder = h.id
                          THEN b.id ELSE h.holder END ORDER BY b.ord)
    INTO v_result
    FROM unnest(p_unique_keys, v_ids) WITH ORDINALITY AS b(key, id, ord)
    LEFT JOIN unnest(v_take_keys, v_take_ids, v_holders) AS h(key, id, holder)
        ON h.key = b.key;

    WITH inserted AS (
        INSERT INTO herald.jobs AS j
            (id, task, queue, payload, priority, run_at, max_attempts)
        SELECT b.id, b.task, coalesce(b.queue, 'default'),
            coalesce(b.payload, '{}'), coalesce(b.priority, 0),
            coalesce(b.run_at, now()), coalesce(b.max_attempts, 10)
        FROM unnest(v_ids, v_result, v_owner, p_tasks, p_queues, p_payloads,
            p_priorities, p_run_at, p_max_attempts) WITH ORDINALITY
            AS b(id, result, owner, task, queue, payload, priority, run_at,
                 max_attempts, ord)
        WHERE b.owner = b.ord AND b.result = b.id
        ORDER BY b.ord
        RETURNING j.queue, j.run_at
    )
    SELECT array_agg(DISTINCT i.queue) FILTER (WHERE i.run_at <= now())
    INTO v_queues
    FROM inserted i;

    FOREACH v_queue IN ARRAY coalesce(v_queues, '{}'::text[]) LOOP
        PERFORM herald.wake(v_queue);
    END LOOP;
    RETURN v_result;
END
$$;

-- The view of 031 with the range of run_at.  The check option rejects a
-- run_at outside it with SQLSTATE 44000, as it does the other columns.
CREATE OR REPLACE VIEW herald.new_jobs AS
    SELECT i.id, i.task, i.queue, i.payload, i.priority, i.run_at,
        i.max_attempts
    FROM herald.inbox i
    WHERE length(i.task) <= 63
      AND i.task ~ '^[A-Za-z0-9][A-Za-z0-9_.:-]*$'
      AND length(i.queue) <= 63
      AND i.queue ~ '^[A-Za-z0-9][A-Za-z0-9_.:-]*$'
      AND jsonb_typeof(i.payload) IN ('object', 'array')
      AND i.max_attempts BETWEEN 1 AND 1000
      AND i.run_at BETWEEN timestamptz '1970-01-01 00:00:00+00'
                       AND timestamptz '9999-12-31 23:59:59.999999+00'
    WITH CHECK OPTION;

-- The oldest_ready of 028, with an oldest time from 1970 on, so that a
-- job enqueued before this migration with run_at '-infinity' or in 1900
-- gives the callers a finite wait to subtract.
CREATE OR REPLACE FUNCTION herald.oldest_ready()
RETURNS TABLE (queue text, oldest timestamptz)
LANGUAGE sql STABLE AS $$
    WITH RECURSIVE pairs AS (
        (SELECT j.queue, j.priority FROM herald.jobs j
         WHERE j.state = 'queued'
         ORDER BY j.queue, j.priority LIMIT 1)
        UNION ALL
        SELECT n.queue, n.priority
        FROM pairs p, LATERAL (
            SELECT j.queue, j.priority FROM herald.jobs j
            WHERE j.state = 'queued'
              AND (j.queue, j.priority) > (p.queue, p.priority)
            ORDER BY j.queue, j.priority LIMIT 1
        ) n
    ), held AS MATERIALIZED (
        SELECT u.id FROM herald.leases l, unnest(l.job_ids) AS u(id)
    )
    SELECT o.queue,
        greatest(min(o.oldest), timestamptz '1970-01-01 00:00:00+00')
    FROM (
    SELECT p.queue, f.run_at AS oldest
    FROM pairs p, LATERAL (
        SELECT j.run_at FROM herald.jobs j
        WHERE j.state = 'queued' AND j.queue = p.queue
          AND j.priority = p.priority AND j.run_at <= now()
          AND j.id NOT IN (SELECT h.id FROM held h)
        ORDER BY j.run_at, j.id LIMIT 1
    ) f
    UNION ALL
    SELECT i.queue, i.run_at FROM herald.inbox i WHERE i.run_at <= now()
    ) o
    GROUP BY o.queue;
$$;

-- The next_due_ms of 032, counting from a run_at of at most the end of
-- 9999, so that a job enqueued before this migration with run_at
-- 'infinity' does not make the claims of its queue fail.
CREATE OR REPLACE FUNCTION herald.next_due_ms(p_queue text)
RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    v_at timestamptz;
BEGIN
    IF EXISTS (SELECT 1 FROM herald.queues q
               WHERE q.name = p_queue AND q.paused) THEN
        RETURN NULL;
    END IF;
    WITH RECURSIVE priorities AS (
        (SELECT j.priority FROM herald.jobs j
         WHERE j.state = 'queued' AND j.queue = p_queue
         ORDER BY j.priority LIMIT 1)
        UNION ALL
        SELECT n.priority
        FROM priorities p, LATERAL (
            SELECT j.priority FROM herald.jobs j
            WHERE j.state = 'queued' AND j.queue = p_queue
              AND j.priority > p.priority
            ORDER BY j.priority LIMIT 1
        ) n
    ), later AS (
        SELECT f.run_at
        FROM priorities p, LATERAL (
            SELECT j.run_at FROM herald.jobs j
            WHERE j.state = 'queued' AND j.queue = p_queue
              AND j.priority = p.priority AND j.run_at > now()
              AND j.cancel_requested_at IS NULL
            ORDER BY j.run_at LIMIT 1
        ) f
        UNION ALL
        SELECT b.run_at
        FROM (SELECT i.run_at FROM herald.inbox i WHERE i.queue = p_queue
              ORDER BY i.id LIMIT 1000) b
        WHERE b.run_at > now()
    )
    SELECT min(l.run_at) INTO v_at FROM later l;
    IF v_at IS NULL THEN
        RETURN NULL;
    END IF;
    RETURN greatest(0, ceil(extract(epoch FROM
        least(v_at, timestamptz '9999-12-31 23:59:59.999999+00')
        - clock_timestamp()) * 1000))::bigint;
END
$$;

-- Privileges (see 007).  CREATE OR REPLACE kept the grants of the
-- replaced functions, not their settings.  The two new check functions
-- run inside the enqueue functions, as their owner.
ALTER FUNCTION herald.enqueue(text, text, jsonb, integer, timestamptz,
    integer, text, text)
    SECURITY DEFINER SET search_path = pg_catalog, herald, pg_temp;
ALTER FUNCTION herald.enqueue_many(jsonb)
    SECURITY DEFINER SET search_path = pg_catalog, herald, pg_temp;
ALTER FUNCTION herald.enqueue_arrays(text[], text[], jsonb[], integer[],
    timestamptz[], integer[])
    SECURITY DEFINER SET search_path = pg_catalog, herald, pg_temp;
ALTER FUNCTION herald.enqueue_batch(integer, text[], text[], jsonb[],
    integer[], timestamptz[], integer[])
    SECURITY DEFINER SET search_path = pg_catalog, herald, pg_temp;
ALTER FUNCTION herald.enqueue_batch_unique(integer, text[], text[],
    jsonb[], integer[], timestamptz[], integer[], text[], bigint[], text[])
    SECURITY DEFINER SET search_path = pg_catalog, herald, pg_temp;
ALTER FUNCTION herald.oldest_ready()
    SECURITY DEFINER SET search_path = pg_catalog, herald, pg_temp;
REVOKE ALL ON FUNCTION
    herald.enqueue_fail(text, text, jsonb, integer, timestamptz, integer),
    herald.enqueue_arrays_fail(text[], text[], jsonb[], integer[],
        timestamptz[], integer[])
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    herald.enqueue_fail(text, text, jsonb, integer, timestamptz, integer),
    herald.enqueue_arrays_fail(text[], text[], jsonb[], integer[],
        timestamptz[], integer[])
    TO herald_worker;
