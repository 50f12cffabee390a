-- Two relay batches of one origin insert their jobs at once.
--
-- The relay keeps two batches in flight, each on its own pair of
-- connections.  herald.relay_arrays() of 040 took the origin's advisory
-- lock before it inserted the jobs, so the second batch waited for the
-- whole first one.  It now inserts first and takes the lock only to
-- record the batch, so the two inserts share the machine's cores, and
-- what is serialized is the recording, the counts and the commit.
--
-- Inserting first is a guess that no outbox id of the batch was relayed
-- before, which is true unless a relay died after its job database
-- committed a batch.  Should the guess fail, the insert is rolled back to
-- a savepoint, and the batch is inserted again without the copies, as
-- 040 did.
--
-- With two batches in flight, the one with greater ids may commit first.
-- herald.relay_record() of 040 then looked up each id of the other batch
-- on its own, about 80 us each.  It now reads the ids of only the batches
-- whose range meets the new batch's range, once each, and matches them in
-- one hash join.

-- Insert the jobs of a relay batch that herald.relay_arrays() checked:
-- those of every outbox row when p_fresh is NULL, or else those of the
-- rows whose ids p_fresh lists.  Returns how many jobs it inserted, the
-- queues of those due now, and the event types with their numbers of jobs.
CREATE FUNCTION herald.relay_insert(
    p_ids bigint[],
    p_payloads jsonb[],
    p_priorities smallint[],
    p_run_at timestamptz[],
    p_event_ids text[],
    p_event_types text[],
    p_rows integer[],
    p_tasks text[],
    p_queues text[],
    p_max_attempts integer[],
    p_fresh bigint[],
    OUT inserted_jobs bigint,
    OUT due_queues text[],
    OUT counted_types text[],
    OUT counted_jobs bigint[])
LANGUAGE plpgsql AS $$
BEGIN
    WITH inserted AS (
        INSERT INTO herald.jobs
            (task, queue, payload, priority, run_at, max_attempts,
             event_id, event_type)
        SELECT j.task, j.queue, r.payload, coalesce(r.priority, 0),
            coalesce(r.run_at, now()), coalesce(j.max_attempts, 10),
            r.event_id, r.event_type
        FROM unnest(p_rows, p_tasks, p_queues, p_max_attempts)
                WITH ORDINALITY AS j(pos, task, queue, max_attempts, ord)
            JOIN unnest(p_ids, p_payloads, p_priorities, p_run_at,
                p_event_ids, p_event_types) WITH ORDINALITY
                AS r(outbox_id, payload, priority, run_at, event_id,
                    event_type, pos)
                ON r.pos = j.pos
        WHERE p_fresh IS NULL
           OR r.outbox_id IN (SELECT unnest(p_fresh))
        ORDER BY j.ord
        RETURNING queue, run_at, event_type
    ), types AS (
        SELECT event_type, count(*) AS jobs FROM inserted
        WHERE event_type IS NOT NULL
        GROUP BY event_type
    )
    SELECT (SELECT count(*) FROM inserted),
        (SELECT array_agg(DISTINCT queue) FROM inserted
         WHERE run_at <= now()),
        (SELECT array_agg(event_type ORDER BY event_type) FROM types),
        (SELECT array_agg(jobs ORDER BY event_type) FROM types)
    INTO inserted_jobs, due_queues, counted_types, counted_jobs;
END
$$;

-- Record a batch's outbox ids as relayed from p_origin, leaving out the
-- ids recorded before.  Returns NULL when there were none, and otherwise
-- the ids recorded now, which may be an empty array.  The origin's
-- advisory lock is held to the end of the transaction, so a batch whose
-- earlier copy has not committed yet waits for it and then finds it.
CREATE OR REPLACE FUNCTION herald.relay_record(p_origin text, p_ids bigint[])
RETURNS bigint[]
LANGUAGE plpgsql AS $$
DECLARE
    v_first bigint;
    v_last bigint;
    v_old bigint[];
    v_fresh bigint[];
