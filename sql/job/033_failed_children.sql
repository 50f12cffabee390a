-- Two failed workers of one queue fit in herald.failed_children.
--
-- The supervisor reports one line per failed child, and a queue with
-- several workers can have several failed ones.  The primary key was
-- (supervisor_id, role, queue), so herald.set_failed_children() failed
-- with a unique violation (23505) for the second worker of a queue, and
-- the table kept the previous report.
--
-- A column slot now numbers the failed children of one supervisor, role
-- and queue from 1, in the order of the report, and joins the key.  The
-- number distinguishes the rows but names no particular worker process,
-- and a later report may number the same worker differently.  The
-- function keeps its arguments, so the janitor calls it as before.

ALTER TABLE herald.failed_children
    ADD COLUMN slot integer NOT NULL DEFAULT 1,
    ADD CONSTRAINT failed_children_slot_check CHECK (slot >= 1),
    DROP CONSTRAINT failed_children_pkey,
    ADD PRIMARY KEY (supervisor_id, role, queue, slot);

-- Replace the failed children of a supervisor with the given ones.  The
-- arrays are parallel, one element per child.  The children of one role
-- and queue get the slots 1, 2, ... in the order of the arrays.
CREATE OR REPLACE FUNCTION herald.set_failed_children(p_supervisor text,
    p_roles text[], p_queues text[], p_failures integer[])
RETURNS void
LANGUAGE sql AS $$
    DELETE FROM herald.failed_children WHERE supervisor_id = p_supervisor;
    INSERT INTO herald.failed_children
        (supervisor_id, role, queue, slot, failures)
    SELECT p_supervisor, r, q,
        row_number() OVER (PARTITION BY r, q ORDER BY n), f
    FROM unnest(p_roles, p_queues, p_failures) WITH ORDINALITY
        AS u(r, q, f, n);
$$;

-- CREATE OR REPLACE keeps the grants of 007_roles.sql, and they are set
-- again here so that this file states them.
REVOKE ALL ON FUNCTION
    herald.set_failed_children(text, text[], text[], integer[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    herald.set_failed_children(text, text[], text[], integer[])
    TO herald_worker;
