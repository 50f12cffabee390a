-- Schema of the operations console and the matching herald subcommands:
-- pausing queues, an audit trail of operator actions, per-minute counts of
-- jobs created from events, and indexes for paging through dead jobs.

-- Queues an operator paused.  A queue without a row here is not paused.
CREATE TABLE herald.queues (
    name            text PRIMARY KEY,
    paused          boolean NOT NULL DEFAULT false,
    updated_at      timestamptz NOT NULL DEFAULT now()
);

-- One row per operator action, from the console or the command line.
-- db_user is the database role.  os_user and host are what the client
-- reported, so they identify a person only as far as the client can be
-- trusted.
CREATE TABLE herald.audit (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at              timestamptz NOT NULL DEFAULT clock_timestamp(),
    db_user         text NOT NULL DEFAULT current_user,
    os_user         text,
    host            text,
    application     text,
    action          text NOT NULL,
    queue           text,
    task            text,
    ids             bigint[],
    filter          text,
    rows            bigint NOT NULL
);

CREATE INDEX audit_at_idx ON herald.audit (at);

-- Jobs created from events, per minute and event type.  Only the relay
-- creates jobs with an event type and no history, so a retried dead job
-- (which keeps its history) is not counted twice.
CREATE TABLE herald.event_counters (
    minute          timestamptz NOT NULL,
    event_type      text NOT NULL,
    jobs            bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (minute, event_type)
);

-- The console pages through dead jobs by id with keysets (WHERE id > $1
-- ORDER BY id LIMIT n), filtered by queue, task or both; the primary key
-- and dead_jobs_queue_task_idx serve no filter and both filters.  Dead
-- jobs are written rarely, so two more indexes cost little.
CREATE INDEX dead_jobs_queue_id_idx ON herald.dead_jobs (queue, id);
CREATE INDEX dead_jobs_task_id_idx ON herald.dead_jobs (task, id);

-- Whether a dead job matches the console's free-text filter: a substring
-- of its task, queue, reason, payload or last attempt's output, ignoring
-- case.  A NULL or empty p_text matches every job.  Simple enough for the
-- planner to inline.
CREATE FUNCTION herald.dead_match(p_text text, p_task text, p_queue text,
    p_reason text, p_payload jsonb, p_errors jsonb) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT coalesce(p_text, '') = ''
        OR strpos(lower(p_task || ' ' || p_queue || ' ' || p_reason || ' '
            || p_payload::text || ' '
            || coalesce(p_errors->-1->>'output', '')), lower(p_text)) > 0;
$$;

-- Record an operator action; p_rows is returned, so a caller can wrap
-- the action itself: SELECT herald.record_action(..., herald.f(...)).
CREATE FUNCTION herald.record_action(p_action text, p_queue text,
    p_task text, p_ids bigint[], p_filter text, p_rows bigint,
    p_os_user text, p_host text) RETURNS bigint
LANGUAGE sql AS $$
    INSERT INTO herald.audit
        (os_user, host, application, action, queue, task, ids, filter, rows)
    VALUES (p_os_user, p_host,
            nullif(current_setting('application_name', true), ''),
            p_action, p_queue, p_task, p_ids, p_filter,
            coalesce(p_rows, 0));
    SELECT coalesce(p_rows, 0);
$$;

-- Pause or resume a queue and record it.  Returns true when the state
-- changed.  Resuming wakes the queue's workers.
CREATE FUNCTION herald.set_paused(p_queue text, p_paused boolean,
    p_os_user text, p_host text) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    v_was boolean;
BEGIN
    PERFORM herald.check_name('queue', p_queue);
    SELECT paused INTO v_was FROM herald.queues WHERE name = p_queue
        FOR UPDATE;
    INSERT INTO herald.queues AS q (name, paused)
    VALUES (p_queue, p_paused)
    ON CONFLICT (name) DO UPDATE
        SET paused = excluded.paused, updated_at = now();
    IF coalesce(v_was, false) = p_paused THEN
        RETURN false;
    END IF;
    PERFORM herald.record_action(
        CASE WHEN p_paused THEN 'queue pause' ELSE 'queue resume' END,
        p_queue, NULL, NULL, NULL, 1, p_os_user, p_host);
    IF NOT p_paused THEN
        PERFORM pg_notify('herald', p_queue);
    END IF;
    RETURN true;
END
$$;

-- Delete queued jobs (due now, scheduled or waiting to retry) and record
-- it; running jobs are left alone.  Returns the ids deleted.
CREATE FUNCTION herald.cancel(p_ids bigint[], p_os_user text, p_host text)
RETURNS SETOF bigint
LANGUAGE plpgsql AS $$
DECLARE
    v_ids bigint[];
BEGIN
    WITH gone AS (
        DELETE FROM herald.jobs
        WHERE id = ANY (p_ids) AND state = 'queued'
        RETURNING id
    )
    SELECT coalesce(array_agg(id ORDER BY id), '{}') INTO v_ids FROM gone;
    PERFORM herald.record_action('job cancel', NULL, NULL, v_ids, NULL,
        cardinality(v_ids), p_os_user, p_host);
    RETURN QUERY SELECT unnest(v_ids);
END
$$;

-- The claim of 001 with one more condition: a paused queue gives nothing.
CREATE OR REPLACE FUNCTION herald.claim(p_queue text, p_worker text,
    p_n integer, p_lease_ms integer)
RETURNS TABLE (id bigint, task text, queue text, payload text,
    priority smallint, attempt integer, max_attempts integer,
    lease_token bigint, event_id text, event_type text)
LANGUAGE sql AS $$
    WITH due AS (
        SELECT j.id FROM herald.jobs j
        WHERE j.queue = p_queue AND j.state = 'queued' AND j.run_at <= now()
          AND NOT EXISTS (SELECT 1 FROM herald.queues q
                          WHERE q.name = p_queue AND q.paused)
        ORDER BY j.priority, j.run_at, j.id
        LIMIT p_n
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
$$;

-- Count a job created from an event.  The first count of each minute
-- and type also deletes that type's counters older than a week, so the
-- table prunes itself at the cost of one small delete per minute.
CREATE FUNCTION herald.count_event_job() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    v_inserted boolean;
BEGIN
    INSERT INTO herald.event_counters AS c (minute, event_type, jobs)
    VALUES (date_trunc('minute', now()), NEW.event_type, 1)
    ON CONFLICT (minute, event_type) DO UPDATE SET jobs = c.jobs + 1
    RETURNING c.xmax = 0 INTO v_inserted;
    IF v_inserted THEN
        DELETE FROM herald.event_counters
        WHERE event_type = NEW.event_type
          AND minute < now() - interval '7 days';
    END IF;
    RETURN NULL;
END
$$;

-- The WHEN clause is evaluated without calling the function, so a job
-- enqueued without an event costs one comparison.
CREATE TRIGGER jobs_count_event AFTER INSERT ON herald.jobs
    FOR EACH ROW
    WHEN (NEW.event_type IS NOT NULL AND NEW.errors = '[]'::jsonb)
    EXECUTE FUNCTION herald.count_event_job();
