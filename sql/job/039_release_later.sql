-- A job released while its handler may still run waits until the worker
-- has exited.
--
-- At the end of a stop's grace period, a worker gives back the jobs whose
-- module handlers still run: a thread cannot be stopped, and the worker
-- exits a moment later, which ends it.  herald.release() made such a job
-- due at once, so a worker of another host could start it while the
-- first handler still ran.  This release makes the job due p_delay_ms
-- later, and the worker passes the time until it exits at the latest.
CREATE FUNCTION herald.release(p_id bigint, p_token bigint,
    p_delay_ms integer)
RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    v_lease herald.leases;
    v_queue text;
BEGIN
    IF p_delay_ms IS NULL OR p_delay_ms < 0 THEN
        RAISE EXCEPTION 'release delay % ms is out of range', p_delay_ms
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Use a whole number of milliseconds from 0.';
    END IF;
    v_lease := herald.lease_of(p_id, p_token);
    IF v_lease.token IS NULL THEN
        RETURN false;
    END IF;
    UPDATE herald.jobs
    SET run_at = clock_timestamp() + p_delay_ms * interval '1 ms'
    WHERE id = p_id
    RETURNING queue INTO v_queue;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    PERFORM herald.lease_drop_job(p_token, p_id);
    -- A worker that claims now learns when the job is due.
    PERFORM pg_notify('herald', v_queue);
    RETURN true;
END
$$;
REVOKE ALL ON FUNCTION herald.release(bigint, bigint, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION herald.release(bigint, bigint, integer)
    TO herald_worker;
