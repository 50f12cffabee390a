-- Leases per claimed batch.  A claim no longer updates each job row: it
-- inserts one row in herald.leases that lists the jobs it took, and a job
-- is running while a lease lists it.  A job that succeeds is written once,
-- when it is deleted.  The UPDATE of every claimed row (a new row version
-- with its index entries) was the largest cost of draining a queue.
--
-- The row of a job in herald.jobs keeps the state of its last finished
-- attempt: state 'queued', the attempts that ended, and no lease.  While
-- a lease lists it, herald.live_jobs shows it as the claim of 010 wrote
-- it: state 'running', attempt one more, and the lease's owner, token,
-- deadline and start time.  Every path that ends an attempt without
-- deleting the job (fail, release, expiry, a lost worker) writes the row
-- and takes the job off its lease.
--
-- Claims of a queue take the advisory lock (herald.limit_lock_class(),
-- hashtext(queue)) until they commit, so each sees the leases of the
-- claims before it.  herald.cancel takes the same lock before it deletes
-- queued jobs.  Paths that change a lease lock its row first, so a late
-- completion and the janitor's expiry of the same lease run one after
-- the other, and the second finds the jobs gone from the lease.

-- Jobs claimed in one batch.  pending counts the listed jobs that have
-- not ended, and the lease goes when it reaches 0.  job_ids keeps the ids
-- of completed jobs (those rows no longer exist) and loses the ids of jobs
-- that went back to their queue or to the dead table.
CREATE TABLE herald.leases (
    token           bigint PRIMARY KEY,
    owner           text NOT NULL,
    queue           text NOT NULL,
    deadline        timestamptz NOT NULL,
    attempted_at    timestamptz NOT NULL,
    job_ids         bigint[] NOT NULL,
    pending         integer NOT NULL CHECK (pending > 0)
);

CREATE INDEX leases_queue_idx ON herald.leases (queue);
CREATE INDEX leases_owner_idx ON herald.leases (owner);
CREATE INDEX leases_deadline_idx ON herald.leases (deadline);

-- One row per job that a lease lists.  Rows of completed jobs remain
-- until their lease goes, so join with herald.jobs.
CREATE VIEW herald.held_jobs AS
    SELECT u.id, l.token, l.owner, l.queue, l.deadline, l.attempted_at
    FROM herald.leases l, unnest(l.job_ids) AS u(id);

-- Live jobs as operators and workers see them: a job that a lease lists
-- is running, in its next attempt, with that lease.
CREATE VIEW herald.live_jobs AS
    SELECT j.id, j.task, j.queue, j.payload, j.priority, j.run_at,
        j.attempt + (h.token IS NOT NULL)::integer AS attempt,
        j.max_attempts,
        CASE WHEN h.token IS NULL THEN j.state ELSE 'running' END AS state,
        coalesce(h.owner, j.lease_owner) AS lease_owner,
        coalesce(h.token, j.lease_token) AS lease_token,
        coalesce(h.deadline, j.lease_until) AS lease_until,
        coalesce(h.attempted_at, j.attempted_at) AS attempted_at,
        j.created_at, j.event_id, j.event_type, j.errors,
        j.cancel_requested_at
    FROM herald.jobs j
    LEFT JOIN herald.held_jobs h ON h.id = j.id;

CREATE OR REPLACE VIEW herald.jobs_redacted AS
    SELECT id, task, queue, NULL::jsonb AS payload, priority, run_at,
        attempt, max_attempts, state, lease_owner, lease_token, lease_until,
        attempted_at, created_at, event_id, event_type,
        herald.redact_errors(errors) AS errors
    FROM herald.live_jobs;

-- What herald_viewer reads in place of herald.live_jobs.  The console
-- derives its queries for that role by adding "_redacted" to view names.
CREATE VIEW herald.live_jobs_redacted AS
    SELECT * FROM herald.jobs_redacted;

