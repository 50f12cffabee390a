#!/bin/sh
# A module handler that still runs when a stop's grace period ends keeps
# running on its thread until its worker exits.  The worker puts its job
# back due only when it will have exited at the latest, so that no worker
# of another host starts the job while the first run goes on.

. "$HERALD_SRCDIR/tests/e2e/lib.sh"

MODULE="$HERALD_BUILDDIR/tests/e2e/.libs/test-module.so"
[ -f "$MODULE" ] || fail "test module $MODULE was not built"

write_conf 500ms <<EOF
queues = { grace = { workers = 1; concurrency = 1; }; };
tasks = {
  stuck = {
    queue = "grace";
    module = { path = "$MODULE"; symbol = "test_handler"; };
    timeout = "1m";
  };
};
EOF
start_heraldd

note "a stop ends its grace period while the handler sleeps"
id=$(sql "SELECT herald.enqueue('stuck', 'grace',
    '{\"sleep_ms\": 60000, \"lock\": \"$TEST_DIR/lock\"}')")
wait_for 10 "job $id to start" log_has "msg=\"job started\" .* job_id=$id "
stop_heraldd 30
[ "$HERALDD_STATUS" -eq 0 ] || fail "heraldd exited with $HERALDD_STATUS"
log_has 'msg="grace period over, stopping handlers"' ||
    fail "the grace period did not end with the handler running"

delay=$(grep "msg=\"job released\" .* job_id=$id " "$HERALDD_LOG" |
    sed -n 's/.* delay_ms=\([0-9]*\).*/\1/p')
[ -n "$delay" ] || fail "job $id was not released with a delay"
[ "$delay" -ge 1000 ] || fail "job $id was released due in $delay ms"
# The worker has exited, and the job is not due yet.
sql_is "SELECT state || ' ' || attempt || ' ' || (run_at > now())
    FROM herald.jobs WHERE id = $id" "queued 0 true" ||
    fail "job $id is due while its handler may still run"
check_no_leftovers
