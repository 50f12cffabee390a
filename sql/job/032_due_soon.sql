-- Jobs due within a minute start on time.
--
-- A job enqueued with a run_at a few hundred milliseconds ahead sent no
-- notification, and an idle worker woke only for a notification or at
-- its poll.  So the job started when the janitor announced it, up to a
-- round (a second) after its run_at.  A retry after a short backoff
-- waited the same way.
--
-- Now each claim of a worker also calls herald.next_due_ms(), in the same
-- transaction and so with the same now(): the time until the earliest
-- job of its queue that is due later.  A worker whose claim comes back
-- short sleeps until then at most.  A single enqueue of a job due within
-- a minute requests the queue's wait lock without waiting, as one due now
-- does (see 031), and notifies the queue when a worker holds it.  That worker's claim
-- finds nothing due and learns the time.  A worker that starts to wait
-- while the producer holds the lock claims after it commits, and learns
-- the time the same way.  A job due later than a minute is found by a
-- worker's poll (5 s by default) or the janitor's announcement.  So are
-- the jobs of bulk enqueues, unique jobs and the relay, which notify only
-- for jobs due now.

-- Return the milliseconds from now until the earliest run_at of the
-- queued jobs of p_queue that are due after now(), rounded up, or NULL
-- when there is none or the queue is paused.  A job that became due
-- since now() gives 0.  It reads jobs_claim_idx once for each priority
-- of the queue, as herald.oldest_ready() does, so it reads a few index
-- entries however many jobs are due.  The inbox has no index on run_at,
-- and the claim before this call has just moved up to 10000 of the
-- queue's rows, so it reads the oldest 1000 rows left, which the next
-- move takes first.  It is PL/pgSQL so that its plan is kept for the
-- session: a LANGUAGE sql function is planned at every call, which took
-- about 1 ms here.
--
-- NOTE: after a backlog of more than 10000 inbox rows of the queue, a
-- job due later among the rows not read waits for the janitor's
-- announcement or a poll.
CREATE FUNCTION herald.next_due_ms(p_queue text)
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
              AND j.priority = p.priority AND j.run_at > now()
              AND j.cancel_requested_at IS NULL
            ORDER BY j.run_at LIMIT 1
        ) f
        UNION ALL
        SELECT b.run_at
        FROM (SELECT i.run_at FROM herald.inbox i WHERE i.queue = p_queue
              ORDER BY i.id LIMIT 1000) b
        WHERE b.run_at > now()
    )
    SELECT min(l.run_at) INTO v_at FROM later l;
    IF v_at IS NULL THEN
        RETURN NULL;
    END IF;
    RETURN greatest(0, ceil(extract(epoch FROM v_at - clock_timestamp())
        * 1000))::bigint;
END
$$;

-- The enqueue of 031.  A job due now goes to herald.jobs with a
-- notification when a worker holds the queue's lock, else to the inbox.
-- A job due within a minute goes to the inbox, with a notification when a
-- worker holds the lock.  A job due later goes to the inbox without the
-- lock.
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
    v_wake boolean;
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
    v_wake := (v_due OR enqueue.run_at <= now() + interval '1 minute')
        AND NOT pg_try_advisory_xact_lock_shared(herald.wait_lock_class(),
            hashtext(enqueue.queue));
    IF v_due AND v_wake THEN
        INSERT INTO herald.jobs AS j
            (task, queue, payload, priority, run_at, max_attempts,
             event_id, event_type)
        VALUES (enqueue.task, enqueue.queue, enqueue.payload,
            enqueue.priority, coalesce(enqueue.run_at, now()),
            enqueue.max_attempts, enqueue.event_id, enqueue.event_type)
        RETURNING j.id INTO v_id;
    ELSE
        INSERT INTO herald.inbox AS i
            (task, queue, payload, priority, run_at, max_attempts,
             event_id, event_type)
        VALUES (enqueue.task, enqueue.queue, enqueue.payload,
            enqueue.priority, coalesce(enqueue.run_at, now()),
            enqueue.max_attempts, enqueue.event_id, enqueue.event_type)
        RETURNING i.id INTO v_id;
    END IF;
    IF v_wake THEN
        PERFORM pg_notify('herald', enqueue.queue);
    END IF;
    IF enqueue.event_type IS NOT NULL THEN
        PERFORM herald.count_event_jobs(ARRAY[enqueue.event_type],
            ARRAY[1::bigint]);
    END IF;
    RETURN v_id;
END
$$;
ALTER FUNCTION herald.enqueue(text, text, jsonb, integer, timestamptz,
    integer, text, text) SECURITY DEFINER
    SET search_path = pg_catalog, herald, pg_temp;

-- Privileges (see 007): the worker calls herald.next_due_ms().
REVOKE ALL ON FUNCTION herald.next_due_ms(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION herald.next_due_ms(text) TO herald_worker;