-- Jobs running when this migration runs keep their tokens, each in a
-- lease of its own.
INSERT INTO herald.leases (token, owner, queue, deadline, attempted_at,
    job_ids, pending)
SELECT j.lease_token, j.lease_owner, j.queue, j.lease_until,
    coalesce(j.attempted_at, now()), ARRAY[j.id], 1
FROM herald.jobs j
WHERE j.state = 'running';

UPDATE herald.jobs
SET state = 'queued', attempt = attempt - 1, lease_owner = NULL,
    lease_token = NULL, lease_until = NULL
WHERE state = 'running';

DROP INDEX herald.jobs_lease_idx;
DROP INDEX herald.jobs_running_queue_idx;

-- Wait until the claims of p_queue in progress commit.
CREATE FUNCTION herald.lock_claims(p_queue text) RETURNS void
LANGUAGE sql AS $$
    SELECT pg_advisory_xact_lock(herald.limit_lock_class(),
        hashtext(p_queue));
$$;

-- Lock lease p_token and return it when it lists job p_id, so that the
-- caller may end that job's attempt.
CREATE FUNCTION herald.lease_of(p_id bigint, p_token bigint)
RETURNS herald.leases
LANGUAGE sql AS $$
    SELECT l.* FROM herald.leases l
    WHERE l.token = p_token AND p_id = ANY (l.job_ids)
    FOR UPDATE;
$$;

-- Take job p_id off lease p_token, whose row the caller locked, and drop
-- the lease when no job of it is left.
CREATE FUNCTION herald.lease_drop_job(p_token bigint, p_id bigint)
RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM herald.leases l WHERE l.token = p_token AND l.pending <= 1;
    IF NOT FOUND THEN
        UPDATE herald.leases l
        SET job_ids = array_remove(l.job_ids, p_id), pending = l.pending - 1
        WHERE l.token = p_token;
    END IF;
END
$$;

-- The claim of 010 with one lease for the batch.  The jobs are returned
-- in claim order with the attempt they start.
CREATE OR REPLACE FUNCTION herald.claim(p_queue text, p_worker text,
    p_n integer, p_lease_ms integer)
RETURNS TABLE (id bigint, task text, queue text, payload text,
    priority smallint, attempt integer, max_attempts integer,
    lease_token bigint, event_id text, event_type text)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_limits herald.queue_limits;
    v_n integer := p_n;
    v_running integer;
    v_tokens double precision;
    v_token bigint;
    v_ids bigint[];
BEGIN
    IF EXISTS (SELECT 1 FROM herald.queues q
               WHERE q.name = p_queue AND q.paused) THEN
        RETURN;
    END IF;
    PERFORM herald.lock_claims(p_queue);
    SELECT * INTO v_limits FROM herald.queue_limits l WHERE l.queue = p_queue;
    IF v_limits.max_running IS NOT NULL THEN
        SELECT count(*) INTO v_running
        FROM herald.held_jobs h JOIN herald.jobs j ON j.id = h.id
        WHERE h.queue = p_queue;
        v_n := least(v_n, v_limits.max_running - v_running);
    END IF;
    IF v_limits.rate IS NOT NULL THEN
        v_tokens := least(greatest(1, v_limits.rate), v_limits.tokens
            + v_limits.rate * extract(epoch FROM clock_timestamp()
                - v_limits.refilled_at));
        v_n := least(v_n, floor(v_tokens)::integer);
    END IF;
    IF v_n <= 0 THEN
        RETURN;
    END IF;

    -- The held ids of the queue are hashed once, and the index scan skips
    -- them: it reads the running jobs' entries but writes nothing.
    SELECT array_agg(d.id ORDER BY d.priority, d.run_at, d.id) INTO v_ids
    FROM (
        SELECT j.id, j.priority, j.run_at FROM herald.jobs j
        WHERE j.queue = p_queue AND j.state = 'queued' AND j.run_at <= now()
          AND j.cancel_requested_at IS NULL
          AND j.id NOT IN (SELECT h.id FROM herald.held_jobs h
                           WHERE h.queue = p_queue)
        ORDER BY j.priority, j.run_at, j.id
        LIMIT v_n
    ) d;
    IF v_ids IS NULL THEN
        RETURN;
    END IF;

    v_token := nextval('herald.lease_token_seq');
    INSERT INTO herald.leases (token, owner, queue, deadline, attempted_at,
        job_ids, pending)
    VALUES (v_token, p_worker, p_queue,
        clock_timestamp() + p_lease_ms * interval '1 ms', clock_timestamp(),
        v_ids, cardinality(v_ids));
    IF v_limits.rate IS NOT NULL THEN
        UPDATE herald.queue_limits l
        SET tokens = v_tokens - cardinality(v_ids),
            refilled_at = clock_timestamp()
        WHERE l.queue = p_queue;
    END IF;

    RETURN QUERY
    SELECT j.id, j.task, j.queue, j.payload::text, j.priority,
        j.attempt + 1, j.max_attempts, v_token, j.event_id, j.event_type
    FROM unnest(v_ids) WITH ORDINALITY AS u(id, ord)
    JOIN herald.jobs j ON j.id = u.id
    ORDER BY u.ord;
