-- Job counts per queue kept up to date, so that herald status, herald
-- metrics and the console no longer read every job on each refresh.
--
-- Statement triggers on herald.jobs and herald.dead_jobs append what each
-- statement changed to herald.count_deltas, summed per queue, task, event
-- type, kind and minute.  That table has no index and its rows are only
-- inserted, so producers enqueueing into one queue take no row lock that
-- would make them wait for each other's commits.  The janitor folds those rows into
-- herald.job_counts about once a second (herald.fold_counts), and readers
-- add the rows not folded yet (herald.queue_counts).
--
-- A job waiting for its first attempt (kind 'new') or for a retry (kind
-- 'retry') is counted in the minute of its run_at, in UTC.  That minute
-- is a function of the row alone, so the delete or update of a job takes
-- it off the very count its insert added to.  Jobs become due as time
-- passes without a row changing: every minute before the current one is
-- due, and of the current minute a reader counts the jobs not due yet
-- with the run_at index, reading at most a minute of jobs.  The fold
-- merges the minutes that have passed into one row ('-infinity').  Dead
-- jobs (kind 'dead') have no minute and count at '-infinity' too.
--
-- A job that a lease lists still reads 'queued' in herald.jobs, so
-- readers take the leased jobs (a short list) off the counts above and
-- count them as running.

-- The retries screen lists jobs in (run_at, id) order, and jobs enqueued
-- in one statement share their run_at: with the id in the index, the
-- first page costs its rows, not every job of that run_at.  It replaces
-- the run_at index of 002, so an enqueue writes no more entries.
CREATE INDEX jobs_run_at_id_idx ON herald.jobs (run_at, id)
    WHERE state = 'queued';
DROP INDEX herald.jobs_run_at_idx;

CREATE TABLE herald.count_deltas (
    queue           text NOT NULL,
    task            text NOT NULL,
    event_type      text NOT NULL,          -- '' for a job of no event
    kind            text NOT NULL,          -- new, retry or dead
    minute          timestamptz NOT NULL,
    jobs            bigint NOT NULL
);

-- NOTE: only heraldd's janitor folds, so without one the rows pile up and
-- each reader scans all of them.  herald status could fold too if its
-- role were allowed to.
--
-- Folded rows live a second: vacuum them often, so that readers, who
-- scan the whole table, find few pages.
ALTER TABLE herald.count_deltas SET (autovacuum_vacuum_scale_factor = 0,
    autovacuum_vacuum_threshold = 10000,
    autovacuum_vacuum_insert_scale_factor = 0,
    autovacuum_vacuum_insert_threshold = 10000);

-- NOTE: jobs due later keep one row per minute, so readers add up one row
-- per minute that has a scheduled or retrying job.  Coarser buckets for
-- the far future, split by the fold as they come near, would bound it.
CREATE TABLE herald.job_counts (
    queue           text NOT NULL,
    task            text NOT NULL,
    event_type      text NOT NULL,
    kind            text NOT NULL
        CONSTRAINT job_counts_kind_check
        CHECK (kind IN ('new', 'retry', 'dead')),
    minute          timestamptz NOT NULL,
    jobs            bigint NOT NULL,
    PRIMARY KEY (queue, task, event_type, kind, minute)
);

-- The minute a live job is counted in.
CREATE FUNCTION herald.count_minute(p_run_at timestamptz)
RETURNS timestamptz
LANGUAGE sql STABLE AS $$
    SELECT date_trunc('minute', p_run_at, 'UTC');
$$;

CREATE FUNCTION herald.count_jobs_inserted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO herald.count_deltas (queue, task, event_type, kind,
        minute, jobs)
    SELECT n.queue, n.task, coalesce(n.event_type, ''),
        CASE WHEN n.attempt > 0 THEN 'retry' ELSE 'new' END,
        herald.count_minute(n.run_at), count(*)
    FROM inserted n
    GROUP BY 1, 2, 3, 4, 5;
    RETURN NULL;
