-- Least privilege in an application database: only herald_producer may
-- write the outbox, and only herald_worker (the relay of heraldd) may read
-- and delete its rows.  The roles belong to the cluster; one that exists
-- already, such as one the job database's migration created, is left as
-- it is.  Applications write the outbox through libherald's unit of work
-- with a login role that is a member of herald_producer.

DO $$
DECLARE
    v_role text;
BEGIN
    FOREACH v_role IN ARRAY ARRAY['herald_producer', 'herald_worker'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = v_role) THEN
            BEGIN
                EXECUTE format('CREATE ROLE %I NOLOGIN', v_role);
            EXCEPTION WHEN duplicate_object OR unique_violation THEN
                -- Another database's migration created it meanwhile.
                NULL;
            END;
        END IF;
    END LOOP;
END
$$;

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA herald FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA herald FROM PUBLIC;
GRANT USAGE ON SCHEMA herald TO herald_producer, herald_worker;
GRANT SELECT ON herald.app_migrations TO herald_producer, herald_worker;

-- The unit of work inserts its rows and notifies the relay; the identity
-- column needs no grant on its sequence.
GRANT INSERT ON herald.outbox TO herald_producer;

-- The relay reads a batch, deletes it and reports the backlog.
GRANT SELECT, DELETE ON herald.outbox TO herald_worker;
GRANT EXECUTE ON FUNCTION herald.outbox_origin() TO herald_worker;
