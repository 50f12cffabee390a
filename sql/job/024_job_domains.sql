-- Column checks of herald.jobs as domains.
--
-- PostgreSQL 15 reads and plans the check constraints of a table again
-- for every statement that writes it (ExecRelCheck): about 0.7 us per
-- constraint and 0.6 us per operator in it.  The checks of a domain are
-- planned once per backend and kept in its type cache.
--
-- Measured in the server on the 2-vCPU VM of bench/RESULTS.md, as the
-- best of 30 batches of 100 one-row inserts in one transaction, into
-- copies of herald.jobs without indexes or triggers.  An insert took 3.5
-- to 4.1 us with no check and 11.5 us with the three constraints of 001.
-- With the state, attempt and max_attempts checks as domains it took 7.0
-- us, of which the lease check kept as a table constraint is 2.2 us.
-- Measured the same way, a call of herald.enqueue() went from 25.5 to
-- 26.6 us down to 20.8 to 21.8 us.  When each call commits on its own, it
-- went from 39 to 43 us down to 30 to 34 us.
--
-- The lease check spans two columns, which a domain cannot, so it stays a
-- table constraint.  The columns change to domains without constraints
-- first, which rewrites no rows.  Then each domain gets its check, which
-- reads the table once under a SHARE lock (writes wait, reads go on).  The
-- claim and run_at indexes, whose predicates name state, are rebuilt: on
-- 300000 jobs the whole migration took 1.3 s.  A violation still raises
-- SQLSTATE 23514 (check_violation), and its message now names the domain
-- instead of the table.
--
-- PL/pgSQL's RETURN QUERY rejects a domain where the function declares
-- the base type, so herald.claim() casts max_attempts, and the views of
-- 012 show the base types as before.

CREATE DOMAIN herald.job_state AS text;
CREATE DOMAIN herald.job_attempt AS integer;
CREATE DOMAIN herald.job_max_attempts AS integer;

-- A column that a view reads cannot change type.
DROP VIEW herald.live_jobs_redacted;
DROP VIEW herald.jobs_redacted;
DROP VIEW herald.live_jobs;

ALTER TABLE herald.jobs
    ALTER COLUMN state TYPE herald.job_state,
    ALTER COLUMN attempt TYPE herald.job_attempt,
    ALTER COLUMN max_attempts TYPE herald.job_max_attempts;

ALTER DOMAIN herald.job_state ADD CONSTRAINT job_state_check
    CHECK (VALUE IN ('queued', 'running'));
ALTER DOMAIN herald.job_attempt ADD CONSTRAINT job_attempt_check
    CHECK (VALUE >= 0);
ALTER DOMAIN herald.job_max_attempts ADD CONSTRAINT job_max_attempts_check
    CHECK (VALUE BETWEEN 1 AND 1000);

ALTER TABLE herald.jobs
    DROP CONSTRAINT jobs_state_check,
    DROP CONSTRAINT jobs_attempts_check;

-- The views of 012, with the columns in their base types.
CREATE VIEW herald.live_jobs AS
    SELECT j.id, j.task, j.queue, j.payload, j.priority, j.run_at,
        j.attempt + (h.token IS NOT NULL)::integer AS attempt,
        j.max_attempts::integer AS max_attempts,
        CASE WHEN h.token IS NULL THEN j.state::text ELSE 'running' END
            AS state,
        coalesce(h.owner, j.lease_owner) AS lease_owner,
        coalesce(h.token, j.lease_token) AS lease_token,
        coalesce(h.deadline, j.lease_until) AS lease_until,
        coalesce(h.attempted_at, j.attempted_at) AS attempted_at,
        j.created_at, j.event_id, j.event_type, j.errors,
        j.cancel_requested_at
    FROM herald.jobs j
    LEFT JOIN herald.held_jobs h ON h.id = j.id;

CREATE VIEW herald.jobs_redacted AS
    SELECT id, task, queue, NULL::jsonb AS payload, priority, run_at,
        attempt, max_attempts, state, lease_owner, lease_token, lease_until,
        attempted_at, created_at, event_id, event_type,
        herald.redact_errors(errors) AS errors
    FROM herald.live_jobs;

-- What herald_viewer reads in place of herald.live_jobs.  The console
-- derives its queries for that role by adding "_redacted" to view names.
CREATE VIEW herald.live_jobs_redacted AS
    SELECT * FROM herald.jobs_redacted;

-- The privileges that the dropped views had (007 and 012).
REVOKE ALL ON herald.live_jobs, herald.jobs_redacted,
    herald.live_jobs_redacted FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE, DELETE ON herald.live_jobs,
    herald.jobs_redacted, herald.live_jobs_redacted TO herald_worker;
