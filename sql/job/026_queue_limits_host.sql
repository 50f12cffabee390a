-- Queue limits stored with the host that stored them.
--
-- Each worker stores its queue's limits from its own herald.conf when it
-- connects (herald.set_queue_limits() of 010), so two hosts whose files
-- give a queue different limits replace each other's at every worker
-- start, and claims follow whichever wrote last.
-- herald.store_queue_limits() stores the limits with the host name and
-- returns the limits it replaced and their host, so that a worker can
-- log that another host had other limits.  It takes the advisory lock
-- of the queue's claims (010) first, because its SELECT ... FOR UPDATE
-- locks nothing while the queue has no row: two hosts storing the
-- queue's first limits at once would both read no previous host.  A claim
-- of the queue waits at most for one such store.

ALTER TABLE herald.queue_limits ADD COLUMN stored_by text;

CREATE FUNCTION herald.store_queue_limits(p_queue text,
    p_max_running integer, p_rate double precision, p_host text,
    OUT changed boolean, OUT previous_max_running integer,
    OUT previous_rate double precision, OUT previous_host text)
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(herald.limit_lock_class(),
        hashtext(p_queue));
    SELECT l.max_running, l.rate, l.stored_by
    INTO previous_max_running, previous_rate, previous_host
    FROM herald.queue_limits l
    WHERE l.queue = p_queue
    FOR UPDATE;
    changed := herald.set_queue_limits(p_queue, p_max_running, p_rate);
    IF changed THEN
        UPDATE herald.queue_limits l SET stored_by = p_host
        WHERE l.queue = p_queue;
    END IF;
END
$$;

REVOKE ALL ON FUNCTION
    herald.store_queue_limits(text, integer, double precision, text)
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    herald.store_queue_limits(text, integer, double precision, text)
    TO herald_worker;
