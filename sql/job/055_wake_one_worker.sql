-- A job notified to a queue wakes the worker that holds its wait lock.
--
-- Every worker of a queue listens on channel herald, so a notification
-- woke all of them and each sent a claim.  With two idle workers on the
-- 2-vCPU VM of bench/RESULTS.md, the second claim ran beside the first
-- and often took the queue's claim lock first.  herald-bench latency
-- gave a p50 of 1.18 to 1.31 ms with two workers and 0.90 with one,
-- against 0.65 to 0.73 for the plain-SQL floor.
--
-- A producer notifies only while a worker holds the queue's wait lock
-- (031), and that worker claims at once.  A worker that waits without
-- the lock now puts its claim off for a moment (worker.c), and claims at
-- once only when the holder gives the lock up.  A holder gives it up
-- when it is notified with no free slot, or when it stops or recycles,
-- so that another worker takes the job.  That now notifies channel
-- herald_handover, on which the other workers of the queue claim at
-- once.
-- The worker names its queue, because its row in herald.waiters may be
-- gone: the janitor removes the rows of a worker whose registration it
-- removed.

-- Record that p_worker no longer waits for jobs of p_queue and drop its
-- lock.  A worker's connection holds no other advisory lock at session
-- level, so all of them are released.  When another worker of the queue
-- has a row, channel herald_handover is notified, so that one of them
-- takes the lock over.
CREATE FUNCTION herald.wait_end(p_worker text, p_queue text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM herald.waiters w WHERE w.worker_id = p_worker;
    PERFORM pg_advisory_unlock_all();
    IF EXISTS (SELECT 1 FROM herald.waiters w WHERE w.queue = p_queue) THEN
        PERFORM pg_notify('herald_handover', p_queue);
    END IF;
END
$$;

-- The wait_end of 031, for workers that do not name their queue.
CREATE OR REPLACE FUNCTION herald.wait_end(p_worker text) RETURNS void
LANGUAGE sql AS $$
    SELECT herald.wait_end(p_worker,
        (SELECT w.queue FROM herald.waiters w WHERE w.worker_id = p_worker));
$$;

REVOKE ALL ON FUNCTION herald.wait_end(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION herald.wait_end(text, text) TO herald_worker;
