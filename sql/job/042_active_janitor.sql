-- The active janitor among the registered ones.
--
-- Every heraldd runs a janitor, and the one that holds a session advisory
-- lock is active while the others stand by.  herald.processes did not say
-- which, so two hosts showed two alike janitors.  A process's row now
-- records the PostgreSQL backend pid of the connection that registered it
-- or last refreshed its heartbeat, which a janitor does on each new
-- connection.  herald.janitor_backend_pid() finds the backend that holds
-- the lock, so the two can be matched.

ALTER TABLE herald.processes ADD COLUMN backend_pid integer;

-- The backend pid of the active janitor's connection, or NULL when no
-- janitor is active.  The janitor takes
-- pg_try_advisory_lock(114776697284708), and pg_locks shows a bigint key
-- as its two halves:
-- classid 26723 (0x6863) and objid 2286233700 (0x88452864), with objsubid
-- 1.
CREATE FUNCTION herald.janitor_backend_pid() RETURNS integer
LANGUAGE sql STABLE AS $$
    SELECT l.pid FROM pg_locks l
    WHERE l.locktype = 'advisory' AND l.granted
      AND l.database = (SELECT d.oid FROM pg_database d
                        WHERE d.datname = current_database())
      AND l.classid = 26723 AND l.objid = 2286233700 AND l.objsubid = 1
    LIMIT 1;
$$;

REVOKE ALL ON FUNCTION herald.janitor_backend_pid() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION herald.janitor_backend_pid()
    TO herald_worker, herald_console, herald_viewer;
