-- herald.store_queue_limits() of 026, one store of a queue at a time.
--
-- Its SELECT ... FOR UPDATE locks nothing while the queue has no row, so
-- two hosts that stored the queue's first limits at once both read no
-- previous host, and the second replaced the first one's limits without
-- the warning.  The advisory lock of the queue's claims (010) now orders
-- the stores too, so the second reads the row the first committed.  A
-- claim of the queue waits at most for one such store.

CREATE OR REPLACE FUNCTION herald.store_queue_limits(p_queue text,
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
