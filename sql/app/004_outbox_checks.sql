-- Check outbox rows as herald.enqueue checks jobs.  libherald checks them
-- before it writes, but a producer may also insert rows with plain SQL.
-- A row that the job database rejects (max_attempts 0, say) would fail
-- the relay's whole batch on every try and hold up every row after it.
-- NOT VALID keeps the migration from failing on rows written before it;
-- new and changed rows are checked.
ALTER TABLE herald.outbox
    ADD CONSTRAINT outbox_task_name_check
        CHECK (task IS NULL OR (length(task) <= 63
               AND task ~ '^[A-Za-z0-9][A-Za-z0-9_.:-]*$')) NOT VALID,
    ADD CONSTRAINT outbox_queue_name_check
        CHECK (queue IS NULL OR (length(queue) <= 63
               AND queue ~ '^[A-Za-z0-9][A-Za-z0-9_.:-]*$')) NOT VALID,
    ADD CONSTRAINT outbox_event_type_check
        CHECK (event_type IS NULL OR (length(event_type) <= 63
               AND event_type ~ '^[A-Za-z0-9][A-Za-z0-9_.:-]*$')) NOT VALID,
    ADD CONSTRAINT outbox_payload_check
        CHECK (jsonb_typeof(payload) IN ('object', 'array')) NOT VALID,
    ADD CONSTRAINT outbox_max_attempts_check
        CHECK (max_attempts IS NULL OR max_attempts BETWEEN 1 AND 1000)
        NOT VALID;
