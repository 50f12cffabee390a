#!/bin/sh
# A fatal signal that another process sends to the thread running a
# module job is not that job's crash.  The worker dies as a killed one
# does: its started job counts a lost attempt, no "job crashed its
# worker" line names the job, and the restart counts as a failure.  The
# signal goes with tgkill(2) to the very thread that runs the handler,
# since one from kill(1) could land in any thread of the worker.  It is
# SIGABRT, which AddressSanitizer leaves alone, where it would catch a
# SIGSEGV and exit instead.

. "${HERALD_SRCDIR:-.}/tests/e2e/lib.sh"

MODULE="$HERALD_BUILDDIR/tests/e2e/.libs/test-module.so"
[ -f "$MODULE" ] || fail "test module $MODULE was not built"
THREAD_KILL="$HERALD_BUILDDIR/tests/e2e/thread-kill"

write_conf <<EOF2
queues = { mq = { workers = 1; concurrency = 2; poll_interval = "100ms"; }; };
tasks = {
    mod = {
        queue = "mq";
        module = { path = "$MODULE"; symbol = "test_handler"; };
        retry = { max_attempts = 3; base_delay = "30s"; factor = 1.0;
                  jitter = 0.0; };
    };
};
EOF2
sed -i 's/log_level = "debug"/log_level = "info"/' "$HERALD_CONF"
start_heraldd
wait_for 15 "the worker to register" workers_registered 1

tid_file="$TEST_DIR/tid"
id=$(sql "SELECT herald.enqueue('mod', queue => 'mq',
    payload => jsonb_build_object('sleep_ms', 60000,
        'tid_file', '$tid_file'))")
wait_for 15 "job $id to start" test -s "$tid_file"
tid=$(cat "$tid_file")
pid=$(awk '$1 == "Tgid:" { print $2 }' "/proc/$tid/status")
[ -n "$pid" ] && [ "$pid" != "$tid" ] ||
    fail "thread $tid is not a pool thread of a worker (process '$pid')"
"$THREAD_KILL" "$pid" "$tid" 6 || fail "could not signal thread $tid"

wait_for 20 "job $id to be taken back" log_has \
    "msg=\"job lost\" .*job_id=$id "
log_has "msg=\"child exited\" .*child_pid=$pid .*signal=6 " ||
    fail "the worker did not die of the signal: $(grep 'child' "$HERALDD_LOG")"
! log_has 'msg="job crashed its worker"' ||
    fail "a signal from another process was blamed on job $id"
! log_has 'msg="restart not counted as a failure"' ||
    fail "the restart after a signal from another process was not counted"
sql_is "SELECT attempt || ' ' || (errors->-1->>'outcome') || ' '
        || coalesce(errors->-1->>'signal', 'none')
    FROM herald.jobs WHERE id = $id" "1 lost none" ||
    fail "job $id: $(sql "SELECT attempt, errors FROM herald.jobs
        WHERE id = $id")"
wait_for 15 "the worker to run again" workers_registered 1

stop_heraldd 20
[ "$HERALDD_STATUS" -eq 0 ] || fail "heraldd exited with $HERALDD_STATUS"
check_no_leftovers
exit 0
