#!/bin/sh
# A worker claims more jobs than it has free slots, so that fast jobs
# start without a round trip each.  Behind a handler that runs long,
# those jobs waited for it while another worker of the queue stood idle.
# A job that waits a second for a slot is now put back, and the idle
# worker runs it while the slow one still runs.

. "${HERALD_SRCDIR:-.}/tests/e2e/lib.sh"

write_handler slow.sh <<EOF2
#!/bin/sh
touch "$TEST_DIR/slow.started"
sleep 8
EOF2
write_conf <<EOF2
queues = { q = { workers = 2; concurrency = 1; }; };
tasks = {
  slow = { queue = "q"; exec = [ "$TEST_DIR/slow.sh" ]; };
  fast = { queue = "q"; exec = [ "/bin/true" ]; };
};
EOF2
start_heraldd

# Fast jobs first, so that the workers learn to claim several at once.
sql "SELECT herald.enqueue('fast', queue => 'q')
    FROM generate_series(1, 400)" >/dev/null || fail "could not enqueue"
wait_for 30 "the first fast jobs to run" sql_is \
    "SELECT count(*) FROM herald.live_jobs" 0

# One statement, so that one claim may take the slow job and fast ones.
sql "SELECT herald.enqueue(CASE WHEN i = 1 THEN 'slow' ELSE 'fast' END,
        queue => 'q')
    FROM generate_series(1, 41) AS i" >/dev/null ||
    fail "could not enqueue the jobs"
wait_for 10 "the slow job to start" test -e "$TEST_DIR/slow.started"
started=$(now_ms)
wait_for 5 "the fast jobs to run beside the slow one" sql_is \
    "SELECT count(*) FROM herald.live_jobs WHERE task = 'fast'" 0
note "the fast jobs ended $(($(now_ms) - started)) ms after the slow one began"
sql_is "SELECT count(*) FROM herald.live_jobs WHERE task = 'slow'" 1 ||
    fail "the slow job ended before the fast ones"
sql_is "SELECT coalesce(sum(completed), 0) FROM herald.counters
    WHERE task = 'fast'" 440 || fail "the fast jobs did not complete once each"

stop_heraldd 20
[ "$HERALDD_STATUS" -eq 0 ] || fail "heraldd exited with $HERALDD_STATUS"

note "long jobs that end together do not read as a fast rate"
# Two jobs of a second each end within a few ms of each other.  Judged
# by the time between the two claims alone, that read as hundreds of
# jobs a second, and the worker claimed 16 jobs for its 2 slots.
# A lease lists its finished jobs until the last one ends, so the jobs
# held are counted among the jobs not yet finished.
write_handler long.sh <<EOF2
#!/bin/sh
sleep 1
EOF2
write_conf <<EOF2
queues = { r = { workers = 1; concurrency = 2; }; };
tasks = { long = { queue = "r"; exec = [ "$TEST_DIR/long.sh" ]; }; };
EOF2
put_back=$(grep -c "waiting jobs put back" "$HERALDD_LOG")
start_heraldd
sql "SELECT herald.enqueue('long', queue => 'r')
    FROM generate_series(1, 8)" >/dev/null || fail "could not enqueue"
most=0
deadline=$(($(now_ms) + 30000))
while [ "$(sql "SELECT count(*) FROM herald.live_jobs")" -gt 0 ]; do
    held=$(sql "SELECT count(*) FROM herald.live_jobs
        WHERE queue = 'r' AND state = 'running'")
    [ "$held" -le "$most" ] || most=$held
    [ "$(now_ms)" -lt "$deadline" ] ||
        fail "the long jobs did not finish within 30 s"
done
[ "$most" -le 2 ] || fail "the worker held $most jobs for its 2 slots"
[ "$(grep -c "waiting jobs put back" "$HERALDD_LOG")" -eq "$put_back" ] ||
    fail "jobs were claimed only to be put back"

stop_heraldd 20
[ "$HERALDD_STATUS" -eq 0 ] || fail "heraldd exited with $HERALDD_STATUS"
check_no_leftovers
exit 0
