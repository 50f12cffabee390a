-- The janitor logs each job whose lease it takes back, by id, so that the
-- log of a lost worker names the jobs it lost.  expire_leases keeps its
-- signature and its count, computed from the listing.

-- Take back up to p_limit jobs whose lease expired, as expire_leases did
-- in 009, and return one row per job; dead is true when that was its
-- last attempt.
CREATE FUNCTION herald.expire_leases_listed(p_limit integer DEFAULT 100)
RETURNS TABLE (id bigint, task text, queue text, attempt integer,
    dead boolean)
LANGUAGE plpgsql AS $$
DECLARE
    v_job record;
    v_error jsonb;
BEGIN
    FOR v_job IN
        SELECT j.id, j.queue, j.task, j.attempt, j.max_attempts,
            j.attempted_at
        FROM herald.jobs j
        WHERE j.state = 'running' AND j.lease_until < clock_timestamp()
        ORDER BY j.lease_until
        LIMIT p_limit
        FOR UPDATE SKIP LOCKED
    LOOP
        v_error := jsonb_build_object(
            'attempt', v_job.attempt,
            'at', v_job.attempted_at,
            'outcome', 'lost',
            'exit_code', NULL,
            'signal', NULL,
            'duration_ms',
                (extract(epoch FROM clock_timestamp() - v_job.attempted_at)
                    * 1000)::bigint,
            'output', 'worker lost: lease expired');
        dead := v_job.attempt >= v_job.max_attempts;
        IF dead THEN
            PERFORM herald.bury(v_job.id, v_error, 'lost');
        ELSE
            UPDATE herald.jobs j
            SET state = 'queued', run_at = clock_timestamp(),
                lease_owner = NULL, lease_token = NULL, lease_until = NULL,
                errors = j.errors || jsonb_build_array(v_error)
            WHERE j.id = v_job.id;
            PERFORM herald.count(v_job.queue, v_job.task, 0, 1, 1, 0);
            PERFORM pg_notify('herald', v_job.queue);
        END IF;
        PERFORM herald.count_lease_expiry(v_job.queue);
        id := v_job.id;
        task := v_job.task;
        queue := v_job.queue;
        attempt := v_job.attempt;
        RETURN NEXT;
    END LOOP;
END
$$;

CREATE OR REPLACE FUNCTION herald.expire_leases(p_limit integer DEFAULT 100)
RETURNS integer
LANGUAGE sql AS $$
    SELECT count(*)::integer FROM herald.expire_leases_listed(p_limit);
$$;

REVOKE ALL ON FUNCTION herald.expire_leases_listed(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION herald.expire_leases_listed(integer)
    TO herald_worker;
