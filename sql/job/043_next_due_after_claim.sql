-- The next due time, read after the claim has committed.
--
-- A worker's claim and its read of the queue's next due time ran in one
-- transaction, so the claim's rows reached the worker only after the
-- read, about 0.3 ms later on a 2-core VM (PostgreSQL 15, pgbench).  The
-- worker now sends the read in a second transaction behind the claim and
-- starts the claimed jobs first.  A job that became due between the two
-- transactions would be neither claimed nor counted as due later, so the
-- claim's transaction stores its time in the session setting
-- herald.claimed_at, and the read counts the jobs due after that time.

-- The milliseconds until the earliest job of p_queue due after p_after,
-- as herald.next_due_ms(p_queue) of 034 counts them after now().
CREATE FUNCTION herald.next_due_ms(p_queue text, p_after timestamptz)
RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    v_at timestamptz;
BEGIN
    IF EXISTS (SELECT 1 FROM herald.queues q
               WHERE q.name = p_queue AND q.paused) THEN
        RETURN NULL;
    END IF;
    WITH RECURSIVE priorities AS (
        (SELECT j.priority FROM herald.jobs j
         WHERE j.state = 'queued' AND j.queue = p_queue
         ORDER BY j.priority LIMIT 1)
        UNION ALL
        SELECT n.priority
        FROM priorities p, LATERAL (
            SELECT j.priority FROM herald.jobs j
            WHERE j.state = 'queued' AND j.queue = p_queue
              AND j.priority > p.priority
            ORDER BY j.priority LIMIT 1
        ) n
    ), later AS (
        SELECT f.run_at
        FROM priorities p, LATERAL (
            SELECT j.run_at FROM herald.jobs j
            WHERE j.state = 'queued' AND j.queue = p_queue
              AND j.priority = p.priority AND j.run_at > p_after
              AND j.cancel_requested_at IS NULL
            ORDER BY j.run_at LIMIT 1
        ) f
        UNION ALL
        SELECT b.run_at
        FROM (SELECT i.run_at FROM herald.inbox i WHERE i.queue = p_queue
              ORDER BY i.id LIMIT 1000) b
        WHERE b.run_at > p_after
    )
    SELECT min(l.run_at) INTO v_at FROM later l;
    IF v_at IS NULL THEN
        RETURN NULL;
    END IF;
    RETURN greatest(0, ceil(extract(epoch FROM
        least(v_at, timestamptz '9999-12-31 23:59:59.999999+00')
        - clock_timestamp()) * 1000))::bigint;
END
$$;

-- The function of 034 counts from now().
CREATE OR REPLACE FUNCTION herald.next_due_ms(p_queue text)
RETURNS bigint
LANGUAGE sql AS $$
    SELECT herald.next_due_ms(p_queue, now());
$$;

-- Privileges (see 007): the worker calls both.
REVOKE ALL ON FUNCTION herald.next_due_ms(text, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION herald.next_due_ms(text, timestamptz)
    TO herald_worker;
