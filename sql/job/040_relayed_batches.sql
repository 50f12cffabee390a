-- The relay records each batch's outbox ids in one row.
--
-- herald.relayed held one row per relayed outbox row under a primary key
-- on (origin, outbox_id).  Recording a batch of 1000 rows there took
-- about 5.5 ms of the 20 ms that herald.relay_arrays() spent on it
-- (PostgreSQL 15 on a 2-core VM, later calls of one session).  A batch
-- is now one row of herald.relayed_batches, its ids in an array, which
-- takes about 0.4 ms.  The array is stored uncompressed, because
-- compressing it took another millisecond a batch.
--
-- Only the ids of a batch below the greatest id relayed before are looked
-- up, each in the one or few batches whose range contains it.  A relay
-- that keeps up with its producers meets a few such ids in a batch: rows
-- that committed after a batch with greater ids was taken.  Each costs
-- about 80 us.  A batch sent again after a crash costs about 0.1 s for
-- its 1000 ids.  Comparing whole arrays with && instead took 7 ms for
-- each batch whose range met the new one, since it compares every
-- element of one array with every element of the other.
--
-- The primary key also made a relay wait for the uncommitted copy of its
-- rows by another relay.  A relay meets that copy when its predecessor
-- was killed after sending a batch: the server still commits it, and the
-- outbox rows are free again at once.  An advisory lock on the origin,
-- held to the end of the transaction, now makes the second relay wait
-- until the first batch commits or rolls back, and then find it.
--
-- The keys recorded so far move to the new table, in rows of up to 1000
-- ids.  herald.relayed stays as a view with a row per outbox id.
-- herald.relay(), which relays of versions before migration 015 called,
-- goes.

-- The first half of the advisory lock key of a relay's batch:
-- hashtext('herald.relayed_batches') on PostgreSQL 15.  The second half
-- is hashtext(origin).
CREATE FUNCTION herald.relay_lock_class() RETURNS integer
LANGUAGE sql IMMUTABLE AS $$
    SELECT -216502345;
$$;

-- One row per relayed batch of an application database (its origin):
-- the batch's outbox ids, the least and the greatest of them.
CREATE TABLE herald.relayed_batches (
    origin          text NOT NULL,
    first_id        bigint NOT NULL,
    last_id         bigint NOT NULL,
    outbox_ids      bigint[] NOT NULL,
    relayed_at      timestamptz NOT NULL DEFAULT now(),
    CHECK (first_id <= last_id)
);
ALTER TABLE herald.relayed_batches ALTER outbox_ids SET STORAGE EXTERNAL;
-- The greatest id relayed from an origin shows whether a batch can hold
-- an id relayed before.  The range index finds the batches whose range
-- contains a given id: normally one, or a few where ids committed out of
-- order.
CREATE INDEX relayed_batches_last_id_idx
    ON herald.relayed_batches (origin, last_id);
CREATE INDEX relayed_batches_range_idx
    ON herald.relayed_batches USING gist (int8range(first_id, last_id, '[]'));
CREATE INDEX relayed_batches_relayed_at_idx
    ON herald.relayed_batches (origin, relayed_at);

INSERT INTO herald.relayed_batches
    (origin, first_id, last_id, outbox_ids, relayed_at)
SELECT r.origin, min(r.outbox_id), max(r.outbox_id),
    array_agg(r.outbox_id ORDER BY r.outbox_id), max(r.relayed_at)
FROM (SELECT origin, outbox_id, relayed_at,
          (row_number() OVER (PARTITION BY origin ORDER BY outbox_id) - 1)
              / 1000 AS chunk
      FROM herald.relayed) r
GROUP BY r.origin, r.chunk;

DROP FUNCTION herald.relay(text, bigint[], jsonb);
DROP TABLE herald.relayed;

CREATE VIEW herald.relayed AS
SELECT b.origin, o.outbox_id, b.relayed_at
FROM herald.relayed_batches b, unnest(b.outbox_ids) AS o(outbox_id);

-- Record a batch's outbox ids as relayed from p_origin, leaving out the
-- ids recorded before.  Returns NULL when there were none, and otherwise
-- the ids recorded now, which may be an empty array.
CREATE FUNCTION herald.relay_record(p_origin text, p_ids bigint[])
RETURNS bigint[]
LANGUAGE plpgsql AS $$
DECLARE
    v_first bigint;
    v_last bigint;
    v_max bigint;
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

    -- An id above the origin's greatest relayed id is new.  One below it
    -- either committed after a batch with greater ids was taken, or was
    -- relayed before, and only its batch's array shows which.  Each such
    -- id is looked up through the range index, so the cost grows with
    -- these ids and not with the batches recorded.
    SELECT max(b.last_id) INTO v_max
    FROM herald.relayed_batches b WHERE b.origin = p_origin;
    IF v_max >= v_first THEN
        SELECT array_agg(n.id ORDER BY n.id) FILTER (WHERE n.old),
            array_agg(n.id ORDER BY n.id) FILTER (WHERE NOT n.old)
        INTO v_old, v_fresh
        FROM (SELECT u.id, u.id <= v_max AND EXISTS (
                  SELECT FROM herald.relayed_batches b
                  WHERE int8range(b.first_id, b.last_id, '[]') @> u.id
                    AND b.origin = p_origin AND u.id = ANY (b.outbox_ids))
                  AS old
              FROM unnest(p_ids) AS u(id)) n;
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