END
$$;

-- The complete_many of 006 for leased jobs: delete the jobs that the
-- given leases still list, count them, and shrink or drop the leases.
-- Locking the leases first makes a completion that races the expiry of
-- its lease find the lease gone, so it deletes nothing.
CREATE OR REPLACE FUNCTION herald.complete_many(p_ids bigint[],
    p_tokens bigint[])
RETURNS SETOF bigint
LANGUAGE sql AS $$
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
$$;

-- The complete of 001 for leased jobs.
CREATE OR REPLACE FUNCTION herald.complete(p_id bigint, p_token bigint)
RETURNS boolean
LANGUAGE sql AS $$
    SELECT count(*) > 0
    FROM herald.complete_many(ARRAY[p_id], ARRAY[p_token]);
$$;

-- The fail of 001 for leased jobs: the row records the attempt that
-- ended, then the job is queued again or buried, and leaves its lease.
CREATE OR REPLACE FUNCTION herald.fail(p_id bigint, p_token bigint,
    p_error jsonb, p_permanent boolean, p_delay_ms bigint) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    v_lease herald.leases;
    v_job herald.jobs;
BEGIN
    v_lease := herald.lease_of(p_id, p_token);
    IF v_lease.token IS NULL THEN
        RETURN 'lost';
    END IF;
    UPDATE herald.jobs j
    SET attempt = j.attempt + 1, attempted_at = v_lease.attempted_at
    WHERE j.id = p_id
    RETURNING * INTO v_job;
    IF NOT FOUND THEN
        RETURN 'lost';
    END IF;
    PERFORM herald.lease_drop_job(p_token, p_id);

    IF p_permanent OR v_job.attempt >= v_job.max_attempts THEN
        PERFORM herald.bury(p_id, p_error,
            CASE WHEN p_permanent THEN 'permanent' ELSE 'exhausted' END);
        RETURN 'dead';
    END IF;

    UPDATE herald.jobs
    SET run_at = clock_timestamp() + p_delay_ms * interval '1 ms',
        errors = errors || jsonb_build_array(p_error)
    WHERE id = p_id;
    PERFORM herald.count(v_job.queue, v_job.task, 0, 1, 1, 0);
    RETURN 'retry';
END
$$;

-- The release of 001 for leased jobs: the attempt is not counted.
CREATE OR REPLACE FUNCTION herald.release(p_id bigint, p_token bigint)
RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    v_lease herald.leases;
    v_queue text;
BEGIN
    v_lease := herald.lease_of(p_id, p_token);
    IF v_lease.token IS NULL THEN
        RETURN false;
    END IF;
    UPDATE herald.jobs SET run_at = clock_timestamp()
    WHERE id = p_id
    RETURNING queue INTO v_queue;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    PERFORM herald.lease_drop_job(p_token, p_id);
    PERFORM pg_notify('herald', v_queue);
    RETURN true;
