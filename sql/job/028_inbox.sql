-- An inbox for single enqueues.
--
-- Measured with pgbench on the 2-vCPU VM of bench/RESULTS.md, with 8
-- clients and one job per transaction.  The baseline is a plain insert of
-- one row into a table of three columns.  A call of herald.enqueue() ran
-- at 0.62 to 0.66 of its rate and a prepared insert into herald.jobs at
-- 0.75 to 0.79.  The same insert into a copy of herald.jobs without the
-- count trigger ran at 0.95 to 0.97.  So the trigger is the cost: its
-- call, its transition table and the second heap insert into
-- herald.count_deltas, for every statement.
--
-- So herald.enqueue() now inserts a job that is due later, or due now
-- while no worker of its queue waits, into herald.inbox, a table with no
-- trigger and one index.  There it keeps its id, taken from the identity
-- of herald.jobs.  A claim moves the inbox rows of its queue into
-- herald.jobs in one statement, where the trigger counts them together,
-- before it looks for jobs.  The janitor moves every row each round, so
-- nothing stays in the inbox while heraldd runs.  A call now runs at 0.89
-- to 0.96 of a plain insert.
--
-- A job due now whose queue has a waiting worker still goes straight to
-- herald.jobs with a notification, so the wake-up costs no move.  A job
-- in the inbox is no less durable: it is a row of a logged table,
-- committed with the producer's transaction, and each move deletes and
-- inserts in one transaction.  Everything that shows jobs reads the
-- inbox as well: herald.live_jobs and its redacted view, the counts and
-- the oldest due job.  Cancel, retry-now and the console's locks move the
-- jobs they name first.

CREATE TABLE herald.inbox (
    id              bigint NOT NULL DEFAULT nextval('herald.jobs_id_seq'),
    task            text NOT NULL,
    queue           text NOT NULL,
    payload         jsonb NOT NULL,
    priority        smallint NOT NULL,
    run_at          timestamptz NOT NULL,
    max_attempts    smallint NOT NULL,
    event_id        text,
    event_type      text,
    created_at      timestamptz NOT NULL DEFAULT now()
);

-- Each row is inserted and deleted once, as in herald.jobs.  A claim reads
-- the index for its queue; vacuum keeps up with the deletes.
CREATE INDEX inbox_queue_id_idx ON herald.inbox (queue, id);
ALTER TABLE herald.inbox SET (autovacuum_vacuum_scale_factor = 0,
    autovacuum_vacuum_threshold = 1000);

-- Move jobs from the inbox into herald.jobs: those of queue p_queue, else
-- those whose ids p_ids lists, else all.  Returns how many.  Every move
-- locks its rows in id order, so two moves cannot deadlock.  A row that
-- another move took meanwhile is skipped.  The rows are deleted by their physical address, which stays
-- while they are locked, so the inbox needs no index on id.
CREATE FUNCTION herald.move_inbox(p_queue text, p_ids bigint[])
RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    v_rows tid[];
BEGIN
    IF p_queue IS NOT NULL THEN
        SELECT array_agg(b.ctid) INTO v_rows
        FROM (SELECT i.ctid FROM herald.inbox i WHERE i.queue = p_queue
              ORDER BY i.id FOR UPDATE) b;
    ELSIF p_ids IS NOT NULL THEN
        SELECT array_agg(b.ctid) INTO v_rows
        FROM (SELECT i.ctid FROM herald.inbox i WHERE i.id = ANY (p_ids)
              ORDER BY i.id FOR UPDATE) b;
    ELSE
        SELECT array_agg(b.ctid) INTO v_rows
        FROM (SELECT i.ctid FROM herald.inbox i ORDER BY i.id FOR UPDATE) b;
    END IF;
    IF v_rows IS NULL THEN
        RETURN 0;
    END IF;

    WITH taken AS (
        DELETE FROM herald.inbox i WHERE i.ctid = ANY (v_rows)
        RETURNING i.id, i.task, i.queue, i.payload, i.priority, i.run_at,
            i.max_attempts, i.event_id, i.event_type, i.created_at
    )
    INSERT INTO herald.jobs (id, task, queue, payload, priority, run_at,
        max_attempts, event_id, event_type, created_at)
    SELECT t.id, t.task, t.queue, t.payload, t.priority, t.run_at,
        t.max_attempts, t.event_id, t.event_type, t.created_at
    FROM taken t;
    RETURN cardinality(v_rows);
END
$$;

-- The enqueue of 016 with the same checks, messages, signature and
-- wake-up.  Under the shared advisory lock of 016, a job due now reads
-- herald.waiters: with no waiting worker it goes to the inbox, else to
-- herald.jobs with a notification.  A job due later goes to the inbox
-- without the lock.
CREATE OR REPLACE FUNCTION herald.enqueue(
    task text,
    queue text DEFAULT 'default',
    payload jsonb DEFAULT '{}',
    priority integer DEFAULT 0,
    run_at timestamptz DEFAULT NULL,
    max_attempts integer DEFAULT 10,
    event_id text DEFAULT NULL,
    event_type text DEFAULT NULL) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    v_id bigint;
    v_due boolean;
    v_locked text;
