-- Unique keys for jobs relayed from an outbox.
--
-- herald_uow_enqueue writes a job's unique key into its outbox row (see
-- the application database's migration 005).  The relay calls
-- herald.relay_arrays_unique() for a batch with a keyed row, and
-- herald.relay_arrays() of 015, unchanged, for every other batch.

-- herald.relay_arrays() with three more arrays of one element per job:
-- its unique key (NULL: none), its period in ms (NULL or 0: none) and its
-- states as a list such as 'queued,running' (NULL: queued and running).
-- The relay checks nothing of the keys: the outbox's constraints did.
-- A key is taken as herald.enqueue_unique() takes it when the outbox row
-- is relayed the first time; where another job holds it, the row is
-- recorded as relayed and makes no job.  A copy of a row relayed before
-- makes no job either, so a resent batch finds its rows in
-- herald.relayed and takes no key.  The jobs of the batch get ids in the
-- order of the job arrays, as they do in herald.relay_arrays().  Returns
-- the number of jobs inserted.
CREATE FUNCTION herald.relay_arrays_unique(
    p_origin text,
    p_ids bigint[],
    p_payloads jsonb[],
    p_priorities smallint[],
    p_run_at timestamptz[],
    p_event_ids text[],
    p_event_types text[],
    p_rows integer[],
    p_tasks text[],
    p_queues text[],
    p_max_attempts integer[],
    p_unique_keys text[],
    p_unique_for_ms bigint[],
    p_unique_states text[])
RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    v_n integer := coalesce(cardinality(p_ids), 0);
    v_jobs integer := coalesce(cardinality(p_rows), 0);
    -- For each job, its new id, or NULL when it makes no job.
    v_job_ids bigint[];
    v_job record;
    v_pos integer;
    v_count bigint;
    v_queues text[];
    v_queue text;
    v_types text[];
    v_counts bigint[];
