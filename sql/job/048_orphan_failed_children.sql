-- Failed children whose heraldd is gone no longer show as failed.
--
-- A heraldd that stops, or dies, has its janitor remove its registration
-- from herald.processes, and a supervisor found dead is removed by
-- herald.prune_processes.  Only the second also deleted the supervisor's
-- rows of herald.failed_children.  So a heraldd killed while it kept a
-- child from restarting left that child listed as failed for good, with
-- no heraldd to run it.  herald status named it, the
-- herald_failed_children gauge stayed above zero and the console showed
-- its queue as FAILED.
-- The janitor's prune, once a minute, now also deletes the failed
-- children of any supervisor that has no registration.

CREATE OR REPLACE FUNCTION herald.prune_processes(p_keep_ms bigint)
RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    v_dead text[];
    v_count bigint;
BEGIN
    SELECT coalesce(array_agg(id), '{}') INTO v_dead
    FROM herald.processes
    WHERE kind = 'supervisor'
      AND heartbeat_at < now() - p_keep_ms * interval '1 ms';
    WITH gone AS (
        DELETE FROM herald.processes
        WHERE heartbeat_at < now() - p_keep_ms * interval '1 ms'
           OR id = ANY (v_dead) OR supervisor_id = ANY (v_dead)
        RETURNING 1
    )
    SELECT count(*) INTO v_count FROM gone;
    DELETE FROM herald.failed_children f
    WHERE NOT EXISTS (SELECT 1 FROM herald.processes p
                      WHERE p.id = f.supervisor_id
                        AND p.kind = 'supervisor');
    RETURN v_count;
END
$$;
