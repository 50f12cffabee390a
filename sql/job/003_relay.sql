-- The relay's side of the job database: which outbox rows were already
-- turned into jobs, and how far behind each application database is.

-- One row per relayed outbox row.  A relay that dies after committing
-- here but before deleting its outbox rows sends them again; their keys
-- are here, so the second copy adds no job.
CREATE TABLE herald.relayed (
    origin          text NOT NULL,
    outbox_id       bigint NOT NULL,
    relayed_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (origin, outbox_id)
);

-- The outbox backlog of each application database, as its relay last
-- saw it.
CREATE TABLE herald.relay_status (
    origin          text PRIMARY KEY,
    database        text NOT NULL,
    backlog         bigint NOT NULL,
    oldest_at       timestamptz,
    relayed_total   bigint NOT NULL DEFAULT 0,
    dropped_total   bigint NOT NULL DEFAULT 0,
    updated_at      timestamptz NOT NULL DEFAULT now()
);

-- Turn a batch of outbox rows into jobs, once.  p_ids are the batch's
-- outbox ids; p_jobs holds the jobs they expand to, each with the
-- outbox_id it came from.  Rows already relayed are skipped.  Returns the
-- number of jobs inserted.
CREATE FUNCTION herald.relay(p_origin text, p_ids bigint[], p_jobs jsonb)
RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    v_count bigint;
    v_queues text[];
    v_queue text;
BEGIN
    WITH fresh AS (
        INSERT INTO herald.relayed (origin, outbox_id)
        SELECT p_origin, unnest(p_ids)
        ON CONFLICT DO NOTHING
        RETURNING outbox_id
    ), inserted AS (
        INSERT INTO herald.jobs
            (task, queue, payload, priority, run_at, max_attempts,
             event_id, event_type)
        SELECT r.task, r.queue, r.payload, coalesce(r.priority, 0),
            coalesce(to_timestamp(r.run_at_us / 1e6), now()),
            coalesce(r.max_attempts, 10), r.event_id, r.event_type
        FROM jsonb_to_recordset(p_jobs) AS r(outbox_id bigint, task text,
            queue text, payload jsonb, priority smallint, run_at_us bigint,
            max_attempts integer, event_id text, event_type text)
        WHERE r.outbox_id IN (SELECT outbox_id FROM fresh)
        ORDER BY r.outbox_id
        RETURNING queue, run_at
    )
    SELECT count(*), array_agg(DISTINCT queue) FILTER (WHERE run_at <= now())
    INTO v_count, v_queues
    FROM inserted;

    FOREACH v_queue IN ARRAY coalesce(v_queues, '{}'::text[]) LOOP
        PERFORM pg_notify('herald', v_queue);
    END LOOP;
    RETURN v_count;
END
$$;