END
$$;

-- The finish_cancelled of 010 for leased jobs.
CREATE OR REPLACE FUNCTION herald.finish_cancelled(p_id bigint,
    p_token bigint)
RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    v_lease herald.leases;
BEGIN
    v_lease := herald.lease_of(p_id, p_token);
    IF v_lease.token IS NULL THEN
        RETURN false;
    END IF;
    DELETE FROM herald.jobs
    WHERE id = p_id AND cancel_requested_at IS NOT NULL;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    PERFORM herald.lease_drop_job(p_token, p_id);
    RETURN true;
END
$$;

CREATE OR REPLACE FUNCTION herald.extend_leases(p_worker text,
    p_lease_ms integer)
RETURNS integer
LANGUAGE sql AS $$
    WITH extended AS (
        UPDATE herald.leases
        SET deadline = clock_timestamp() + p_lease_ms * interval '1 ms'
        WHERE owner = p_worker
        RETURNING pending
    )
    SELECT coalesce(sum(pending), 0)::integer FROM extended;
$$;

CREATE OR REPLACE FUNCTION herald.renew_leases(p_worker text,
    p_tokens bigint[], p_lease_ms integer)
RETURNS SETOF bigint
LANGUAGE sql AS $$
    UPDATE herald.leases
    SET deadline = clock_timestamp() + p_lease_ms * interval '1 ms'
    WHERE token = ANY (p_tokens) AND owner = p_worker
    RETURNING token;
$$;

-- renew_leases_cancel of 010 keyed by lease: with each renewed token, the
-- jobs of that lease whose cancellation was requested.  A token missing
-- from the result is a lease the worker lost.
CREATE FUNCTION herald.renew_leases_cancelled(p_worker text,
    p_tokens bigint[], p_lease_ms integer)
RETURNS TABLE (lease_token bigint, cancelled bigint[])
LANGUAGE sql AS $$
    WITH renewed AS (
        UPDATE herald.leases l
        SET deadline = clock_timestamp() + p_lease_ms * interval '1 ms'
        WHERE l.token = ANY (p_tokens) AND l.owner = p_worker
        RETURNING l.token, l.job_ids
    )
    SELECT r.token,
        coalesce((SELECT array_agg(j.id ORDER BY j.id) FROM herald.jobs j
                  WHERE j.id = ANY (r.job_ids)
                    AND j.cancel_requested_at IS NOT NULL), '{}')
    FROM renewed r;
$$;

DROP FUNCTION herald.renew_leases_cancel(text, bigint[], integer);

-- End the attempt of job p_id, which started at p_attempted_at, as lost:
-- the attempt is counted, with output p_output, and the job is queued
-- again or buried.  The caller takes the job off its lease.  Returns
-- whether the job was buried, or NULL when it no longer exists.
CREATE FUNCTION herald.lose_attempt(p_id bigint,
    p_attempted_at timestamptz, p_output text)
RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    v_job herald.jobs;
    v_error jsonb;
BEGIN
    UPDATE herald.jobs j
    SET attempt = j.attempt + 1, attempted_at = p_attempted_at
    WHERE j.id = p_id
    RETURNING * INTO v_job;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    v_error := jsonb_build_object(
        'attempt', v_job.attempt,
        'at', p_attempted_at,
        'outcome', 'lost',
        'exit_code', NULL,
        'signal', NULL,
        'duration_ms',
            (extract(epoch FROM clock_timestamp() - p_attempted_at)
                * 1000)::bigint,
        'output', p_output);
    IF v_job.attempt >= v_job.max_attempts THEN
        PERFORM herald.bury(p_id, v_error, 'lost');
        RETURN true;
    END IF;
    UPDATE herald.jobs j
    SET run_at = clock_timestamp(),
        errors = j.errors || jsonb_build_array(v_error)
    WHERE j.id = p_id;
    PERFORM herald.count(v_job.queue, v_job.task, 0, 1, 1, 0);
    RETURN false;
