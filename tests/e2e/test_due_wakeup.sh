#!/bin/sh
# An idle worker starts a job due a few hundred milliseconds ahead close
# to its run_at, with no janitor to announce it and a poll interval of a
# minute: the enqueue wakes the waiting worker, and its claim learns when
# the job is due.  The retry of a failed attempt, due after its backoff,
# starts on time the same way, from the claim after the failure.

. "${HERALD_SRCDIR:-.}/tests/e2e/lib.sh"

# The advisory lock key that elects the active janitor (janitor.c).
JANITOR_LOCK_KEY=114776697284708
# The latest start after run_at that counts as on time.  Without the
# wake-up at run_at, such a job waits for the worker's next poll here, a
# minute later, since no janitor announces it.
LATE_MS=250

# The first attempt of a job with the payload {"fail": true} fails.
write_handler hold <<EOF2
#!/bin/sh
if [ "\$HERALD_ATTEMPT" -eq 1 ] && grep -q fail; then
    exit 1
fi
touch "$TEST_DIR/started.\$HERALD_JOB_ID"
while [ ! -e "$TEST_DIR/release" ]; do
    sleep 0.05
done
EOF2

write_conf <<EOF2
queues = { dq = { workers = 1; concurrency = 2; poll_interval = "60s"; }; };
tasks = {
  hold = { queue = "dq"; exec = [ "$TEST_DIR/hold" ];
           retry = { max_attempts = 2; base_delay = "300ms"; jitter = 0; }; };
};
EOF2

note "another session holds the janitor's lock"
open_session
echo "SELECT pg_advisory_lock($JANITOR_LOCK_KEY);" >&3
wait_for 10 "the janitor's lock to be held" sql_is \
    "SELECT count(*) FROM pg_locks
     WHERE locktype = 'advisory' AND granted
       AND database = (SELECT oid FROM pg_database
                       WHERE datname = current_database())" 1

# heraldd must not hold the FIFO open: closing it ends the session.
start_heraldd 3>&-
wait_for 10 "the janitor to stand by" log_has 'msg="janitor standing by"'
wait_for 10 "the worker to wait for jobs" sql_is \
    "SELECT count(*) FROM pg_locks
     WHERE locktype = 'advisory' AND objsubid = 2 AND granted
       AND mode = 'ExclusiveLock'
       AND database = (SELECT oid FROM pg_database
                       WHERE datname = current_database())" 1
log_has 'msg="janitor active"' && fail "the janitor became active"

started() {
    [ -e "$TEST_DIR/started.$1" ]
}

# lateness ID: print the milliseconds from job ID's run_at to the claim
# of its running attempt.
lateness() {
    sql "SELECT round(extract(epoch FROM attempted_at - run_at) * 1000)
         FROM herald.live_jobs WHERE id = $1 AND state = 'running'"
}

# check_on_time ID WHAT: fail unless job ID started within LATE_MS of its
# run_at.
check_on_time() {
    _late=$(lateness "$1")
    [ -n "$_late" ] || fail "$2: job $1 is not running"
    note "$2: job $1 started $_late ms after its run_at"
    [ "$_late" -ge 0 ] || fail "$2: job $1 started before its run_at"
    [ "$_late" -le "$LATE_MS" ] ||
        fail "$2: job $1 started $_late ms after its run_at"
}

note "a job due in 300 ms"
id=$(enqueue hold "'dq', '{}', 0, clock_timestamp() + interval '300 ms'")
[ -n "$id" ] || fail "could not enqueue"
wait_for 10 "job $id to start" started "$id"
check_on_time "$id" "scheduled job"

note "a retry due 300 ms after its failed attempt"
retry=$(enqueue hold "'dq', '{\"fail\": true}'")
[ -n "$retry" ] || fail "could not enqueue"
wait_for 10 "the retry of job $retry to start" started "$retry"
sql_is "SELECT attempt FROM herald.live_jobs WHERE id = $retry" 2 ||
    fail "job $retry did not start its second attempt"
check_on_time "$retry" "retry"

touch "$TEST_DIR/release"
wait_for 10 "the jobs to complete" sql_is \
    "SELECT count(*) FROM herald.live_jobs" 0
stop_heraldd 15
[ "$HERALDD_STATUS" -eq 0 ] || fail "heraldd exited with $HERALDD_STATUS"
log_has 'msg="janitor active"' && fail "the janitor became active"

close_session
check_no_leftovers
exit 0
