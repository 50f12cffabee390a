#!/bin/sh
# Module handlers: done, retry with the handler's delay and message,
# permanent failure, and several jobs of one worker running at once.

. "$HERALD_SRCDIR/tests/e2e/lib.sh"

MODULE="$HERALD_BUILDDIR/tests/e2e/.libs/test-module.so"
[ -f "$MODULE" ] || fail "test module $MODULE was not built"

write_conf <<EOF
queues = {
  mod = { workers = 1; concurrency = 4; poll_interval = "200ms"; };
};
tasks = {
  modtask = {
    queue = "mod";
    module = { path = "$MODULE"; symbol = "test_handler"; };
    retry = { max_attempts = 3; base_delay = "1s"; };
  };
};
EOF
start_heraldd

done_id=$(enqueue modtask "queue => 'mod', payload => '{\"result\": \"done\"}'")
retry_id=$(enqueue modtask "queue => 'mod',
    payload => '{\"result\": \"retry\", \"delay_ms\": 600000,
                 \"message\": \"try later\"}'")
dead_id=$(enqueue modtask "queue => 'mod',
    payload => '{\"result\": \"permanent\", \"message\": \"bad input\"}'")

wait_for 10 "the done job to be deleted" \
    sql_is "SELECT count(*) FROM herald.jobs WHERE id = $done_id" 0
sql_is "SELECT count(*) FROM herald.dead_jobs WHERE id = $done_id" 0 ||
    fail "the done job went to the dead-letter queue"
note "ok: done"

wait_for 10 "the retried job to be queued again" sql_is \
    "SELECT state || ' ' || attempt FROM herald.jobs WHERE id = $retry_id" \
    "queued 1"
sql_is "SELECT errors->0->>'output' FROM herald.jobs WHERE id = $retry_id" \
    "try later" || fail "the retry message was not stored"
sql_is "SELECT run_at > now() + interval '500 seconds' FROM herald.jobs
    WHERE id = $retry_id" t || fail "the handler's retry delay was not used"
note "ok: retry with the handler's delay and message"

wait_for 10 "the permanent failure to be dead" \
    sql_is "SELECT reason FROM herald.dead_jobs WHERE id = $dead_id" permanent
sql_is "SELECT errors->-1->>'output' FROM herald.dead_jobs
    WHERE id = $dead_id" "bad input" ||
    fail "the permanent failure's message was not stored"
note "ok: permanent"

# Four slow jobs on one worker of concurrency 4 run at the same time.
for i in 1 2 3 4; do
    enqueue modtask "queue => 'mod', payload => '{\"sleep_ms\": 3000}'" \
        >/dev/null
done
wait_for 10 "four module jobs running at once" sql_is \
    "SELECT count(*) FROM herald.live_jobs WHERE state = 'running'
        AND payload ? 'sleep_ms'" 4
wait_for 20 "the slow jobs to finish" sql_is \
    "SELECT count(*) FROM herald.jobs WHERE payload ? 'sleep_ms'" 0
note "ok: concurrent jobs in one worker"

stop_heraldd 20
[ "$HERALDD_STATUS" -eq 0 ] || fail "heraldd exited with $HERALDD_STATUS"
check_no_leftovers
