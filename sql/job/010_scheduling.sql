-- Scheduling: unique jobs, per-queue limits on running jobs and on the
-- claim rate, cancelling running jobs, taking back the jobs of a worker
-- known to be dead, and the bookkeeping of periodic jobs.

-- The time an operator cancelled a running job.  Its worker stops the
-- handler and deletes the job.  When the job went back to its queue
-- first (its handler failed, its lease was lost), it is never claimed
-- again, and the janitor deletes it.
ALTER TABLE herald.jobs ADD COLUMN cancel_requested_at timestamptz;

CREATE INDEX jobs_cancel_idx ON herald.jobs (id)
    WHERE cancel_requested_at IS NOT NULL;

-- Counting the running jobs of a queue for its limit reads at most that
-- many index entries.
CREATE INDEX jobs_running_queue_idx ON herald.jobs (queue)
    WHERE state = 'running';

-- ---------------------------------------------------------------------
-- Unique jobs
--
-- Completed jobs are deleted, so a key that must outlive its job (a
-- period) cannot live in herald.jobs: each key has a row here, and the
-- primary key makes concurrent enqueues with one key wait for each
-- other instead of both inserting.  A key blocks a new job while its job
-- is in one of the states listed (queued, running) or, with a period,
-- until the period ends, whatever became of the job.
CREATE TABLE herald.unique_keys (
    key             text PRIMARY KEY,
    job_id          bigint NOT NULL,
    states          text[] NOT NULL,
    until           timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT unique_keys_states_check
        CHECK (states <@ ARRAY['queued', 'running']::text[])
);

-- Whether a key of job p_job_id still blocks a new job.  VOLATILE, so
-- that at READ COMMITTED its query takes a new snapshot: called after
-- ON CONFLICT waited for a concurrent enqueue of the key, it must see
-- that enqueue's job, which the statement's own snapshot predates.
CREATE FUNCTION herald.unique_key_held(p_job_id bigint, p_states text[],
    p_until timestamptz) RETURNS boolean
LANGUAGE sql VOLATILE AS $$
    SELECT (p_until IS NOT NULL AND p_until > now())
        OR EXISTS (SELECT 1 FROM herald.jobs j
                   WHERE j.id = p_job_id AND j.state = ANY (p_states));
$$;

-- herald.enqueue with a unique key: return the id of the job that has
-- unique_key, or enqueue a new job and return its id.  unique_for_ms
-- (NULL or 0: none) is the period during which the key blocks even a job
-- that already ended; unique_states are the states of the job in which
-- the key blocks (NULL: queued and running).  The key row is locked by
-- INSERT ... ON CONFLICT, so of two concurrent calls with one key the
-- second waits for the first to commit and then returns its job.
CREATE FUNCTION herald.enqueue_unique(
    task text,
    queue text,
    payload jsonb,
    priority integer,
    run_at timestamptz,
    max_attempts integer,
    event_id text,
    event_type text,
    unique_key text,
    unique_for_ms bigint DEFAULT NULL,
    unique_states text[] DEFAULT NULL) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    v_new bigint;
    v_got bigint;
    v_states text[] := coalesce(unique_states,
        ARRAY['queued', 'running']::text[]);
BEGIN
    IF unique_key IS NULL OR length(unique_key) NOT BETWEEN 1 AND 255 THEN
        RAISE EXCEPTION 'unique key must have 1 to 255 characters'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF cardinality(v_states) = 0
       OR NOT v_states <@ ARRAY['queued', 'running']::text[] THEN
        RAISE EXCEPTION 'unique states must be queued, running or both'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF unique_for_ms IS NOT NULL AND unique_for_ms < 0 THEN
        RAISE EXCEPTION 'unique period % ms is negative', unique_for_ms
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    v_new := nextval(pg_get_serial_sequence('herald.jobs', 'id'));
    INSERT INTO herald.unique_keys AS u (key, job_id, states, until)
    VALUES (unique_key, v_new, v_states,
            CASE WHEN coalesce(unique_for_ms, 0) > 0
                 THEN now() + unique_for_ms * interval '1 ms' END)
    ON CONFLICT (key) DO UPDATE
        SET job_id = excluded.job_id, states = excluded.states,
            until = excluded.until, created_at = now()
        WHERE NOT herald.unique_key_held(u.job_id, u.states, u.until)
    RETURNING u.job_id INTO v_got;
    IF v_got IS NULL THEN
        -- The key is held; ON CONFLICT locked its row.
        SELECT u.job_id INTO v_got FROM herald.unique_keys u
        WHERE u.key = enqueue_unique.unique_key;
        RETURN v_got;
    END IF;

    -- The checks and the wake-up of herald.enqueue, with the new id.
    PERFORM herald.enqueue_checked_id(v_new, task, queue, payload, priority,
        run_at, max_attempts, event_id, event_type);
    RETURN v_new;
