-- Forget the relay report of an application database that no relay
-- serves any more.
--
-- herald.relay_status keeps one row for each application database (each
-- origin) that a relay ever served, so that herald status and the
-- console warn when its reports stop.  An application database retired
-- for good kept its row, and with it a warning and a report age that
-- grew without end.  herald.forget_relay() deletes the row of an origin
-- whose last report is more than 10 seconds old, for herald relay
-- forget, and records it in herald.audit.  It returns the number of rows
-- deleted: 0 when the origin is unknown or its relay still reports.  The
-- ids that herald.relayed_batches keeps for the origin stay, so a relay
-- that serves it again later still relays each row once.

CREATE FUNCTION herald.forget_relay(p_origin text, p_os_user text,
    p_host text)
RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    v_database text;
BEGIN
    DELETE FROM herald.relay_status
    WHERE origin = p_origin AND updated_at < now() - interval '10 seconds'
    RETURNING database INTO v_database;
    IF v_database IS NULL THEN
        RETURN 0;
    END IF;
    PERFORM herald.record_action('relay forget', NULL, NULL, NULL,
        format('database %s, origin %s', v_database, p_origin), 1,
        p_os_user, p_host);
    RETURN 1;
END
$$;

-- An action, run as its owner and granted to the console role only, as
-- those of 007 and 009 are.
ALTER FUNCTION herald.forget_relay(text, text, text) SECURITY DEFINER
    SET search_path = pg_catalog, herald, pg_temp;
REVOKE ALL ON FUNCTION herald.forget_relay(text, text, text) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION herald.forget_relay(text, text, text)
    FROM herald_worker;
GRANT EXECUTE ON FUNCTION herald.forget_relay(text, text, text)
    TO herald_console;
