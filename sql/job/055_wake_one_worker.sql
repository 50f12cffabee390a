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
-- when it is notified with no free slot, or when it stops, so that
-- another worker takes the job.  That now notifies channel
-- herald_handover, which every worker of the queue answers at once.
CREATE OR REPLACE FUNCTION herald.wait_end(p_worker text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_queue text;
BEGIN
    DELETE FROM herald.waiters w WHERE w.worker_id = p_worker
    RETURNING w.queue INTO v_queue;
    PERFORM pg_advisory_unlock_all();
    IF EXISTS (SELECT 1 FROM herald.waiters w WHERE w.queue = v_queue) THEN
        PERFORM pg_notify('herald_handover', v_queue);
    END IF;
END
$$;
