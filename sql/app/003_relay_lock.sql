-- The relay locks the outbox rows of a batch with SELECT ... FOR UPDATE
-- SKIP LOCKED, which PostgreSQL allows only to a role with the UPDATE
-- privilege on at least one column of the table.  herald_worker gets it
-- on created_at alone, a column nothing but the backlog report reads, so
-- the role still cannot change what an outbox row relays.
GRANT UPDATE (created_at) ON herald.outbox TO herald_worker;
