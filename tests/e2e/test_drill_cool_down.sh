#!/bin/sh
# Drill: the worker of one queue exits at start (the fault point
# worker_start) while a file exists, as a worker whose database is gone
# would.  heraldd marks it failed, starts it again after
# restart_limit.cool_down with its failures counted from zero, marks it
# failed again while the fault lasts, and once the file is gone the
# worker runs jobs.  The failed count reaches systemd's STATUS line and
# herald status, and goes back to 0.

. "${HERALD_SRCDIR:-.}/tests/e2e/lib.sh"
. "${HERALD_SRCDIR:-.}/tests/e2e/drill.sh"

LISTEN="$HERALD_BUILDDIR/tests/e2e/notify-listen"
SOCKET="$TEST_DIR/notify.sock"
MESSAGES="$TEST_DIR/notify.out"
FAULT_FILE="$TEST_DIR/fault"
[ -x "$LISTEN" ] || fail "$LISTEN is missing; run make check"

write_conf <<EOF2
restart_limit = { failures = 2; window = "1m"; cool_down = "2s"; };
queues = { dq = { workers = 1; }; bad = { workers = 1; }; };
tasks = { probe = { queue = "bad"; exec = [ "$PROBE", "$PROBE_LOG" ]; }; };
EOF2

count() {
    grep -c -- "$1" "$HERALDD_LOG" 2>/dev/null || true
}
count_at_least() {
    [ "$(count "$1")" -ge "$2" ]
}
last_status_is() {
    [ "$(grep '^STATUS=' "$MESSAGES" 2>/dev/null | tail -n 1)" = "$1" ]
}

"$LISTEN" "$SOCKET" "$MESSAGES" &
LISTEN_PID=$!
wait_for 5 "the notify socket" test -S "$SOCKET"

touch "$FAULT_FILE" "$HERALDD_LOG"
HERALD_FAULT=worker_start HERALD_FAULT_QUEUE=bad \
    HERALD_FAULT_FILE=$FAULT_FILE NOTIFY_SOCKET=$SOCKET \
    "$HERALDD" -c "$HERALD_CONF" 2>>"$HERALDD_LOG" &
HERALDD_PID=$!
wait_for 10 "heraldd to report ready" log_has 'msg="heraldd ready"'

FAILED='msg="child failed, restarts paused" role=heraldd pid=[0-9]* child_role=worker queue=bad failures=2 window_ms=60000 cool_down_ms=2000'
RESTARTED='msg="restarting failed child" role=heraldd pid=[0-9]* child_pid=[0-9]* child_role=worker queue=bad cool_down_ms=2000'

note "the failing worker is marked failed and reported"
wait_for 10 "the worker of bad to be marked failed" log_has "$FAILED"
failed_ms=$(now_ms)
wait_for 10 "STATUS with one failed child" \
    last_status_is "STATUS=2 children running, 1 failed"
wait_for 10 "the failed worker in herald.failed_children" sql_is \
    "SELECT role || ' ' || queue || ' ' || failures
     FROM herald.failed_children" "worker bad 2"

note "after the cool-down it is started again and fails again"
wait_for 10 "the failed worker to be restarted" log_has "$RESTARTED"
waited_ms=$(($(now_ms) - failed_ms))
[ "$waited_ms" -ge 1500 ] ||
    fail "the failed worker was restarted after $waited_ms ms, not 2000"
wait_for 10 "the worker of bad to be marked failed again" \
    count_at_least "$FAILED" 2
delays=$(sed -n 's/.*msg="child exited".* queue=bad exit_code=70 restart_delay_ms=\([0-9]*\).*/\1/p' \
    "$HERALDD_LOG" | tr '\n' ' ')
[ "$delays" = "100 100 " ] ||
    fail "restart delays of the failing worker: $delays (expected 100 100)"
exits=$(count 'msg="child exited".* queue=bad')
[ "$exits" -eq 4 ] || fail "the worker of bad exited $exits times, not 4"

note "once the fault is gone the next restart runs jobs"
rm -f "$FAULT_FILE"
wait_for 10 "the worker of bad to be restarted twice" \
    count_at_least "$RESTARTED" 2
wait_for 10 "the worker of bad to be ready" \
    log_has 'msg="worker ready" role=worker pid=[0-9]* queue=bad'
wait_for 10 "STATUS with no failed child" \
    last_status_is "STATUS=3 children running, 0 failed"
wait_for 10 "herald.failed_children to be empty" sql_is \
    "SELECT count(*) FROM herald.failed_children" 0
"$HERALD" -d "$JOB_DB" status >"$TEST_DIR/status.out" 2>&1 ||
    fail "herald status failed: $(cat "$TEST_DIR/status.out")"
if grep -q "^failed:" "$TEST_DIR/status.out"; then
    fail "herald status still lists a failed child: $(cat "$TEST_DIR/status.out")"
fi
enqueue_probes 5 "queue => 'bad'"
wait_for 20 "the probes to finish" all_jobs_finished
check_no_job_lost_or_twice
[ "$(count "$FAILED")" -eq 2 ] || fail "the worker was marked failed again"

stop_heraldd 15
[ "$HERALDD_STATUS" -eq 0 ] || fail "heraldd exited with $HERALDD_STATUS"
kill "$LISTEN_PID"
wait "$LISTEN_PID" 2>/dev/null
check_no_leftovers
exit 0
