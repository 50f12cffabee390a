-- A job's history across retries from the dead-letter queue.
--
-- A retry from the dead-letter queue sets the job's attempt counter back
-- to 0, so that the job gets its max_attempts again with the backoff of
-- a new job, and its handler gets HERALD_ATTEMPT=1 again.  The
-- history numbered its entries with that counter, so after a retry it
-- showed "attempt 1" a second time, and no entry recorded that the job
-- had been retried.
--
-- Now a retry appends an entry with outcome "retried" that records when
-- and by whom: the database role, and the operating system user, host
-- and application name as far as the client reported them.  Its attempt
-- is the number of the last attempt before the retry.  The attempt of
-- every later entry counts on from there, so the number in a history
-- entry counts attempts from the job's creation.  The attempt columns of
-- herald.jobs and herald.dead_jobs still count from the last retry.
-- Histories written before this migration keep their numbers.

-- The attempts a job made before its last retry from the dead-letter
-- queue: the attempt of the last "retried" entry of its history p_errors,
-- or 0 when there is none.
CREATE FUNCTION herald.attempts_before_retry(p_errors jsonb)
RETURNS integer
LANGUAGE sql IMMUTABLE AS $$
    SELECT coalesce((
        SELECT (x.e->>'attempt')::integer
        FROM jsonb_array_elements(CASE WHEN jsonb_typeof(p_errors) = 'array'
                                       THEN p_errors ELSE '[]' END)
            WITH ORDINALITY AS x(e, n)
        WHERE x.e->>'outcome' = 'retried'
        ORDER BY x.n DESC
        LIMIT 1), 0);
$$;

-- The entry p_entry, about to be appended to the history p_errors of a
-- job whose attempt counter is p_attempt, with its attempt counted from
-- the job's creation.  An entry that is not an object is returned as it
-- is.
CREATE FUNCTION herald.numbered_entry(p_errors jsonb, p_attempt integer,
    p_entry jsonb)
RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN jsonb_typeof(p_entry) = 'object'
        THEN p_entry || jsonb_build_object('attempt',
            herald.attempts_before_retry(p_errors) + p_attempt)
        ELSE p_entry END;
$$;

-- The fail of 012, numbering the attempt's entry with numbered_entry.
-- The caller's entry carries the attempt counter its worker saw.
CREATE OR REPLACE FUNCTION herald.fail(p_id bigint, p_token bigint,
    p_error jsonb, p_permanent boolean, p_delay_ms bigint) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    v_lease herald.leases;
    v_job herald.jobs;
    v_error jsonb;
BEGIN
    v_lease := herald.lease_of(p_id, p_token);
    IF v_lease.token IS NULL THEN
        RETURN 'lost';
    END IF;
    UPDATE herald.jobs j
    SET attempt = j.attempt + 1, attempted_at = v_lease.attempted_at
    WHERE j.id = p_id
    RETURNING * INTO v_job;
    IF NOT FOUND THEN
        RETURN 'lost';
    END IF;
    PERFORM herald.lease_drop_job(p_token, p_id);
    v_error := herald.numbered_entry(v_job.errors, v_job.attempt, p_error);

    IF p_permanent OR v_job.attempt >= v_job.max_attempts THEN
        PERFORM herald.bury(p_id, v_error,
            CASE WHEN p_permanent THEN 'permanent' ELSE 'exhausted' END);
        RETURN 'dead';
    END IF;

    UPDATE herald.jobs
    SET run_at = clock_timestamp() + p_delay_ms * interval '1 ms',
        errors = errors || jsonb_build_array(v_error)
    WHERE id = p_id;
    PERFORM herald.count(v_job.queue, v_job.task, 0, 1, 1, 0);
    RETURN 'retry';
END
$$;

-- The lose_attempt of 019, numbering the entry with numbered_entry: the
-- entry of an abandoned attempt, with its retry delay, or a lost one.
CREATE OR REPLACE FUNCTION herald.lose_attempt(p_id bigint,
    p_attempted_at timestamptz, p_output text)
RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    v_job herald.jobs;
    v_abandoned herald.abandoned_attempts;
    v_error jsonb;