END
$$;

-- The expire_leases_listed of 011 for leased jobs: take back up to
-- p_limit jobs of expired leases, oldest deadline first.  A lease loses
-- the jobs taken back in one update, or goes when none of its jobs is
-- left.
CREATE OR REPLACE FUNCTION herald.expire_leases_listed(
    p_limit integer DEFAULT 100)
RETURNS TABLE (id bigint, task text, queue text, attempt integer,
    dead boolean)
LANGUAGE plpgsql AS $$
DECLARE
    v_lease record;
    v_job record;
    v_left integer := p_limit;
    v_done bigint[];
BEGIN
    FOR v_lease IN
        SELECT l.token, l.attempted_at FROM herald.leases l
        WHERE l.deadline < clock_timestamp()
        ORDER BY l.deadline
        FOR UPDATE SKIP LOCKED
    LOOP
        EXIT WHEN v_left <= 0;
        v_done := '{}';
        FOR v_job IN
            SELECT j.id, j.task, j.queue, j.attempt
            FROM herald.jobs j, herald.leases l
            WHERE l.token = v_lease.token AND j.id = ANY (l.job_ids)
            ORDER BY j.id
            LIMIT v_left
        LOOP
            dead := herald.lose_attempt(v_job.id, v_lease.attempted_at,
                'worker lost: lease expired');
            v_done := v_done || v_job.id;
            IF NOT dead THEN
                PERFORM pg_notify('herald', v_job.queue);
            END IF;
            PERFORM herald.count_lease_expiry(v_job.queue);
            id := v_job.id;
            task := v_job.task;
            queue := v_job.queue;
            attempt := v_job.attempt + 1;
            v_left := v_left - 1;
            RETURN NEXT;
        END LOOP;
        -- Completed jobs leave their ids behind, so the lease goes when
        -- no job it lists is left but those just taken back.
        DELETE FROM herald.leases l
        WHERE l.token = v_lease.token
          AND NOT EXISTS (SELECT 1 FROM herald.jobs j
                          WHERE j.id = ANY (l.job_ids)
                            AND j.id <> ALL (v_done));
        IF NOT FOUND THEN
            UPDATE herald.leases l
            SET job_ids = ARRAY(SELECT u.id FROM unnest(l.job_ids) AS u(id)
                                WHERE u.id <> ALL (v_done)),
                pending = greatest(l.pending - cardinality(v_done), 1)
            WHERE l.token = v_lease.token;
        END IF;
    END LOOP;
END
$$;

-- The expire_worker of 010 for leased jobs.
CREATE OR REPLACE FUNCTION herald.expire_worker(p_worker text)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    v_lease record;
    v_job record;
    v_count integer := 0;
BEGIN
    FOR v_lease IN
        SELECT l.token, l.attempted_at FROM herald.leases l
        WHERE l.owner = p_worker
        ORDER BY l.token
        FOR UPDATE
    LOOP
        FOR v_job IN
            SELECT j.id, j.queue, j.cancel_requested_at
            FROM herald.jobs j, herald.leases l
            WHERE l.token = v_lease.token AND j.id = ANY (l.job_ids)
            ORDER BY j.id
        LOOP
            v_count := v_count + 1;
            IF v_job.cancel_requested_at IS NOT NULL THEN
                DELETE FROM herald.jobs WHERE id = v_job.id;
                CONTINUE;
            END IF;
            IF NOT herald.lose_attempt(v_job.id, v_lease.attempted_at,
                    'worker lost: its process died')
            THEN
                PERFORM herald.wake(v_job.queue);
            END IF;
        END LOOP;
        DELETE FROM herald.leases WHERE token = v_lease.token;
    END LOOP;
    DELETE FROM herald.processes WHERE id = p_worker;
    RETURN v_count;
