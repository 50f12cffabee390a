-- The completion keeps its plan for the life of the connection.
--
-- herald.complete_many was a LANGUAGE sql function.  PostgreSQL 15
-- cannot inline a SQL function that writes, so it parses and plans the
-- body at every call and keeps the plan only for the calling query.  A worker calls it once per cycle that finished jobs.
-- So a worker that finishes one or a few jobs at a time, such as an exec
-- handler or the worker of a mostly idle queue, planned the query again
-- for each of them.  PL/pgSQL prepares the same query once per
-- connection.  On the 2-vCPU VM of bench/RESULTS.md, a procedure
-- enqueued, claimed and completed one job 500 times, committing each
-- step.  A call took 1.13 to 1.21 ms as SQL and 0.31 to 0.34 ms as
-- PL/pgSQL.  The query and its result are those of 012.

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
        ON CONFLICT (minute, queue, task) DO UPDATE
            SET completed = c.completed + excluded.completed
    )
    SELECT d.id FROM done d;
END
$$;