END
$$;

CREATE FUNCTION herald.count_jobs_deleted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO herald.count_deltas (queue, task, event_type, kind,
        minute, jobs)
    SELECT o.queue, o.task, coalesce(o.event_type, ''),
        CASE WHEN o.attempt > 0 THEN 'retry' ELSE 'new' END,
        herald.count_minute(o.run_at), -count(*)
    FROM deleted o
    GROUP BY 1, 2, 3, 4, 5;
    RETURN NULL;
END
$$;

-- An update that changes no counted column appends nothing.
CREATE FUNCTION herald.count_jobs_updated() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO herald.count_deltas (queue, task, event_type, kind,
        minute, jobs)
    SELECT c.queue, c.task, c.event_type, c.kind, c.minute, sum(c.n)
    FROM (
        SELECT n.queue, n.task, coalesce(n.event_type, '') AS event_type,
            CASE WHEN n.attempt > 0 THEN 'retry' ELSE 'new' END AS kind,
            herald.count_minute(n.run_at) AS minute, 1 AS n
        FROM inserted n
        UNION ALL
        SELECT o.queue, o.task, coalesce(o.event_type, ''),
            CASE WHEN o.attempt > 0 THEN 'retry' ELSE 'new' END,
            herald.count_minute(o.run_at), -1
        FROM deleted o
    ) c
    GROUP BY 1, 2, 3, 4, 5
    HAVING sum(c.n) <> 0;
    RETURN NULL;
END
$$;

CREATE FUNCTION herald.count_dead_inserted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO herald.count_deltas (queue, task, event_type, kind,
        minute, jobs)
    SELECT n.queue, n.task, coalesce(n.event_type, ''), 'dead',
        '-infinity', count(*)
    FROM inserted n
    GROUP BY 1, 2, 3;
    RETURN NULL;
END
$$;

CREATE FUNCTION herald.count_dead_deleted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO herald.count_deltas (queue, task, event_type, kind,
        minute, jobs)
    SELECT o.queue, o.task, coalesce(o.event_type, ''), 'dead',
        '-infinity', -count(*)
    FROM deleted o
    GROUP BY 1, 2, 3;
    RETURN NULL;
END
$$;

CREATE FUNCTION herald.count_dead_updated() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO herald.count_deltas (queue, task, event_type, kind,
        minute, jobs)
    SELECT c.queue, c.task, c.event_type, 'dead', '-infinity', sum(c.n)
    FROM (
        SELECT n.queue, n.task, coalesce(n.event_type, '') AS event_type,
            1 AS n
        FROM inserted n
        UNION ALL
        SELECT o.queue, o.task, coalesce(o.event_type, ''), -1
        FROM deleted o
    ) c
    GROUP BY 1, 2, 3
    HAVING sum(c.n) <> 0;
    RETURN NULL;
END
$$;

-- Creating the triggers locks both tables against writes until this
-- migration commits, so the counts below start from exactly the rows
-- that the triggers did not see.
CREATE TRIGGER jobs_count_insert AFTER INSERT ON herald.jobs
    REFERENCING NEW TABLE AS inserted
    FOR EACH STATEMENT EXECUTE FUNCTION herald.count_jobs_inserted();
CREATE TRIGGER jobs_count_delete AFTER DELETE ON herald.jobs
    REFERENCING OLD TABLE AS deleted
    FOR EACH STATEMENT EXECUTE FUNCTION herald.count_jobs_deleted();
CREATE TRIGGER jobs_count_update AFTER UPDATE ON herald.jobs
    REFERENCING OLD TABLE AS deleted NEW TABLE AS inserted
    FOR EACH STATEMENT EXECUTE FUNCTION herald.count_jobs_updated();
