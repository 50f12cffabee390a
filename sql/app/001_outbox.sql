-- The outbox of an application database.  A unit of work writes its
-- events and explicitly enqueued jobs here in the application's own
-- transaction; the relay of heraldd moves them to the job database and
-- deletes them.  A commit wakes the relay with NOTIFY herald_outbox.

CREATE TABLE herald.outbox (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- event: expanded into one job per subscribed task by the relay;
    -- job: a job enqueued explicitly, relayed as it is.
    kind            text NOT NULL,
    -- For an event its id; for a job enqueued by an event handler, the
    -- id of that event, so the job carries it.
    event_id        uuid,
    event_type      text,
    task            text,
    queue           text,
    payload         jsonb NOT NULL,
    priority        smallint NOT NULL DEFAULT 0,
    run_at          timestamptz,
    max_attempts    integer,
    created_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT outbox_kind_check CHECK (kind IN ('event', 'job')),
    CONSTRAINT outbox_event_check
        CHECK (kind <> 'event' OR
               (event_id IS NOT NULL AND event_type IS NOT NULL)),
    -- A job without a queue goes to its task's configured queue.
    CONSTRAINT outbox_job_check CHECK (kind <> 'job' OR task IS NOT NULL)
);

-- The origin of this database's outbox rows in the job database: the
-- cluster's system identifier and the database's oid, so that two
-- application databases, in one cluster or in two, never share an origin.
CREATE FUNCTION herald.outbox_origin() RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT (SELECT system_identifier FROM pg_control_system())::text
        || '/' || (SELECT oid FROM pg_database
                   WHERE datname = current_database())::text;
$$;
