#!/bin/sh
# A worker killed with SIGKILL holds more jobs than it runs: with
# concurrency 1 it claims ahead of the one job whose handler runs.  Its
# replacement counts a lost attempt only for the job that had started,
# which max_attempts = 1 buries with a "job dead" line, and puts the jobs
# that never started back in their queue, where they run normally.

. "${HERALD_SRCDIR:-.}/tests/e2e/lib.sh"

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
queues = { kq = { workers = 1; concurrency = 1; poll_interval = "100ms"; }; };
tasks = { run = { queue = "kq"; exec = [ "$TEST_DIR/run.sh" ]; }; };
EOF2
sed -i 's/log_level = "debug"/log_level = "info"/' "$HERALD_CONF"
start_heraldd

held_jobs() {
    sql "SELECT count(*) FROM herald.live_jobs WHERE state = 'running'"
}

holds_many() {
    [ "$(held_jobs)" -ge 20 ]
}

sql "SELECT count(herald.enqueue('run', queue => 'kq', max_attempts => 1))
    FROM generate_series(1, 1500)" >/dev/null
# The worker's claims grow with how fast its jobs finish.
wait_for 30 "the worker to hold 20 jobs" holds_many
touch "$TEST_DIR/arm"
wait_for 10 "a handler to hang" test -s "$TEST_DIR/hung/id"
hung=$(cat "$TEST_DIR/hung/id")
held=$(held_jobs)
note "job $hung hangs while its worker holds $held jobs"
[ "$held" -ge 2 ] || fail "the worker holds only $held jobs"

worker=$(sql "SELECT pid FROM herald.processes WHERE kind = 'worker'")
kill -KILL "$worker" || fail "could not kill worker $worker"
note "worker $worker killed"

wait_for 60 "every job to end" sql_is "SELECT count(*) FROM herald.jobs" 0
sql_is "SELECT string_agg(id::text || ' ' || reason, ', ')
    FROM herald.dead_jobs" "$hung lost" ||
    fail "dead jobs other than $hung: $(sql "SELECT string_agg(
        id::text || ' ' || reason || ' attempt ' || attempt, ', ')
        FROM herald.dead_jobs")"
log_has "msg=\"job dead\" .* job_id=$hung task=run queue=kq attempt=1 reason=lost" ||
    fail "no \"job dead\" line names job $hung"
log_has "msg=\"jobs of dead worker taken back\" .* lost_worker_id=[0-9a-f]* jobs=$held lost=1 released=$((held - 1)) " ||
    fail "the taken-back jobs were not logged as 1 lost and $((held - 1)) released"
completed=$(grep -c 'msg="job completed"' "$HERALDD_LOG")
[ "$completed" -eq 1499 ] ||
    fail "$completed jobs completed, expected 1499"

stop_heraldd 20
[ "$HERALDD_STATUS" -eq 0 ] || fail "heraldd exited with $HERALDD_STATUS"
check_no_leftovers
exit 0