END
$$;

-- Insert one job with the id p_id after the checks of herald.enqueue,
-- and wake the queue as herald.enqueue does.  herald.enqueue_unique
-- takes the id before it can tell whether a job is inserted.
CREATE FUNCTION herald.enqueue_checked_id(p_id bigint, p_task text,
    p_queue text, p_payload jsonb, p_priority integer,
    p_run_at timestamptz, p_max_attempts integer, p_event_id text,
    p_event_type text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF p_task IS NULL OR p_task !~ '^[A-Za-z0-9][A-Za-z0-9_.:-]{0,62}$' THEN
        PERFORM herald.check_name('task', p_task);
    END IF;
    IF p_queue IS NULL
       OR p_queue !~ '^[A-Za-z0-9][A-Za-z0-9_.:-]{0,62}$' THEN
        PERFORM herald.check_name('queue', p_queue);
    END IF;
    IF p_payload IS NULL
       OR jsonb_typeof(p_payload) NOT IN ('object', 'array') THEN
        RAISE EXCEPTION 'payload must be a JSON object or array'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_priority IS NULL OR p_priority NOT BETWEEN -32768 AND 32767 THEN
        RAISE EXCEPTION 'priority % is out of range', p_priority
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Use a whole number from -32768 to 32767.';
    END IF;
    IF p_max_attempts IS NULL OR p_max_attempts NOT BETWEEN 1 AND 1000 THEN
        RAISE EXCEPTION 'max_attempts % is out of range', p_max_attempts
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Use a whole number from 1 to 1000.';
    END IF;

    INSERT INTO herald.jobs
        (id, task, queue, payload, priority, run_at, max_attempts,
         event_id, event_type)
    VALUES (p_id, p_task, p_queue, p_payload, p_priority,
            coalesce(p_run_at, now()), p_max_attempts, p_event_id,
            p_event_type);
    IF p_event_type IS NOT NULL THEN
        PERFORM herald.count_event_jobs(ARRAY[p_event_type],
            ARRAY[1::bigint]);
    END IF;
    IF p_run_at IS NULL OR p_run_at <= now() THEN
        PERFORM herald.wake(p_queue);
    END IF;
END
$$;

-- Delete at most p_limit keys that block nothing any more.
CREATE FUNCTION herald.prune_unique_keys(p_limit integer) RETURNS bigint
LANGUAGE sql AS $$
    WITH old AS (
        SELECT u.key FROM herald.unique_keys u
        WHERE NOT herald.unique_key_held(u.job_id, u.states, u.until)
        LIMIT p_limit
        FOR UPDATE SKIP LOCKED
    ), gone AS (
        DELETE FROM herald.unique_keys u USING old
        WHERE u.key = old.key
        RETURNING 1
    )
    SELECT count(*) FROM gone;
$$;

-- ---------------------------------------------------------------------
-- Queue limits
--
-- The settings of the queues that have a limit, written by the workers
-- of each queue from their configuration, so that workers on every host
-- claim by the same numbers.  (herald.queues belongs to the operators'
-- pause and resume, which herald_worker may not write.)  max_running
-- caps the jobs of the queue running at once on every host together;
-- rate caps the jobs claimed per second, with a bucket of tokens that
-- contains at most one second of them (at least one token).
CREATE TABLE herald.queue_limits (
    queue           text PRIMARY KEY,
    max_running     integer CHECK (max_running > 0),
    rate            double precision CHECK (rate > 0),
    tokens          double precision NOT NULL DEFAULT 0,
    refilled_at     timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);

-- The first half of the advisory lock key that serialises the claims of
-- a limited queue; hashtext('herald.queue_limits') on PostgreSQL 15.
CREATE FUNCTION herald.limit_lock_class() RETURNS integer
LANGUAGE sql IMMUTABLE AS $$
    SELECT 1410925009;
$$;

-- Store the limits of p_queue (NULL: none), changing nothing when they
-- are the same.  Returns true when they changed.
CREATE FUNCTION herald.set_queue_limits(p_queue text, p_max_running integer,
    p_rate double precision) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    v_changed boolean;
BEGIN
    PERFORM herald.check_name('queue', p_queue);
    IF p_max_running IS NULL AND p_rate IS NULL THEN
        DELETE FROM herald.queue_limits WHERE queue = p_queue;
        RETURN FOUND;
    END IF;
    INSERT INTO herald.queue_limits AS l (queue, max_running, rate, tokens)
    VALUES (p_queue, p_max_running, p_rate, greatest(1, p_rate))
    ON CONFLICT (queue) DO UPDATE
        SET max_running = excluded.max_running, rate = excluded.rate,
            updated_at = now()
        WHERE l.max_running IS DISTINCT FROM excluded.max_running
           OR l.rate IS DISTINCT FROM excluded.rate
    RETURNING true INTO v_changed;
    RETURN coalesce(v_changed, false);
END
$$;

-- The claim of 004, with the limits of herald.queue_limits, and jobs
-- whose cancellation was requested left alone.
--
-- A queue without limits pays one primary-key lookup.  The claims of a
-- queue with limits take an advisory lock of the queue until they
-- commit, so they run one at a time: each counts the running jobs (at
-- most max_running index entries) after the previous claim committed,
-- since PL/pgSQL takes a new snapshot for each statement.  Claims of
-- other queues and completions are not blocked.  The rate's bucket is
-- written only by claims that take jobs, so its row is updated at most
-- rate times per second.
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
    v_taken integer;
BEGIN
    SELECT * INTO v_limits FROM herald.queue_limits l WHERE l.queue = p_queue;
    IF FOUND THEN
        PERFORM pg_advisory_xact_lock(herald.limit_lock_class(),
            hashtext(p_queue));
        -- Read again: the settings may have changed while this waited.
        SELECT * INTO v_limits FROM herald.queue_limits l
        WHERE l.queue = p_queue;
    END IF;
    IF v_limits.max_running IS NOT NULL THEN
        SELECT count(*) INTO v_running FROM herald.jobs j
        WHERE j.queue = p_queue AND j.state = 'running';
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

    RETURN QUERY
    WITH due AS (
        SELECT j.id FROM herald.jobs j
        WHERE j.queue = p_queue AND j.state = 'queued' AND j.run_at <= now()
          AND j.cancel_requested_at IS NULL
          AND NOT EXISTS (SELECT 1 FROM herald.queues q
                          WHERE q.name = p_queue AND q.paused)
        ORDER BY j.priority, j.run_at, j.id
        LIMIT v_n
        FOR UPDATE SKIP LOCKED
    ), claimed AS (
        UPDATE herald.jobs j
        SET state = 'running',
            attempt = j.attempt + 1,
            lease_owner = p_worker,
            lease_token = nextval('herald.lease_token_seq'),
            lease_until = clock_timestamp() + p_lease_ms * interval '1 ms',
            attempted_at = clock_timestamp()
        FROM due
        WHERE j.id = due.id
        RETURNING j.id, j.task, j.queue, j.payload, j.priority, j.run_at,
            j.attempt, j.max_attempts, j.lease_token, j.event_id,
            j.event_type
    )
    SELECT c.id, c.task, c.queue, c.payload::text, c.priority, c.attempt,
        c.max_attempts, c.lease_token, c.event_id, c.event_type
    FROM claimed c
    ORDER BY c.priority, c.run_at, c.id;

    GET DIAGNOSTICS v_taken = ROW_COUNT;
    IF v_limits.rate IS NOT NULL AND v_taken > 0 THEN
        UPDATE herald.queue_limits l
        SET tokens = v_tokens - v_taken, refilled_at = clock_timestamp()
        WHERE l.queue = p_queue;
    END IF;
END
$$;

-- ---------------------------------------------------------------------
-- Cancelling jobs

-- The cancel of 004, which also cancels running jobs: a queued job is
-- deleted at once.  A running one is marked, and a notification on the
-- channel "herald_cancel" (payload: the worker's id) makes its worker
-- stop the handler and delete the job.  Each kind is recorded in herald.audit
-- ("job cancel" and "job cancel running").  Returns the ids deleted or
-- marked.
CREATE OR REPLACE FUNCTION herald.cancel(p_ids bigint[], p_os_user text,
    p_host text)
RETURNS SETOF bigint
LANGUAGE plpgsql AS $$
DECLARE
    v_ids bigint[];
    v_running bigint[];
    v_owners text[];
    v_owner text;
BEGIN
    WITH gone AS (
        DELETE FROM herald.jobs
        WHERE id = ANY (p_ids) AND state = 'queued'
        RETURNING id
    )
    SELECT coalesce(array_agg(id ORDER BY id), '{}') INTO v_ids FROM gone;
    WITH marked AS (
        UPDATE herald.jobs
        SET cancel_requested_at = clock_timestamp()
        WHERE id = ANY (p_ids) AND state = 'running'
        RETURNING id, lease_owner
    )
    SELECT coalesce(array_agg(id ORDER BY id), '{}'),
        array_agg(DISTINCT lease_owner)
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

-- renew_leases of 005, returning with each renewed token whether its
-- job's cancellation was requested, so a worker learns of it in the
-- round trip that renews its leases.
CREATE FUNCTION herald.renew_leases_cancel(p_worker text, p_tokens bigint[],
    p_lease_ms integer)
RETURNS TABLE (lease_token bigint, cancel boolean)
LANGUAGE sql AS $$
    UPDATE herald.jobs j
    SET lease_until = clock_timestamp() + p_lease_ms * interval '1 ms'
    WHERE j.lease_token = ANY (p_tokens) AND j.lease_owner = p_worker
      AND j.state = 'running'
    RETURNING j.lease_token, j.cancel_requested_at IS NOT NULL;
$$;

-- Delete a running job whose cancellation was requested, once its
-- worker stopped the handler.  Returns false when the lease token no
-- longer matches.
CREATE FUNCTION herald.finish_cancelled(p_id bigint, p_token bigint)
RETURNS boolean
LANGUAGE sql AS $$
    WITH gone AS (
        DELETE FROM herald.jobs
        WHERE id = p_id AND lease_token = p_token
          AND cancel_requested_at IS NOT NULL
        RETURNING 1
    )
    SELECT count(*) > 0 FROM gone;
$$;

-- Delete at most p_limit cancelled jobs that went back to their queue
-- (their handler failed, or their worker was lost, before the worker
-- could delete them).  Returns how many went.
CREATE FUNCTION herald.purge_cancelled(p_limit integer) RETURNS bigint
LANGUAGE sql AS $$
    WITH old AS (
        SELECT j.id FROM herald.jobs j
        WHERE j.cancel_requested_at IS NOT NULL AND j.state = 'queued'
        LIMIT p_limit
        FOR UPDATE SKIP LOCKED
    ), gone AS (
        DELETE FROM herald.jobs j USING old
        WHERE j.id = old.id
        RETURNING 1
    )
    SELECT count(*) FROM gone;
$$;

-- ---------------------------------------------------------------------
-- Workers known to be dead

-- Take back at once every job that worker p_worker held, as
-- expire_leases does when a lease expires: the lost attempt is counted,
-- and a job whose last attempt it was goes to the dead table.  A job
-- whose cancellation was requested is deleted.  The registration of the
-- worker goes too.  Only for a worker whose process is known to be gone
-- (its supervisor reaped it and killed its handlers).  Returns how many
-- jobs were taken back.
CREATE FUNCTION herald.expire_worker(p_worker text) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    v_job record;
    v_error jsonb;
    v_count integer := 0;
BEGIN
    FOR v_job IN
        SELECT j.id, j.queue, j.task, j.attempt, j.max_attempts,
            j.attempted_at, j.cancel_requested_at
        FROM herald.jobs j
        WHERE j.lease_owner = p_worker AND j.state = 'running'
        ORDER BY j.id
        FOR UPDATE
    LOOP
        v_count := v_count + 1;
        IF v_job.cancel_requested_at IS NOT NULL THEN
            DELETE FROM herald.jobs WHERE id = v_job.id;
            CONTINUE;
        END IF;
        v_error := jsonb_build_object(
            'attempt', v_job.attempt,
            'at', v_job.attempted_at,
            'outcome', 'lost',
            'exit_code', NULL,
            'signal', NULL,
            'duration_ms',
                (extract(epoch FROM clock_timestamp() - v_job.attempted_at)
                    * 1000)::bigint,
            'output', 'worker lost: its process died');
        IF v_job.attempt >= v_job.max_attempts THEN
            PERFORM herald.bury(v_job.id, v_error, 'lost');
        ELSE
            UPDATE herald.jobs
            SET state = 'queued', run_at = clock_timestamp(),
                lease_owner = NULL, lease_token = NULL, lease_until = NULL,
                errors = errors || jsonb_build_array(v_error)
            WHERE id = v_job.id;
            PERFORM herald.count(v_job.queue, v_job.task, 0, 1, 1, 0);
            PERFORM herald.wake(v_job.queue);
        END IF;
    END LOOP;
    DELETE FROM herald.processes WHERE id = p_worker;
    RETURN v_count;
END
$$;

-- ---------------------------------------------------------------------
-- Periodic jobs
--
-- One row per periodic entry of the active janitor's configuration.
-- The janitor locks the row, enqueues the slot's job and moves last_slot
-- in one transaction, so a slot is enqueued once even across a crash or
-- a second heraldd.  The definition columns are copies for herald
-- periodic and the console.
CREATE TABLE herald.periodic (
    name            text PRIMARY KEY,
    schedule        text NOT NULL,
    timezone        text NOT NULL,
    task            text NOT NULL,
    queue           text NOT NULL,
    catch_up        text NOT NULL,
    -- Slots after this time count; the time the entry was first seen.
    since           timestamptz NOT NULL DEFAULT now(),
    last_slot       timestamptz,
    last_job_id     bigint,
    -- Whether the last slot was enqueued (false: skipped as missed).
    last_enqueued   boolean,
    next_slot       timestamptz,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT periodic_catch_up_check CHECK (catch_up IN ('latest', 'none'))
);

-- ---------------------------------------------------------------------
-- Privileges (see 007)

ALTER FUNCTION herald.enqueue_unique(text, text, jsonb, integer,
    timestamptz, integer, text, text, text, bigint, text[])
    SECURITY DEFINER SET search_path = pg_catalog, herald, pg_temp;
-- The replaced cancel lost the settings 007 gave it.
ALTER FUNCTION herald.cancel(bigint[], text, text)
    SECURITY DEFINER SET search_path = pg_catalog, herald, pg_temp;

REVOKE ALL ON FUNCTION
    herald.unique_key_held(bigint, text[], timestamptz),
    herald.enqueue_unique(text, text, jsonb, integer, timestamptz, integer,
        text, text, text, bigint, text[]),
    herald.enqueue_checked_id(bigint, text, text, jsonb, integer,
        timestamptz, integer, text, text),
    herald.prune_unique_keys(integer),
    herald.limit_lock_class(),
    herald.set_queue_limits(text, integer, double precision),
    herald.renew_leases_cancel(text, bigint[], integer),
    herald.finish_cancelled(bigint, bigint),
    herald.purge_cancelled(integer),
    herald.expire_worker(text)
    FROM PUBLIC;

GRANT EXECUTE ON FUNCTION
    herald.enqueue_unique(text, text, jsonb, integer, timestamptz, integer,
        text, text, text, bigint, text[])
    TO herald_producer, herald_worker;
GRANT EXECUTE ON FUNCTION
    herald.unique_key_held(bigint, text[], timestamptz),
    herald.enqueue_checked_id(bigint, text, text, jsonb, integer,
        timestamptz, integer, text, text),
    herald.prune_unique_keys(integer),
    herald.limit_lock_class(),
    herald.set_queue_limits(text, integer, double precision),
    herald.renew_leases_cancel(text, bigint[], integer),
    herald.finish_cancelled(bigint, bigint),
    herald.purge_cancelled(integer),
    herald.expire_worker(text)
    TO herald_worker;
GRANT SELECT, INSERT, UPDATE, DELETE ON herald.unique_keys,
    herald.queue_limits, herald.periodic TO herald_worker;
GRANT SELECT ON herald.unique_keys, herald.queue_limits, herald.periodic
    TO herald_console;
GRANT SELECT ON herald.queue_limits, herald.periodic TO herald_viewer;
GRANT SELECT (cancel_requested_at) ON herald.jobs TO herald_viewer;
