#!/bin/sh
# The relay reports its backlog to herald.relay_status once a second, and
# each batch adds its jobs to the totals there as it inserts them.  So
# herald status counts every relayed job after a stop as well.  The
# backlog is relayed in well under a second, and heraldd is stopped right
# after, before the next report.  A relay that then finds an application
# database of a newer schema names both versions and exits.

. "${HERALD_SRCDIR:-.}/tests/e2e/lib.sh"

# Three full batches of 1000 rows.
EVENTS=3000

create_app_db

# No workers: the jobs stay queued for the checks.
write_conf <<EOF2
app_db = "$APP_DB";
queues = { held = { workers = 0; }; };
tasks = { probe = { queue = "held"; exec = [ "/bin/true" ]; }; };
events = { Pinged = [ "probe" ]; };
EOF2

note "publish $EVENTS events, relay them and stop at once"
app_sql "INSERT INTO herald.outbox (kind, event_id, event_type, payload)
    SELECT 'event', gen_random_uuid(), 'Pinged', jsonb_build_object('n', g)
    FROM generate_series(1, $EVENTS) g" >/dev/null ||
    fail "could not publish events"
start_heraldd
wait_for 10 "the outbox to empty" outbox_empty
stop_heraldd 20
[ "$HERALDD_STATUS" -eq 0 ] || fail "heraldd exited with $HERALDD_STATUS"

sql_is "SELECT count(*) FROM herald.jobs" $EVENTS ||
    fail "$(sql "SELECT count(*) FROM herald.jobs") jobs for $EVENTS events"
sql_is "SELECT relayed_total FROM herald.relay_status" $EVENTS ||
    fail "relay_status counts $(sql "SELECT relayed_total FROM herald.relay_status") relayed jobs, expected $EVENTS"

note "herald status marks a relay report that is old"
sql "UPDATE herald.relay_status SET updated_at = now() - interval '1 minute'" \
    >/dev/null || fail "could not age the relay report"
"$HERALD" -d "$JOB_DB" status >"$TEST_DIR/status.out" 2>&1 ||
    fail "herald status failed: $(cat "$TEST_DIR/status.out")"
grep -q "^outbox .*: no report for [0-9].*, so its backlog and lag are old" \
    "$TEST_DIR/status.out" ||
    fail "herald status does not mark the old report: $(cat "$TEST_DIR/status.out")"

note "an application database migrated by a newer release stops the relay"
start_heraldd
wait_for 10 "the relay to register" sql_is \
    "SELECT count(*) FROM herald.processes WHERE kind = 'relay'" 1
app_sql "INSERT INTO herald.app_migrations (version, name)
    VALUES (999, 'from a later release');
    SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
    WHERE datname = current_database() AND application_name = 'herald relay'" \
    >/dev/null || fail "could not fake a newer application schema"
wait_for 20 "the relay to name both schema versions" log_has \
    'msg="application database schema is not current" role=relay .*schema_version=999 expected_version=[0-9][0-9]* hint="upgrade heraldd to the version that migrated the database"'
stop_heraldd 20
check_no_leftovers
exit 0
