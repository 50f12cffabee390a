-- Lease job lists stored without compression.
--
-- A claim of 1000 jobs writes one herald.leases row whose job_ids array
-- takes 8 kB, so PostgreSQL moves it out of line into the table's TOAST
-- relation and, by default, compresses it with pglz first.  With perf
-- on the no-op drain (herald-bench process_noop, PostgreSQL 15.20),
-- pglz_compress was the busiest function of the server, 4.4 % of its
-- samples.  Stored EXTERNAL, the array is still moved out of line but
-- not compressed.  In six rounds alternating the builds on one server,
-- the drain went from a median of 164000 to 171000 jobs/s (147800 to
-- 167400 before, 162800 to 183100 after).  lz4 compression gave about the
-- same rate, but only on a server built with lz4.  Rows written before this
-- migration keep their compression until their lease ends.

ALTER TABLE herald.leases ALTER COLUMN job_ids SET STORAGE EXTERNAL;
