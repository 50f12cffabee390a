-- Unique keys for the jobs of a unit of work.  herald_uow_enqueue writes
-- the key, period and states of a job into these columns, and the relay
-- takes the key in the job database when it moves the row, as
-- herald.enqueue_unique() does.  Events have no key: an event becomes a
-- job for each subscribed task.
--
-- The table-wide grants of 002 cover the new columns: herald_producer
-- inserts them and herald_worker reads them with the rest of the row.

ALTER TABLE herald.outbox
    ADD COLUMN unique_key text,
    -- NULL or 0: no period.
    ADD COLUMN unique_for_ms bigint,
    -- The states as herald.take_unique_keys() reads them (NULL: queued
    -- and running).
    ADD COLUMN unique_states text;

-- The checks of herald.enqueue_unique(), so that a row written with
-- plain SQL cannot fail the relay's batch on every try.  NOT VALID as in
-- 004; the rows written before this migration have no key.
ALTER TABLE herald.outbox
    ADD CONSTRAINT outbox_unique_key_check
        CHECK (unique_key IS NULL OR (kind = 'job'
               AND length(unique_key) BETWEEN 1 AND 255)) NOT VALID,
    ADD CONSTRAINT outbox_unique_for_ms_check
        CHECK (unique_for_ms IS NULL OR (unique_key IS NOT NULL
               AND unique_for_ms >= 0)) NOT VALID,
    ADD CONSTRAINT outbox_unique_states_check
        CHECK (unique_states IS NULL OR (unique_key IS NOT NULL
               AND unique_states IN ('queued', 'running',
                   'queued,running'))) NOT VALID;

-- A relay of an earlier version refuses this schema when it connects,
-- but one that connected before the migration would relay a keyed row
-- as a plain job and lose its key.  Its delete of such a row fails here
-- instead, and the relay reconnects and stops on the schema check.  The
-- relay that reads keys sets herald.relay_unique_keys in its transaction.
-- The trigger's condition skips rows without a key before the function
-- is called.
CREATE FUNCTION herald.outbox_keyed_delete() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF coalesce(current_setting('herald.relay_unique_keys', true), '')
       <> 'on' THEN
        RAISE EXCEPTION 'outbox row % has a unique key, which this relay cannot relay',
            OLD.id
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Upgrade heraldd to the version that migrated the application database.';
    END IF;
    RETURN OLD;
END
$$;

CREATE TRIGGER outbox_keyed_delete
    BEFORE DELETE ON herald.outbox
    FOR EACH ROW WHEN (OLD.unique_key IS NOT NULL)
    EXECUTE FUNCTION herald.outbox_keyed_delete();

REVOKE ALL ON FUNCTION herald.outbox_keyed_delete() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION herald.outbox_keyed_delete() TO herald_worker;