BEGIN
    IF array_position(p_ids, NULL) IS NOT NULL THEN
        RAISE EXCEPTION 'outbox ids must not be NULL'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    PERFORM pg_advisory_xact_lock(herald.relay_lock_class(),
        hashtext(p_origin));
    SELECT min(i), max(i) INTO v_first, v_last FROM unnest(p_ids) AS i;
    IF v_first IS NULL THEN
        RETURN NULL;
    END IF;

    -- Only a batch whose range meets this one's can hold one of its ids.
    -- Normally there is none.  A row that committed after a batch with
    -- greater ids was taken, and a batch sent again after a crash, meet
    -- one or a few.
    IF EXISTS (SELECT FROM herald.relayed_batches b
               WHERE int8range(b.first_id, b.last_id, '[]')
                     && int8range(v_first, v_last, '[]')
                 AND b.origin = p_origin) THEN
        SELECT array_agg(u.id ORDER BY u.id) FILTER (WHERE o.id IS NOT NULL),
            array_agg(u.id ORDER BY u.id) FILTER (WHERE o.id IS NULL)
        INTO v_old, v_fresh
        FROM unnest(p_ids) AS u(id)
        LEFT JOIN (SELECT DISTINCT x.id
                   FROM herald.relayed_batches b,
                       unnest(b.outbox_ids) AS x(id)
                   WHERE int8range(b.first_id, b.last_id, '[]')
                         && int8range(v_first, v_last, '[]')
                     AND b.origin = p_origin
                     AND x.id BETWEEN v_first AND v_last) o
            ON o.id = u.id;
    END IF;

    IF v_old IS NULL THEN
        INSERT INTO herald.relayed_batches
            (origin, first_id, last_id, outbox_ids)
        VALUES (p_origin, v_first, v_last, p_ids);
        RETURN NULL;
    END IF;
    IF v_fresh IS NULL THEN
        RETURN '{}';
    END IF;
    INSERT INTO herald.relayed_batches (origin, first_id, last_id, outbox_ids)
    VALUES (p_origin, v_fresh[1], v_fresh[cardinality(v_fresh)], v_fresh);
    RETURN v_fresh;
END
$$;

-- herald.relay_arrays() of 040, inserting before it records the batch.
-- The SQLSTATE HR001 marks a batch that contains copies of rows
-- relayed before.  The function catches it, so it never reaches a caller.
CREATE OR REPLACE FUNCTION herald.relay_arrays(
    p_origin text,
    p_ids bigint[],
    p_payloads jsonb[],
    p_priorities smallint[],
    p_run_at timestamptz[],
    p_event_ids text[],
    p_event_types text[],
    p_rows integer[],
    p_tasks text[],
    p_queues text[],
    p_max_attempts integer[])
RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    -- The outbox ids not relayed before, or NULL when that is all of them.
    v_fresh bigint[];
    v_made record;
    v_queue text;
BEGIN
    PERFORM herald.relay_check(p_origin, p_ids, p_rows, p_tasks, p_queues,
        ARRAY[cardinality(p_payloads), cardinality(p_priorities),
            cardinality(p_run_at), cardinality(p_event_ids),
            cardinality(p_event_types)],
        ARRAY[cardinality(p_max_attempts)]);

    -- The block's exception handler rolls back to a savepoint taken when
    -- the block begins: the jobs and the record of a batch with copies.
    BEGIN
        SELECT * INTO v_made FROM herald.relay_insert(p_ids, p_payloads,
            p_priorities, p_run_at, p_event_ids, p_event_types, p_rows,
            p_tasks, p_queues, p_max_attempts, NULL);
        IF herald.relay_record(p_origin, p_ids) IS NOT NULL THEN
            RAISE EXCEPTION 'relay batch holds copies'
                USING ERRCODE = 'HR001';
        END IF;
    EXCEPTION WHEN SQLSTATE 'HR001' THEN
        v_fresh := herald.relay_record(p_origin, p_ids);
        SELECT * INTO v_made FROM herald.relay_insert(p_ids, p_payloads,
            p_priorities, p_run_at, p_event_ids, p_event_types, p_rows,
            p_tasks, p_queues, p_max_attempts, v_fresh);
    END;

    -- Counters and notifications come after the lock, so that two
    -- batches lock no counter row in opposite orders.
    IF v_made.counted_types IS NOT NULL THEN
        PERFORM herald.count_event_jobs(v_made.counted_types,
            v_made.counted_jobs);
    END IF;
    FOREACH v_queue IN ARRAY coalesce(v_made.due_queues, '{}'::text[]) LOOP
        PERFORM herald.wake(v_queue);
    END LOOP;
    RETURN v_made.inserted_jobs;
END
$$;

-- Privileges (see 007): the relay runs as herald_worker, which the
-- default privileges let execute the new function.
REVOKE ALL ON FUNCTION herald.relay_insert(bigint[], jsonb[], smallint[],
    timestamptz[], text[], text[], integer[], text[], text[], integer[],
    bigint[]) FROM PUBLIC;
