#!/bin/sh
# A job enqueued while the workers of a queue wait wakes the one that
# holds the queue's wait lock, and only that one claims it at once.  So
# a trickle of jobs runs on one worker, whether they are due at once or
# a moment later.  Once that worker's slots are taken, even after a burst
# that made it claim ahead, the next job starts at once on another worker.

. "${HERALD_SRCDIR:-.}/tests/e2e/lib.sh"

# Each job records the worker that ran it, its parent.  The job whose
# payload is {"hold": true} runs until $TEST_DIR/release exists.
write_handler record <<EOF2
#!/bin/sh
echo \$PPID >"$TEST_DIR/ran.\$HERALD_JOB_ID"
if grep -q hold; then
    while [ ! -e "$TEST_DIR/release" ]; do
        sleep 0.05
    done
fi
EOF2

MODULE="$HERALD_BUILDDIR/tests/e2e/.libs/test-module.so"
write_conf <<EOF2
queues = {
  wq = { workers = 3; concurrency = 2; };
  mq = { workers = 1; concurrency = 1; poll_interval = "60s"; };
};
tasks = {
  record = { queue = "wq"; exec = [ "$TEST_DIR/record" ]; };
  slow = { queue = "mq";
           module = { path = "$MODULE"; symbol = "test_handler"; }; };
};
EOF2

# Print the pid of the worker that holds the wait lock of queue wq, or
# nothing.  The lock's second key is the hash of the queue's name.
holder() {
    sql "SELECT p.pid FROM pg_locks l
         JOIN herald.processes p ON p.backend_pid = l.pid
         WHERE l.locktype = 'advisory' AND l.objsubid = 2 AND l.granted
           AND l.mode = 'ExclusiveLock'
           AND l.objid::bigint = (hashtext('wq') + 4294967296) % 4294967296
           AND l.database = (SELECT oid FROM pg_database
                             WHERE datname = current_database())"
}

has_holder() {
    [ -n "$(holder)" ]
}

holder_is_not() {
    _h=$(holder)
    [ -n "$_h" ] && [ "$_h" != "$1" ]
}

ran() {
    [ -s "$TEST_DIR/ran.$1" ]
}

job_gone() {
    sql_is "SELECT count(*) FROM herald.live_jobs WHERE id = $1" 0
}

# run_one_by_one COUNT ARGUMENTS: enqueue COUNT jobs with the enqueue
# ARGUMENTS, each after the one before has completed, then fail unless
# one worker ran three quarters of them or more.  A worker refused the
# lock claims 50 ms after a notification, so it takes the job when the
# holder stalls that long on a loaded machine.  With every worker
# claiming at once, each of the three ran about a third of the jobs.
run_one_by_one() {
    _i=0
    : >"$TEST_DIR/trickle"
    while [ $_i -lt "$1" ]; do
        _id=$(enqueue record "$2")
        wait_for 10 "job $_id to run" ran "$_id"
        wait_for 10 "job $_id to complete" job_gone "$_id"
        cat "$TEST_DIR/ran.$_id" >>"$TEST_DIR/trickle"
        _i=$((_i + 1))
    done
    _most=$(sort "$TEST_DIR/trickle" | uniq -c | sort -rn |
        awk 'NR == 1 { print $1 }')
    [ $((_most * 4)) -ge $(($1 * 3)) ] ||
        fail "of $1 jobs one after another, one worker ran $_most:" \
            "$(sort "$TEST_DIR/trickle" | uniq -c | tr '\n' ' ')"
}

# The janitor announces a queue with a due job every second, which would
# start a job that no notification brought.  Another session takes its
# lock first, so that it waits on standby.
JANITOR_LOCK_KEY=114776697284708
open_session
echo "SELECT pg_advisory_lock($JANITOR_LOCK_KEY);" >&3
wait_for 10 "the janitor's lock to be held" sql_is \
    "SELECT count(*) FROM pg_locks
     WHERE locktype = 'advisory' AND granted AND objsubid = 1
       AND database = (SELECT oid FROM pg_database
                       WHERE datname = current_database())" 1

# heraldd must not hold the FIFO open: closing it ends the session.
start_heraldd 3>&-
wait_for 10 "the janitor to stand by" log_has 'msg="janitor standing by"'
wait_for 10 "a worker to hold the wait lock" has_holder

note "a trickle of jobs runs on the worker that holds the lock"
run_one_by_one 20 "queue => 'wq'"

note "jobs due a moment later run on that worker too"
run_one_by_one 10 "queue => 'wq', run_at => now() + interval '300 ms'"

note "with the holder's slots taken, the next job runs on another worker"
# A burst of short jobs first, after which a claim takes more jobs than
# the free slots: the holder must still leave the next job to an idle
# worker rather than keep it waiting for a slot of its own.
sql "SELECT count(herald.enqueue('record', queue => 'wq'))
     FROM generate_series(1, 400)" >/dev/null
wait_for 60 "the burst to complete" sql_is \
    "SELECT count(*) FROM herald.live_jobs" 0
wait_for 10 "a worker to hold the wait lock" has_holder
# One claim takes both held jobs, on the holder unless it stalled 50 ms.
holds=$(sql "SELECT string_agg(herald.enqueue('record', queue => 'wq',
    payload => '{\"hold\": true}')::text, ' ') FROM generate_series(1, 2)")
for id in $holds; do
    wait_for 10 "job $id to start" ran "$id"
done
set -- $holds
busy=$(cat "$TEST_DIR/ran.$1")
[ "$(cat "$TEST_DIR/ran.$2")" = "$busy" ] ||
    fail "the held jobs $holds ran on two workers"
put_back=$(grep -c 'msg="waiting jobs put back"' "$HERALDD_LOG")
next=$(enqueue record "queue => 'wq'")
wait_for 5 "job $next to run" ran "$next"
[ "$(cat "$TEST_DIR/ran.$next")" != "$busy" ] ||
    fail "job $next ran on the busy worker"
[ "$(grep -c 'msg="waiting jobs put back"' "$HERALDD_LOG")" -eq \
    "$put_back" ] || fail "job $next waited for a slot of the busy worker"
wait_for 10 "a worker other than the busy one to hold the wait lock" \
    holder_is_not "$busy"
touch "$TEST_DIR/release"
for id in $holds; do
    wait_for 10 "job $id to complete" job_gone "$id"
done

note "a module job notified while the only slot is busy starts after it"
started() {
    [ -e "$TEST_DIR/tid.$1" ]
}
# The long job comes last in a burst, so that the claim that takes it
# may take more jobs than the one slot.  That claim comes back short, so
# the worker requests no claim of its own when the long job ends.
first=$(sql "WITH burst AS (
        SELECT herald.enqueue('slow', queue => 'mq')
        FROM generate_series(1, 400))
    SELECT herald.enqueue('slow', queue => 'mq', payload =>
        '{\"sleep_ms\": 1500, \"tid_file\": \"$TEST_DIR/tid.a\"}')
    FROM (SELECT count(*) FROM burst) b")
wait_for 60 "job $first to start" started a
second=$(enqueue slow "queue => 'mq',
    payload => '{\"tid_file\": \"$TEST_DIR/tid.b\"}'")
wait_for 10 "job $first to complete" job_gone "$first"
# With a poll interval of a minute and no janitor, only the claim that
# the notification requested brings it.
wait_for 5 "job $second to start" started b

stop_heraldd 15
[ "$HERALDD_STATUS" -eq 0 ] || fail "heraldd exited with $HERALDD_STATUS"
close_session
check_no_leftovers
exit 0
