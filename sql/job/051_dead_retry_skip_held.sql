-- A retry of many dead jobs leaves dead those whose unique key another
-- job holds, and retries the rest.
--
-- Before, one such job made the whole retry fail, so a bulk retry of
-- hundreds of dead jobs was blocked by one, with no way to leave it out.
-- Now the retry takes the keys it can and revives only the jobs that got
-- theirs.  It returns how many it revived, which the caller compares with
-- the jobs it selected.  When every selected job is held, as with one
-- listed id, the retry still fails with unique_violation and names the
-- dead job, the holder and the key.

DROP FUNCTION herald.dead_take_keys(bigint[]);

-- Take again the unique keys of the dead jobs p_ids, in key order, and
-- return the ids of those whose key another job holds.
CREATE FUNCTION herald.dead_take_keys(p_ids bigint[])
RETURNS bigint[]
LANGUAGE plpgsql AS $$
DECLARE
    v_dead record;
    v_held bigint[] := '{}';
BEGIN
    FOR v_dead IN
        SELECT d.id, d.unique_key, d.unique_states
        FROM herald.dead_jobs d
        WHERE d.id = ANY (p_ids) AND d.unique_key IS NOT NULL
        ORDER BY d.unique_key, d.id
    LOOP
        IF (herald.take_unique_keys(ARRAY[v_dead.unique_key],
            ARRAY[v_dead.id], ARRAY[NULL::bigint],
            ARRAY[array_to_string(v_dead.unique_states, ',')]))[1]
            <> v_dead.id THEN
            v_held := v_held || v_dead.id;
        END IF;
    END LOOP;
    RETURN v_held;
END
$$;

CREATE OR REPLACE FUNCTION herald.dead_retry(p_ids bigint[], p_queue text,
    p_task text, p_os_user text DEFAULT NULL::text,
    p_host text DEFAULT NULL::text)
 RETURNS bigint
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'herald', 'pg_temp'
AS $$
DECLARE
    v_entry jsonb;
    v_count bigint;
    v_queues text[];
    v_queue text;
    v_ids bigint[];
    v_held bigint[];
    v_holder bigint;
    v_key text;
BEGIN
    v_ids := ARRAY(
        SELECT d.id FROM herald.dead_jobs d
        WHERE (p_ids IS NULL OR d.id = ANY (p_ids))
          AND (p_queue IS NULL OR d.queue = p_queue)
          AND (p_task IS NULL OR d.task = p_task));
    v_held := herald.dead_take_keys(v_ids);
    IF cardinality(v_held) > 0 AND cardinality(v_held) = cardinality(v_ids)
    THEN
        SELECT u.job_id, d.unique_key INTO v_holder, v_key
        FROM herald.dead_jobs d
        JOIN herald.unique_keys u ON u.key = d.unique_key
        WHERE d.id = v_held[1];
        RAISE EXCEPTION 'dead job % cannot be retried: job % took its unique key "%"',
            v_held[1], v_holder, v_key
            USING ERRCODE = 'unique_violation',
            HINT = 'retry it once that job has ended and its unique period, if any, has passed, or purge it';
    END IF;

    -- "... by herald_ops (alice@db1, herald console)": the database role,
    -- then what the client reported, leaving out what it did not.
    v_entry := jsonb_build_object(
        'at', clock_timestamp(),
        'outcome', 'retried',
        'exit_code', NULL,
        'signal', NULL,
        'duration_ms', NULL,
        'output', format('retried from the dead-letter queue by %s',
            session_user) || coalesce(' (' || nullif(concat_ws(', ',
                CASE WHEN p_os_user IS NOT NULL OR p_host IS NOT NULL
                     THEN coalesce(p_os_user, '?') || '@'
                         || coalesce(p_host, '?') END,
                nullif(current_setting('application_name', true), '')),
            '') || ')', ''));

    WITH revived AS (
        DELETE FROM herald.dead_jobs d
        WHERE d.id = ANY (v_ids) AND NOT d.id = ANY (v_held)
        RETURNING *
    ), inserted AS (
        INSERT INTO herald.jobs
            (id, task, queue, payload, priority, run_at, attempt,
             max_attempts, created_at, event_id, event_type, errors)
        SELECT r.id, r.task, r.queue, r.payload, r.priority, now(), 0,
            r.max_attempts, r.created_at, r.event_id, r.event_type,
            r.errors || jsonb_build_array(
                herald.numbered_entry(r.errors, r.attempt, v_entry))
        FROM revived r
        ORDER BY r.id
        RETURNING queue
    )
    SELECT count(*), array_agg(DISTINCT queue) INTO v_count, v_queues
    FROM inserted;

    FOREACH v_queue IN ARRAY coalesce(v_queues, '{}'::text[]) LOOP
        PERFORM pg_notify('herald', v_queue);
    END LOOP;
    RETURN v_count;
END
$$;

REVOKE ALL ON FUNCTION herald.dead_take_keys(bigint[]) FROM PUBLIC;
