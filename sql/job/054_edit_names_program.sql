-- The history entry of an edited payload names the program that made the
-- edit, as the entry of the retry that follows it does: "payload edited
-- by alice (alice@ops1, herald console) before a retry".

CREATE OR REPLACE FUNCTION herald.dead_retry_edited(p_id bigint,
    p_payload jsonb, p_os_user text, p_host text)
RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    v_dead herald.dead_jobs;
BEGIN
    IF p_payload IS NULL OR jsonb_typeof(p_payload) NOT IN ('object', 'array')
    THEN
        RAISE EXCEPTION 'payload must be a JSON object or array'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT * INTO v_dead FROM herald.dead_jobs WHERE id = p_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN 0;
    END IF;

    UPDATE herald.dead_jobs
    SET payload = p_payload,
        errors = errors || jsonb_build_array(herald.numbered_entry(
            v_dead.errors, v_dead.attempt, jsonb_build_object(
                'at', clock_timestamp(),
                'outcome', 'edited',
                'exit_code', NULL,
                'signal', NULL,
                'duration_ms', NULL,
                'output', format('payload edited by %s (%s) before a retry',
                    session_user, concat_ws(', ',
                        coalesce(p_os_user, '?') || '@'
                            || coalesce(p_host, '?'),
                        nullif(current_setting('application_name', true),
                            ''))),
                'payload', v_dead.payload)))
    WHERE id = p_id;
    PERFORM herald.dead_retry(ARRAY[p_id], NULL, NULL, p_os_user, p_host);
    RETURN herald.record_action('dead retry edited', v_dead.queue,
        v_dead.task, ARRAY[p_id], NULL, 1, p_os_user, p_host);
END
$$;

-- CREATE OR REPLACE keeps the privileges but drops these settings.
ALTER FUNCTION herald.dead_retry_edited(bigint, jsonb, text, text)
    SECURITY DEFINER SET search_path = pg_catalog, herald, pg_temp;
