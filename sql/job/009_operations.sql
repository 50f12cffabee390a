-- On-call operations: queue-health signals, retry now, retry with an
-- edited payload, dead-job retention by count, hourly counters and the
-- retention policy the janitor applies.

-- Dead jobs by time of death: the "dead in the last hour" signal and
-- retention, which deletes the oldest first.
CREATE INDEX dead_jobs_died_at_idx ON herald.dead_jobs (died_at, id);

-- Counters per hour, kept longer than the per-minute ones.  Every
-- per-minute row the janitor deletes is added here first, by the trigger
-- below, whichever function deletes it.
CREATE TABLE herald.counters_hourly (
    hour            timestamptz NOT NULL,
    queue           text NOT NULL,
    task            text NOT NULL,
    completed       bigint NOT NULL DEFAULT 0,
    failed          bigint NOT NULL DEFAULT 0,
    retried         bigint NOT NULL DEFAULT 0,
    dead            bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (hour, queue, task)
);

CREATE FUNCTION herald.roll_up_counters() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO herald.counters_hourly AS h
        (hour, queue, task, completed, failed, retried, dead)
    SELECT date_trunc('hour', g.minute), g.queue, g.task, sum(g.completed),
        sum(g.failed), sum(g.retried), sum(g.dead)
    FROM gone g
    GROUP BY 1, 2, 3
    ON CONFLICT (hour, queue, task) DO UPDATE
        SET completed = h.completed + excluded.completed,
            failed = h.failed + excluded.failed,
            retried = h.retried + excluded.retried,
            dead = h.dead + excluded.dead;
    RETURN NULL;
END
$$;

CREATE TRIGGER counters_roll_up AFTER DELETE ON herald.counters
    REFERENCING OLD TABLE AS gone
    FOR EACH STATEMENT EXECUTE FUNCTION herald.roll_up_counters();

-- Delete at most p_limit hourly counters older than p_keep_ms, skipping
-- rows locked by someone else.
CREATE FUNCTION herald.prune_counters_hourly(p_keep_ms bigint,
    p_limit integer)
RETURNS bigint
LANGUAGE sql AS $$
    WITH old AS (
        SELECT hour, queue, task FROM herald.counters_hourly
        WHERE hour < now() - p_keep_ms * interval '1 ms'
        LIMIT p_limit
        FOR UPDATE SKIP LOCKED
    ), gone AS (
        DELETE FROM herald.counters_hourly c
        USING old
        WHERE c.hour = old.hour AND c.queue = old.queue
          AND c.task = old.task
        RETURNING 1
    )
    SELECT count(*) FROM gone;
$$;