CREATE TRIGGER dead_jobs_count_insert AFTER INSERT ON herald.dead_jobs
    REFERENCING NEW TABLE AS inserted
    FOR EACH STATEMENT EXECUTE FUNCTION herald.count_dead_inserted();
CREATE TRIGGER dead_jobs_count_delete AFTER DELETE ON herald.dead_jobs
    REFERENCING OLD TABLE AS deleted
    FOR EACH STATEMENT EXECUTE FUNCTION herald.count_dead_deleted();
CREATE TRIGGER dead_jobs_count_update AFTER UPDATE ON herald.dead_jobs
    REFERENCING OLD TABLE AS deleted NEW TABLE AS inserted
    FOR EACH STATEMENT EXECUTE FUNCTION herald.count_dead_updated();

-- TRUNCATE empties the tables without a row trigger: start from zero.
CREATE FUNCTION herald.count_truncated() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'dead_jobs' THEN
        DELETE FROM herald.count_deltas WHERE kind = 'dead';
        DELETE FROM herald.job_counts WHERE kind = 'dead';
    ELSE
        DELETE FROM herald.count_deltas WHERE kind <> 'dead';
        DELETE FROM herald.job_counts WHERE kind <> 'dead';
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER jobs_count_truncate AFTER TRUNCATE ON herald.jobs
    FOR EACH STATEMENT EXECUTE FUNCTION herald.count_truncated();
CREATE TRIGGER dead_jobs_count_truncate AFTER TRUNCATE ON herald.dead_jobs
    FOR EACH STATEMENT EXECUTE FUNCTION herald.count_truncated();

INSERT INTO herald.job_counts (queue, task, event_type, kind, minute, jobs)
SELECT j.queue, j.task, coalesce(j.event_type, ''),
    CASE WHEN j.attempt > 0 THEN 'retry' ELSE 'new' END,
    herald.count_minute(j.run_at), count(*)
FROM herald.jobs j
GROUP BY 1, 2, 3, 4, 5;

INSERT INTO herald.job_counts (queue, task, event_type, kind, minute, jobs)
SELECT d.queue, d.task, coalesce(d.event_type, ''), 'dead', '-infinity',
    count(*)
FROM herald.dead_jobs d
GROUP BY 1, 2, 3;

-- Move the appended rows into herald.job_counts and drop the counts that
-- reached zero.  Minutes that passed more than a minute ago merge into
-- one row per kind.  The minute of margin keeps the current minute of a
-- reader whose statement began just before the minute turned.  Returns
-- the rows moved.  Folds may run at once: a row that one of them
-- moved is gone for the other.
CREATE FUNCTION herald.fold_counts() RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    v_passed timestamptz := herald.count_minute(now())
        - interval '1 minute';
    v_moved bigint;
BEGIN
    WITH moved AS (
        DELETE FROM herald.count_deltas
        RETURNING queue, task, event_type, kind, minute, jobs
    ), passed AS (
        DELETE FROM herald.job_counts c
        WHERE c.minute > '-infinity' AND c.minute < v_passed
        RETURNING c.queue, c.task, c.event_type, c.kind, c.minute, c.jobs
    ), merged AS (
        INSERT INTO herald.job_counts AS c (queue, task, event_type, kind,
            minute, jobs)
        SELECT a.queue, a.task, a.event_type, a.kind,
            CASE WHEN a.minute < v_passed THEN '-infinity'::timestamptz
                ELSE a.minute END,
            sum(a.jobs)
        FROM (SELECT * FROM moved UNION ALL SELECT * FROM passed) a
        GROUP BY 1, 2, 3, 4, 5
        ON CONFLICT (queue, task, event_type, kind, minute) DO UPDATE
            SET jobs = c.jobs + excluded.jobs
    )
    SELECT count(*) INTO v_moved FROM moved;
    DELETE FROM herald.job_counts WHERE jobs = 0;
    RETURN v_moved;
END
$$;

