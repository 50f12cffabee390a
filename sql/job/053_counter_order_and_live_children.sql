-- Two fixes found under load with several workers and hosts.
--
-- Workers of one queue deadlocked in herald.complete_many when they
-- completed jobs of two tasks in one call: each upserted the rows of
-- herald.counters in the order of its hash aggregate, which differs
-- from call to call.  PostgreSQL broke each deadlock after
-- deadlock_timeout, stalling both workers.  The rows are now upserted in
-- the order of their key.
--
-- The janitor of a heraldd writes its supervisor's heartbeat.  That
-- janitor may stop: killed until heraldd paused its restarts, or frozen.
-- The janitor of another host then pruned the supervisor as dead, and
-- with it the registrations of its live workers, which sent their own
-- heartbeats.  Each worker then restarted and gave back its jobs.  A
-- supervisor now counts as dead only when none of its children has sent
-- a heartbeat within the retention either.

CREATE OR REPLACE FUNCTION herald.complete_many(p_ids bigint[],
    p_tokens bigint[])
RETURNS SETOF bigint
LANGUAGE plpgsql AS $$
BEGIN
    RETURN QUERY
    WITH locked AS MATERIALIZED (
        SELECT l.token, l.job_ids FROM herald.leases l
        WHERE l.token = ANY (p_tokens)
        FOR UPDATE
    ), held AS MATERIALIZED (
        SELECT u.id, l.token FROM locked l, unnest(l.job_ids) AS u(id)
    ), valid AS MATERIALIZED (
        SELECT c.id, c.token FROM unnest(p_ids, p_tokens) AS c(id, token)
        JOIN held h ON h.id = c.id AND h.token = c.token
    ), done AS (
        DELETE FROM herald.jobs j
        USING valid v
        WHERE j.id = v.id
        RETURNING j.id, j.queue, j.task, v.token
    ), per_lease AS (
        SELECT d.token, count(*) AS n FROM done d GROUP BY d.token
    ), dropped AS (
        DELETE FROM herald.leases l USING per_lease p
        WHERE l.token = p.token AND l.pending <= p.n
    ), shrunk AS (
        UPDATE herald.leases l SET pending = l.pending - p.n
        FROM per_lease p
        WHERE l.token = p.token AND l.pending > p.n
    ), counted AS (
        INSERT INTO herald.counters AS c (minute, queue, task, completed)
        SELECT date_trunc('minute', now()), d.queue, d.task, count(*)
        FROM done d
        GROUP BY d.queue, d.task
        ORDER BY d.queue, d.task
        ON CONFLICT (minute, queue, task) DO UPDATE
            SET completed = c.completed + excluded.completed
    )
    SELECT d.id FROM done d;
END
$$;

CREATE OR REPLACE FUNCTION herald.prune_processes(p_keep_ms bigint)
RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    v_dead text[];
    v_count bigint;
BEGIN
    SELECT coalesce(array_agg(s.id), '{}') INTO v_dead
    FROM herald.processes s
    WHERE s.kind = 'supervisor'
      AND s.heartbeat_at < now() - p_keep_ms * interval '1 ms'
      AND NOT EXISTS (SELECT 1 FROM herald.processes c
                      WHERE c.supervisor_id = s.id
                        AND c.heartbeat_at >=
                            now() - p_keep_ms * interval '1 ms');
    WITH gone AS (
        DELETE FROM herald.processes p
        WHERE (p.heartbeat_at < now() - p_keep_ms * interval '1 ms'
               AND p.kind <> 'supervisor')
           OR p.id = ANY (v_dead) OR p.supervisor_id = ANY (v_dead)
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
