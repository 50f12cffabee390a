#!/bin/sh
# heraldd started before its job database exists waits for it: for the
# database and then for its schema, however long herald migrate takes
# to come, without counting the wait as failures of its children.  A
# child that finds a newer schema logs the hint to upgrade heraldd.

. "${HERALD_SRCDIR:-.}/tests/e2e/lib.sh"

LATE_DB="${TEST_DB}_late"
EXTRA_DATABASES=$LATE_DB
LATE_CONNINFO="$HERALD_TEST_CONNINFO dbname=$LATE_DB"
write_handler ok.sh <<EOF2
#!/bin/sh
exit 0
EOF2
{
    echo "job_db = \"$LATE_CONNINFO\";"
    echo "allow_root_handlers = true;"
    echo "log_level = \"debug\";"
    echo "restart_limit = { failures = 2; window = \"10m\"; };"
    echo "queues = { late = {}; };"
    echo "tasks = { ok = { queue = \"late\"; exec = [ \"$TEST_DIR/ok.sh\" ]; }; };"
} >"$HERALD_CONF"

"$HERALDD" -c "$HERALD_CONF" 2>>"$HERALDD_LOG" &
HERALDD_PID=$!
wait_for 10 "heraldd to say why it cannot connect" \
    log_has 'msg="could not connect before the start, starting anyway" .*database="job database"'

note "the database appears without a schema"
admin_sql "CREATE DATABASE \"$LATE_DB\"" >/dev/null ||
    fail "could not create $LATE_DB"
wait_for 20 "a child to find no schema" \
    log_has 'msg="job database schema is not current" .*schema_version=0 .*hint="run herald migrate"'
# Let the children find it again, more times than restart_limit allows
# failures, before the schema comes.
wait_for 20 "the children to find no schema four times" sh -c \
    "[ \$(grep -c 'schema is not current' '$HERALDD_LOG') -ge 4 ]"

note "herald migrate lets the children start"
"$HERALD" -d "$LATE_CONNINFO" migrate >/dev/null || fail "migrate failed"
id=$("$HERALD" -d "$LATE_CONNINFO" enqueue ok --queue late) ||
    fail "enqueue failed"
wait_for 30 "job $id to run" sh -c "[ \$(psql '$LATE_CONNINFO' -XAtq \
    -c 'SELECT count(*) FROM herald.jobs') = 0 ]"
log_has 'msg="child failed,' &&
    fail "a child waiting for the schema was given up"
log_has 'msg="child exited" .*exit_code=78' &&
    fail "a child exited on the missing schema"

# A schema newer than this build's needs another heraldd, not a migrate.
note "a child that finds a newer schema says to upgrade heraldd"
psql "$LATE_CONNINFO" -XAtq -v ON_ERROR_STOP=1 -c "INSERT INTO
    herald.migrations (version, name) VALUES (999, 'from a later release');
    SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
    WHERE datname = current_database() AND pid <> pg_backend_pid()
      AND application_name LIKE 'herald %'" >/dev/null ||
    fail "could not fake a newer schema"
wait_for 20 "a child to find the newer schema" log_has \
    'msg="job database schema is not current" .*schema_version=999 .*hint="upgrade heraldd to the version that migrated the database"'
psql "$LATE_CONNINFO" -XAtq -c "DELETE FROM herald.migrations
    WHERE version = 999" >/dev/null || fail "could not remove version 999"
stop_heraldd 20
[ "$HERALDD_STATUS" -eq 0 ] || fail "heraldd exited with $HERALDD_STATUS"
exit 0