-- Live and dead jobs per queue, task and event type ('' for none).  The
-- states are those herald shows: queued (due now), scheduled (first
-- attempt due later), running (listed by a lease) and retrying (waiting
-- for the backoff delay after a failure).  Only rows with a job are
-- returned.
-- It reads the counts, the unfolded deltas, the jobs due later in the
-- current minute and the leased jobs, so its cost does not grow with
-- the number of jobs.
CREATE FUNCTION herald.queue_counts()
RETURNS TABLE (queue text, task text, event_type text, queued bigint,
    scheduled bigint, running bigint, retrying bigint, dead bigint)
LANGUAGE sql STABLE AS $$
    WITH cur AS MATERIALIZED (
        SELECT herald.count_minute(now()) AS minute
    ), tally AS (
        SELECT c.queue, c.task, c.event_type, c.kind, c.minute, c.jobs
        FROM herald.job_counts c
        UNION ALL
        SELECT d.queue, d.task, d.event_type, d.kind, d.minute, d.jobs
        FROM herald.count_deltas d
    ), later AS (
        SELECT j.queue, j.task, coalesce(j.event_type, '') AS event_type,
            j.attempt > 0 AS retry, count(*) AS jobs
        FROM herald.jobs j, cur
        WHERE j.state = 'queued' AND j.run_at > now()
          AND j.run_at < cur.minute + interval '1 minute'
        GROUP BY 1, 2, 3, 4
    ), held AS (
        SELECT j.queue, j.task, coalesce(j.event_type, '') AS event_type,
            j.attempt > 0 AS retry, j.run_at > now() AS later,
            count(*) AS jobs
        FROM herald.leases l
        CROSS JOIN unnest(l.job_ids) AS u(id)
        JOIN herald.jobs j ON j.id = u.id
        GROUP BY 1, 2, 3, 4, 5
    ), parts AS (
        SELECT t.queue, t.task, t.event_type,
            CASE WHEN t.kind <> 'dead' AND t.minute <= cur.minute
                THEN t.jobs ELSE 0 END AS queued,
            CASE WHEN t.kind = 'new' AND t.minute > cur.minute
                THEN t.jobs ELSE 0 END AS scheduled,
            0 AS running,
            CASE WHEN t.kind = 'retry' AND t.minute > cur.minute
                THEN t.jobs ELSE 0 END AS retrying,
            CASE WHEN t.kind = 'dead' THEN t.jobs ELSE 0 END AS dead
        FROM tally t, cur
        UNION ALL
        SELECT l.queue, l.task, l.event_type, -l.jobs,
            CASE WHEN NOT l.retry THEN l.jobs ELSE 0 END, 0,
            CASE WHEN l.retry THEN l.jobs ELSE 0 END, 0
        FROM later l
        UNION ALL
        SELECT h.queue, h.task, h.event_type,
            CASE WHEN NOT h.later THEN -h.jobs ELSE 0 END,
            CASE WHEN h.later AND NOT h.retry THEN -h.jobs ELSE 0 END,
            h.jobs,
            CASE WHEN h.later AND h.retry THEN -h.jobs ELSE 0 END, 0
        FROM held h
    )
    SELECT p.queue, p.task, p.event_type, sum(p.queued)::bigint,
        sum(p.scheduled)::bigint, sum(p.running)::bigint,
        sum(p.retrying)::bigint, sum(p.dead)::bigint
    FROM parts p
    GROUP BY 1, 2, 3
    HAVING sum(p.queued) <> 0 OR sum(p.scheduled) <> 0
        OR sum(p.running) <> 0 OR sum(p.retrying) <> 0
        OR sum(p.dead) <> 0;
$$;