BEGIN
    -- The checks of herald.relay_arrays().
    IF p_origin IS NULL OR p_ids IS NULL OR p_rows IS NULL
       OR p_tasks IS NULL OR p_queues IS NULL THEN
        RAISE EXCEPTION 'relay batch must have an origin, outbox ids, rows, tasks and queues'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF (p_payloads IS NOT NULL AND cardinality(p_payloads) <> v_n)
       OR (p_priorities IS NOT NULL AND cardinality(p_priorities) <> v_n)
       OR (p_run_at IS NOT NULL AND cardinality(p_run_at) <> v_n)
       OR (p_event_ids IS NOT NULL AND cardinality(p_event_ids) <> v_n)
       OR (p_event_types IS NOT NULL
           AND cardinality(p_event_types) <> v_n) THEN
        RAISE EXCEPTION 'outbox row arrays must have as many elements as the id array (%)',
            v_n
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF cardinality(p_tasks) <> v_jobs OR cardinality(p_queues) <> v_jobs
       OR (p_max_attempts IS NOT NULL
           AND cardinality(p_max_attempts) <> v_jobs)
       OR (p_unique_keys IS NOT NULL
           AND cardinality(p_unique_keys) <> v_jobs)
       OR (p_unique_for_ms IS NOT NULL
           AND cardinality(p_unique_for_ms) <> v_jobs)
       OR (p_unique_states IS NOT NULL
           AND cardinality(p_unique_states) <> v_jobs) THEN
        RAISE EXCEPTION 'job arrays must have as many elements as the row array (%)',
            v_jobs
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF EXISTS (SELECT 1 FROM unnest(p_rows) AS j(pos)
               WHERE j.pos IS NULL OR j.pos NOT BETWEEN 1 AND v_n) THEN
        RAISE EXCEPTION 'job rows must be positions in the id array, from 1 to %',
            v_n
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    -- Record the rows as relayed, and draw an id for each job of a row
    -- not relayed before, in the order of the jobs.
    WITH fresh AS (
        INSERT INTO herald.relayed (origin, outbox_id)
        SELECT p_origin, unnest(p_ids)
        ON CONFLICT DO NOTHING
        RETURNING outbox_id
    ), jobs AS (
        SELECT j.ord, f.outbox_id IS NOT NULL AS fresh
        FROM unnest(p_rows) WITH ORDINALITY AS j(pos, ord)
        LEFT JOIN fresh f ON f.outbox_id = p_ids[j.pos]
    ), ranked AS (
        SELECT b.ord, row_number() OVER (ORDER BY b.ord) AS rank
        FROM jobs b WHERE b.fresh
    ), ids AS (
        SELECT row_number() OVER (ORDER BY n.id) AS rank, n.id
        FROM (SELECT nextval(pg_get_serial_sequence('herald.jobs', 'id'))
                  AS id
              FROM ranked) n
    )
    SELECT array_agg(i.id ORDER BY b.ord) INTO v_job_ids
    FROM jobs b
    LEFT JOIN ranked r ON r.ord = b.ord
    LEFT JOIN ids i ON i.rank = r.rank;

    -- Take the keys in the order of the keys, as herald.take_unique_keys()
    -- does, so that callers with common keys lock them in one order.  Each
    -- job that gets its key is inserted at once, so that a later job of
    -- the batch with the key finds it queued.
    FOR v_job IN
        SELECT k.ord, k.key, k.for_ms, k.states
        FROM unnest(p_unique_keys, p_unique_for_ms, p_unique_states)
            WITH ORDINALITY AS k(key, for_ms, states, ord)
        WHERE k.key IS NOT NULL AND v_job_ids[k.ord] IS NOT NULL
        ORDER BY k.key, k.ord
    LOOP
        IF (herald.take_unique_keys(ARRAY[v_job.key],
                ARRAY[v_job_ids[v_job.ord]], ARRAY[v_job.for_ms],
                ARRAY[v_job.states]))[1] <> v_job_ids[v_job.ord] THEN
            v_job_ids[v_job.ord] := NULL;
            CONTINUE;
        END IF;
        v_pos := p_rows[v_job.ord];
        INSERT INTO herald.jobs
            (id, task, queue, payload, priority, run_at, max_attempts,
             event_id, event_type)
        VALUES (v_job_ids[v_job.ord], p_tasks[v_job.ord],
            p_queues[v_job.ord], p_payloads[v_pos],
            coalesce(p_priorities[v_pos], 0),
            coalesce(p_run_at[v_pos], now()),
            coalesce(p_max_attempts[v_job.ord], 10), p_event_ids[v_pos],
            p_event_types[v_pos]);
    END LOOP;

    -- The jobs without a key, in the order of the jobs.
    INSERT INTO herald.jobs
        (id, task, queue, payload, priority, run_at, max_attempts,
         event_id, event_type)
    SELECT v_job_ids[j.ord], j.task, j.queue, p_payloads[j.pos],
        coalesce(p_priorities[j.pos], 0), coalesce(p_run_at[j.pos], now()),
        coalesce(j.max_attempts, 10), p_event_ids[j.pos],
        p_event_types[j.pos]
    FROM unnest(p_rows, p_tasks, p_queues, p_max_attempts)
        WITH ORDINALITY AS j(pos, task, queue, max_attempts, ord)
    WHERE v_job_ids[j.ord] IS NOT NULL AND p_unique_keys[j.ord] IS NULL
    ORDER BY j.ord;

    -- Count and wake as herald.relay_arrays() does, for the jobs made.
    WITH made AS (
        SELECT j.queue, p_run_at[j.pos] AS run_at,
            p_event_types[j.pos] AS event_type
        FROM unnest(p_rows, p_queues) WITH ORDINALITY AS j(pos, queue, ord)
        WHERE v_job_ids[j.ord] IS NOT NULL
    ), types AS (
        SELECT event_type, count(*) AS jobs FROM made
        WHERE event_type IS NOT NULL
        GROUP BY event_type
    )
    SELECT (SELECT count(*) FROM made),
        (SELECT array_agg(DISTINCT queue) FROM made
         WHERE run_at IS NULL OR run_at <= now()),
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

-- Privileges (see 007): the relay of heraldd runs as herald_worker, which
-- the default privileges let execute it.
REVOKE ALL ON FUNCTION herald.relay_arrays_unique(text, bigint[], jsonb[],
    smallint[], timestamptz[], text[], text[], integer[], text[], text[],
    integer[], text[], bigint[], text[])
    FROM PUBLIC;
