#!/bin/sh
# A worker killed with SIGKILL has claimed more jobs than it runs: with
# concurrency 1 it claims ahead of the one job whose handler runs.  Its
# replacement counts a lost attempt only for the job that had started,
# which max_attempts = 1 buries with a "job dead" line, and puts the jobs
# that never started back in their queue, where they run normally.  The
# same holds for module jobs that wait in the pool for its one thread.

. "${HERALD_SRCDIR:-.}/tests/e2e/lib.sh"

MODULE="$HERALD_BUILDDIR/tests/e2e/.libs/test-module.so"
[ -f "$MODULE" ] || fail "test module $MODULE was not built"

# Jobs finish at once until $TEST_DIR/arm exists; then the first job to
# start hangs, and records its id.
write_handler run.sh <<EOF2
#!/bin/sh
cat >/dev/null
if [ -e "$TEST_DIR/arm" ] && mkdir "$TEST_DIR/hung" 2>/dev/null; then
    echo "\$HERALD_JOB_ID" >"$TEST_DIR/hung/id.tmp"
    mv "$TEST_DIR/hung/id.tmp" "$TEST_DIR/hung/id"
    exec sleep 300
fi
exit 0
EOF2

write_conf <<EOF2
restart_limit = { failures = 100; };
queues = {
    kq = { workers = 1; concurrency = 1; poll_interval = "100ms"; };
    mq = { workers = 1; concurrency = 1; poll_interval = "100ms"; };
};
tasks = {
    run = { queue = "kq"; exec = [ "$TEST_DIR/run.sh" ]; };
    mod = {
        queue = "mq";
        module = { path = "$MODULE"; symbol = "test_handler"; };
    };
};
EOF2
sed -i 's/log_level = "debug"/log_level = "info"/' "$HERALD_CONF"
# Jobs that wait a second for a slot are put back.  On a slow machine
# that could happen before the kill, so here they wait a minute.
HERALD_FAULT_WAITING_MAX_MS=60000
export HERALD_FAULT_WAITING_MAX_MS
start_heraldd

held_jobs() {
    sql "SELECT count(*) FROM herald.live_jobs WHERE state = 'running'
        AND queue = '${1:-kq}'"
}

holds_many() {
    [ "$(held_jobs)" -ge 4 ]
}

# completed QUEUE: the jobs of QUEUE completed, as the counters sum them
# in the transaction that deletes the jobs.
completed() {
    sql "SELECT coalesce(sum(completed), 0) FROM herald.counters
        WHERE queue = '$1'"
}

sql "SELECT count(herald.enqueue('run', queue => 'kq', max_attempts => 1))
    FROM generate_series(1, 1500)" >/dev/null
# The worker's claims grow with how fast its jobs finish.
wait_for 30 "the worker to hold 4 jobs" holds_many
touch "$TEST_DIR/arm"
wait_for 10 "a handler to hang" test -s "$TEST_DIR/hung/id"
hung=$(cat "$TEST_DIR/hung/id")
held=$(held_jobs)
note "job $hung hangs while its worker holds $held jobs"
[ "$held" -ge 2 ] || fail "the worker holds only $held jobs"

worker=$(sql "SELECT pid FROM herald.processes WHERE kind = 'worker'
    AND queue = 'kq'")
kill -KILL "$worker" || fail "could not kill worker $worker"
note "worker $worker killed"

wait_for 60 "every job to end" sql_is \
    "SELECT count(*) FROM herald.jobs WHERE queue = 'kq'" 0
sql_is "SELECT string_agg(id::text || ' ' || reason, ', ')
    FROM herald.dead_jobs" "$hung lost" ||
    fail "dead jobs other than $hung: $(sql "SELECT string_agg(
        id::text || ' ' || reason || ' attempt ' || attempt, ', ')
        FROM herald.dead_jobs")"
log_has "msg=\"job dead\" .* job_id=$hung task=run queue=kq attempt=1 reason=lost" ||
    fail "no \"job dead\" line names job $hung"
log_has "msg=\"jobs of dead worker taken back\" .* lost_worker_id=[0-9a-f]* jobs=$held lost=1 released=$((held - 1)) " ||
    fail "the taken-back jobs were not logged as 1 lost and $((held - 1)) released"
completed=$(completed kq)
[ "$completed" -eq 1499 ] ||
    fail "$completed jobs completed, expected 1499"

# Module jobs: job 600 of 1500 holds a lock on a file and sleeps, so the
# pool's one thread runs it while the jobs claimed after it wait.
note "module jobs"
# The lock file exists before the job that locks it can start, which
# otherwise fails at once when its turn comes first.
: >"$TEST_DIR/mlock"
sql "SELECT count(herald.enqueue('mod', queue => 'mq', max_attempts => 1,
        payload => CASE WHEN i = 600 THEN jsonb_build_object('sleep_ms',
            300000, 'lock', '$TEST_DIR/mlock') ELSE '{}' END))
    FROM generate_series(1, 1500) i" >/dev/null
long=$(sql "SELECT id FROM herald.live_jobs WHERE payload ? 'lock'")
# Read /proc/locks rather than try the lock: a probe that took it for a
# moment would make the job find it taken and end as already running.
lock_held() {
    grep -q ":$(stat -c %i "$TEST_DIR/mlock") " /proc/locks
}
wait_for 30 "module job $long to run" lock_held
held=$(held_jobs mq)
note "module job $long runs while its worker holds $held jobs"
[ "$held" -ge 2 ] || fail "the module worker holds only $held jobs"

worker=$(sql "SELECT pid FROM herald.processes WHERE kind = 'worker'
    AND queue = 'mq'")
kill -KILL "$worker" || fail "could not kill worker $worker"
note "module worker $worker killed"

wait_for 60 "every module job to end" sql_is \
    "SELECT count(*) FROM herald.jobs WHERE queue = 'mq'" 0
sql_is "SELECT string_agg(id::text || ' ' || reason, ', ')
    FROM herald.dead_jobs WHERE queue = 'mq'" "$long lost" ||
    fail "dead module jobs other than $long: $(sql "SELECT count(*)
        FROM herald.dead_jobs WHERE queue = 'mq'")"
log_has "msg=\"job dead\" .* job_id=$long task=mod queue=mq attempt=1 reason=lost" ||
    fail "no \"job dead\" line names module job $long"
completed=$(completed mq)
[ "$completed" -eq 1499 ] ||
    fail "$completed module jobs completed, expected 1499"

stop_heraldd 20
[ "$HERALDD_STATUS" -eq 0 ] || fail "heraldd exited with $HERALDD_STATUS"
check_no_leftovers
exit 0
