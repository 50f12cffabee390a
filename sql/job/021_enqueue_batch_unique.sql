-- Unique keys in a bulk enqueue.
--
-- herald.enqueue_batch() of 018 has no unique keys, so a producer with
-- keys had to enqueue job by job through herald.enqueue_unique().
-- herald.enqueue_batch_unique() takes the arrays of herald.enqueue_batch()
-- and three more for the keys, and returns for each job the id that
-- herald.enqueue_unique() would return if it were called for the jobs one
-- after another.  Clients call it only for a batch with a key, so
-- herald.enqueue_batch() stays as fast as it was.
--
-- Taking a key moves to herald.take_unique_keys(), which takes many keys
-- in one statement, and herald.enqueue_unique() now calls it with one
-- key, so both functions apply the same rules.

-- Take the unique keys p_keys (distinct, not NULL) for the new jobs of
-- the same positions in p_job_ids: insert each key's row, or take over
-- a row whose job no longer blocks (herald.unique_key_held).  The key is
-- held during p_for_ms ms (NULL or 0: no period) and while its job is in
-- one of the states of p_states, each a list such as 'queued,running'
-- (NULL: queued and running).  The callers check these values.  Returns,
-- in the order of p_keys, the id of the job that has each key afterwards:
-- the new job's where the key was taken, else that of the job holding it.
--
-- ON CONFLICT locks each key's row, so a concurrent call with a common key
-- waits for this transaction to end.  The rows are inserted in the order
-- of the keys, so that two calls with several common keys lock them in
-- one order and do not deadlock over them.
CREATE FUNCTION herald.take_unique_keys(p_keys text[], p_job_ids bigint[],
    p_for_ms bigint[], p_states text[])
RETURNS bigint[]
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO herald.unique_keys AS u (key, job_id, states, until)
    SELECT k.key, k.job_id,
        coalesce(string_to_array(k.states, ','),
            ARRAY['queued', 'running']::text[]),
        CASE WHEN coalesce(k.for_ms, 0) > 0
             THEN now() + k.for_ms * interval '1 ms' END
    FROM unnest(p_keys, p_job_ids, p_for_ms, p_states)
        AS k(key, job_id, for_ms, states)
    ORDER BY k.key
    ON CONFLICT (key) DO UPDATE
        SET job_id = excluded.job_id, states = excluded.states,
            until = excluded.until, created_at = now()
        WHERE NOT herald.unique_key_held(u.job_id, u.states, u.until);

    -- A new statement, so at READ COMMITTED it sees the key of a
    -- concurrent transaction that ON CONFLICT waited for, which the
    -- insert's snapshot predates.  Every row of p_keys is locked now.
    RETURN ARRAY(
        SELECT u.job_id
        FROM unnest(p_keys) WITH ORDINALITY AS k(key, ord)
        JOIN herald.unique_keys u ON u.key = k.key
        ORDER BY k.ord);
END
$$;

-- The enqueue_unique of 010, taking its key through
-- herald.take_unique_keys().  The checks, messages and results are the
-- same.
CREATE OR REPLACE FUNCTION herald.enqueue_unique(
    task text,
    queue text,
    payload jsonb,
    priority integer,
    run_at timestamptz,
    max_attempts integer,
    event_id text,
    event_type text,
    unique_key text,
    unique_for_ms bigint DEFAULT NULL,
    unique_states text[] DEFAULT NULL) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    v_new bigint;
    v_got bigint;
    v_states text[] := coalesce(unique_states,
        ARRAY['queued', 'running']::text[]);
