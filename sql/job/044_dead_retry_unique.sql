-- A dead job retried from the dead-letter queue takes its unique key again.
--
-- A job's unique key is held while the job is queued or running (or for
-- its unique_for time), so a dead job holds none, and a new job may take
-- the key.  A retry brought the dead job back without its key: two jobs
-- with one key could then run at once, which the key exists to prevent.
-- A job that dies now keeps its key in herald.dead_jobs, and a retry
-- takes the key again.  When another job holds it, the retry fails and
-- changes nothing, and its message names the dead job, the holder and
-- the key.

ALTER TABLE herald.dead_jobs ADD COLUMN unique_key text,
    ADD COLUMN unique_states text[];

-- The key a dying job held, found by the job's id.
CREATE INDEX unique_keys_job_id_idx ON herald.unique_keys (job_id);

-- Every path into herald.dead_jobs inserts the job's row, so one trigger
-- records the key for all of them.
CREATE FUNCTION herald.dead_jobs_keep_key() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.unique_key IS NULL THEN
        SELECT u.key, u.states INTO NEW.unique_key, NEW.unique_states
        FROM herald.unique_keys u
        WHERE u.job_id = NEW.id
        ORDER BY u.key
        LIMIT 1;
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER dead_jobs_keep_key BEFORE INSERT ON herald.dead_jobs
    FOR EACH ROW EXECUTE FUNCTION herald.dead_jobs_keep_key();

-- Take again the unique keys of the dead jobs p_ids, in key order, or
-- raise unique_violation naming the first dead job whose key another job
-- holds.
CREATE FUNCTION herald.dead_take_keys(p_ids bigint[])
RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_dead record;
    v_holder bigint;
BEGIN
    FOR v_dead IN
        SELECT d.id, d.unique_key, d.unique_states
        FROM herald.dead_jobs d
        WHERE d.id = ANY (p_ids) AND d.unique_key IS NOT NULL
        ORDER BY d.unique_key, d.id
    LOOP
        v_holder := (herald.take_unique_keys(ARRAY[v_dead.unique_key],
            ARRAY[v_dead.id], ARRAY[NULL::bigint],
            ARRAY[array_to_string(v_dead.unique_states, ',')]))[1];
        IF v_holder <> v_dead.id THEN
            RAISE EXCEPTION 'dead job % cannot be retried: job % holds its unique key "%"',
                v_dead.id, v_holder, v_dead.unique_key
                USING ERRCODE = 'unique_violation',
                HINT = 'retry it once that job has ended, or purge it';
        END IF;
    END LOOP;
END
$$;

-- herald.dead_retry() of 020, taking the keys first.
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
BEGIN
    -- The dead jobs take their unique keys again first, all or none.
    PERFORM herald.dead_take_keys(ARRAY(
        SELECT d.id FROM herald.dead_jobs d
        WHERE (p_ids IS NULL OR d.id = ANY (p_ids))
          AND (p_queue IS NULL OR d.queue = p_queue)
          AND (p_task IS NULL OR d.task = p_task)));

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
        WHERE (p_ids IS NULL OR d.id = ANY (p_ids))
          AND (p_queue IS NULL OR d.queue = p_queue)
          AND (p_task IS NULL OR d.task = p_task)
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

-- Privileges (see 007): dead_retry() runs as its owner, and no role calls
-- the new functions directly.
REVOKE ALL ON FUNCTION herald.dead_take_keys(bigint[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION herald.dead_jobs_keep_key() FROM PUBLIC;