-- Delete at most p_limit of the dead jobs beyond the newest p_max_rows
-- (by time of death), skipping rows locked by a retry or purge.
CREATE FUNCTION herald.prune_dead_rows(p_max_rows bigint, p_limit integer)
RETURNS bigint
LANGUAGE sql AS $$
    WITH old AS (
        SELECT id FROM herald.dead_jobs
        ORDER BY died_at DESC, id DESC
        OFFSET p_max_rows
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

-- The retention the active janitor applies, written by it at each
-- pruning round, so that the console shows the policy in force rather
-- than its own configuration's.  0 means kept forever.
CREATE TABLE herald.retention (
    singleton       boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    dead_ms         bigint NOT NULL,
    dead_rows       bigint NOT NULL,
    counters_ms     bigint NOT NULL,
    hourly_ms       bigint NOT NULL,
    updated_at      timestamptz NOT NULL DEFAULT now()
);

-- Leases that expired, per minute and queue, for the "leases expired in
-- the last hour" signal.  Rows older than a day go when the next minute
-- of the same queue is first counted.
CREATE TABLE herald.lease_expiries (
    minute          timestamptz NOT NULL,
    queue           text NOT NULL,
    jobs            bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (minute, queue)
);

CREATE FUNCTION herald.count_lease_expiry(p_queue text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_inserted boolean;
BEGIN
    INSERT INTO herald.lease_expiries AS e (minute, queue, jobs)
    VALUES (date_trunc('minute', now()), p_queue, 1)
    ON CONFLICT (minute, queue) DO UPDATE SET jobs = e.jobs + 1
    RETURNING e.xmax = 0 INTO v_inserted;
    IF v_inserted THEN
        DELETE FROM herald.lease_expiries
        WHERE queue = p_queue AND minute < now() - interval '1 day';
    END IF;
END
$$;

-- The expire_leases of 001, counting each expired lease per queue.
CREATE OR REPLACE FUNCTION herald.expire_leases(p_limit integer DEFAULT 100)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    v_job record;
    v_error jsonb;
    v_count integer := 0;
BEGIN
    FOR v_job IN
        SELECT id, queue, task, attempt, max_attempts, attempted_at
        FROM herald.jobs
        WHERE state = 'running' AND lease_until < clock_timestamp()
        ORDER BY lease_until
        LIMIT p_limit
        FOR UPDATE SKIP LOCKED
    LOOP
        v_error := jsonb_build_object(
            'attempt', v_job.attempt,
            'at', v_job.attempted_at,
            'outcome', 'lost',
            'exit_code', NULL,
            'signal', NULL,
            'duration_ms',
                (extract(epoch FROM clock_timestamp() - v_job.attempted_at)
                    * 1000)::bigint,
            'output', 'worker lost: lease expired');
        IF v_job.attempt >= v_job.max_attempts THEN
            PERFORM herald.bury(v_job.id, v_error, 'lost');
        ELSE
            UPDATE herald.jobs
            SET state = 'queued', run_at = clock_timestamp(),
                lease_owner = NULL, lease_token = NULL, lease_until = NULL,
                errors = errors || jsonb_build_array(v_error)
            WHERE id = v_job.id;
            PERFORM herald.count(v_job.queue, v_job.task, 0, 1, 1, 0);
            PERFORM pg_notify('herald', v_job.queue);
        END IF;
        PERFORM herald.count_lease_expiry(v_job.queue);
        v_count := v_count + 1;
    END LOOP;
    RETURN v_count;
END
$$;

-- Health of each queue that has jobs or had a lost lease or a death in
-- the last hour:
--   oldest_ms      wait of the oldest job due now (scheduled jobs and
--                  jobs waiting to retry are not due, so they never count)
--   retry_1m ..    jobs waiting to retry that are due within 1, 5 and 15
--                  minutes (the retry wall; each includes the shorter)
--   expired_1h     leases that expired in the last hour
--   dead_1h        jobs that died in the last hour (by the per-minute
--                  counters, so whole minutes)
CREATE FUNCTION herald.queue_health()
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
        FROM herald.jobs j
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

-- The oldest transaction, prepared transaction or replication slot that
-- holds back vacuum on this database, or no row when none does.
-- xmin_age is in transactions; age_ms is the time since the transaction
-- began (NULL for a slot).  pid and application are set only when the
-- calling role may see that session in pg_stat_activity (its own role's
-- sessions, or with pg_read_all_stats), because this function runs as its
-- owner to read every session's xmin.
CREATE FUNCTION herald.vacuum_blocker()
RETURNS TABLE (kind text, xmin_age integer, age_ms bigint, pid integer,
    application text)
LANGUAGE sql STABLE AS $$
    WITH holders AS (
        SELECT 'transaction'::text AS kind,
            age(coalesce(a.backend_xmin, a.backend_xid)) AS xmin_age,
            (extract(epoch FROM clock_timestamp() - a.xact_start) * 1000)
                ::bigint AS age_ms,
            CASE WHEN pg_has_role(session_user, a.usesysid, 'MEMBER')
                   OR pg_has_role(session_user, 'pg_read_all_stats',
                       'MEMBER')
                 THEN a.pid END AS pid,
            CASE WHEN pg_has_role(session_user, a.usesysid, 'MEMBER')
                   OR pg_has_role(session_user, 'pg_read_all_stats',
                       'MEMBER')
                 THEN a.application_name END AS application
        FROM pg_stat_activity a
        WHERE a.datid = (SELECT oid FROM pg_database
                         WHERE datname = current_database())
          AND a.pid <> pg_backend_pid()
          AND a.backend_type = 'client backend'
          AND coalesce(a.backend_xmin, a.backend_xid) IS NOT NULL
        UNION ALL
        SELECT 'prepared transaction', age(p.transaction),
            (extract(epoch FROM clock_timestamp() - p.prepared) * 1000)
                ::bigint,
            NULL, p.gid
        FROM pg_prepared_xacts p
        WHERE p.database = current_database()
        UNION ALL
        SELECT 'replication slot', age(s.xmin), NULL, s.active_pid,
            s.slot_name
        FROM pg_replication_slots s
        WHERE s.xmin IS NOT NULL
    )
    SELECT kind, xmin_age, age_ms, pid, application FROM holders
    ORDER BY xmin_age DESC, age_ms DESC NULLS LAST
    LIMIT 1;
$$;

-- The database-wide signals in one row: dead tuples and the last vacuum
-- of the hot job table, the outbox backlog and relay lag over every
-- application database, and the vacuum blocker.
CREATE FUNCTION herald.database_health()
RETURNS TABLE (jobs_live_tuples bigint, jobs_dead_tuples bigint,
    autovacuum_ago_ms bigint, vacuum_ago_ms bigint, outbox_backlog bigint,
    relay_lag_ms bigint, relay_report_ms bigint, blocker_kind text,
    blocker_xmin_age integer, blocker_age_ms bigint, blocker_pid integer,
    blocker_application text)
LANGUAGE sql STABLE AS $$
    SELECT t.n_live_tup, t.n_dead_tup,
        (extract(epoch FROM now() - t.last_autovacuum) * 1000)::bigint,
        (extract(epoch FROM now() - greatest(t.last_vacuum,
            t.last_autovacuum)) * 1000)::bigint,
        r.backlog, r.lag_ms, r.report_ms,
        b.kind, b.xmin_age, b.age_ms, b.pid, b.application
    FROM (SELECT 1) one
    LEFT JOIN pg_stat_user_tables t
        ON t.schemaname = 'herald' AND t.relname = 'jobs'
    LEFT JOIN (
        SELECT sum(s.backlog)::bigint AS backlog,
            (extract(epoch FROM now() - min(s.oldest_at)) * 1000)::bigint
                AS lag_ms,
            (extract(epoch FROM now() - min(s.updated_at)) * 1000)::bigint
                AS report_ms
        FROM herald.relay_status s
        HAVING count(*) > 0
    ) r ON true
    LEFT JOIN herald.vacuum_blocker() b ON true;
$$;

-- Run queued jobs that wait (for their backoff or their schedule) at
-- once, and record it.  Running jobs and jobs already due are left
-- alone.  Returns the ids moved.
CREATE FUNCTION herald.retry_now(p_ids bigint[], p_os_user text,
    p_host text)
RETURNS SETOF bigint
LANGUAGE plpgsql AS $$
DECLARE
    v_ids bigint[];
    v_queues text[];
    v_queue text;
BEGIN
    WITH moved AS (
        UPDATE herald.jobs
        SET run_at = now()
        WHERE id = ANY (p_ids) AND state = 'queued' AND run_at > now()
        RETURNING id, queue
    )
    SELECT coalesce(array_agg(id ORDER BY id), '{}'),
        array_agg(DISTINCT queue)
    INTO v_ids, v_queues
    FROM moved;
    PERFORM herald.record_action('job retry now', NULL, NULL, v_ids, NULL,
        cardinality(v_ids), p_os_user, p_host);
    FOREACH v_queue IN ARRAY coalesce(v_queues, '{}'::text[]) LOOP
        PERFORM pg_notify('herald', v_queue);
    END LOOP;
    RETURN QUERY SELECT unnest(v_ids);
END
$$;

-- Replace the payload of dead job p_id with p_payload and retry it, and
-- record it.  The job's history gains an entry with outcome "edited",
-- the original payload, the database role and the client's user and
-- host; the audit row records the same action.  Returns 1, or 0 when the
-- dead job does not exist.
CREATE FUNCTION herald.dead_retry_edited(p_id bigint, p_payload jsonb,
    p_os_user text, p_host text)
RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    v_dead herald.dead_jobs;
BEGIN
    IF p_payload IS NULL OR jsonb_typeof(p_payload) NOT IN ('object', 'array')
    THEN
        RAISE EXCEPTION 'payload must be a JSON object or array'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT * INTO v_dead FROM herald.dead_jobs WHERE id = p_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN 0;
    END IF;

    UPDATE herald.dead_jobs
    SET payload = p_payload,
        errors = errors || jsonb_build_array(jsonb_build_object(
            'attempt', v_dead.attempt,
            'at', clock_timestamp(),
            'outcome', 'edited',
            'exit_code', NULL,
            'signal', NULL,
            'duration_ms', NULL,
            'output', format('payload edited by %s (%s@%s) before a retry',
                session_user, coalesce(p_os_user, '?'),
                coalesce(p_host, '?')),
            'payload', v_dead.payload))
    WHERE id = p_id;
    PERFORM herald.dead_retry(ARRAY[p_id], NULL, NULL);
    RETURN herald.record_action('dead retry edited', v_dead.queue,
        v_dead.task, ARRAY[p_id], NULL, 1, p_os_user, p_host);
END
$$;

-- The redaction of 007, leaving out the original payloads that edited
-- retries keep in the history as well as the output tails.
CREATE OR REPLACE FUNCTION herald.redact_errors(p_errors jsonb)
RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT coalesce(jsonb_agg(CASE WHEN jsonb_typeof(e) = 'object'
                                   THEN e - 'output' - 'payload' ELSE e END
                              ORDER BY n), '[]'::jsonb)
    FROM jsonb_array_elements(p_errors) WITH ORDINALITY AS x(e, n);
$$;

-- The actions run as their owner, like those of 007; the signals run as
-- the caller, except vacuum_blocker, which reads every session's xmin.
ALTER FUNCTION herald.retry_now(bigint[], text, text) SECURITY DEFINER
    SET search_path = pg_catalog, herald, pg_temp;
ALTER FUNCTION herald.dead_retry_edited(bigint, jsonb, text, text)
    SECURITY DEFINER SET search_path = pg_catalog, herald, pg_temp;
ALTER FUNCTION herald.vacuum_blocker() SECURITY DEFINER
    SET search_path = pg_catalog, herald, pg_temp;

REVOKE ALL ON FUNCTION
    herald.roll_up_counters(),
    herald.prune_counters_hourly(bigint, integer),
    herald.prune_dead_rows(bigint, integer),
    herald.count_lease_expiry(text),
    herald.queue_health(),
    herald.vacuum_blocker(),
    herald.database_health(),
    herald.retry_now(bigint[], text, text),
    herald.dead_retry_edited(bigint, jsonb, text, text)
    FROM PUBLIC;

-- heraldd's janitor prunes, rolls up, counts and writes the policy.
GRANT SELECT, INSERT, UPDATE, DELETE ON herald.counters_hourly,
    herald.retention, herald.lease_expiries TO herald_worker;
GRANT EXECUTE ON FUNCTION
    herald.roll_up_counters(),
    herald.prune_counters_hourly(bigint, integer),
    herald.prune_dead_rows(bigint, integer),
    herald.count_lease_expiry(text),
    herald.queue_health(),
    herald.vacuum_blocker(),
    herald.database_health()
    TO herald_worker;
REVOKE EXECUTE ON FUNCTION
    herald.retry_now(bigint[], text, text),
    herald.dead_retry_edited(bigint, jsonb, text, text)
    FROM herald_worker;

-- The console and the viewer read the signals and the policy; only the
-- console acts.
GRANT SELECT ON herald.counters_hourly, herald.retention,
    herald.lease_expiries TO herald_console, herald_viewer;
GRANT EXECUTE ON FUNCTION
    herald.queue_health(),
    herald.vacuum_blocker(),
    herald.database_health()
    TO herald_console, herald_viewer;
GRANT EXECUTE ON FUNCTION
    herald.retry_now(bigint[], text, text),
    herald.dead_retry_edited(bigint, jsonb, text, text)
    TO herald_console;