-- The run_at of the oldest due job of each queue that no lease lists;
-- queues with no such job have no row.  One probe of the claim index
-- finds each (queue, priority) pair.  The first due job of a pair is its
-- first index entry that no lease lists.  So the cost grows with the
-- pairs and the leased jobs, not with the jobs.
CREATE FUNCTION herald.oldest_ready()
RETURNS TABLE (queue text, oldest timestamptz)
LANGUAGE sql STABLE AS $$
    WITH RECURSIVE pairs AS (
        (SELECT j.queue, j.priority FROM herald.jobs j
         WHERE j.state = 'queued'
         ORDER BY j.queue, j.priority LIMIT 1)
        UNION ALL
        SELECT n.queue, n.priority
        FROM pairs p, LATERAL (
            SELECT j.queue, j.priority FROM herald.jobs j
            WHERE j.state = 'queued'
              AND (j.queue, j.priority) > (p.queue, p.priority)
            ORDER BY j.queue, j.priority LIMIT 1
        ) n
    ), held AS MATERIALIZED (
        SELECT u.id FROM herald.leases l, unnest(l.job_ids) AS u(id)
    )
    SELECT p.queue, min(f.run_at)
    FROM pairs p, LATERAL (
        SELECT j.run_at FROM herald.jobs j
        WHERE j.state = 'queued' AND j.queue = p.queue
          AND j.priority = p.priority AND j.run_at <= now()
          AND j.id NOT IN (SELECT h.id FROM held h)
        ORDER BY j.run_at, j.id LIMIT 1
    ) f
    GROUP BY p.queue;
$$;

-- The queue_health of 012 from the counts.  A window of N minutes, (now,
-- now + N], is the rest of the current minute, the whole minutes in
-- between and the part of the last minute up to now + N.  The whole
-- minutes come from the counts, the two ends from the run_at index, so
-- it reads at most a minute of jobs at each end.
CREATE OR REPLACE FUNCTION herald.queue_health()
RETURNS TABLE (queue text, oldest_ms bigint, retry_1m bigint,
    retry_5m bigint, retry_15m bigint, expired_1h bigint, dead_1h bigint)
LANGUAGE sql STABLE AS $$
    WITH cur AS MATERIALIZED (
        SELECT herald.count_minute(now()) AS minute
    ), held AS MATERIALIZED (
        SELECT u.id FROM herald.leases l, unnest(l.job_ids) AS u(id)
    ), waiting AS (
        SELECT c.queue FROM herald.queue_counts() c
        GROUP BY c.queue
        HAVING sum(c.queued + c.scheduled + c.retrying) > 0
    ), edges AS (
        -- Retrying jobs of the partial minutes: edge 0 is (now, the next
        -- minute), edge n is [the minute n from now, now + n minutes].
        SELECT j.queue,
            count(*) FILTER (WHERE j.run_at < cur.minute
                + interval '1 minute') AS e0,
            count(*) FILTER (WHERE j.run_at >= cur.minute
                + interval '1 minute'
                AND j.run_at <= now() + interval '1 minute') AS e1,
            count(*) FILTER (WHERE j.run_at >= cur.minute
                + interval '5 minutes'
                AND j.run_at <= now() + interval '5 minutes') AS e5,
            count(*) FILTER (WHERE j.run_at >= cur.minute
                + interval '15 minutes') AS e15
        FROM herald.jobs j, cur
        WHERE j.state = 'queued' AND j.attempt > 0
          AND ((j.run_at > now() AND j.run_at <= now() + interval '1 minute')
            OR (j.run_at >= cur.minute + interval '5 minutes'
                AND j.run_at <= now() + interval '5 minutes')
            OR (j.run_at >= cur.minute + interval '15 minutes'
                AND j.run_at <= now() + interval '15 minutes'))
          AND j.id NOT IN (SELECT h.id FROM held h)
        GROUP BY j.queue
    ), whole AS (
        -- Retrying jobs of the whole minutes from the next one on.
        SELECT t.queue,
            sum(t.jobs) FILTER (WHERE t.minute < cur.minute
                + interval '5 minutes') AS w5,
            sum(t.jobs) AS w15
        FROM (SELECT c.queue, c.minute, c.jobs FROM herald.job_counts c
              WHERE c.kind = 'retry'
              UNION ALL
              SELECT d.queue, d.minute, d.jobs FROM herald.count_deltas d
              WHERE d.kind = 'retry') t, cur
        WHERE t.minute >= cur.minute + interval '1 minute'
          AND t.minute < cur.minute + interval '15 minutes'
        GROUP BY t.queue
    ), expired AS (
        SELECT e.queue, sum(e.jobs) AS jobs FROM herald.lease_expiries e
        WHERE e.minute > now() - interval '1 hour'
        GROUP BY e.queue
    ), died AS (
        SELECT c.queue, sum(c.dead) AS jobs FROM herald.counters c
        WHERE c.minute > now() - interval '1 hour' AND c.dead > 0
        GROUP BY c.queue
    ), names AS (
        SELECT w.queue FROM waiting w
        UNION SELECT x.queue FROM expired x
        UNION SELECT d.queue FROM died d
    )
    SELECT n.queue,
        (extract(epoch FROM now() - o.oldest) * 1000)::bigint,
        coalesce(e.e0 + e.e1, 0),
        coalesce(e.e0, 0) + coalesce(w.w5, 0) + coalesce(e.e5, 0),
        (coalesce(e.e0, 0) + coalesce(w.w15, 0) + coalesce(e.e15, 0))
            ::bigint,
        coalesce(x.jobs, 0)::bigint, coalesce(d.jobs, 0)::bigint
    FROM names n
    LEFT JOIN herald.oldest_ready() o ON o.queue = n.queue
    LEFT JOIN edges e ON e.queue = n.queue
    LEFT JOIN whole w ON w.queue = n.queue
    LEFT JOIN expired x ON x.queue = n.queue
    LEFT JOIN died d ON d.queue = n.queue
    ORDER BY n.queue;
