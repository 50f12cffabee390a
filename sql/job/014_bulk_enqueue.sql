-- Bulk enqueue from column arrays.
--
-- herald.enqueue_many(jsonb) spent half of a batch turning JSON into rows
-- and checking them.  A batch of 1000 cost 8 to 9 ms in the server, where
-- inserting 1000 rows into herald.jobs costs 4 to 5 ms.
-- herald.enqueue_arrays takes the batch as one array per column, which a
-- client sends in binary, so the server parses no text but the payloads.
-- herald.enqueue_many stays as it is for the clients that call it.

-- Enqueue many jobs in one statement, all or none, and return their ids
-- in the order of the arrays.  Element i of every array describes job i.
-- The arrays must have as many elements as p_tasks, but any argument
-- other than p_tasks may be NULL as a whole.  A NULL array or element
-- gives the default of herald.enqueue: queue 'default', payload {},
-- priority 0, run_at now, max_attempts 10.  The checks and messages are
-- those of herald.enqueue_many, and an error names the first bad job by
-- its position, counted from 1.
CREATE FUNCTION herald.enqueue_arrays(
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
    -- exception raised below takes back the rows inserted.  The name
    -- pattern is that of herald.check_name with the length checked
    -- apart, because PostgreSQL 15 matches the bounded repetition {0,62}
    -- about ten times slower than a star: 3 ms for the names of 1000
    -- jobs.  Identity values follow the order of the rows inserted, so
    -- sorting the new ids gives the order of the arrays.
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
            p_priorities, p_max_attempts);
    END IF;
    FOREACH v_queue IN ARRAY coalesce(v_queues, '{}'::text[]) LOOP
        PERFORM herald.wake(v_queue);
    END LOOP;
    RETURN v_ids;
END
$$;

-- Raise the error of the first bad job of a herald.enqueue_arrays() call,
-- with the checks and messages of herald.enqueue_many.
CREATE FUNCTION herald.enqueue_arrays_fail(p_tasks text[],
    p_queues text[], p_payloads jsonb[], p_priorities integer[],
    p_max_attempts integer[])
RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_job record;
BEGIN
    SELECT b.ord, b.task, b.queue, b.payload, b.priority, b.max_attempts
    INTO v_job
    FROM unnest(p_tasks, p_queues, p_payloads, p_priorities,
        p_max_attempts) WITH ORDINALITY
        AS b(task, queue, payload, priority, max_attempts, ord)
    WHERE b.task IS NULL
       OR b.task !~ '^[A-Za-z0-9][A-Za-z0-9_.:-]{0,62}$'
       OR b.queue !~ '^[A-Za-z0-9][A-Za-z0-9_.:-]{0,62}$'
       OR jsonb_typeof(b.payload) NOT IN ('object', 'array')
       OR b.priority NOT BETWEEN -32768 AND 32767
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
    ELSE
        RAISE EXCEPTION 'job %: max_attempts % is out of range',
            v_job.ord, v_job.max_attempts
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Use a whole number from 1 to 1000.';
    END IF;
END
$$;

-- Privileges (see 007): producers enqueue through it, as its owner.
ALTER FUNCTION herald.enqueue_arrays(text[], text[], jsonb[], integer[],
    timestamptz[], integer[])
    SECURITY DEFINER SET search_path = pg_catalog, herald, pg_temp;
REVOKE ALL ON FUNCTION
    herald.enqueue_arrays(text[], text[], jsonb[], integer[], timestamptz[],
        integer[]),
    herald.enqueue_arrays_fail(text[], text[], jsonb[], integer[],
        integer[])
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION herald.enqueue_arrays(text[], text[], jsonb[],
    integer[], timestamptz[], integer[]) TO herald_producer, herald_worker;
