-- Bounded moves out of the inbox.
--
-- A move of 028 took every row of a queue, or of the inbox, in one
-- transaction.  After heraldd was down for an hour while producers went
-- on, the first claim of a queue moved its whole backlog while it held
-- the queue's claim lock, and no worker of the queue ran a job until it
-- committed.  The janitor's round, which moved every queue, waited for
-- it, and its first step read the whole inbox to find the due jobs.
--
-- A move now takes at most 10000 rows, the oldest first, and returns the
-- queues of the due jobs it moved, which the janitor announces.  A claim
-- moves a batch each time, more than it claims, so a backlog drains in
-- steps.  Until it has, the jobs still in the inbox wait behind those
-- already moved whatever their priority.

DROP FUNCTION herald.move_inbox(text, bigint[]);

-- Move jobs from the inbox into herald.jobs: the oldest 10000 of queue
-- p_queue, else those whose ids p_ids lists, else the oldest 10000 of
-- all.  Returns the queues that got a job due now, each once.  Every
-- move locks its rows in id order, so two moves cannot deadlock.  A row
-- that another move took meanwhile is skipped.  The rows are deleted by
-- their physical address, which stays while they are locked, so the
-- inbox needs no index on id.
CREATE FUNCTION herald.move_inbox(p_queue text, p_ids bigint[])
RETURNS SETOF text
LANGUAGE plpgsql AS $$
DECLARE
    v_rows tid[];
BEGIN
    IF p_queue IS NOT NULL THEN
        SELECT array_agg(b.ctid) INTO v_rows
        FROM (SELECT i.ctid FROM herald.inbox i WHERE i.queue = p_queue
              ORDER BY i.id LIMIT 10000 FOR UPDATE) b;
    ELSIF p_ids IS NOT NULL THEN
        SELECT array_agg(b.ctid) INTO v_rows
        FROM (SELECT i.ctid FROM herald.inbox i WHERE i.id = ANY (p_ids)
              ORDER BY i.id FOR UPDATE) b;
    ELSE
        SELECT array_agg(b.ctid) INTO v_rows
        FROM (SELECT i.ctid FROM herald.inbox i
              ORDER BY i.id LIMIT 10000 FOR UPDATE) b;
    END IF;
    IF v_rows IS NULL THEN
        RETURN;
    END IF;

    RETURN QUERY
    WITH taken AS (
        DELETE FROM herald.inbox i WHERE i.ctid = ANY (v_rows)
        RETURNING i.id, i.task, i.queue, i.payload, i.priority, i.run_at,
            i.max_attempts, i.event_id, i.event_type, i.created_at
    ), moved AS (
        INSERT INTO herald.jobs AS j (id, task, queue, payload, priority,
            run_at, max_attempts, event_id, event_type, created_at)
        SELECT t.id, t.task, t.queue, t.payload, t.priority, t.run_at,
            t.max_attempts, t.event_id, t.event_type, t.created_at
        FROM taken t
        RETURNING j.queue, j.run_at
    )
    SELECT DISTINCT m.queue FROM moved m WHERE m.run_at <= now();
END
$$;

-- The announce_due of 028 with a bounded move, whose due queues it
-- announces: a job whose run_at passed while it was in the inbox may be
-- older than the window.
CREATE OR REPLACE FUNCTION herald.announce_due(p_since timestamptz)
RETURNS timestamptz
LANGUAGE plpgsql AS $$
DECLARE
    v_now timestamptz := clock_timestamp();
    v_queue text;
BEGIN
    FOR v_queue IN SELECT m.q FROM herald.move_inbox(NULL, NULL) AS m(q)
    LOOP
        PERFORM pg_notify('herald', v_queue);
    END LOOP;
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

-- Privileges (see 007): those of the dropped function.
REVOKE ALL ON FUNCTION herald.move_inbox(text, bigint[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION herald.move_inbox(text, bigint[])
    TO herald_worker;
