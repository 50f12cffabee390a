#!/bin/sh
# Jobs written before the enqueue functions checked run_at may have
# run_at 'infinity' or '-infinity'.  herald status, jobs and metrics must
# still print, and a worker's wait for the next due job must not fail.

. "${HERALD_SRCDIR:-.}/tests/e2e/lib.sh"

h() {
    "$HERALD" -d "$JOB_DB" "$@"
}

note "the table owner writes jobs that the enqueue functions reject"
sql "INSERT INTO herald.jobs (task, queue, run_at) VALUES
         ('later', 'mail', 'infinity'), ('early', 'mail', '-infinity');
     INSERT INTO herald.inbox (task, queue, payload, priority, run_at,
         max_attempts)
     VALUES ('later', 'mail', '{}', 0, 'infinity', 10),
         ('early', 'mail', '{}', 0, '-infinity', 10)" ||
    fail "could not insert the jobs"

h status >"$TEST_DIR/status" 2>&1 ||
    fail "herald status failed: $(cat "$TEST_DIR/status")"
grep -q '^mail ' "$TEST_DIR/status" ||
    fail "herald status shows no queue mail: $(cat "$TEST_DIR/status")"

h jobs >"$TEST_DIR/jobs" 2>&1 ||
    fail "herald jobs failed: $(cat "$TEST_DIR/jobs")"
[ "$(grep -c ' mail ' "$TEST_DIR/jobs")" -eq 4 ] ||
    fail "herald jobs does not list the 4 jobs: $(cat "$TEST_DIR/jobs")"
h jobs --json >"$TEST_DIR/jobs.json" 2>&1 ||
    fail "herald jobs --json failed: $(cat "$TEST_DIR/jobs.json")"

h metrics >"$TEST_DIR/metrics" 2>&1 ||
    fail "herald metrics failed: $(cat "$TEST_DIR/metrics")"
grep -q '^herald_queue_oldest_job_age_seconds{queue="mail"}' \
    "$TEST_DIR/metrics" ||
    fail "herald metrics has no oldest age of mail: $(cat "$TEST_DIR/metrics")"

note "the queue's functions return finite values"
sql_is "SELECT oldest = timestamptz '1970-01-01 00:00:00+00'
        FROM herald.oldest_ready() WHERE queue = 'mail'" "t" ||
    fail "herald.oldest_ready() did not clamp -infinity to 1970"
sql "SELECT count(*) FROM herald.queue_health()" >/dev/null 2>&1 ||
    fail "herald.queue_health() failed"
sql "DELETE FROM herald.jobs WHERE run_at = '-infinity';
     DELETE FROM herald.inbox WHERE run_at = '-infinity'" ||
    fail "could not delete the due jobs"
sql_is "SELECT herald.next_due_ms('mail') > 0" "t" ||
    fail "herald.next_due_ms() failed on run_at infinity"
