-- Totals for herald metrics.  The janitor prunes per-minute counters
-- after their retention, so their sum alone would go down and a scraper
-- would read that as a counter reset.  Pruning now adds each row it
-- deletes to these totals first, so counter_totals plus the remaining
-- counters only ever grow.

CREATE TABLE herald.counter_totals (
    queue           text NOT NULL,
    task            text NOT NULL,
    completed       bigint NOT NULL DEFAULT 0,
    failed          bigint NOT NULL DEFAULT 0,
    retried         bigint NOT NULL DEFAULT 0,
    dead            bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (queue, task)
);

-- Delete at most p_limit counters older than p_keep_ms and add them to
-- herald.counter_totals, in one statement.  Rows locked by someone else
-- are skipped, as in the function this replaces, and go in a later batch.
CREATE OR REPLACE FUNCTION herald.prune_counters(p_keep_ms bigint,
    p_limit integer)
RETURNS bigint
LANGUAGE sql AS $$
    WITH old AS (
        SELECT minute, queue, task FROM herald.counters
        WHERE minute < now() - p_keep_ms * interval '1 ms'
        LIMIT p_limit
        FOR UPDATE SKIP LOCKED
    ), gone AS (
        DELETE FROM herald.counters c
        USING old
        WHERE c.minute = old.minute AND c.queue = old.queue
          AND c.task = old.task
        RETURNING c.queue, c.task, c.completed, c.failed, c.retried, c.dead
    ), folded AS (
        INSERT INTO herald.counter_totals AS t
            (queue, task, completed, failed, retried, dead)
        SELECT queue, task, sum(completed), sum(failed), sum(retried),
               sum(dead)
        FROM gone
        GROUP BY queue, task
        ON CONFLICT (queue, task) DO UPDATE
            SET completed = t.completed + excluded.completed,
                failed = t.failed + excluded.failed,
                retried = t.retried + excluded.retried,
                dead = t.dead + excluded.dead
        RETURNING 1
    )
    SELECT count(*) FROM gone;
$$;

-- The janitor (herald_worker) adds to the totals; herald metrics reads
-- them as herald_viewer or herald_console.  The replaced function keeps
-- the grants it had.
GRANT SELECT, INSERT, UPDATE ON herald.counter_totals TO herald_worker;
GRANT SELECT ON herald.counter_totals TO herald_console, herald_viewer;