END
$$;

-- The cancel of 010 for leased jobs.  It waits for the claims of the
-- queues involved, so a job is either deleted before a claim sees it or
-- seen as running.
CREATE OR REPLACE FUNCTION herald.cancel(p_ids bigint[], p_os_user text,
    p_host text)
RETURNS SETOF bigint
LANGUAGE plpgsql AS $$
DECLARE
    v_ids bigint[];
    v_running bigint[];
    v_owners text[];
    v_owner text;
    v_queue text;
BEGIN
    FOR v_queue IN
        SELECT DISTINCT j.queue FROM herald.jobs j
        WHERE j.id = ANY (p_ids)
        ORDER BY j.queue
    LOOP
        PERFORM herald.lock_claims(v_queue);
    END LOOP;

    WITH gone AS (
        DELETE FROM herald.jobs j
        WHERE j.id = ANY (p_ids)
          AND NOT EXISTS (SELECT 1 FROM herald.held_jobs h
                          WHERE h.id = j.id)
        RETURNING j.id
    )
    SELECT coalesce(array_agg(id ORDER BY id), '{}') INTO v_ids FROM gone;
    WITH marked AS (
        UPDATE herald.jobs j
        SET cancel_requested_at = clock_timestamp()
        FROM herald.held_jobs h
        WHERE j.id = ANY (p_ids) AND h.id = j.id
        RETURNING j.id, h.owner
    )
    SELECT coalesce(array_agg(id ORDER BY id), '{}'),
        array_agg(DISTINCT owner)
    INTO v_running, v_owners
    FROM marked;

    PERFORM herald.record_action('job cancel', NULL, NULL, v_ids, NULL,
        cardinality(v_ids), p_os_user, p_host);
    IF cardinality(v_running) > 0 THEN
        PERFORM herald.record_action('job cancel running', NULL, NULL,
            v_running, NULL, cardinality(v_running), p_os_user, p_host);
    END IF;
    FOREACH v_owner IN ARRAY coalesce(v_owners, '{}'::text[]) LOOP
        PERFORM pg_notify('herald_cancel', v_owner);
    END LOOP;
    RETURN QUERY SELECT unnest(v_ids || v_running);
END
$$;

-- The purge_cancelled of 010, leaving leased jobs to their workers.
CREATE OR REPLACE FUNCTION herald.purge_cancelled(p_limit integer)
RETURNS bigint
LANGUAGE sql AS $$
    WITH old AS (
        SELECT j.id FROM herald.jobs j
        WHERE j.cancel_requested_at IS NOT NULL
          AND NOT EXISTS (SELECT 1 FROM herald.held_jobs h
                          WHERE h.id = j.id)
        LIMIT p_limit
        FOR UPDATE SKIP LOCKED
    ), gone AS (
        DELETE FROM herald.jobs j USING old
        WHERE j.id = old.id
        RETURNING 1
    )
    SELECT count(*) FROM gone;
$$;

CREATE OR REPLACE FUNCTION herald.unique_key_held(p_job_id bigint,
    p_states text[], p_until timestamptz) RETURNS boolean
LANGUAGE sql VOLATILE AS $$
    SELECT (p_until IS NOT NULL AND p_until > now())
        OR EXISTS (SELECT 1 FROM herald.live_jobs j
                   WHERE j.id = p_job_id AND j.state = ANY (p_states));
$$;

-- lock_jobs of 007 with the state of herald.live_jobs.
CREATE OR REPLACE FUNCTION herald.lock_jobs(p_ids bigint[])
RETURNS TABLE (id bigint, state text)
LANGUAGE sql AS $$
    WITH locked AS (
        SELECT j.id FROM herald.jobs j WHERE j.id = ANY (p_ids)
        ORDER BY j.id FOR UPDATE
    )
    SELECT l.id, j.state FROM locked l
    JOIN herald.live_jobs j ON j.id = l.id
    ORDER BY l.id;
