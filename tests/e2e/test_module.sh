#!/bin/sh
# Module handlers: done, retry with the handler's delay and message, a
# delay cut to 366 days, a result the job database rejects, permanent
# failure, several jobs of one worker running at once, a
# handler that overruns its task's timeout, and a stop that puts back the
# jobs not started.

. "$HERALD_SRCDIR/tests/e2e/lib.sh"

MODULE="$HERALD_BUILDDIR/tests/e2e/.libs/test-module.so"
[ -f "$MODULE" ] || fail "test module $MODULE was not built"

# A shared object that loads but declares no interface version.
LIBC=$({ ldd "$HERALDD" 2>/dev/null; ldd /bin/sh; } |
    awk '$1 ~ /^libc\.so/ { print $3; exit }')
[ -f "$LIBC" ] || fail "could not find the C library of heraldd"
write_conf <<EOF
queues = {
  mod = { workers = 1; concurrency = 4; poll_interval = "200ms"; };
  one = { workers = 1; concurrency = 1; };
};
tasks = {
  modtask = {
    queue = "mod";
    module = { path = "$MODULE"; symbol = "test_handler"; };
    retry = { max_attempts = 3; base_delay = "1s"; };
  };
  modshort = {
    queue = "mod";
    module = { path = "$MODULE"; symbol = "test_handler"; };
    timeout = "1s";
  };
  modone = {
    queue = "one";
    module = { path = "$MODULE"; symbol = "test_handler"; };
  };
  modmissing = {
    queue = "mod";
    module = { path = "$TEST_DIR/missing.so"; symbol = "test_handler"; };
  };
  modnodecl = {
    queue = "mod";
    module = { path = "$LIBC"; symbol = "test_handler"; };
    retry = { max_attempts = 1; };
  };
  modtypo = {
    queue = "mod";
    module = { path = "$MODULE"; symbol = "test_handlr"; };
  };
};
EOF
"$HERALDD" --check -c "$HERALD_CONF" >/dev/null 2>"$TEST_DIR/check.err" ||
    fail "a missing module failed --check: $(cat "$TEST_DIR/check.err")"
grep -q "warning: .*tasks.modmissing.module.path: \"$TEST_DIR/missing.so\" is not a readable file" \
    "$TEST_DIR/check.err" ||
    fail "--check did not warn of the missing module: $(cat "$TEST_DIR/check.err")"
# --check loads each module, so a misspelt symbol shows before any job.
grep -q "warning: .*tasks.modtypo.module: module $MODULE has no symbol test_handlr" \
    "$TEST_DIR/check.err" ||
    fail "--check did not warn of the missing symbol: $(cat "$TEST_DIR/check.err")"
grep -q "warning: .*tasks.modnodecl.module: module $LIBC does not declare its interface version" \
    "$TEST_DIR/check.err" ||
    fail "--check did not warn of the undeclared module: $(cat "$TEST_DIR/check.err")"
! grep -q "tasks.modtask.module" "$TEST_DIR/check.err" ||
    fail "--check warned of a module that loads: $(cat "$TEST_DIR/check.err")"

# Each module loads in a process of its own, so an initializer that
# aborts, ends the process or blocks is named, and the module after it
# is checked all the same.
cp "$HERALD_CONF" "$TEST_DIR/full.conf"
write_conf <<EOF
queues = { mod = { workers = 1; }; };
tasks = {
  modtask = {
    queue = "mod";
    module = { path = "$MODULE"; symbol = "test_handler"; };
  };
  modnodecl = {
    queue = "mod";
    module = { path = "$LIBC"; symbol = "test_handler"; };
  };
};
EOF
check_init() {
    status=0
    HERALD_TEST_MODULE_INIT=$1 "$HERALDD" --check -c "$HERALD_CONF" \
        >/dev/null 2>"$TEST_DIR/check-$1.err" || status=$?
    [ "$status" -eq 0 ] ||
        fail "an initializer that ends in $1 made --check exit $status: $(cat "$TEST_DIR/check-$1.err")"
    grep -q "warning: .*tasks.modtask.module: module $MODULE $2" \
        "$TEST_DIR/check-$1.err" ||
        fail "--check did not name the $1 in the initializer: $(cat "$TEST_DIR/check-$1.err")"
    grep -q "warning: .*tasks.modnodecl.module: module $LIBC does not declare" \
        "$TEST_DIR/check-$1.err" ||
        fail "--check stopped after the $1 in an initializer: $(cat "$TEST_DIR/check-$1.err")"
}
check_init abort "crashed while loading: signal 6"
check_init exit "ended the process while loading, with exit status 0"
check_init block "did not finish loading within 10 s"
cp "$TEST_DIR/full.conf" "$HERALD_CONF"
start_heraldd
log_has "msg=\"handler module not readable\" .*task=modmissing queue=mod module=$TEST_DIR/missing.so" ||
    fail "heraldd did not warn of the missing module at start"