BEGIN
    IF task IS NULL OR length(task) > 63
       OR task !~ '^[A-Za-z0-9][A-Za-z0-9_.:-]*$'
       OR queue IS NULL OR length(queue) > 63
       OR queue !~ '^[A-Za-z0-9][A-Za-z0-9_.:-]*$'
       OR payload IS NULL
       OR jsonb_typeof(payload) NOT IN ('object', 'array')
       OR priority IS NULL OR priority NOT BETWEEN -32768 AND 32767
       OR max_attempts IS NULL OR max_attempts NOT BETWEEN 1 AND 1000 THEN
        PERFORM herald.enqueue_fail(task, queue, payload, priority,
            max_attempts);
    END IF;

    v_due := enqueue.run_at IS NULL OR enqueue.run_at <= now();
    IF v_due THEN
        -- PERFORM would run a query, but an assignment is evaluated as
        -- an expression.  The void result is stored as ''.
        v_locked := pg_advisory_xact_lock_shared(herald.wait_lock_class(),
            hashtext(enqueue.queue));
    END IF;

    INSERT INTO herald.inbox AS i
        (task, queue, payload, priority, run_at, max_attempts,
         event_id, event_type)
    SELECT enqueue.task, enqueue.queue, enqueue.payload, enqueue.priority,
        coalesce(enqueue.run_at, now()), enqueue.max_attempts,
        enqueue.event_id, enqueue.event_type
    WHERE NOT v_due OR NOT EXISTS (SELECT 1 FROM herald.waiters w
                                   WHERE w.queue = enqueue.queue)
    RETURNING i.id INTO v_id;

    IF v_id IS NULL THEN
        INSERT INTO herald.jobs AS j
            (task, queue, payload, priority, run_at, max_attempts,
             event_id, event_type)
        VALUES (enqueue.task, enqueue.queue, enqueue.payload,
            enqueue.priority, coalesce(enqueue.run_at, now()),
            enqueue.max_attempts, enqueue.event_id, enqueue.event_type)
        RETURNING j.id INTO v_id;
        PERFORM pg_notify('herald', enqueue.queue);
    END IF;
    IF enqueue.event_type IS NOT NULL THEN
        PERFORM herald.count_event_jobs(ARRAY[enqueue.event_type],
            ARRAY[1::bigint]);
    END IF;
    RETURN v_id;
END
$$;

-- The announce_due of 002, which first moves every job out of the inbox.
-- A job whose run_at passed while it was in the inbox may be older than
-- the window, so the queues of such jobs are announced as well.
CREATE OR REPLACE FUNCTION herald.announce_due(p_since timestamptz)
RETURNS timestamptz
LANGUAGE plpgsql AS $$
DECLARE
    v_now timestamptz := clock_timestamp();
    v_queue text;
BEGIN
    FOR v_queue IN
        SELECT DISTINCT i.queue FROM herald.inbox i WHERE i.run_at <= v_now
    LOOP
        PERFORM pg_notify('herald', v_queue);
    END LOOP;
    PERFORM herald.move_inbox(NULL, NULL);
    IF p_since IS NOT NULL THEN
        FOR v_queue IN
            SELECT DISTINCT j.queue FROM herald.jobs j
            WHERE j.state = 'queued'
              AND j.run_at > p_since - interval '1 second'
              AND j.run_at <= v_now
        LOOP
            PERFORM pg_notify('herald', v_queue);
        END LOOP;
    END IF;
    RETURN v_now;
END
$$;

-- The views of 024 with the jobs of the inbox, each a first attempt that
-- no lease lists.  herald.jobs_redacted stays the redacted herald.jobs,
-- so that the console's queries for herald_viewer, which name it in
-- place of herald.jobs, read each job once.
CREATE OR REPLACE VIEW herald.live_jobs AS
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
    LEFT JOIN herald.held_jobs h ON h.id = j.id
    UNION ALL
    SELECT i.id, i.task, i.queue, i.payload, i.priority, i.run_at, 0,
        i.max_attempts::integer, 'queued', NULL, NULL, NULL, NULL,
        i.created_at, i.event_id, i.event_type, '[]', NULL
    FROM herald.inbox i;

CREATE OR REPLACE VIEW herald.jobs_redacted AS
    SELECT j.id, j.task, j.queue, NULL::jsonb AS payload, j.priority,
        j.run_at, j.attempt + (h.token IS NOT NULL)::integer AS attempt,
        j.max_attempts::integer AS max_attempts,
        CASE WHEN h.token IS NULL THEN j.state::text ELSE 'running' END
            AS state,
        coalesce(h.owner, j.lease_owner) AS lease_owner,
        coalesce(h.token, j.lease_token) AS lease_token,
        coalesce(h.deadline, j.lease_until) AS lease_until,
        coalesce(h.attempted_at, j.attempted_at) AS attempted_at,
        j.created_at, j.event_id, j.event_type,
        herald.redact_errors(j.errors) AS errors
    FROM herald.jobs j
    LEFT JOIN herald.held_jobs h ON h.id = j.id;

