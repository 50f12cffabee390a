-- A job released to run again at once keeps its run_at.
--
-- A release at the end of a stop's grace period set run_at to the time
-- of the release, so the job's wait counted from then.  After every
-- restart or reload, herald status, the console's oldest ready job and
-- herald_queue_oldest_job_age_seconds showed waits shorter than they
-- were.  A job released with no delay was due already, so it keeps its
-- run_at, and with it its place at the head of the queue.  One released
-- with a delay, whose handler may still run, is due after the delay as
-- before.
CREATE OR REPLACE FUNCTION herald.release(p_id bigint, p_token bigint,
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
    UPDATE herald.jobs j
    SET run_at = CASE WHEN p_delay_ms = 0 THEN j.run_at
        ELSE clock_timestamp() + p_delay_ms * interval '1 ms' END
    WHERE j.id = p_id
    RETURNING j.queue INTO v_queue;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    PERFORM herald.lease_drop_job(p_token, p_id);
    -- A worker that claims now learns when the job is due.
    PERFORM pg_notify('herald', v_queue);
    RETURN true;
END
$$;
