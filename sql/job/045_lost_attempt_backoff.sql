-- Backoff for lost attempts.
--
-- A job whose worker died during its attempt went back to its queue due
-- at once.  A module handler that crashes its worker on every attempt
-- thus ran again within a second, crashed the replacement, and took
-- with it the jobs that happened to run beside it each time, until all
-- of them were dead.  A lost attempt now waits the task's retry delay,
-- with its jitter, as a failed one does.  The retry policy is in
-- heraldd's configuration, not in the database.  So the process that
-- takes the job back (the dead worker's replacement, or the janitor for
-- an expired lease) computes the delay and calls herald.delay_lost in
-- the same transaction.

-- Delay each job of p_ids, just taken back with a lost attempt, by its
-- element of p_delays in milliseconds from now.  A job whose attempt
-- counter differs from its element of p_attempts is left alone.
-- Returns the number of jobs delayed.
CREATE FUNCTION herald.delay_lost(p_ids bigint[], p_attempts integer[],
    p_delays bigint[])
RETURNS integer
LANGUAGE sql AS $$
    WITH d AS (
        UPDATE herald.jobs j
        SET run_at = clock_timestamp() + l.delay_ms * interval '1 ms'
        FROM unnest(p_ids, p_attempts, p_delays) AS l(id, attempt, delay_ms)
        WHERE j.id = l.id AND j.attempt = l.attempt
          AND j.state = 'queued' AND l.delay_ms > 0
        RETURNING 1)
    SELECT count(*)::integer FROM d;
$$;

REVOKE ALL ON FUNCTION herald.delay_lost(bigint[], integer[], bigint[])
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION herald.delay_lost(bigint[], integer[], bigint[])
    TO herald_worker;