BEGIN
    DELETE FROM herald.abandoned_attempts a
    WHERE a.id = p_id
      AND EXISTS (SELECT 1 FROM herald.leases l
                  WHERE l.token = a.token AND p_id = ANY (l.job_ids))
    RETURNING * INTO v_abandoned;
    UPDATE herald.jobs j
    SET attempt = j.attempt + 1, attempted_at = p_attempted_at
    WHERE j.id = p_id
    RETURNING * INTO v_job;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    IF v_abandoned.id IS NOT NULL THEN
        v_error := v_abandoned.error;
    ELSE
        v_error := jsonb_build_object(
            'at', p_attempted_at,
            'outcome', 'lost',
            'exit_code', NULL,
            'signal', NULL,
            'duration_ms',
                (extract(epoch FROM clock_timestamp() - p_attempted_at)
                    * 1000)::bigint,
            'output', p_output);
    END IF;
    v_error := herald.numbered_entry(v_job.errors, v_job.attempt, v_error);
    IF v_job.attempt >= v_job.max_attempts THEN
        PERFORM herald.bury(p_id, v_error,
            CASE WHEN v_abandoned.id IS NULL THEN 'lost'
                 ELSE 'exhausted' END);
        RETURN true;
    END IF;
    UPDATE herald.jobs j
    SET run_at = clock_timestamp()
            + coalesce(v_abandoned.delay_ms, 0) * interval '1 ms',
        errors = j.errors || jsonb_build_array(v_error)
    WHERE j.id = p_id;
    PERFORM herald.count(v_job.queue, v_job.task, 0, 1, 1, 0);
    RETURN false;
END
$$;

-- The dead_retry of 001 with two more parameters, the operating system
-- user and host the client reported.  Both default to NULL (unknown), so
-- calls with three arguments keep working, and the old form is dropped
-- so that such calls resolve to one function.  Each job's history gains a
-- "retried" entry.
DROP FUNCTION herald.dead_retry(bigint[], text, text);

CREATE FUNCTION herald.dead_retry(p_ids bigint[], p_queue text, p_task text,
    p_os_user text DEFAULT NULL, p_host text DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    v_entry jsonb;
    v_count bigint;
    v_queues text[];
    v_queue text;
BEGIN
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

-- The dead_retry_edited of 009, numbering the "edited" entry as the
-- retry that follows it and passing the client's user and host on to
-- that retry.
CREATE OR REPLACE FUNCTION herald.dead_retry_edited(p_id bigint,
    p_payload jsonb, p_os_user text, p_host text)
RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    v_dead herald.dead_jobs;
BEGIN
    IF p_payload IS NULL OR jsonb_typeof(p_payload) NOT IN ('object', 'array')
    THEN
        RAISE EXCEPTION 'payload must be a JSON object or array'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT * INTO v_dead FROM herald.dead_jobs WHERE id = p_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN 0;
    END IF;

    UPDATE herald.dead_jobs
    SET payload = p_payload,
        errors = errors || jsonb_build_array(herald.numbered_entry(
            v_dead.errors, v_dead.attempt, jsonb_build_object(
                'at', clock_timestamp(),
                'outcome', 'edited',
                'exit_code', NULL,
                'signal', NULL,
                'duration_ms', NULL,
                'output', format('payload edited by %s (%s@%s) before a retry',
                    session_user, coalesce(p_os_user, '?'),
                    coalesce(p_host, '?')),
                'payload', v_dead.payload)))
    WHERE id = p_id;
    PERFORM herald.dead_retry(ARRAY[p_id], NULL, NULL, p_os_user, p_host);
    RETURN herald.record_action('dead retry edited', v_dead.queue,
        v_dead.task, ARRAY[p_id], NULL, 1, p_os_user, p_host);
END
$$;

-- Privileges (see 007).  The actions run as their owner and only
-- herald_console may run them.  CREATE OR REPLACE dropped the settings
-- that 009 gave dead_retry_edited.  fail and lose_attempt run as the
-- worker, which needs the numbering functions.
ALTER FUNCTION herald.dead_retry(bigint[], text, text, text, text)
    SECURITY DEFINER SET search_path = pg_catalog, herald, pg_temp;
ALTER FUNCTION herald.dead_retry_edited(bigint, jsonb, text, text)
    SECURITY DEFINER SET search_path = pg_catalog, herald, pg_temp;

REVOKE ALL ON FUNCTION
    herald.attempts_before_retry(jsonb),
    herald.numbered_entry(jsonb, integer, jsonb),
    herald.dead_retry(bigint[], text, text, text, text)
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    herald.attempts_before_retry(jsonb),
    herald.numbered_entry(jsonb, integer, jsonb)
    TO herald_worker;
REVOKE EXECUTE ON FUNCTION
    herald.dead_retry(bigint[], text, text, text, text)
    FROM herald_worker;
GRANT EXECUTE ON FUNCTION
    herald.dead_retry(bigint[], text, text, text, text)
    TO herald_console;