BEGIN
    IF unique_key IS NULL OR length(unique_key) NOT BETWEEN 1 AND 255 THEN
        RAISE EXCEPTION 'unique key must have 1 to 255 characters'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF cardinality(v_states) = 0
       OR NOT v_states <@ ARRAY['queued', 'running']::text[] THEN
        RAISE EXCEPTION 'unique states must be queued, running or both'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF unique_for_ms IS NOT NULL AND unique_for_ms < 0 THEN
        RAISE EXCEPTION 'unique period % ms is negative', unique_for_ms
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    v_new := nextval(pg_get_serial_sequence('herald.jobs', 'id'));
    v_got := (herald.take_unique_keys(ARRAY[unique_key], ARRAY[v_new],
        ARRAY[unique_for_ms], ARRAY[array_to_string(v_states, ',')]))[1];
    IF v_got <> v_new THEN
        RETURN v_got;
    END IF;

    -- The checks and the wake-up of herald.enqueue, with the new id.
    PERFORM herald.enqueue_checked_id(v_new, task, queue, payload, priority,
        run_at, max_attempts, event_id, event_type);
    RETURN v_new;
END
$$;

-- p_values with its one element repeated p_count times, or p_values
-- itself when it has another number of elements or is NULL.
CREATE FUNCTION herald.batch_spread(p_values anyarray, p_count integer)
RETURNS anyarray
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN cardinality(p_values) = 1 AND p_count <> 1
                THEN array_fill(p_values[1], ARRAY[p_count])
                ELSE p_values END;
$$;

-- herald.enqueue_batch() with unique keys: enqueue p_count jobs in one
-- statement, all or none, and return an id for each job, in the order of
-- the jobs.  It is the id that herald.enqueue_unique() (for a job with a
-- key) or herald.enqueue() (for one without) would return if they were
-- called for the jobs one after another in one transaction.
--
-- The first seven arguments are those of herald.enqueue_batch().  The
-- other three follow its rules, an array of one element giving every job
-- its value: p_unique_keys has the key of each job (NULL: none),
-- p_unique_for_ms its period (NULL or 0: none) and p_unique_states its
-- states as a list such as 'queued,running' (NULL: queued and running).
-- Period and states count only for a job with a key.  Every job is
-- checked, even one whose key is held.  An error names a bad job by its
-- position, counted from 1: the first with a bad column of
-- herald.enqueue_batch(), else the first with a bad unique option.
CREATE FUNCTION herald.enqueue_batch_unique(
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
            p_max_attempts) AS b(task, queue, payload, priority,
            max_attempts)
        WHERE b.task IS NULL OR length(b.task) > 63
           OR b.task !~ '^[A-Za-z0-9][A-Za-z0-9_.:-]*$'
           OR length(b.queue) > 63
           OR b.queue !~ '^[A-Za-z0-9][A-Za-z0-9_.:-]*$'
           OR jsonb_typeof(b.payload) NOT IN ('object', 'array')
           OR b.priority NOT BETWEEN -32768 AND 32767
           OR b.max_attempts NOT BETWEEN 1 AND 1000)
    THEN
        PERFORM herald.enqueue_arrays_fail(p_tasks, p_queues, p_payloads,
            p_priorities, p_max_attempts);
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

-- Privileges (see 007): producers enqueue through the two enqueue
-- functions, which run as their owner.  CREATE OR REPLACE kept the grants
-- of herald.enqueue_unique, not its settings.
ALTER FUNCTION herald.enqueue_unique(text, text, jsonb, integer,
    timestamptz, integer, text, text, text, bigint, text[])
    SECURITY DEFINER SET search_path = pg_catalog, herald, pg_temp;
ALTER FUNCTION herald.enqueue_batch_unique(integer, text[], text[],
    jsonb[], integer[], timestamptz[], integer[], text[], bigint[], text[])
    SECURITY DEFINER SET search_path = pg_catalog, herald, pg_temp;
REVOKE ALL ON FUNCTION
    herald.take_unique_keys(text[], bigint[], bigint[], text[]),
    herald.batch_spread(anyarray, integer),
    herald.enqueue_batch_unique(integer, text[], text[], jsonb[], integer[],
        timestamptz[], integer[], text[], bigint[], text[])
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    herald.enqueue_batch_unique(integer, text[], text[], jsonb[], integer[],
        timestamptz[], integer[], text[], bigint[], text[])
    TO herald_producer, herald_worker;
GRANT EXECUTE ON FUNCTION
    herald.take_unique_keys(text[], bigint[], bigint[], text[]),
    herald.batch_spread(anyarray, integer)
    TO herald_worker;