CREATE OR REPLACE VIEW herald.live_jobs_redacted AS
    SELECT * FROM herald.jobs_redacted
    UNION ALL
    SELECT i.id, i.task, i.queue, NULL, i.priority, i.run_at, 0,
        i.max_attempts::integer, 'queued', NULL, NULL, NULL, NULL,
        i.created_at, i.event_id, i.event_type, '[]'
    FROM herald.inbox i;

-- The claim of 024, which first moves the queue's jobs out of the inbox.
-- The queue's claim lock is held, so no other claim of the queue moves
-- them meanwhile, and the query of the claim takes its snapshot after
-- the move.
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
    PERFORM herald.move_inbox(p_queue, NULL);
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

-- The cancel of 012, for jobs in the inbox too.
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
    -- The claim locks come first: a claim holds its lock while it moves
    -- the queue's jobs out of the inbox.
    FOR v_queue IN
        SELECT DISTINCT q.queue
        FROM (SELECT j.queue FROM herald.jobs j WHERE j.id = ANY (p_ids)
              UNION ALL
              SELECT i.queue FROM herald.inbox i WHERE i.id = ANY (p_ids)) q
        ORDER BY q.queue
    LOOP
        PERFORM herald.lock_claims(v_queue);
    END LOOP;
    PERFORM herald.move_inbox(NULL, p_ids);

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

-- The lock_jobs of 012, for jobs in the inbox too.  A SQL function
-- takes a new snapshot for each statement, so the lock reads the moved
-- rows.
CREATE OR REPLACE FUNCTION herald.lock_jobs(p_ids bigint[])
RETURNS TABLE (id bigint, state text)
LANGUAGE sql AS $$
    SELECT herald.move_inbox(NULL, p_ids);
    WITH locked AS (
        SELECT j.id FROM herald.jobs j WHERE j.id = ANY (p_ids)
        ORDER BY j.id FOR UPDATE
    )
    SELECT l.id, j.state FROM locked l
    JOIN herald.live_jobs j ON j.id = l.id
    ORDER BY l.id;
$$;

-- The retry_now of 009, for jobs in the inbox too.
CREATE OR REPLACE FUNCTION herald.retry_now(p_ids bigint[], p_os_user text,
    p_host text)
RETURNS SETOF bigint
LANGUAGE plpgsql AS $$
DECLARE
    v_ids bigint[];
    v_queues text[];
    v_queue text;
BEGIN
    PERFORM herald.move_inbox(NULL, p_ids);
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

-- The queue_counts of 013 with the jobs of the inbox, which no trigger
-- has counted yet: each is a first attempt, queued or scheduled.
CREATE OR REPLACE FUNCTION herald.queue_counts()
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
        UNION ALL
        SELECT i.queue, i.task, coalesce(i.event_type, ''),
            count(*) FILTER (WHERE i.run_at <= now()),
            count(*) FILTER (WHERE i.run_at > now()), 0, 0, 0
        FROM herald.inbox i
        GROUP BY 1, 2, 3
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

-- The oldest_ready of 013 with the due jobs of the inbox.
CREATE OR REPLACE FUNCTION herald.oldest_ready()
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
    SELECT o.queue, min(o.oldest)
    FROM (
    SELECT p.queue, f.run_at AS oldest
    FROM pairs p, LATERAL (
        SELECT j.run_at FROM herald.jobs j
        WHERE j.state = 'queued' AND j.queue = p.queue
          AND j.priority = p.priority AND j.run_at <= now()
          AND j.id NOT IN (SELECT h.id FROM held h)
        ORDER BY j.run_at, j.id LIMIT 1
    ) f
    UNION ALL
    SELECT i.queue, i.run_at FROM herald.inbox i WHERE i.run_at <= now()
    ) o
    GROUP BY o.queue;
$$;
-- Privileges (see 007).  CREATE OR REPLACE kept the grants of the
-- replaced functions, not their settings.
DO $$
DECLARE
    v_function regprocedure;
BEGIN
    FOR v_function IN
        SELECT p.oid::regprocedure FROM pg_proc p
        WHERE p.pronamespace = 'herald'::regnamespace
          AND p.proname IN ('enqueue', 'cancel', 'lock_jobs', 'retry_now',
              'queue_counts', 'oldest_ready')
          AND p.prosecdef = false
    LOOP
        EXECUTE format('ALTER FUNCTION %s SECURITY DEFINER'
            ' SET search_path = pg_catalog, herald, pg_temp', v_function);
    END LOOP;
END
$$;

REVOKE ALL ON herald.inbox FROM PUBLIC;
REVOKE ALL ON FUNCTION herald.move_inbox(text, bigint[]) FROM PUBLIC;
GRANT SELECT, INSERT, DELETE ON herald.inbox TO herald_worker;
GRANT EXECUTE ON FUNCTION herald.move_inbox(text, bigint[])
    TO herald_worker;
GRANT SELECT ON herald.inbox TO herald_console;
GRANT SELECT (id, task, queue, priority, run_at, max_attempts, created_at,
    event_id, event_type) ON herald.inbox TO herald_viewer;
