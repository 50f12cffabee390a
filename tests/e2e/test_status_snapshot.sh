#!/bin/sh
# herald status prints its tables from one snapshot.  Each table comes from
# its own query, so a job that failed between two of them was counted as
# retrying in one table and not in the other.  Here the relay table's
# query, which runs between the queue table's and the health table's,
# waits for a lock.  Meanwhile another session turns a queued job into a
# retry and commits.  The queue table and the health table must agree.

. "${HERALD_SRCDIR:-.}/tests/e2e/lib.sh"

# column QUEUE HEADER: print the value under HEADER in the row of QUEUE,
# in the first table of $TEST_DIR/status whose header names HEADER.
# Values are found by the header's position, since a value may hold a
# space ("1m 5s").
column() {
    awk -v queue="$1" -v header="$2" '
        !found && (at = index($0, header)) > 0 { found = 1; next }
        found && $1 == queue {
            print substr($0, at, length(header) + 2); exit
        }' "$TEST_DIR/status" | tr -d ' '
}

# herald.enqueue() would put the job in herald.inbox, which only a claim
# moves to herald.jobs, where the test turns it into a retry.
sql "INSERT INTO herald.jobs (task, queue) VALUES ('send_mail', 'mail')" ||
    fail "could not insert a job"

note "another session locks the table of the relay table"
open_session
echo "BEGIN; LOCK TABLE herald.relay_status IN ACCESS EXCLUSIVE MODE;" >&3
wait_for 10 "the lock on herald.relay_status to be held" sql_is \
    "SELECT count(*) FROM pg_locks
     WHERE relation = 'herald.relay_status'::regclass
       AND mode = 'AccessExclusiveLock' AND granted" 1

"$HERALD" -d "$JOB_DB" status >"$TEST_DIR/status" 2>&1 &
STATUS_PID=$!
wait_for 10 "herald status to wait for the lock" sql_is \
    "SELECT count(*) FROM pg_stat_activity
     WHERE datname = current_database() AND application_name = 'herald'
       AND wait_event_type = 'Lock'" 1

note "the job fails and is due again in 30 s while herald status waits"
echo "UPDATE herald.jobs SET attempt = 1,
          run_at = now() + interval '30 seconds'
      WHERE queue = 'mail';
      COMMIT;" >&3
close_session
wait "$STATUS_PID" || fail "herald status failed: $(cat "$TEST_DIR/status")"

retrying=$(column mail retry)
soon=$(column mail 'retry<1m')
[ -n "$retrying" ] && [ -n "$soon" ] ||
    fail "herald status lacks a column of queue mail: $(cat "$TEST_DIR/status")"
[ "$retrying" = "$soon" ] ||
    fail "retrying shows $retrying but retry<1m shows $soon: $(cat "$TEST_DIR/status")"
[ "$retrying" = 0 ] ||
    fail "herald status saw the retry committed after it began: $(cat "$TEST_DIR/status")"
