#!/bin/sh
# A server that is starting up rejects connections until its crash
# recovery ends, first as starting up, then as not yet accepting them.
# heraldd's processes try again at least every 250 ms meanwhile, so that
# jobs start soon after it accepts connections: they waited 0.8 s, then
# 1.6 s, as for a server that is down.  A server that shuts down is tried
# as rarely as one that is down.

. "${HERALD_SRCDIR:-.}/tests/e2e/lib.sh"

STARTING_PG="$HERALD_BUILDDIR/tests/e2e/starting-pg"
FAKE_PORT=5999

# worker_failures N: the worker failed to connect N times or more.
worker_failures() {
    [ "$(grep -c 'msg="could not connect to job database" role=worker' \
        "$HERALDD_LOG")" -ge "$1" ]
}

# run_against STATE: run heraldd on a socket that rejects connections as
# a server in STATE does, until the worker failed to connect 5 times.
run_against() {
    "$STARTING_PG" "$TEST_DIR" "$FAKE_PORT" "$1" &
    fake=$!
    wait_for 10 "the socket of the $1 server" \
        test -S "$TEST_DIR/.s.PGSQL.$FAKE_PORT"
    : >"$HERALDD_LOG"
    job_db=$JOB_DB
    JOB_DB="host=$TEST_DIR port=$FAKE_PORT user=herald dbname=herald"
    write_conf <<EOF2
queues = { q = { workers = 1; }; };
tasks = { t = { queue = "q"; exec = [ "/bin/true" ]; }; };
EOF2
    JOB_DB=$job_db
    "$HERALDD" -c "$HERALD_CONF" 2>>"$HERALDD_LOG" &
    HERALDD_PID=$!
    wait_for 30 "5 failed connections of the worker" worker_failures 5
    stop_heraldd 20
    kill "$fake"
    wait "$fake"
    rm -f "$TEST_DIR/.s.PGSQL.$FAKE_PORT"
}

# retries ROLES: the waits after the failed connections of ROLES (an
# extended regular expression), in ms, in the order they were logged.
retries() {
    grep 'msg="could not connect to job database"' "$HERALDD_LOG" |
        grep -E "role=($1) " | grep 'sqlstate=57P03' |
        sed -n 's/.* retry_ms=\([0-9]*\).*/\1/p'
}

# tried_often STATE: every wait after a failed connection was 250 ms or
# less, scattered by 20 %.
tried_often() {
    [ "$(retries worker | wc -l)" -ge 5 ] ||
        fail "$1: too few failures logged: $(retries worker | xargs)"
    for ms in $(retries 'worker|janitor'); do
        [ "$ms" -le 300 ] || fail "$1: a retry waited $ms ms:" \
            "$(retries 'worker|janitor' | xargs)"
    done
}

note "a server starting up is tried every 250 ms"
run_against starting
tried_often "starting up"

note "a server replaying its WAL is tried every 250 ms"
run_against recovering
tried_often "not yet accepting connections"

note "a server shutting down is tried as one that is down"
run_against shutting
# After the fourth failure the worker waits 1.6 s, scattered by 20 %.
[ "$(retries worker | sed -n 4p)" -ge 1280 ] ||
    fail "after the fourth failure the worker waited" \
        "$(retries worker | sed -n 4p) ms: $(retries worker | xargs)"
check_no_leftovers
exit 0