GRANT SELECT ON herald.live_jobs, herald.jobs_redacted,
    herald.live_jobs_redacted TO herald_console;
GRANT SELECT ON herald.jobs_redacted, herald.live_jobs_redacted
    TO herald_viewer;
GRANT SELECT (id, task, queue, priority, run_at, attempt, max_attempts,
    state, lease_owner, lease_token, lease_until, attempted_at, created_at,
    event_id, event_type, cancel_requested_at) ON herald.live_jobs
    TO herald_viewer;

-- The claim of 017, returning max_attempts in its declared type.
CREATE OR REPLACE FUNCTION herald.claim(p_queue text, p_worker text,
    p_n integer, p_lease_ms integer)
RETURNS TABLE (id bigint, task text, queue text, payload text,
    priority smallint, attempt integer, max_attempts integer,
    lease_token bigint, event_id text, event_type text)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_locked text;
    v_paused boolean;
    v_limited boolean;
    v_max_running integer;
    v_rate double precision;
    v_bucket double precision;
    v_refilled_at timestamptz;
    v_n integer := p_n;
    v_running integer;
    v_tokens double precision;
    v_taken integer;
BEGIN
    IF v_n <= 0 THEN
        RETURN;
    END IF;
    -- PERFORM would run a query, but an assignment is evaluated as an
    -- expression.  The void result is stored as ''.
    v_locked := pg_advisory_xact_lock(herald.limit_lock_class(),
        hashtext(p_queue));
    SELECT coalesce(q.paused, false), l.queue IS NOT NULL, l.max_running,
        l.rate, l.tokens, l.refilled_at
    INTO v_paused, v_limited, v_max_running, v_rate, v_bucket,
        v_refilled_at
    FROM (VALUES (p_queue)) AS k(queue)
    LEFT JOIN herald.queues q ON q.name = k.queue
    LEFT JOIN herald.queue_limits l ON l.queue = k.queue;
    IF v_paused THEN
        RETURN;
    END IF;
    IF v_limited THEN
        IF v_max_running IS NOT NULL THEN
            SELECT count(*) INTO v_running
            FROM herald.held_jobs h JOIN herald.jobs j ON j.id = h.id
            WHERE h.queue = p_queue;
            v_n := least(v_n, v_max_running - v_running);
        END IF;
        IF v_rate IS NOT NULL THEN
            v_tokens := least(greatest(1, v_rate), v_bucket
                + v_rate * extract(epoch FROM clock_timestamp()
                    - v_refilled_at));
            v_n := least(v_n, floor(v_tokens)::integer);
        END IF;
        IF v_n <= 0 THEN
            RETURN;
        END IF;
    END IF;

    -- The held ids of the queue are hashed once, and the index scan skips
    -- them.  The lease lists the ids in claim order, and the rows come
    -- from the scan itself, in the same order.
    RETURN QUERY
    WITH due AS MATERIALIZED (
        SELECT j.id, j.task, j.queue, j.payload, j.priority, j.run_at,
            j.attempt, j.max_attempts, j.event_id, j.event_type
        FROM herald.jobs j
        WHERE j.queue = p_queue AND j.state = 'queued' AND j.run_at <= now()
          AND j.cancel_requested_at IS NULL
          AND j.id NOT IN (SELECT h.id FROM herald.held_jobs h
                           WHERE h.queue = p_queue)
        ORDER BY j.priority, j.run_at, j.id
        LIMIT v_n
    ), lease AS (
        INSERT INTO herald.leases AS l (token, owner, queue, deadline,
            attempted_at, job_ids, pending)
        SELECT nextval('herald.lease_token_seq'), p_worker, p_queue,
            clock_timestamp() + p_lease_ms * interval '1 ms',
            clock_timestamp(),
            array_agg(d.id ORDER BY d.priority, d.run_at, d.id), count(*)
        FROM due d
        HAVING count(*) > 0
        RETURNING l.token
    )
    SELECT d.id, d.task, d.queue, d.payload::text, d.priority,
        d.attempt + 1, d.max_attempts::integer, s.token, d.event_id,
        d.event_type
    FROM due d, lease s
    ORDER BY d.priority, d.run_at, d.id;

    IF v_rate IS NOT NULL THEN
        GET DIAGNOSTICS v_taken = ROW_COUNT;
        IF v_taken > 0 THEN
            UPDATE herald.queue_limits l
            SET tokens = v_tokens - v_taken,
                refilled_at = clock_timestamp()
            WHERE l.queue = p_queue;
        END IF;
    END IF;
END
$$;
