-- The janitor's first round announces every queue with a job due now.
--
-- herald.announce_due(NULL) is the first round of a janitor that has just
-- connected.  It moved the inbox and announced those queues.  With no
-- previous round, it announced no job of herald.jobs.  So a job that
-- became due while the janitor was away waited for a worker's poll, unless
-- a worker claimed it first.  That round now announces each queue that
-- herald.oldest_ready() lists: a queue with a due job that no worker
-- holds.  oldest_ready() finds them with one index probe per queue and
-- priority, so a large backlog costs this round little.
CREATE OR REPLACE FUNCTION herald.announce_due(p_since timestamptz)
RETURNS timestamptz
LANGUAGE plpgsql AS $$
DECLARE
    v_now timestamptz := clock_timestamp();
    v_queue text;
BEGIN
    FOR v_queue IN SELECT m.q FROM herald.move_inbox(NULL, NULL) AS m(q)
    LOOP
        PERFORM pg_notify('herald', v_queue);
    END LOOP;
    IF p_since IS NULL THEN
        FOR v_queue IN SELECT r.queue FROM herald.oldest_ready() r LOOP
            PERFORM pg_notify('herald', v_queue);
        END LOOP;
    ELSE
        FOR v_queue IN
            SELECT DISTINCT j.queue FROM herald.jobs j
            WHERE j.state = 'queued'
              AND j.run_at > p_since - interval '1 second'
              AND j.run_at <= v_now
        LOOP
            PERFORM pg_notify('herald', v_queue);
        END LOOP;
    END IF;
    RETURN v_now;
END
$$;