-- Raise the error of the first invalid argument of a relay batch, as
-- herald.relay_arrays() of 037 did.  row_lengths are the cardinalities of
-- the arrays with an element per outbox row, job_lengths those of the
-- optional arrays with an element per job, NULL for an array given as
-- NULL.
CREATE FUNCTION herald.relay_check(p_origin text, p_ids bigint[],
    p_rows integer[], p_tasks text[], p_queues text[],
    p_row_lengths integer[], p_job_lengths integer[])
RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_n integer := coalesce(cardinality(p_ids), 0);
    v_jobs integer := coalesce(cardinality(p_rows), 0);
BEGIN
    IF p_origin IS NULL OR p_ids IS NULL OR p_rows IS NULL
       OR p_tasks IS NULL OR p_queues IS NULL THEN
        RAISE EXCEPTION 'relay batch must have an origin, outbox ids, rows, tasks and queues'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF EXISTS (SELECT 1 FROM unnest(p_row_lengths) AS l(n)
               WHERE l.n <> v_n) THEN
        RAISE EXCEPTION 'outbox row arrays must have as many elements as the id array (%)',
            v_n
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF cardinality(p_tasks) <> v_jobs OR cardinality(p_queues) <> v_jobs
       OR EXISTS (SELECT 1 FROM unnest(p_job_lengths) AS l(n)
                  WHERE l.n <> v_jobs) THEN
        RAISE EXCEPTION 'job arrays must have as many elements as the row array (%)',
            v_jobs
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- A job whose row is out of range would find no row and be lost
    -- without a word.
    IF EXISTS (SELECT 1 FROM unnest(p_rows) AS j(pos)
               WHERE j.pos IS NULL OR j.pos NOT BETWEEN 1 AND v_n) THEN
        RAISE EXCEPTION 'job rows must be positions in the id array, from 1 to %',
            v_n
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
END
$$;

-- herald.relay_arrays() of 037, recording its batch with
-- herald.relay_record().
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
    v_count bigint;
    v_queues text[];
    v_queue text;
    v_types text[];
    v_counts bigint[];
BEGIN
    PERFORM herald.relay_check(p_origin, p_ids, p_rows, p_tasks, p_queues,
        ARRAY[cardinality(p_payloads), cardinality(p_priorities),
            cardinality(p_run_at), cardinality(p_event_ids),
            cardinality(p_event_types)],
        ARRAY[cardinality(p_max_attempts)]);

    v_fresh := herald.relay_record(p_origin, p_ids);

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
        WHERE v_fresh IS NULL
           OR r.outbox_id IN (SELECT unnest(v_fresh))
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
    INTO v_count, v_queues, v_types, v_counts;

    IF v_types IS NOT NULL THEN
        PERFORM herald.count_event_jobs(v_types, v_counts);
    END IF;
    FOREACH v_queue IN ARRAY coalesce(v_queues, '{}'::text[]) LOOP
        PERFORM herald.wake(v_queue);
    END LOOP;
    RETURN v_count;
END
$$;

-- herald.relay_arrays_unique() of 022, recording its batch with
-- herald.relay_record().
CREATE OR REPLACE FUNCTION herald.relay_arrays_unique(
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
    p_max_attempts integer[],
    p_unique_keys text[],
    p_unique_for_ms bigint[],
    p_unique_states text[])
RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    -- The outbox ids not relayed before, or NULL when that is all of them.
    v_fresh bigint[];
    -- For each job, its new id, or NULL when it makes no job.
    v_job_ids bigint[];
    v_job record;
    v_pos integer;
    v_count bigint;
    v_queues text[];
    v_queue text;
    v_types text[];
    v_counts bigint[];
