-- Functions of the janitor: waking the workers of queues whose jobs
-- became due, and pruning old counters and process rows.

-- Finds the jobs that became due since the last round without reading
-- the whole queue.  It costs every enqueue, claim and fail one more index
-- entry.
CREATE INDEX jobs_run_at_idx ON herald.jobs (run_at) WHERE state = 'queued';

-- NOTIFY herald once for each queue that has queued jobs whose run_at
-- passed after p_since (scheduled jobs and jobs waiting to retry), and
-- return the time to pass as p_since next round.  The window reaches one
-- second further back than p_since, because a transaction that sets a
-- run_at just before p_since may commit after the last round looked: a
-- second announcement only costs a claim that finds nothing.  With p_since
-- NULL nothing is announced.
CREATE FUNCTION herald.announce_due(p_since timestamptz)
RETURNS timestamptz
LANGUAGE plpgsql AS $$
DECLARE
    v_now timestamptz := clock_timestamp();
    v_queue text;
BEGIN
    IF p_since IS NOT NULL THEN
        FOR v_queue IN
            SELECT DISTINCT j.queue FROM herald.jobs j
            WHERE j.state = 'queued'
              AND j.run_at > p_since - interval '1 second'
              AND j.run_at <= v_now
        LOOP
            PERFORM pg_notify('herald', v_queue);
        END LOOP;
    END IF;
    RETURN v_now;
END
$$;

-- Delete counters older than p_counters_ms and process rows whose
-- heartbeat is older than p_processes_ms; return how many of each.
CREATE FUNCTION herald.prune(p_counters_ms bigint, p_processes_ms bigint)
RETURNS TABLE (counters bigint, processes bigint)
LANGUAGE plpgsql AS $$
BEGIN
    WITH gone AS (
        DELETE FROM herald.counters
        WHERE minute < now() - p_counters_ms * interval '1 ms'
        RETURNING 1
    )
    SELECT count(*) INTO counters FROM gone;
    WITH gone AS (
        DELETE FROM herald.processes
        WHERE heartbeat_at < now() - p_processes_ms * interval '1 ms'
        RETURNING 1
    )
    SELECT count(*) INTO processes FROM gone;
    RETURN NEXT;
END
$$;
