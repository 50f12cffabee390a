-- Lock order of the inbox moves, and the worker's grant for them.
--
-- A claim moves its queue's inbox while it holds the queue's claim lock,
-- so it waits for an inbox row that another transaction moved or locked.
-- The lock_jobs of 028 moved the jobs it named, and "herald job cancel"
-- keeps them locked while it prompts for confirmation, then calls cancel,
-- which takes the claim lock.  A claim of the queue in between waited
-- for the confirmation while it held the claim lock, and the cancel then
-- deadlocked with it.  A worker that completed one of the named jobs
-- before lock_jobs locked its row, and then claimed, deadlocked with
-- lock_jobs as well.  lock_jobs now moves nothing: it lists the named
-- jobs of the inbox as queued without locking them, as it lists a queued
-- job of herald.jobs, which a claim may take all the same.
--
-- A worker's cycle completes its jobs, which locks their rows, and then
-- claims, which takes the claim lock.  cancel took the claim locks first
-- and then the rows of the jobs it named, so cancelling a running job
-- while its worker completed it deadlocked.  cancel now locks the rows of
-- herald.jobs it names before it takes the claim locks, in the worker's
-- order.
--
-- retry_now moved the inbox jobs it named before it updated the rows of
-- herald.jobs, the reverse of a worker's cycle as well.  It now locks
-- those rows first.
--
-- A claim locks inbox rows with FOR UPDATE, which needs the UPDATE
-- privilege.  028 granted herald_worker SELECT, INSERT and DELETE only,
-- so claims failed where the role that ran 028 was not the role whose
-- default privileges 007 set.

-- The lock_jobs of 012 with the jobs of the inbox, which stay there
-- unlocked.  One statement reads both tables with one snapshot, so a job
-- that a claim or the janitor moves meanwhile is listed once.
CREATE OR REPLACE FUNCTION herald.lock_jobs(p_ids bigint[])
RETURNS TABLE (id bigint, state text)
LANGUAGE sql AS $$
    WITH locked AS (
        SELECT j.id FROM herald.jobs j WHERE j.id = ANY (p_ids)
        ORDER BY j.id FOR UPDATE
    )
    SELECT l.id, j.state FROM locked l
    JOIN herald.live_jobs j ON j.id = l.id
    UNION ALL
    SELECT i.id, 'queued' FROM herald.inbox i WHERE i.id = ANY (p_ids)
    ORDER BY 1;
$$;

-- The cancel of 028, which locks the named rows of herald.jobs before
-- the claim locks.
CREATE OR REPLACE FUNCTION herald.cancel(p_ids bigint[], p_os_user text,
    p_host text)
RETURNS SETOF bigint
LANGUAGE plpgsql AS $$
DECLARE
    v_ids bigint[];
    v_running bigint[];
    v_owners text[];
    v_owner text;
    v_queue text;
BEGIN
    PERFORM 1 FROM herald.jobs j WHERE j.id = ANY (p_ids)
    ORDER BY j.id FOR UPDATE;
    -- A claim holds its lock while it moves the queue's jobs out of the
    -- inbox, so the claim locks come before the move.
    FOR v_queue IN
        SELECT DISTINCT q.queue
        FROM (SELECT j.queue FROM herald.jobs j WHERE j.id = ANY (p_ids)
              UNION ALL
              SELECT i.queue FROM herald.inbox i WHERE i.id = ANY (p_ids)) q
        ORDER BY q.queue
    LOOP
        PERFORM herald.lock_claims(v_queue);
    END LOOP;
    PERFORM herald.move_inbox(NULL, p_ids);

    WITH gone AS (
        DELETE FROM herald.jobs j
        WHERE j.id = ANY (p_ids)
          AND NOT EXISTS (SELECT 1 FROM herald.held_jobs h
                          WHERE h.id = j.id)
        RETURNING j.id
    )
    SELECT coalesce(array_agg(id ORDER BY id), '{}') INTO v_ids FROM gone;
    WITH marked AS (
        UPDATE herald.jobs j
        SET cancel_requested_at = clock_timestamp()
        FROM herald.held_jobs h
        WHERE j.id = ANY (p_ids) AND h.id = j.id
        RETURNING j.id, h.owner
    )
    SELECT coalesce(array_agg(id ORDER BY id), '{}'),
        array_agg(DISTINCT owner)
    INTO v_running, v_owners
    FROM marked;

    PERFORM herald.record_action('job cancel', NULL, NULL, v_ids, NULL,
        cardinality(v_ids), p_os_user, p_host);
    IF cardinality(v_running) > 0 THEN
        PERFORM herald.record_action('job cancel running', NULL, NULL,
            v_running, NULL, cardinality(v_running), p_os_user, p_host);
    END IF;
    FOREACH v_owner IN ARRAY coalesce(v_owners, '{}'::text[]) LOOP
        PERFORM pg_notify('herald_cancel', v_owner);
    END LOOP;
    RETURN QUERY SELECT unnest(v_ids || v_running);
END
$$;

-- The retry_now of 028, which locks the named rows of herald.jobs before
-- it moves the named jobs of the inbox.
CREATE OR REPLACE FUNCTION herald.retry_now(p_ids bigint[], p_os_user text,
    p_host text)
RETURNS SETOF bigint
LANGUAGE plpgsql AS $$
DECLARE
    v_ids bigint[];
    v_queues text[];
    v_queue text;
BEGIN
    PERFORM 1 FROM herald.jobs j WHERE j.id = ANY (p_ids)
    ORDER BY j.id FOR UPDATE;
    PERFORM herald.move_inbox(NULL, p_ids);
    WITH moved AS (
        UPDATE herald.jobs
        SET run_at = now()
        WHERE id = ANY (p_ids) AND state = 'queued' AND run_at > now()
        RETURNING id, queue
    )
    SELECT coalesce(array_agg(id ORDER BY id), '{}'),
        array_agg(DISTINCT queue)
    INTO v_ids, v_queues
    FROM moved;
    PERFORM herald.record_action('job retry now', NULL, NULL, v_ids, NULL,
        cardinality(v_ids), p_os_user, p_host);
    FOREACH v_queue IN ARRAY coalesce(v_queues, '{}'::text[]) LOOP
        PERFORM pg_notify('herald', v_queue);
    END LOOP;
    RETURN QUERY SELECT unnest(v_ids);
END
$$;

-- Privileges (see 007).  CREATE OR REPLACE kept the grants of the
-- replaced functions, not their settings.
ALTER FUNCTION herald.lock_jobs(bigint[]) SECURITY DEFINER
    SET search_path = pg_catalog, herald, pg_temp;
ALTER FUNCTION herald.cancel(bigint[], text, text) SECURITY DEFINER
    SET search_path = pg_catalog, herald, pg_temp;
ALTER FUNCTION herald.retry_now(bigint[], text, text) SECURITY DEFINER
    SET search_path = pg_catalog, herald, pg_temp;

-- Only herald.enqueue(), which runs as its owner, writes the inbox: a
-- row that a move could not insert into herald.jobs would stop every
-- claim of its queue.
GRANT UPDATE ON herald.inbox TO herald_worker;
REVOKE INSERT ON herald.inbox FROM herald_worker;