BEGIN
    PERFORM herald.relay_check(p_origin, p_ids, p_rows, p_tasks, p_queues,
        ARRAY[cardinality(p_payloads), cardinality(p_priorities),
            cardinality(p_run_at), cardinality(p_event_ids),
            cardinality(p_event_types)],
        ARRAY[cardinality(p_max_attempts), cardinality(p_unique_keys),
            cardinality(p_unique_for_ms), cardinality(p_unique_states)]);

    -- Record the rows as relayed, and draw an id for each job of a row
    -- not relayed before, in the order of the jobs.
    v_fresh := herald.relay_record(p_origin, p_ids);
    WITH jobs AS (
        SELECT j.ord, v_fresh IS NULL OR p_ids[j.pos] = ANY (v_fresh)
            AS fresh
        FROM unnest(p_rows) WITH ORDINALITY AS j(pos, ord)
    ), ranked AS (
        SELECT b.ord, row_number() OVER (ORDER BY b.ord) AS rank
        FROM jobs b WHERE b.fresh
    ), ids AS (
        SELECT row_number() OVER (ORDER BY n.id) AS rank, n.id
        FROM (SELECT nextval(pg_get_serial_sequence('herald.jobs', 'id'))
                  AS id
              FROM ranked) n
    )
    SELECT array_agg(i.id ORDER BY b.ord) INTO v_job_ids
    FROM jobs b
    LEFT JOIN ranked r ON r.ord = b.ord
    LEFT JOIN ids i ON i.rank = r.rank;

    -- Take the keys in the order of the keys, as herald.take_unique_keys()
    -- does, so that callers with common keys lock them in one order.  Each
    -- job that gets its key is inserted at once, so that a later job of
    -- the batch with the key finds it queued.
    FOR v_job IN
        SELECT k.ord, k.key, k.for_ms, k.states
        FROM unnest(p_unique_keys, p_unique_for_ms, p_unique_states)
            WITH ORDINALITY AS k(key, for_ms, states, ord)
        WHERE k.key IS NOT NULL AND v_job_ids[k.ord] IS NOT NULL
        ORDER BY k.key, k.ord
    LOOP
        IF (herald.take_unique_keys(ARRAY[v_job.key],
                ARRAY[v_job_ids[v_job.ord]], ARRAY[v_job.for_ms],
                ARRAY[v_job.states]))[1] <> v_job_ids[v_job.ord] THEN
            v_job_ids[v_job.ord] := NULL;
            CONTINUE;
        END IF;
        v_pos := p_rows[v_job.ord];
        INSERT INTO herald.jobs
            (id, task, queue, payload, priority, run_at, max_attempts,
             event_id, event_type)
        VALUES (v_job_ids[v_job.ord], p_tasks[v_job.ord],
            p_queues[v_job.ord], p_payloads[v_pos],
            coalesce(p_priorities[v_pos], 0),
            coalesce(p_run_at[v_pos], now()),
            coalesce(p_max_attempts[v_job.ord], 10), p_event_ids[v_pos],
            p_event_types[v_pos]);
    END LOOP;

    -- The jobs without a key, in the order of the jobs.
    INSERT INTO herald.jobs
        (id, task, queue, payload, priority, run_at, max_attempts,
         event_id, event_type)
    SELECT v_job_ids[j.ord], j.task, j.queue, p_payloads[j.pos],
        coalesce(p_priorities[j.pos], 0), coalesce(p_run_at[j.pos], now()),
        coalesce(j.max_attempts, 10), p_event_ids[j.pos],
        p_event_types[j.pos]
    FROM unnest(p_rows, p_tasks, p_queues, p_max_attempts)
        WITH ORDINALITY AS j(pos, task, queue, max_attempts, ord)
    WHERE v_job_ids[j.ord] IS NOT NULL AND p_unique_keys[j.ord] IS NULL
    ORDER BY j.ord;

    -- Count and wake as herald.relay_arrays() does, for the jobs made.
    WITH made AS (
        SELECT j.queue, p_run_at[j.pos] AS run_at,
            p_event_types[j.pos] AS event_type
        FROM unnest(p_rows, p_queues) WITH ORDINALITY AS j(pos, queue, ord)
        WHERE v_job_ids[j.ord] IS NOT NULL
    ), types AS (
        SELECT event_type, count(*) AS jobs FROM made
        WHERE event_type IS NOT NULL
        GROUP BY event_type
    )
    SELECT (SELECT count(*) FROM made),
        (SELECT array_agg(DISTINCT queue) FROM made
         WHERE run_at IS NULL OR run_at <= now()),
        (SELECT array_agg(event_type ORDER BY event_type) FROM types),
        (SELECT array_agg(jobs ORDER BY event_type) FROM types)
    INTO v_count, v_queues, v_types, v_counts;

    IF v_types IS NOT NULL THEN
        PERFORM herald.count_event_jobs(v_types, v_counts);
    END IF;
    FOREACH v_queue IN ARRAY coalesce(v_queues, '{}'::text[]) LOOP
        PERFORM herald.wake(v_queue);
    END LOOP;
    RETURN v_count;
END
$$;

-- Privileges (see 007): the relay of heraldd runs as herald_worker, which
-- the default privileges let execute the new functions and write the new
-- table.
REVOKE ALL ON FUNCTION herald.relay_lock_class() FROM PUBLIC;
REVOKE ALL ON FUNCTION herald.relay_record(text, bigint[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION herald.relay_check(text, bigint[], integer[], text[],
    text[], integer[], integer[]) FROM PUBLIC;
