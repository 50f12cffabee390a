# Common functions of the whole-system tests, sourced by each test_*.sh.
#
# A test gets $HERALD, $HERALDD and $HERALD_SRCDIR from `make check` and
# HERALD_TEST_CONNINFO, the conninfo of a maintenance database of a
# private PostgreSQL.  Sourcing this file makes a temporary directory
# ($TEST_DIR), a unique database ($TEST_DB, reachable as $JOB_DB) with the
# job schema, and a trap that stops heraldd, drops the database and
# removes the directory however the test ends.  Set HERALD_KEEP=1 to keep
# the directory of a failed test.

set -u

if [ -z "${HERALD_TEST_CONNINFO:-}" ]; then
    echo "SKIP: HERALD_TEST_CONNINFO is not set"
    exit 77
fi
: "${HERALD:?HERALD must name the herald binary}"
: "${HERALDD:?HERALDD must name the heraldd binary}"

TEST_NAME=$(basename "$0" .sh)
TEST_DIR=$(mktemp -d "${TMPDIR:-/tmp}/herald-$TEST_NAME.XXXXXX") || exit 1
TEST_DB="herald_e2e_${TEST_NAME#test_}_$$"
JOB_DB="$HERALD_TEST_CONNINFO dbname=$TEST_DB"
HERALD_CONF="$TEST_DIR/herald.conf"
HERALDD_LOG="$TEST_DIR/heraldd.log"
HERALDD_PID=
# More databases the test creates, dropped with $TEST_DB, and login roles,
# dropped after them.
EXTRA_DATABASES=
EXTRA_ROLES=
# A function that fail() calls first, to print details only the test has.
FAIL_HOOK=

# Print a message, what FAIL_HOOK prints if a test set it, and the end
# of heraldd's log, then fail the test.
fail() {
    echo "FAIL: $TEST_NAME: $*" >&2
    [ -z "$FAIL_HOOK" ] || "$FAIL_HOOK" >&2
    if [ -f "$HERALDD_LOG" ]; then
        echo "--- last lines of $HERALDD_LOG" >&2
        tail -n 40 "$HERALDD_LOG" >&2
    fi
    exit 1
}

# Print progress; `make check` keeps it in the test's .log file.
note() {
    echo "$TEST_NAME: $*"
}

# Run SQL on the test database and print the rows, fields split by "|".
sql() {
    psql "$JOB_DB" -XAtq -v ON_ERROR_STOP=1 -c "$1"
}

admin_sql() {
    psql "$HERALD_TEST_CONNINFO" -XAtq -v ON_ERROR_STOP=1 -c "$1"
}

# sql_is QUERY EXPECTED: succeed when QUERY prints exactly EXPECTED.
sql_is() {
    [ "$(sql "$1" 2>/dev/null)" = "$2" ]
}

# Return the time in milliseconds from an arbitrary start.
now_ms() {
    echo $(($(date +%s%N) / 1000000))
}

# wait_for SECONDS WHAT COMMAND [ARG...]: run COMMAND every 50 ms until it
# succeeds; fail the test with WHAT when SECONDS pass first.
wait_for() {
    _timeout_ms=$(($1 * 1000))
    _what=$2
    shift 2
    _start=$(now_ms)
    until "$@"; do
        if [ $(($(now_ms) - _start)) -ge "$_timeout_ms" ]; then
            fail "timed out after ${_timeout_ms} ms waiting for $_what"
        fi
        sleep 0.05
    done
}

# The processes whose command line names the test directory: heraldd,
# its children and the handler scripts.
test_pids() {
    ps -eo pid=,args= | awk -v dir="$TEST_DIR" -v self=$$ \
        'index($0, dir) && $1 != self && !/ awk / && !/ ps -eo/ { print $1 }'
}

# alive PID: succeed when PID names a live process that is not a zombie.
alive() {
    # One look: a zombie reaped between two looks would pass for alive.
    _stat=$(ps -o stat= -p "$1" 2>/dev/null | cut -c1)
    [ -n "$_stat" ] && [ "$_stat" != Z ]
}

not_alive() {
    ! alive "$1"
}

no_test_processes() {
    [ -z "$(test_pids)" ]
}

# Check that no process of the test is left.
check_no_leftovers() {
    wait_for 10 "the test's processes to exit" no_test_processes
}

