-- What heraldd needs to survive crashes: lease renewal per claim, pruning
-- in small batches, removal of supervisors that stopped heartbeating, and
-- the children a supervisor gave up restarting.

-- Children that a supervisor marked failed after too many exits in a row;
-- queue is '' for the janitor and the relay.  The janitor of that
-- supervisor keeps the rows current.
CREATE TABLE herald.failed_children (
    supervisor_id   text NOT NULL,
    role            text NOT NULL,
    queue           text NOT NULL DEFAULT '',
    failures        integer NOT NULL,
    failed_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (supervisor_id, role, queue),
    CONSTRAINT failed_children_role_check
        CHECK (role IN ('worker', 'janitor', 'relay'))
);

-- Renew the leases of the claims p_tokens that p_worker still holds and
-- return their tokens.  A token missing from the result is a claim the
-- worker lost (its lease expired and the job went back to its queue), so
-- the worker stops that handler.
CREATE FUNCTION herald.renew_leases(p_worker text, p_tokens bigint[],
    p_lease_ms integer)
RETURNS SETOF bigint
LANGUAGE sql AS $$
    UPDATE herald.jobs
    SET lease_until = clock_timestamp() + p_lease_ms * interval '1 ms'
    WHERE lease_token = ANY (p_tokens) AND lease_owner = p_worker
      AND state = 'running'
    RETURNING lease_token;
$$;

-- Delete at most p_limit counters older than p_keep_ms.  Rows locked by
-- someone else are skipped, so pruning never waits for a worker and
-- cannot take part in a deadlock; they go in a later batch.
CREATE FUNCTION herald.prune_counters(p_keep_ms bigint, p_limit integer)
RETURNS bigint
LANGUAGE sql AS $$
    WITH old AS (
        SELECT minute, queue, task FROM herald.counters
        WHERE minute < now() - p_keep_ms * interval '1 ms'
        LIMIT p_limit
        FOR UPDATE SKIP LOCKED
    ), gone AS (
        DELETE FROM herald.counters c
        USING old
        WHERE c.minute = old.minute AND c.queue = old.queue
          AND c.task = old.task
        RETURNING 1
    )
    SELECT count(*) FROM gone;
$$;

-- Delete at most p_limit dead jobs that died more than p_keep_ms ago,
-- skipping rows locked by a retry or purge in progress.
CREATE FUNCTION herald.prune_dead(p_keep_ms bigint, p_limit integer)
RETURNS bigint
LANGUAGE sql AS $$
    WITH old AS (
        SELECT id FROM herald.dead_jobs
        WHERE died_at < now() - p_keep_ms * interval '1 ms'
        ORDER BY died_at
        LIMIT p_limit
        FOR UPDATE SKIP LOCKED
    ), gone AS (
        DELETE FROM herald.dead_jobs d
        USING old
        WHERE d.id = old.id
        RETURNING 1
    )
    SELECT count(*) FROM gone;
$$;

-- Remove the registrations whose heartbeat is older than p_keep_ms, with
-- every child row and failed child of a supervisor removed that way.  A
-- process that finds its own row gone stops and is started again.
-- Returns how many registrations went.
CREATE FUNCTION herald.prune_processes(p_keep_ms bigint)
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
    DELETE FROM herald.failed_children WHERE supervisor_id = ANY (v_dead);
    WITH gone AS (
        DELETE FROM herald.processes
        WHERE heartbeat_at < now() - p_keep_ms * interval '1 ms'
           OR id = ANY (v_dead) OR supervisor_id = ANY (v_dead)
        RETURNING 1
    )
    SELECT count(*) INTO v_count FROM gone;
    RETURN v_count;
END
$$;

-- Replace the failed children of a supervisor with the given ones; the
-- arrays are parallel, one element per child.
CREATE FUNCTION herald.set_failed_children(p_supervisor text,
    p_roles text[], p_queues text[], p_failures integer[])
RETURNS void
LANGUAGE sql AS $$
    DELETE FROM herald.failed_children WHERE supervisor_id = p_supervisor;
    INSERT INTO herald.failed_children
        (supervisor_id, role, queue, failures)
    SELECT p_supervisor, r, q, f
    FROM unnest(p_roles, p_queues, p_failures) AS u(r, q, f);
$$;
