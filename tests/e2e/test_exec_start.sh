#!/bin/sh
# An exec handler that cannot start fails its attempt.  The "job failed"
# line names the system call and its errno, and the job's history keeps
# the message with the program's path.

. "${HERALD_SRCDIR:-.}/tests/e2e/lib.sh"

# Even root cannot execute a file without any execute bit.
printf '#!/bin/sh\nexit 0\n' >"$TEST_DIR/plain.sh"
chmod 644 "$TEST_DIR/plain.sh"

write_conf <<EOF2
queues = { sq = { workers = 1; concurrency = 2; }; };
tasks = {
  missing = { queue = "sq"; exec = [ "$TEST_DIR/missing.sh" ]; };
  plain = { queue = "sq"; exec = [ "$TEST_DIR/plain.sh" ]; };
};
EOF2
start_heraldd

missing=$(enqueue missing "queue => 'sq', max_attempts => 1")
plain=$(enqueue plain "queue => 'sq', max_attempts => 1")
for id in "$missing" "$plain"; do
    wait_for 10 "job $id to die" \
        sql_is "SELECT count(*) FROM herald.dead_jobs WHERE id = $id" 1
done

note "the log names the failed call and its errno"
log_has "msg=\"job failed\".* job_id=$missing task=missing queue=sq attempt=1 status=failed exit_code=127 duration_ms=[0-9]* not_started=execve errno=ENOENT" ||
    fail "no start failure of job $missing in the log: $(grep "job_id=$missing" "$HERALDD_LOG")"
log_has "msg=\"job failed\".* job_id=$plain task=plain queue=sq attempt=1 status=failed exit_code=127 duration_ms=[0-9]* not_started=execve errno=EACCES" ||
    fail "no start failure of job $plain in the log: $(grep "job_id=$plain" "$HERALDD_LOG")"
[ "$(grep -c "msg=\"job failed\".* job_id=$missing " "$HERALDD_LOG")" -eq 1 ] ||
    fail "job $missing was logged twice"

note "the history keeps the message, the log does not"
sql_is "SELECT errors->0->>'output' FROM herald.dead_jobs WHERE id = $missing" \
    "herald: cannot execute \"$TEST_DIR/missing.sh\": No such file or directory" ||
    fail "the history of job $missing lacks the reason: $(sql "SELECT errors FROM herald.dead_jobs WHERE id = $missing")"
! log_has "cannot execute" || fail "the log carries the handler's message"

stop_heraldd 10
exit 0