cleanup() {
    _status=$?
    if [ -n "$HERALDD_PID" ] && alive "$HERALDD_PID"; then
        kill -TERM "$HERALDD_PID" 2>/dev/null
        _i=0
        while alive "$HERALDD_PID" && [ $_i -lt 200 ]; do
            sleep 0.05
            _i=$((_i + 1))
        done
        kill -KILL "$HERALDD_PID" 2>/dev/null
    fi
    for _pid in $(test_pids); do
        kill -KILL "$_pid" 2>/dev/null
    done
    for _db in "$TEST_DB" $EXTRA_DATABASES; do
        admin_sql "DROP DATABASE IF EXISTS \"$_db\" WITH (FORCE)" \
            >/dev/null 2>&1
    done
    for _role in $EXTRA_ROLES; do
        admin_sql "DROP ROLE IF EXISTS \"$_role\"" >/dev/null 2>&1
    done
    if [ "$_status" -ne 0 ] && [ -n "${HERALD_KEEP:-}" ]; then
        echo "$TEST_NAME: kept $TEST_DIR" >&2
    else
        rm -rf "$TEST_DIR"
    fi
    exit "$_status"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

admin_sql "CREATE DATABASE \"$TEST_DB\"" >/dev/null ||
    fail "could not create database $TEST_DB"
"$HERALD" -d "$JOB_DB" migrate >"$TEST_DIR/migrate.out" 2>&1 ||
    fail "herald migrate failed: $(cat "$TEST_DIR/migrate.out")"

# write_conf [GRACE]: write herald.conf with the job database, the grace
# period (default 10s) and the queues and tasks read from standard input.
# The suite runs as root in CI, and the handlers write to $TEST_DIR, so
# they run as the test's user; test_isolation.sh runs them as another.
write_conf() {
    {
        echo "job_db = \"$JOB_DB\";"
        echo "log_level = \"debug\";"
        echo "grace_period = \"${1:-10s}\";"
        echo "allow_root_handlers = true;"
        cat
    } >"$HERALD_CONF"
    "$HERALDD" -c "$HERALD_CONF" --check >/dev/null ||
        fail "heraldd --check rejected $HERALD_CONF"
}

# write_handler NAME: make an executable script $TEST_DIR/NAME from
# standard input.
write_handler() {
    cat >"$TEST_DIR/$1"
    chmod +x "$TEST_DIR/$1"
}

# log_has TEXT: succeed when heraldd's log contains TEXT.
log_has() {
    grep -q -- "$1" "$HERALDD_LOG"
}

workers_registered() {
    [ "$(sql "SELECT count(*) FROM herald.processes
        WHERE kind = 'worker'")" -ge "$1" ]
}

# start_heraldd: start heraldd in the background and wait until every
# worker of the configuration has registered.
ready_lines_above() {
    [ "$(grep -c 'msg="heraldd ready"' "$HERALDD_LOG")" -gt "$1" ]
}

start_heraldd() {
    touch "$HERALDD_LOG"
    _ready=$(grep -c 'msg="heraldd ready"' "$HERALDD_LOG")
    "$HERALDD" -c "$HERALD_CONF" 2>>"$HERALDD_LOG" &
    HERALDD_PID=$!
    wait_for 10 "heraldd to report ready" ready_lines_above "$_ready"
    _workers=$(sed -n 's/.*msg="heraldd ready".* workers=\([0-9]*\).*/\1/p' \
        "$HERALDD_LOG" | tail -n 1)
    wait_for 10 "$_workers workers to register" \
        workers_registered "$_workers"
}

# stop_heraldd SECONDS: send SIGTERM and wait up to SECONDS for heraldd to
# exit; store its exit status in HERALDD_STATUS.
stop_heraldd() {
    kill -TERM "$HERALDD_PID" || fail "heraldd is not running"
    wait_for "$1" "heraldd to exit" not_alive "$HERALDD_PID"
    wait "$HERALDD_PID"
    HERALDD_STATUS=$?
    HERALDD_PID=
}

# create_app_db: create and migrate the application database
# ${TEST_DB}_app, which the cleanup drops, and set APP_NAME and APP_DB.
create_app_db() {
    APP_NAME="${TEST_DB}_app"
    APP_DB="$HERALD_TEST_CONNINFO dbname=$APP_NAME"
    EXTRA_DATABASES="$EXTRA_DATABASES $APP_NAME"
    admin_sql "CREATE DATABASE \"$APP_NAME\"" >/dev/null ||
        fail "could not create database $APP_NAME"
    "$HERALD" -d "$APP_DB" migrate --app >"$TEST_DIR/migrate-app.out" 2>&1 ||
        fail "herald migrate --app failed: $(cat "$TEST_DIR/migrate-app.out")"
}

# app_sql QUERY: run QUERY on the application database, unaligned.
app_sql() {
    psql "$APP_DB" -XAtq -v ON_ERROR_STOP=1 -c "$1"
}

# outbox_empty: succeed when the application's outbox has no row.
outbox_empty() {
    [ "$(app_sql "SELECT count(*) FROM herald.outbox")" -eq 0 ]
}

# open_session: start psql on the job database, reading SQL from file
# descriptor 3, so that a test can hold a lock or a transaction while
# other commands run.  close_session ends it and fails the test when the
# session reported an error.
open_session() {
    mkfifo "$TEST_DIR/session.in" || fail "could not make a FIFO"
    psql "$JOB_DB" -XAtq -v ON_ERROR_STOP=1 <"$TEST_DIR/session.in" \
        >"$TEST_DIR/session.out" 2>&1 &
    SESSION_PID=$!
    exec 3>"$TEST_DIR/session.in"
}

close_session() {
    exec 3>&-
    wait "$SESSION_PID" ||
        fail "the held session failed: $(cat "$TEST_DIR/session.out")"
}

# enqueue TASK [SQL ARGUMENTS]: enqueue a job with herald.enqueue and
# print its id; the arguments follow the task, such as
# "queue => 'q', payload => '{}'".
enqueue() {
    if [ $# -gt 1 ]; then
        sql "SELECT herald.enqueue('$1', $2)"
    else
        sql "SELECT herald.enqueue('$1')"
    fi
}
