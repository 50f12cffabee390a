-- The job whose module handler crashed its worker.
--
-- A module handler runs in its worker's process, so one that raises a
-- fatal signal (a crash, or abort()) ends the worker and every job
-- running in it.  Each of them counted a lost attempt, and neither the
-- log nor the history named the job whose handler had crashed.  The worker's signal handler now
-- stores the job of the crashing thread in the memory it shares with
-- heraldd.  The replacement counts the lost attempt for that job alone,
-- puts the others back in their queue with no attempt counted, and
-- records the signal in the crashed job's history with
-- herald.record_crash.

-- Set the signal and the output of the last history entry of job p_id,
-- a lost attempt just taken back, in herald.jobs or, when that attempt
-- was its last, in herald.dead_jobs.  Returns whether an entry was found.
CREATE FUNCTION herald.record_crash(p_id bigint, p_signal integer,
    p_output text)
RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    v_set jsonb := jsonb_build_object('signal', p_signal,
        'output', p_output);
BEGIN
    UPDATE herald.jobs j
    SET errors = jsonb_set(j.errors, '{-1}', (j.errors->-1) || v_set)
    WHERE j.id = p_id AND j.errors->-1->>'outcome' = 'lost';
    IF FOUND THEN
        RETURN true;
    END IF;
    UPDATE herald.dead_jobs d
    SET errors = jsonb_set(d.errors, '{-1}', (d.errors->-1) || v_set)
    WHERE d.id = p_id AND d.errors->-1->>'outcome' = 'lost';
    RETURN FOUND;
END
$$;

REVOKE ALL ON FUNCTION herald.record_crash(bigint, integer, text)
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION herald.record_crash(bigint, integer, text)
    TO herald_worker;
