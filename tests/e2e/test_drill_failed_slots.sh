#!/bin/sh
# Drill: with restart_limit.failures = 1, two workers of one queue are
# killed and marked failed.  herald.failed_children and herald status
# list both, and the janitor stores them without an error.  Then a
# trigger makes every write of herald.failed_children fail: the janitor
# logs the error once and retries after a growing wait, not in a loop,
# and stores the report once the trigger is gone.

. "${HERALD_SRCDIR:-.}/tests/e2e/lib.sh"
. "${HERALD_SRCDIR:-.}/tests/e2e/drill.sh"

write_conf <<EOF2
restart_limit = { failures = 1; window = "1m"; cool_down = "5m"; };
queues = { mail = { workers = 3; }; };
tasks = { probe = { queue = "mail"; exec = [ "$PROBE", "$PROBE_LOG" ]; }; };
EOF2

FAILED='msg="child failed, restarts paused" role=heraldd pid=[0-9]* child_role=worker queue=mail failures=1'
STORE_ERROR='level=error msg="job database error" role=janitor .*operation=set_failed_children'

count() {
    grep -c -- "$1" "$HERALDD_LOG" 2>/dev/null || true
}
count_is() {
    [ "$(count "$1")" -eq "$2" ]
}
# Kill one running worker of mail; the row of a killed worker stays in
# herald.processes, so the pid comes from ps.
kill_worker() {
    _pid=$(ps -o pid=,args= --ppid "$HERALDD_PID" |
        awk '$2 == "heraldd-child" && $3 == "worker" && $4 == "mail" {
            print $1; exit }')
    [ -n "$_pid" ] || fail "no worker of mail is running"
    kill -KILL "$_pid" || fail "could not kill worker $_pid"
}

start_heraldd

note "two workers of mail are killed and marked failed"
kill_worker
wait_for 10 "the first worker to be marked failed" count_is "$FAILED" 1
kill_worker
wait_for 10 "the second worker to be marked failed" count_is "$FAILED" 2
wait_for 10 "both failed workers in herald.failed_children" sql_is \
    "SELECT string_agg(role || ' ' || queue || ' ' || slot || ' ' ||
         failures, ',' ORDER BY slot)
     FROM herald.failed_children" "worker mail 1 1,worker mail 2 1"
"$HERALD" -d "$JOB_DB" status >"$TEST_DIR/status.out" 2>&1 ||
    fail "herald status failed: $(cat "$TEST_DIR/status.out")"
listed=$(grep -c "^failed: worker #[12] of queue mail on .* (heraldd [0-9a-f]*, pid $HERALDD_PID), 1 failure;" \
    "$TEST_DIR/status.out")
[ "$listed" -eq 2 ] ||
    fail "herald status lists $listed failed workers, not 2: $(cat "$TEST_DIR/status.out")"
"$HERALD" -d "$JOB_DB" status --json >"$TEST_DIR/status.json" 2>&1 ||
    fail "herald status --json failed: $(cat "$TEST_DIR/status.json")"
grep -q '"slot": 2' "$TEST_DIR/status.json" ||
    fail "herald status --json has no slot 2: $(cat "$TEST_DIR/status.json")"
grep -q "\"pid\": $HERALDD_PID" "$TEST_DIR/status.json" ||
    fail "herald status --json has no pid of heraldd: $(cat "$TEST_DIR/status.json")"
errors=$(count "$STORE_ERROR")
[ "$errors" -eq 0 ] ||
    fail "the janitor logged $errors errors storing the failed children"

note "a write that keeps failing is logged once and retried after a wait"
sql "CREATE FUNCTION public.reject_failed_children() RETURNS trigger
     LANGUAGE plpgsql AS \$\$
     BEGIN
         RAISE EXCEPTION 'failed_children rejected by the test';
     END
     \$\$;
     CREATE TRIGGER reject BEFORE INSERT OR DELETE
     ON herald.failed_children
     FOR EACH STATEMENT EXECUTE FUNCTION public.reject_failed_children()" \
    >/dev/null || fail "could not create the trigger"
# The reload restarts the failed workers and sends an empty report.
kill -HUP "$HERALDD_PID"
wait_for 10 "the reload" log_has \
    'msg="configuration reloaded" .* failed_restarted=2'
wait_for 10 "the first failed write" count_is "$STORE_ERROR" 1
wait_for 10 "the second attempt" log_has \
    'level=debug msg="job database error" role=janitor .*operation=set_failed_children sqlstate=P0001 failures=2 retry_ms=2000'
errors=$(count "$STORE_ERROR")
[ "$errors" -eq 1 ] ||
    fail "the janitor logged the same error $errors times"
attempts=$(count 'msg="job database error" role=janitor .*operation=set_failed_children')
[ "$attempts" -le 3 ] ||
    fail "the janitor tried $attempts times within about 2 seconds"
log_has "$STORE_ERROR.* sqlstate=P0001 failures=1 retry_ms=1000" ||
    fail "the error does not give the attempt and the wait"

note "the report is stored once the write succeeds again"
sql "DROP TRIGGER reject ON herald.failed_children" >/dev/null ||
    fail "could not drop the trigger"
wait_for 10 "the report to be stored" log_has \
    'msg="failed children stored" role=janitor pid=[0-9]* failures=[2-9]'
sql_is "SELECT count(*) FROM herald.failed_children" 0 ||
    fail "herald.failed_children still lists failed children"
wait_for 10 "the two failed workers to be ready again" count_is \
    'msg="worker ready" role=worker pid=[0-9]* queue=mail' 5

stop_heraldd 15
[ "$HERALDD_STATUS" -eq 0 ] || fail "heraldd exited with $HERALDD_STATUS"
check_no_leftovers
exit 0
