#!/bin/sh
# A module handler that hangs past its task's timeout keeps running on
# its thread until its worker exits.  Its job must not run again before
# then, even with no backoff and an idle second worker: the job stays on
# its lease until the worker is gone, and the retry starts after that.
# The handler holds a flock() on a file while it runs, so a second run
# that overlaps the first finds the lock taken and ends the job as
# permanent.  Checked when the worker exits after its other job, when it
# is killed with SIGKILL, and when heraldd stops and the janitor takes
# the lease back.

. "$HERALD_SRCDIR/tests/e2e/lib.sh"

MODULE="$HERALD_BUILDDIR/tests/e2e/.libs/test-module.so"
[ -f "$MODULE" ] || fail "test module $MODULE was not built"

write_conf <<EOF
lease = "3s";
queues = {
  hang = { workers = 2; concurrency = 2; poll_interval = "100ms"; };
};
tasks = {
  stuck = {
    queue = "hang";
    module = { path = "$MODULE"; symbol = "test_handler"; };
    timeout = "1s";
    retry = { base_delay = 0; jitter = 0; };
  };
  slow = {
    queue = "hang";
    module = { path = "$MODULE"; symbol = "test_handler"; };
  };
};
EOF
start_heraldd

# The stuck handler sleeps far past its timeout while it holds its lock.
stuck_payload() {
    echo "{\"sleep_ms\": 60000, \"lock\": \"$TEST_DIR/lock-$1\"}"
}

# line_of TEXT: the number of the first line of the log with TEXT.
line_of() {
    grep -n -m 1 -- "$1" "$HERALDD_LOG" | cut -d: -f1
}

# check_dead_after_timeouts ID: job ID died after two attempts that both
# timed out, and no run found another one still running.
check_dead_after_timeouts() {
    wait_for 20 "job $1 to be dead" sql_is \
        "SELECT count(*) FROM herald.dead_jobs WHERE id = $1" 1
    sql_is "SELECT reason FROM herald.dead_jobs WHERE id = $1" exhausted ||
        fail "job $1 died as $(sql "SELECT reason || ' ' || errors::text
            FROM herald.dead_jobs WHERE id = $1")"
    sql_is "SELECT string_agg(e->>'outcome', ' ' ORDER BY n)
        FROM herald.dead_jobs d,
            jsonb_array_elements(d.errors) WITH ORDINALITY AS x(e, n)
        WHERE d.id = $1" "timeout timeout" ||
        fail "the attempts of job $1 were not two timeouts"
    sql_is "SELECT count(*) FROM herald.dead_jobs d,
            jsonb_array_elements(d.errors) AS e
        WHERE d.id = $1 AND e->>'output' = 'already running'" 0 ||
        fail "a run of job $1 started while another still ran"
}

note "the worker exits after its other job, then the retry starts"
ids=$(sql "SELECT herald.enqueue('slow', 'hang',
        payload => '{\"sleep_ms\": 4000}'),
    herald.enqueue('stuck', 'hang', payload => '$(stuck_payload 1)',
        max_attempts => 2)")
slow_id=${ids%|*}
stuck_id=${ids#*|}
wait_for 10 "the timeout of job $stuck_id" log_has \
    "msg=\"job failed\" .* job_id=$stuck_id task=stuck queue=hang attempt=1 status=timeout"
owner_pid=$(sed -n "s/.*msg=\"job failed\" role=worker pid=\([0-9]*\) job_id=$stuck_id .*/\1/p" \
    "$HERALDD_LOG")
[ -n "$owner_pid" ] || fail "no worker logged the timeout of job $stuck_id"
log_has "msg=\"job started\" role=worker pid=$owner_pid job_id=$slow_id " ||
    fail "jobs $slow_id and $stuck_id went to different workers"
wait_for 10 "job $stuck_id to start again" log_has \
    "msg=\"job started\" .* job_id=$stuck_id task=stuck queue=hang attempt=2"
exited=$(line_of "msg=\"child exited\" .* child_pid=$owner_pid ")
retried=$(line_of "msg=\"job started\" .* job_id=$stuck_id task=stuck queue=hang attempt=2")
[ -n "$exited" ] && [ "$exited" -lt "$retried" ] ||
    fail "job $stuck_id started again before worker $owner_pid exited"
check_dead_after_timeouts "$stuck_id"
log_has "msg=\"job held until worker exits\" role=worker pid=$owner_pid job_id=$stuck_id .* delay_ms=0" ||
    fail "worker $owner_pid did not log that it holds job $stuck_id"
completed=$(line_of "msg=\"job completed\" .* job_id=$slow_id ")
[ -n "$completed" ] && [ "$completed" -lt "$exited" ] ||
    fail "job $slow_id did not complete before its worker exited"
log_has 'msg="timed-out jobs of replaced worker taken back" .* jobs=1' ||
    fail "the new worker did not log the job it took back"

note "a worker killed with SIGKILL while its handler hangs"
ids=$(sql "SELECT herald.enqueue('slow', 'hang',
        payload => '{\"sleep_ms\": 4000}'),
    herald.enqueue('stuck', 'hang', payload => '$(stuck_payload 2)',
        max_attempts => 2)")
slow_id=${ids%|*}
stuck_id=${ids#*|}
wait_for 10 "job $stuck_id to be held" log_has \
    "msg=\"job held until worker exits\" .* job_id=$stuck_id "
owner_pid=$(sql "SELECT p.pid FROM herald.live_jobs j
    JOIN herald.processes p ON p.id = j.lease_owner
    WHERE j.id = $stuck_id")
[ -n "$owner_pid" ] || fail "no worker holds job $stuck_id"
kill -KILL "$owner_pid"
wait_for 10 "job $stuck_id to start again" log_has \
    "msg=\"job started\" .* job_id=$stuck_id task=stuck queue=hang attempt=2"
check_dead_after_timeouts "$stuck_id"
wait_for 20 "job $slow_id to complete" sql_is \
    "SELECT count(*) FROM herald.jobs WHERE id = $slow_id" 0
sql_is "SELECT count(*) FROM herald.dead_jobs WHERE id = $slow_id" 0 ||
    fail "job $slow_id went to the dead-letter queue"

note "heraldd stops while a job is held, and the janitor takes it back"
ids=$(sql "SELECT herald.enqueue('slow', 'hang',
        payload => '{\"sleep_ms\": 2000}'),
    herald.enqueue('stuck', 'hang', payload => '$(stuck_payload 3)',
        max_attempts => 2)")
stuck_id=${ids#*|}
wait_for 10 "job $stuck_id to be held" log_has \
    "msg=\"job held until worker exits\" .* job_id=$stuck_id "
stop_heraldd 20
[ "$HERALDD_STATUS" -eq 0 ] || fail "heraldd exited with $HERALDD_STATUS"
sql_is "SELECT state || ' ' || attempt FROM herald.live_jobs
    WHERE id = $stuck_id" "running 1" ||
    fail "job $stuck_id left its lease when heraldd stopped"
start_heraldd
wait_for 10 "the janitor to take job $stuck_id back" log_has \
    "msg=\"job lease expired\" .* job_id=$stuck_id "
check_dead_after_timeouts "$stuck_id"

stop_heraldd 20
[ "$HERALDD_STATUS" -eq 0 ] || fail "heraldd exited with $HERALDD_STATUS"
sql_is "SELECT count(*) FROM herald.abandoned_attempts" 0 ||
    fail "abandoned attempts were left behind"
check_no_leftovers
