-- A cancel of running jobs alone writes one audit row.
--
-- herald.cancel recorded "job cancel" for the queued jobs it deleted even
-- when it deleted none, so cancelling one running job wrote an empty
-- "job cancel" row, with no ids and 0 rows, beside the "job cancel
-- running" row that named the job.  The empty row is now written only
-- when the cancel found no job at all, so that an attempt that changed
-- nothing stays in the audit trail.  The rest is the cancel of 029.

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

    IF cardinality(v_ids) > 0 OR cardinality(v_running) = 0 THEN
        PERFORM herald.record_action('job cancel', NULL, NULL, v_ids,
            NULL, cardinality(v_ids), p_os_user, p_host);
    END IF;
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
ALTER FUNCTION herald.cancel(bigint[], text, text) SECURITY DEFINER
    SET search_path = pg_catalog, herald, pg_temp;
