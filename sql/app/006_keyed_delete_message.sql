-- The error of a delete of a keyed outbox row (005) named only the
-- relay, so an operator deleting a row by hand read that the relay was
-- too old.  It now names who may delete such a row and how to do it by
-- hand.

CREATE OR REPLACE FUNCTION herald.outbox_keyed_delete() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF coalesce(current_setting('herald.relay_unique_keys', true), '')
       <> 'on' THEN
        RAISE EXCEPTION 'outbox row % has a unique key, so only a relay that relays keys may delete it',
            OLD.id
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'A relay gets this when its heraldd is older than the application schema: upgrade heraldd.  To delete the row by hand, run SET LOCAL herald.relay_unique_keys = on first in the same transaction.';
    END IF;
    RETURN OLD;
END
$$;