$$;

-- ---------------------------------------------------------------------
-- Privileges (see 007).  The triggers run as the role that changes the
-- jobs: heraldd's role, or the owner of the functions that producers and
-- the console call.  The readers run as their owner, so that every role
-- that reads the queues gets their counts without reading the jobs.
-- CREATE OR REPLACE kept the grants of queue_health.

ALTER FUNCTION herald.queue_counts() SECURITY DEFINER
    SET search_path = pg_catalog, herald, pg_temp;
ALTER FUNCTION herald.oldest_ready() SECURITY DEFINER
    SET search_path = pg_catalog, herald, pg_temp;
ALTER FUNCTION herald.queue_health() SECURITY DEFINER
    SET search_path = pg_catalog, herald, pg_temp;

REVOKE ALL ON FUNCTION
    herald.count_minute(timestamptz),
    herald.count_jobs_inserted(),
    herald.count_jobs_deleted(),
    herald.count_jobs_updated(),
    herald.count_dead_inserted(),
    herald.count_dead_deleted(),
    herald.count_dead_updated(),
    herald.count_truncated(),
    herald.fold_counts(),
    herald.queue_counts(),
    herald.oldest_ready()
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    herald.count_minute(timestamptz),
    herald.count_jobs_inserted(),
    herald.count_jobs_deleted(),
    herald.count_jobs_updated(),
    herald.count_dead_inserted(),
    herald.count_dead_deleted(),
    herald.count_dead_updated(),
    herald.count_truncated(),
    herald.fold_counts(),
    herald.queue_counts(),
    herald.oldest_ready()
    TO herald_worker;
GRANT EXECUTE ON FUNCTION
    herald.queue_counts(),
    herald.oldest_ready()
    TO herald_console, herald_viewer;
GRANT SELECT, INSERT, UPDATE, DELETE ON herald.count_deltas,
    herald.job_counts TO herald_worker;
GRANT SELECT ON herald.count_deltas, herald.job_counts
    TO herald_console, herald_viewer;
