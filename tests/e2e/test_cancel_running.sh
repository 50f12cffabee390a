#!/bin/sh
# herald job cancel on running jobs: an exec handler stops within a
# second, one that ignores SIGTERM gets SIGKILL, a module handler sees
# its cancel flag, a job cancelled while heraldd drains stops too, and
# every cancelled job is deleted, recorded in the audit trail and never
# retried.

. "${HERALD_SRCDIR:-.}/tests/e2e/lib.sh"

MODULE="$HERALD_BUILDDIR/tests/e2e/.libs/test-module.so"
[ -f "$MODULE" ] || fail "$MODULE is missing; run make check"

# With the argument "ignore" the handler notes SIGTERM and runs on.
write_handler long <<EOF2
#!/bin/sh
[ "\${1:-}" = ignore ] && trap 'echo TERM >>"$TEST_DIR/terms"' TERM
echo \$\$ >"$TEST_DIR/pid.\$HERALD_JOB_ID"
echo "\$HERALD_JOB_ID \$HERALD_ATTEMPT" >>"$TEST_DIR/starts"
while :; do
    sleep 1
done
EOF2

write_conf 20s <<EOF2
queues = { cq = { workers = 1; concurrency = 4; }; };
tasks = {
  long = { queue = "cq"; exec = [ "$TEST_DIR/long" ]; };
  stubborn = { queue = "cq"; exec = [ "$TEST_DIR/long", "ignore" ]; };
  mod = { queue = "cq"; module = { path = "$MODULE";
                                   symbol = "test_handler"; }; };
};
EOF2
start_heraldd

started() { [ -s "$TEST_DIR/pid.$1" ]; }
job_gone() { sql_is "SELECT count(*) FROM herald.jobs WHERE id = $1" 0; }

# cancel_and_time ID SECONDS: cancel job ID, wait up to SECONDS for its
# handler to die and the job to go, and print the milliseconds taken.
cancel_and_time() {
    _pid=$(cat "$TEST_DIR/pid.$1")
    _cancel_start=$(now_ms)
    "$HERALD" -d "$JOB_DB" job cancel "$1" >"$TEST_DIR/cancel.out" 2>&1 ||
        fail "herald job cancel $1 failed: $(cat "$TEST_DIR/cancel.out")"
    grep -q "stopping 1 running job" "$TEST_DIR/cancel.out" ||
        fail "unexpected output: $(cat "$TEST_DIR/cancel.out")"
    wait_for "$2" "the handler of job $1 to stop" not_alive "$_pid"
    wait_for "$2" "job $1 to be deleted" job_gone "$1"
    echo $(($(now_ms) - _cancel_start))
}

note "exec handler"
id=$(enqueue long "queue => 'cq'")
wait_for 10 "job $id to start" started "$id"
ms=$(cancel_and_time "$id" 1)
note "job $id stopped and deleted in $ms ms"
grep -q "msg=\"job cancelled\".* job_id=$id " "$HERALDD_LOG" ||
    fail "no cancel logged"
sql_is "SELECT count(*) FROM herald.audit
    WHERE action = 'job cancel running' AND ids = ARRAY[$id]::bigint[]" 1 ||
    fail "the cancel of job $id is not in the audit trail"
# The cancel of one running job is one row: no empty "job cancel".
sql_is "SELECT count(*) FROM herald.audit WHERE action = 'job cancel'" 0 ||
    fail "the cancel of running job $id wrote an empty job cancel row"

note "exec handler that ignores SIGTERM"
id2=$(enqueue stubborn "queue => 'cq'")
wait_for 10 "job $id2 to start" started "$id2"
ms=$(cancel_and_time "$id2" 6)
note "job $id2 killed and deleted in $ms ms"
[ "$ms" -ge 2500 ] || fail "SIGKILL came after $ms ms, before the wait"
[ -s "$TEST_DIR/terms" ] || fail "the handler got no SIGTERM first"

note "module handler"
id3=$(enqueue mod "queue => 'cq', payload => '{\"wait_cancel_ms\": 60000}'")
mod_running() {
    sql_is "SELECT state FROM herald.live_jobs WHERE id = $id3" running
}
wait_for 10 "job $id3 to run" mod_running
"$HERALD" -d "$JOB_DB" job cancel "$id3" >/dev/null ||
    fail "herald job cancel $id3 failed"
wait_for 5 "job $id3 to be deleted" job_gone "$id3"

note "cancel while heraldd drains"
id4=$(enqueue long "queue => 'cq'")
wait_for 10 "job $id4 to start" started "$id4"
kill -TERM "$HERALDD_PID"
wait_for 5 "the worker to stop claiming" log_has 'msg="worker stopping"'
ms=$(cancel_and_time "$id4" 2)
note "job $id4 stopped in $ms ms while draining"
wait_for 5 "heraldd to exit" not_alive "$HERALDD_PID"
wait "$HERALDD_PID"
[ $? -eq 0 ] || fail "heraldd exited with an error"
HERALDD_PID=

for j in $id $id2 $id3 $id4; do
    [ "$(grep -c "^$j " "$TEST_DIR/starts" 2>/dev/null)" -le 1 ] ||
        fail "cancelled job $j ran again"
done
sql_is "SELECT count(*) FROM herald.dead_jobs" 0 ||
    fail "a cancelled job went to the dead-letter queue"
check_no_leftovers
exit 0
