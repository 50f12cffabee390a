-- Only the relay sets a job's event_id and event_type.
--
-- herald.enqueue() and herald.enqueue_unique() take event_id and
-- event_type, which a producer could set to any text: a job would then
-- claim to come from an event that never happened, and the per-event
-- counts of the status and metrics would count it.  No caller passes
-- them, since the relay writes event jobs with herald.relay_arrays(), so
-- both functions now reject a value there.  The parameters stay, so that
-- a call with NULL for them works as before.

-- Raise the error of an event_id or event_type given to an enqueue
-- function.
CREATE FUNCTION herald.enqueue_event_fail(p_event_id text,
    p_event_type text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'event_id and event_type are set by the relay, not by an enqueue'
        USING ERRCODE = 'invalid_parameter_value',
              DETAIL = format('event_id %s, event_type %s',
                  coalesce(quote_literal(p_event_id), 'NULL'),
                  coalesce(quote_literal(p_event_type), 'NULL')),
              HINT = 'Pass NULL for both, or publish an event with a unit of work.';
END
$$;

-- The enqueue of 034 with that check.
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
    IF event_id IS NOT NULL OR event_type IS NOT NULL THEN
        PERFORM herald.enqueue_event_fail(event_id, event_type);
    END IF;
    IF task IS NULL OR length(task) > 63
       OR task !~ '^[A-Za-z0-9][A-Za-z0-9_.:-]*$'
       OR queue IS NULL OR length(queue) > 63
       OR queue !~ '^[A-Za-z0-9][A-Za-z0-9_.:-]*$'
       OR payload IS NULL
       OR jsonb_typeof(payload) NOT IN ('object', 'array')
       OR priority IS NULL OR priority NOT BETWEEN -32768 AND 32767
       OR enqueue.run_at NOT BETWEEN timestamptz '1970-01-01 00:00:00+00'
                                 AND timestamptz '9999-12-31 23:59:59.999999+00'
       OR max_attempts IS NULL OR max_attempts NOT BETWEEN 1 AND 1000 THEN
        PERFORM herald.enqueue_fail(task, queue, payload, priority,
            enqueue.run_at, max_attempts);
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

-- The enqueue_checked_id of 034, for herald.enqueue_unique(), with that
-- check.
CREATE OR REPLACE FUNCTION herald.enqueue_checked_id(p_id bigint,
    p_task text, p_queue text, p_payload jsonb, p_priority integer,
    p_run_at timestamptz, p_max_attempts integer, p_event_id text,
    p_event_type text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF p_event_id IS NOT NULL OR p_event_type IS NOT NULL THEN
        PERFORM herald.enqueue_event_fail(p_event_id, p_event_type);
    END IF;
    PERFORM herald.enqueue_fail(p_task, p_queue, p_payload, p_priority,
        p_run_at, p_max_attempts);

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

-- Privileges (see 007).  CREATE OR REPLACE kept the grants of the
-- replaced functions, not their settings.  The new check runs inside the
-- enqueue functions, as their owner.
ALTER FUNCTION herald.enqueue(text, text, jsonb, integer, timestamptz,
    integer, text, text)
    SECURITY DEFINER SET search_path = pg_catalog, herald, pg_temp;
REVOKE ALL ON FUNCTION herald.enqueue_event_fail(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION herald.enqueue_event_fail(text, text)
    TO herald_worker;