done_id=$(enqueue modtask "queue => 'mod',
    payload => '{\"result\": \"done\", \"say\": \"module-output-12345\"}'")
retry_id=$(enqueue modtask "queue => 'mod',
    payload => '{\"result\": \"retry\", \"delay_ms\": 600000,
                 \"message\": \"try later\"}'")
dead_id=$(enqueue modtask "queue => 'mod',
    payload => '{\"result\": \"permanent\", \"message\": \"bad input\"}'")

wait_for 10 "the done job to be deleted" \
    sql_is "SELECT count(*) FROM herald.jobs WHERE id = $done_id" 0
sql_is "SELECT count(*) FROM herald.dead_jobs WHERE id = $done_id" 0 ||
    fail "the done job went to the dead-letter queue"
# What a module writes reaches neither heraldd's log nor its output.
worker=$(sql "SELECT pid FROM herald.processes
    WHERE kind = 'worker' AND queue = 'mod'")
[ "$(readlink "/proc/$worker/fd/1")" = /dev/null ] ||
    fail "the worker's standard output is $(readlink "/proc/$worker/fd/1")"
if [ -z "${ASAN_OPTIONS:-}" ]; then
    ! log_has module-output-12345 || fail "the module's output was logged"
else
    note "AddressSanitizer keeps the worker's standard error"
fi
note "ok: done"

wait_for 10 "the retried job to be queued again" sql_is \
    "SELECT state || ' ' || attempt FROM herald.jobs WHERE id = $retry_id" \
    "queued 1"
sql_is "SELECT errors->0->>'output' FROM herald.jobs WHERE id = $retry_id" \
    "try later" || fail "the retry message was not stored"
sql_is "SELECT run_at > now() + interval '500 seconds' FROM herald.jobs
    WHERE id = $retry_id" t || fail "the handler's retry delay was not used"
note "ok: retry with the handler's delay and message"

# A delay past the year 9999 failed the statement that records the
# attempt, and the worker tried it again for as long as it ran.
huge_id=$(enqueue modtask "queue => 'mod',
    payload => '{\"result\": \"retry\", \"delay_ms\": 9223372036854775807}'")
wait_for 10 "the job with the huge delay to be queued again" sql_is \
    "SELECT state || ' ' || attempt FROM herald.jobs WHERE id = $huge_id" \
    "queued 1"
sql_is "SELECT run_at BETWEEN now() + interval '365 days'
        AND now() + interval '367 days'
    FROM herald.jobs WHERE id = $huge_id" t ||
    fail "the huge retry delay of job $huge_id was not cut to 366 days"
log_has "msg=\"retry delay cut\" .* job_id=$huge_id .* max_ms=31622400000" ||
    fail "the log does not report the cut delay of job $huge_id"
note "ok: a retry delay over 366 days is cut"

# One result that the job database rejects held back every result
# recorded after it in the same pass, so the worker's other jobs stayed
# running.
sql "CREATE FUNCTION reject_poison() RETURNS trigger LANGUAGE plpgsql AS \$\$
BEGIN
    RAISE EXCEPTION 'rejected by the test';
END
\$\$;
CREATE TRIGGER reject_poison BEFORE UPDATE ON herald.jobs FOR EACH ROW
    WHEN (NEW.payload ? 'poison' AND NEW.errors <> OLD.errors)
    EXECUTE FUNCTION reject_poison()" || fail "could not create the trigger"
poison_id=$(enqueue modtask "queue => 'mod',
    payload => '{\"result\": \"retry\", \"poison\": 1}'")
wait_for 10 "the poisoned job's result to be rejected" log_has \
    'msg="job database error" .* operation=fail .*sqlstate=P0001'
after_id=$(enqueue modtask "queue => 'mod', payload => '{\"result\": \"done\"}'")
wait_for 10 "the job after the rejected result to complete" \
    sql_is "SELECT count(*) FROM herald.jobs WHERE id = $after_id" 0
sql "DROP TRIGGER reject_poison ON herald.jobs" ||
    fail "could not drop the trigger"
wait_for 40 "the poisoned job's attempt to be recorded" sql_is \
    "SELECT state || ' ' || attempt FROM herald.jobs WHERE id = $poison_id" \
    "queued 1"
note "ok: a rejected result holds back no other"

wait_for 10 "the permanent failure to be dead" \
    sql_is "SELECT reason FROM herald.dead_jobs WHERE id = $dead_id" permanent
sql_is "SELECT errors->-1->>'output' FROM herald.dead_jobs
    WHERE id = $dead_id" "bad input" ||
    fail "the permanent failure's message was not stored"
note "ok: permanent"

# A module that cannot be loaded fails the attempt, which is retried:
# the module may be installed, or another host may run the job.
missing_id=$(enqueue modmissing "queue => 'mod', max_attempts => 2")
wait_for 10 "the job of the missing module to wait for its retry" sql_is \
    "SELECT state || ' ' || attempt FROM herald.jobs WHERE id = $missing_id" \
    "queued 1"
sql_is "SELECT errors->0->>'outcome' || ' '
        || (errors->0->>'output' LIKE 'could not load module %missing.so%')
    FROM herald.jobs WHERE id = $missing_id" "failed true" ||
    fail "the attempt of job $missing_id does not say the module is missing"
log_has "msg=\"could not load module\" .* job_id=$missing_id task=modmissing queue=mod error=\"could not load module .*missing.so" ||
    fail "the log does not report the missing module of job $missing_id"
log_has "msg=\"job failed\" .* job_id=$missing_id task=modmissing queue=mod attempt=1 status=failed" ||
    fail "the log has no job failed line for job $missing_id"
"$HERALD" -d "$JOB_DB" job retry-now "$missing_id" >/dev/null ||
    fail "herald job retry-now $missing_id failed"
wait_for 10 "the job of the missing module to die" sql_is \
    "SELECT reason || ' ' || attempt FROM herald.dead_jobs
        WHERE id = $missing_id" "exhausted 2"
note "ok: a module that cannot be loaded"

# An object without HERALD_MODULE_DECLARE() is named as such.
nodecl_id=$(enqueue modnodecl "queue => 'mod', max_attempts => 1")
wait_for 10 "the job of the undeclared module to die" sql_is \
    "SELECT count(*) FROM herald.dead_jobs WHERE id = $nodecl_id" 1
sql_is "SELECT errors->-1->>'output' LIKE
        'module % does not declare its interface version; add HERALD_MODULE_DECLARE();%'
    FROM herald.dead_jobs WHERE id = $nodecl_id" t ||
    fail "the attempt's output is: $(sql "SELECT errors->-1->>'output' FROM herald.dead_jobs WHERE id = $nodecl_id")"

# A result that is no herald_module_result fails the attempt, and the
# stored output names the cause.
bogus_id=$(enqueue modtask "queue => 'mod', max_attempts => 1,
    payload => '{\"result\": \"bogus\", \"message\": \"odd\"}'")
wait_for 10 "the job with an unknown result to die" sql_is \
    "SELECT count(*) FROM herald.dead_jobs WHERE id = $bogus_id" 1
sql_is "SELECT errors->-1->>'output' FROM herald.dead_jobs
    WHERE id = $bogus_id" \
    "module handler returned 42, which is no herald_module_result; counted as a failed attempt: odd" ||
    fail "the attempt's output is: $(sql "SELECT errors->-1->>'output' FROM herald.dead_jobs WHERE id = $bogus_id")"
note "ok: an undeclared module and an unknown result"

# Four slow jobs on one worker of concurrency 4 run at the same time.
for i in 1 2 3 4; do
    enqueue modtask "queue => 'mod', payload => '{\"sleep_ms\": 3000}'" \
        >/dev/null
done
wait_for 10 "four module jobs running at once" sql_is \
    "SELECT count(*) FROM herald.live_jobs WHERE state = 'running'
        AND payload ? 'sleep_ms'" 4
wait_for 20 "the slow jobs to finish" sql_is \
    "SELECT count(*) FROM herald.live_jobs WHERE payload ? 'sleep_ms'" 0
note "ok: concurrent jobs in one worker"

# A handler that runs past its timeout: the attempt ends as a timeout at
# once and its late result is discarded.  The worker lets its other job
# finish, then exits and the supervisor starts a new one.  The job stays
# on its lease until then, since its handler may still run, and the
# attempt is recorded after the worker exited.
ready_before=$(grep -c 'msg="worker ready" .* queue=mod' "$HERALDD_LOG")
long_id=$(enqueue modtask "queue => 'mod', payload => '{\"sleep_ms\": 4000}'")
wait_for 10 "the long job to start" log_has \
    "msg=\"job started\" .* job_id=$long_id "
slow_id=$(enqueue modshort "queue => 'mod', max_attempts => 1,
    payload => '{\"sleep_ms\": 2500, \"message\": \"late\"}'")
wait_for 10 "the overrunning job to be held" log_has \
    "msg=\"job held until worker exits\" .* job_id=$slow_id "
sql_is "SELECT count(*) FROM herald.jobs WHERE id = $long_id" 1 ||
    fail "the timeout waited for the other job of the worker"
sql_is "SELECT state FROM herald.live_jobs WHERE id = $slow_id" running ||
    fail "job $slow_id left its lease before its worker exited"
wait_for 10 "the overrunning job to be dead" sql_is \
    "SELECT reason FROM herald.dead_jobs WHERE id = $slow_id" exhausted
sql_is "SELECT errors->0->>'outcome' FROM herald.dead_jobs
    WHERE id = $slow_id" timeout ||
    fail "the attempt of job $slow_id is not recorded as timeout"
duration=$(sql "SELECT errors->0->>'duration_ms' FROM herald.dead_jobs
    WHERE id = $slow_id")
[ "$duration" -ge 1000 ] && [ "$duration" -lt 2000 ] ||
    fail "job $slow_id ran $duration ms with a timeout of 1000 ms"
log_has "msg=\"job failed\" .* job_id=$slow_id task=modshort queue=mod attempt=1 status=timeout" ||
    fail "the log does not report the timeout of job $slow_id"
log_has 'msg="worker recycling" .* queue=mod reason=module_timeout' ||
    fail "the worker did not say it recycles after the timeout"
wait_for 10 "the long job to complete" log_has \
    "msg=\"job completed\" .* job_id=$long_id "
wait_for 10 "the worker to exit" log_has \
    'msg="worker stopped" .* queue=mod reason=module_timeout'
# heraldd logs the exit after the worker's last line.
wait_for 10 "heraldd to see the worker exit with status 75" log_has \
    'msg="child exited" .* queue=mod exit_code=75'
wait_for 10 "a new worker of mod" sh -c "[ \$(grep -c \
    'msg=\"worker ready\" .* queue=mod' '$HERALDD_LOG') -gt $ready_before ]"
if log_has "msg=\"job completed\" .* job_id=$slow_id "; then
    fail "the late result of job $slow_id was recorded"
fi
sql_is "SELECT jsonb_array_length(errors) FROM herald.dead_jobs
    WHERE id = $slow_id" 1 || fail "job $slow_id has more than one attempt"
if grep -q "late" "$HERALDD_LOG"; then
    fail "the log carries the handler's message"
fi
after_id=$(enqueue modtask "queue => 'mod', payload => '{}'")
wait_for 10 "a job on the new worker" \
    sql_is "SELECT count(*) FROM herald.live_jobs WHERE id = $after_id" 0
if log_has 'msg="child failed,.* queue=mod'; then
    fail "the worker that gave up on a handler was counted as failed"
fi
note "ok: a module handler past its timeout"

# A stop puts back the claimed jobs that the worker has not started.
# With one thread and short jobs the worker claims about ten jobs ahead,
# so some still wait for the thread when the stop comes.
done_before=$(grep -c 'msg="job completed" .* task=modone' "$HERALDD_LOG")
sql "SELECT herald.enqueue('modone', queue => 'one',
    payload => '{\"sleep_ms\": 20, \"batch\": 1}')
    FROM generate_series(1, 200)" >/dev/null
wait_for 10 "some of the batch to complete" sql_is \
    "SELECT count(*) < 190 FROM herald.live_jobs WHERE payload ? 'batch'" t
stop_heraldd 20
[ "$HERALDD_STATUS" -eq 0 ] || fail "heraldd exited with $HERALDD_STATUS"
sql_is "SELECT count(*) FROM herald.live_jobs WHERE payload ? 'batch'
    AND state <> 'queued'" 0 || fail "a job of the batch was not put back"
sql_is "SELECT count(*) FROM herald.dead_jobs WHERE payload ? 'batch'" 0 ||
    fail "a job of the batch went to the dead-letter queue"
left=$(sql "SELECT count(*) FROM herald.live_jobs WHERE payload ? 'batch'")
done_count=$(grep -c 'msg="job completed" .* task=modone' "$HERALDD_LOG")
[ $((left + done_count - done_before)) -eq 200 ] ||
    fail "$left jobs left and $((done_count - done_before)) completed of 200"
log_has 'msg="job released" .* task=modone' ||
    fail "the stop put back no job that the worker held"
note "ok: a stop puts back the jobs not started"

# A reload checks the file without loading modules: a module whose
# initializer blocks must not stop heraldd from reloading.
export HERALD_TEST_MODULE_INIT=block
start_heraldd
unset HERALD_TEST_MODULE_INIT
kill -HUP "$HERALDD_PID"
wait_for 10 "the reload" log_has 'msg="configuration reloaded"'
stop_heraldd 20
[ "$HERALDD_STATUS" -eq 0 ] || fail "heraldd exited with $HERALDD_STATUS"
note "ok: a reload loads no module"
check_no_leftovers
