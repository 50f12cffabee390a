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

write_conf <<EOF2
queues = { wq = { workers = 3; concurrency = 2; }; };
tasks = { record = { queue = "wq"; exec = [ "$TEST_DIR/record" ]; }; };
EOF2

# Print the backend pid of the connection that holds the queue's wait
# lock, or nothing.
holder() {
    sql "SELECT pid FROM pg_locks
         WHERE locktype = 'advisory' AND objsubid = 2 AND granted
           AND mode = 'ExclusiveLock'
           AND database = (SELECT oid FROM pg_database
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
# every job so far ran on one worker.
run_one_by_one() {
    _i=0
    while [ $_i -lt "$1" ]; do
        _id=$(enqueue record "$2")
        wait_for 10 "job $_id to run" ran "$_id"
        wait_for 10 "job $_id to complete" job_gone "$_id"
        _i=$((_i + 1))
    done
    _workers=$(cat "$TEST_DIR"/ran.* | sort -u | wc -l)
    [ "$_workers" -eq 1 ] ||
        fail "jobs one after another ran on $_workers workers, not 1"
}

start_heraldd
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
first=$(holder)
hold1=$(enqueue record "queue => 'wq', payload => '{\"hold\": true}'")
wait_for 10 "job $hold1 to start" ran "$hold1"
hold2=$(enqueue record "queue => 'wq', payload => '{\"hold\": true}'")
wait_for 10 "job $hold2 to start" ran "$hold2"
busy=$(cat "$TEST_DIR/ran.$hold1")
[ "$(cat "$TEST_DIR/ran.$hold2")" = "$busy" ] ||
    fail "the second held job did not run on the holder"
put_back=$(grep -c 'msg="waiting jobs put back"' "$HERALDD_LOG")
next=$(enqueue record "queue => 'wq'")
wait_for 2 "job $next to run" ran "$next"
[ "$(cat "$TEST_DIR/ran.$next")" != "$busy" ] ||
    fail "job $next ran on the busy worker"
[ "$(grep -c 'msg="waiting jobs put back"' "$HERALDD_LOG")" -eq \
    "$put_back" ] || fail "job $next waited for a slot of the busy worker"
wait_for 10 "another connection to hold the wait lock" holder_is_not "$first"
touch "$TEST_DIR/release"
wait_for 10 "job $hold1 to complete" job_gone "$hold1"
wait_for 10 "job $hold2 to complete" job_gone "$hold2"

stop_heraldd 15
[ "$HERALDD_STATUS" -eq 0 ] || fail "heraldd exited with $HERALDD_STATUS"
check_no_leftovers
exit 0
