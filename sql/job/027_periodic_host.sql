-- Periodic entries stored with the host that stored them.
--
-- The active janitor writes the periodic entries of its own herald.conf
-- into herald.periodic, so when the janitor of a host whose file differs
-- becomes active, the entries change silently.  With the host recorded,
-- that janitor logs which entries of another host it replaced or removed.

ALTER TABLE herald.periodic ADD COLUMN stored_by text;
