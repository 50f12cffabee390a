-- A claim moves the inbox's jobs of its queue in one statement.
--
-- Each single enqueue goes to the inbox (031), so the claim that a
-- notification brings first moves that job into herald.jobs.  The claim
-- of 028 called herald.move_inbox(), a function that locked the rows in
-- one query and moved them in another.  With pg_stat_statements on the
-- 2-vCPU VM of bench/RESULTS.md, during herald-bench latency, that call
-- took 191 us of the claim's 344.  The same move as one statement of the
-- claim takes 124 to 135 us.  With it and migration 055, herald-bench
-- latency's p50 went from 1.01 to 1.09 ms down to 0.87 to 0.93.
--
-- The statement locks the rows in id order, as herald.move_inbox() does,
-- and deletes them by their physical address in the same statement.
-- The moved jobs are the claim's own writes, so its query that follows
-- reads them.  A claim that finds no job of its queue in the inbox skips
-- the move, whose insert would fire the count trigger of herald.jobs for
-- no row.  The probe reads the index on (queue, id): an EXISTS let the
-- plan that PostgreSQL caches after five calls scan the whole inbox, 12
-- ms a claim with 200000 jobs of other queues in it.  Cancel, retry-now
-- and the janitor still call herald.move_inbox().

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
    -- The move of herald.move_inbox(p_queue, NULL), in one statement.
    IF (SELECT i.id FROM herald.inbox i WHERE i.queue = p_queue
        ORDER BY i.id LIMIT 1) IS NOT NULL THEN
        WITH rows AS MATERIALIZED (
            SELECT i.ctid FROM herald.inbox i WHERE i.queue = p_queue
            ORDER BY i.id LIMIT 10000 FOR UPDATE
        ), taken AS (
            DELETE FROM herald.inbox i
            WHERE i.ctid = ANY (ARRAY(SELECT r.ctid FROM rows r))
            RETURNING i.id, i.task, i.queue, i.payload, i.priority, i.run_at,
                i.max_attempts, i.event_id, i.event_type, i.created_at
        )
        INSERT INTO herald.jobs AS j (id, task, queue, payload, priority,
            run_at, max_attempts, event_id, event_type, created_at)
        SELECT t.id, t.task, t.queue, t.payload, t.priority, t.run_at,
            t.max_attempts, t.event_id, t.event_type, t.created_at
        FROM taken t;
    END IF;
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