$$;

-- The queue_health of 009, where a leased job counts as running.
CREATE OR REPLACE FUNCTION herald.queue_health()
RETURNS TABLE (queue text, oldest_ms bigint, retry_1m bigint,
    retry_5m bigint, retry_15m bigint, expired_1h bigint, dead_1h bigint)
LANGUAGE sql STABLE AS $$
    WITH live AS (
        SELECT j.queue,
            min(j.run_at) FILTER (WHERE j.run_at <= now()) AS oldest,
            count(*) FILTER (WHERE j.attempt > 0 AND j.run_at > now()
                AND j.run_at <= now() + interval '1 minute') AS r1,
            count(*) FILTER (WHERE j.attempt > 0 AND j.run_at > now()
                AND j.run_at <= now() + interval '5 minutes') AS r5,
            count(*) FILTER (WHERE j.attempt > 0 AND j.run_at > now()
                AND j.run_at <= now() + interval '15 minutes') AS r15
        FROM herald.live_jobs j
        WHERE j.state = 'queued'
        GROUP BY j.queue
    ), expired AS (
        SELECT e.queue, sum(e.jobs) AS jobs FROM herald.lease_expiries e
        WHERE e.minute > now() - interval '1 hour'
        GROUP BY e.queue
    ), died AS (
        SELECT c.queue, sum(c.dead) AS jobs FROM herald.counters c
        WHERE c.minute > now() - interval '1 hour' AND c.dead > 0
        GROUP BY c.queue
    ), names AS (
        SELECT l.queue FROM live l
        UNION SELECT x.queue FROM expired x
        UNION SELECT d.queue FROM died d
    )
    SELECT n.queue,
        (extract(epoch FROM now() - l.oldest) * 1000)::bigint,
        coalesce(l.r1, 0), coalesce(l.r5, 0), coalesce(l.r15, 0),
        coalesce(x.jobs, 0)::bigint, coalesce(d.jobs, 0)::bigint
    FROM names n
    LEFT JOIN live l ON l.queue = n.queue
    LEFT JOIN expired x ON x.queue = n.queue
    LEFT JOIN died d ON d.queue = n.queue
    ORDER BY n.queue;
$$;

-- ---------------------------------------------------------------------
-- Privileges (see 007).  CREATE OR REPLACE dropped the settings that 007
-- and 010 gave cancel and lock_jobs.

ALTER FUNCTION herald.cancel(bigint[], text, text)
    SECURITY DEFINER SET search_path = pg_catalog, herald, pg_temp;
ALTER FUNCTION herald.lock_jobs(bigint[])
    SECURITY DEFINER SET search_path = pg_catalog, herald, pg_temp;

REVOKE ALL ON FUNCTION
    herald.lock_claims(text),
    herald.lease_of(bigint, bigint),
    herald.lease_drop_job(bigint, bigint),
    herald.renew_leases_cancelled(text, bigint[], integer),
    herald.lose_attempt(bigint, timestamptz, text)
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    herald.lock_claims(text),
    herald.lease_of(bigint, bigint),
    herald.lease_drop_job(bigint, bigint),
    herald.renew_leases_cancelled(text, bigint[], integer),
    herald.lose_attempt(bigint, timestamptz, text)
    TO herald_worker;
GRANT SELECT, INSERT, UPDATE, DELETE ON herald.leases TO herald_worker;
GRANT SELECT ON herald.leases, herald.held_jobs, herald.live_jobs
    TO herald_worker, herald_console;
GRANT SELECT ON herald.leases, herald.held_jobs, herald.live_jobs_redacted
    TO herald_viewer;
GRANT SELECT (id, task, queue, priority, run_at, attempt, max_attempts,
    state, lease_owner, lease_token, lease_until, attempted_at, created_at,
    event_id, event_type, cancel_requested_at) ON herald.live_jobs
    TO herald_viewer;
