-- Jobs of a dead worker that it never started.
--
-- A worker claims more jobs than it runs at once, up to two claims of
-- 1000 jobs.  When it died, herald.take_back_jobs of 019 counted a lost
-- attempt for every job of its leases, also for those still waiting to
-- start, so with max_attempts = 1 a crash buried jobs that never ran.
--
-- heraldd now keeps, in memory it shares with each worker, the ids of
-- the jobs the worker handed to a handler and whose result it has not
-- recorded yet.  After heraldd reaped a dead worker it passes those ids
-- to the replacement, which takes the jobs back with
-- herald.take_back_started: the started ones with a lost attempt, as
-- before, and the others back to their queue with no attempt counted, as
-- herald.release does for a worker that stops.  When heraldd has no
-- trustworthy list the ids are NULL and every job counts as started.

-- Take back the jobs of the dead worker p_worker.  p_started lists the
-- jobs it started; the other jobs of its leases go back to their queue
-- with no attempt counted.  NULL means the started jobs are unknown, so
-- every job counts as started.  The started jobs are taken back by
-- herald.take_back_jobs of 019: a lost attempt, or the attempt the worker
-- abandoned.  Returns one row per job: outcome 'released' (not started),
-- 'lost', 'abandoned' or 'cancelled' (deleted), with reason the dead
-- reason when the job was buried and NULL otherwise, and attempt the
-- job's attempts after the take-back.
CREATE FUNCTION herald.take_back_started(p_worker text, p_started bigint[])
RETURNS TABLE (job_id bigint, task text, queue text, attempt integer,
    outcome text, reason text)
LANGUAGE plpgsql AS $$
DECLARE
    v_job record;
    v_ids bigint[];
    v_tasks text[];
    v_queues text[];
    v_abandoned boolean[];
    v_dead herald.dead_jobs;
    v_attempt integer;
    i integer;
BEGIN
    -- Lock the leases first, so that the janitor cannot expire one
    -- meanwhile.
    PERFORM 1 FROM herald.leases l
    WHERE l.owner = p_worker
    ORDER BY l.token
    FOR UPDATE;

    IF p_started IS NOT NULL THEN
        FOR v_job IN
            SELECT j.id, l.token, j.task, j.queue, j.attempt
            FROM herald.leases l
            JOIN herald.jobs j ON j.id = ANY (l.job_ids)
            WHERE l.owner = p_worker
              AND NOT (j.id = ANY (p_started))
              AND j.cancel_requested_at IS NULL
              AND NOT EXISTS (SELECT 1 FROM herald.abandoned_attempts a
                              WHERE a.id = j.id AND a.token = l.token)
            ORDER BY l.token, j.id
        LOOP
            IF herald.release(v_job.id, v_job.token) THEN
                job_id := v_job.id;
                task := v_job.task;
                queue := v_job.queue;
                attempt := v_job.attempt;
                outcome := 'released';
                reason := NULL;
                RETURN NEXT;
            END IF;
        END LOOP;
    END IF;

    SELECT array_agg(j.id ORDER BY j.id), array_agg(j.task ORDER BY j.id),
        array_agg(j.queue ORDER BY j.id),
        array_agg(a.id IS NOT NULL ORDER BY j.id)
    INTO v_ids, v_tasks, v_queues, v_abandoned
    FROM herald.leases l
    JOIN herald.jobs j ON j.id = ANY (l.job_ids)
    LEFT JOIN herald.abandoned_attempts a
        ON a.id = j.id AND a.token = l.token
    WHERE l.owner = p_worker;

    PERFORM herald.take_back_jobs(p_worker);

    FOR i IN 1 .. coalesce(array_length(v_ids, 1), 0) LOOP
        job_id := v_ids[i];
        task := v_tasks[i];
        queue := v_queues[i];
        outcome := CASE WHEN v_abandoned[i] THEN 'abandoned'
                        ELSE 'lost' END;
        reason := NULL;
        SELECT * INTO v_dead FROM herald.dead_jobs d WHERE d.id = v_ids[i];
        IF FOUND THEN
            attempt := v_dead.attempt;
            reason := v_dead.reason;
        ELSE
            SELECT j.attempt INTO v_attempt
            FROM herald.jobs j WHERE j.id = v_ids[i];
            IF FOUND THEN
                attempt := v_attempt;
            ELSE
                attempt := NULL;
                outcome := 'cancelled';
            END IF;
        END IF;
        RETURN NEXT;
    END LOOP;
END
$$;

-- Privileges (see 007).
REVOKE ALL ON FUNCTION herald.take_back_started(text, bigint[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION herald.take_back_started(text, bigint[])
    TO herald_worker;
