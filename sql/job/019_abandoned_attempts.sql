-- Module handlers that run past their timeout.  A worker cannot stop the
-- thread of such a handler, which runs on until the worker's process
-- exits.  The worker used to record the attempt as a timeout at once, so
-- with a short backoff a retry could start on another worker while the
-- first run still went on.
--
-- Now the worker records the timeout as abandoned: the job stays on its
-- lease, which keeps claims away from it, and the worker renews that
-- lease until it exits.  The process that ends the lease after the
-- worker is gone records the timeout and schedules the retry.  That is
-- the worker that replaces it (herald.take_back_jobs, after heraldd
-- reaped the old process), or the janitor when the lease expires
-- (heraldd stopped or died too).  Both go through herald.lose_attempt,
-- which uses the abandoned attempt's outcome and retry delay in place of
-- "worker lost".

-- Attempts whose worker gave up on a handler that may still run, each
-- with the history entry and the retry delay to record when the lease
-- ends.  Rows live only while such a worker runs, so the table stays
-- small.
CREATE TABLE herald.abandoned_attempts (
    id              bigint PRIMARY KEY,
    token           bigint NOT NULL,
    error           jsonb NOT NULL,
    delay_ms        bigint NOT NULL CHECK (delay_ms >= 0)
);

-- Record that the holder of lease p_token gave up on the attempt of job
-- p_id, which ends with p_error once the lease ends, followed by a retry
-- after p_delay_ms when attempts are left.  The job stays on the lease
-- until then.  Returns false when the lease no longer lists the job.
CREATE FUNCTION herald.abandon_attempt(p_id bigint, p_token bigint,
    p_error jsonb, p_delay_ms bigint)
RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    v_lease herald.leases;
BEGIN
    v_lease := herald.lease_of(p_id, p_token);
    IF v_lease.token IS NULL THEN
        RETURN false;
    END IF;
    -- Drop the rows whose lease went another way, such as a cancelled
    -- job that herald.expire_worker of 012 deleted without
    -- herald.lose_attempt.
    DELETE FROM herald.abandoned_attempts a
    WHERE NOT EXISTS (SELECT 1 FROM herald.leases l
                      WHERE l.token = a.token);
    INSERT INTO herald.abandoned_attempts AS a (id, token, error, delay_ms)
    VALUES (p_id, p_token, p_error, greatest(p_delay_ms, 0))
    ON CONFLICT (id) DO UPDATE
        SET token = excluded.token, error = excluded.error,
            delay_ms = excluded.delay_ms;
    RETURN true;
END
$$;

-- The lose_attempt of 012, which records an abandoned attempt of the job
-- with its own history entry and retry delay.  A job buried that way is
-- 'exhausted', as herald.fail buries it.
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
            'attempt', v_job.attempt,
            'at', p_attempted_at,
            'outcome', 'lost',
            'exit_code', NULL,
            'signal', NULL,
            'duration_ms',
                (extract(epoch FROM clock_timestamp() - p_attempted_at)
                    * 1000)::bigint,
            'output', p_output);
    END IF;
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

-- Take back the jobs of the dead worker p_worker as herald.expire_worker
-- does, and return how many of them it lost and how many were attempts
-- it had abandoned.  The replacing worker calls it after heraldd reaped
-- p_worker, so a handler it abandoned no longer runs.
CREATE FUNCTION herald.take_back_jobs(p_worker text)
RETURNS TABLE (lost integer, abandoned integer)
LANGUAGE plpgsql AS $$
DECLARE
    v_total integer;
BEGIN
    -- Lock the leases first, so that the janitor cannot expire one
    -- between the count and herald.expire_worker.
    PERFORM 1 FROM herald.leases l
    WHERE l.owner = p_worker
    ORDER BY l.token
    FOR UPDATE;
    SELECT count(*)::integer INTO abandoned
    FROM herald.abandoned_attempts a
    JOIN herald.leases l ON l.token = a.token AND a.id = ANY (l.job_ids)
    JOIN herald.jobs j ON j.id = a.id
    WHERE l.owner = p_worker;
    v_total := herald.expire_worker(p_worker);
    -- A cancelled job was deleted without herald.lose_attempt.
    DELETE FROM herald.abandoned_attempts a
    WHERE NOT EXISTS (SELECT 1 FROM herald.leases l
                      WHERE l.token = a.token);
    lost := v_total - abandoned;
    RETURN NEXT;
END
$$;

-- ---------------------------------------------------------------------
-- Privileges (see 007).  CREATE OR REPLACE kept those of lose_attempt.

REVOKE ALL ON FUNCTION
    herald.abandon_attempt(bigint, bigint, jsonb, bigint),
    herald.take_back_jobs(text)
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    herald.abandon_attempt(bigint, bigint, jsonb, bigint),
    herald.take_back_jobs(text)
    TO herald_worker;
GRANT SELECT, INSERT, UPDATE, DELETE ON herald.abandoned_attempts
    TO herald_worker;
GRANT SELECT ON herald.abandoned_attempts TO herald_console;
