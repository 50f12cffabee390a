#!/bin/sh
# Jobs through their whole life under a running heraldd: completion,
# retries with growing delays, dead letters, retry from the dead table,
# the handler's input and environment, and a log free of payloads and
# handler output.  A queue and a task whose names only a name setting
# can contain (mail.v2, mail.send) work like any other.

. "${HERALD_SRCDIR:-.}/tests/e2e/lib.sh"

write_handler ok.sh <<EOF2
#!/bin/sh
cat >"$TEST_DIR/payload.\$HERALD_JOB_ID"
env | sort >"$TEST_DIR/env.\$HERALD_JOB_ID"
echo "stdout MARKER_OUTPUT_7f3a"
echo "stderr MARKER_OUTPUT_7f3a" >&2
exit 0
EOF2
write_handler tempfail.sh <<'EOF2'
#!/bin/sh
echo "try again later MARKER_OUTPUT_7f3a"
exit 75
EOF2
write_handler permfail.sh <<'EOF2'
#!/bin/sh
echo "bad payload MARKER_OUTPUT_7f3a" >&2
exit 65
EOF2
write_handler flaky.sh <<EOF2
#!/bin/sh
[ -f "$TEST_DIR/flaky.fixed" ] || exit 65
touch "$TEST_DIR/flaky.done"
EOF2

write_conf <<EOF2
queues = {
  lc = { workers = 1; concurrency = 2; poll_interval = "200ms"; };
  mail_v2 = { name = "mail.v2"; workers = 1; poll_interval = "200ms"; };
};
tasks = {
  send = { name = "mail.send"; queue = "mail.v2";
           exec = [ "$TEST_DIR/ok.sh" ]; };
  ok = { queue = "lc"; exec = [ "$TEST_DIR/ok.sh" ]; timeout = "10s"; };
  tempfail = {
    queue = "lc";
    exec = [ "$TEST_DIR/tempfail.sh" ];
    retry = { max_attempts = 4; base_delay = "300ms"; factor = 2.0;
              max_delay = "10s"; jitter = 0.0; };
  };
  permfail = { queue = "lc"; exec = [ "$TEST_DIR/permfail.sh" ]; };
  flaky = { queue = "lc"; exec = [ "$TEST_DIR/flaky.sh" ]; };
};
EOF2
start_heraldd

note "jobs that exit 0 complete, are deleted and counted"
ok1=$(enqueue ok "queue => 'lc', payload => '{\"secret\": \"MARKER_PAYLOAD_91c2\"}'")
# A job of an event, as the relay writes it.
ok2=$(sql "WITH j AS (INSERT INTO herald.jobs (task, queue, payload,
        max_attempts, event_id, event_type)
    VALUES ('ok', 'lc', '[1, 2]', 3, 'ev-17', 'UserRegistered')
    RETURNING id), w AS (SELECT herald.wake('lc'))
    SELECT j.id FROM j, w")
wait_for 10 "both ok jobs to complete" \
    sql_is "SELECT count(*) FROM herald.live_jobs WHERE task = 'ok'" 0
sql_is "SELECT count(*) FROM herald.dead_jobs WHERE task = 'ok'" 0 ||
    fail "an ok job is in the dead table"
sql_is "SELECT sum(completed) FROM herald.counters WHERE task = 'ok'" 2 ||
    fail "the counters do not show 2 completions of task ok"
# The worker logs a completion after its commit, so the line may follow.
wait_for 10 "a \"job completed\" line for job $ok1" \
    log_has "msg=\"job completed\".* job_id=$ok1 task=ok queue=lc"
wait_for 10 "the log lines of job $ok2 to name its event type" \
    log_has "job_id=$ok2 task=ok queue=lc event_type=UserRegistered"

note "the handler reads its payload on stdin and gets the HERALD_ variables"
grep -q MARKER_PAYLOAD_91c2 "$TEST_DIR/payload.$ok1" ||
    fail "the handler of job $ok1 did not read its payload"
[ "$(cat "$TEST_DIR/payload.$ok2")" = "[1, 2]" ] ||
    fail "the handler of job $ok2 read \"$(cat "$TEST_DIR/payload.$ok2")\""
env1=$TEST_DIR/env.$ok1
env2=$TEST_DIR/env.$ok2
for line in "HERALD_JOB_ID=$ok1" HERALD_TASK=ok HERALD_QUEUE=lc \
    HERALD_ATTEMPT=1 HERALD_MAX_ATTEMPTS=10; do
    grep -qx "$line" "$env1" || fail "job $ok1 lacks $line in its environment"
done
grep -q '^PATH=' "$env1" || fail "job $ok1 has no PATH"
grep -q '^HERALD_EVENT_' "$env1" &&
    fail "job $ok1 has HERALD_EVENT_ variables but came from no event"
grep -q '^PGHOST=\|^HERALD_TEST_CONNINFO=' "$env1" &&
    fail "heraldd's environment leaked into the handler"
for line in HERALD_MAX_ATTEMPTS=3 HERALD_EVENT_ID=ev-17 \
    HERALD_EVENT_TYPE=UserRegistered; do
    grep -qx "$line" "$env2" || fail "job $ok2 lacks $line in its environment"
done

note "a job of queue mail.v2 and task mail.send, named by name settings, runs"
dotted=$(enqueue mail.send "queue => 'mail.v2'")
wait_for 10 "job $dotted to complete" \
    sql_is "SELECT count(*) FROM herald.jobs WHERE id = $dotted" 0
sql_is "SELECT count(*) FROM herald.dead_jobs WHERE id = $dotted" 0 ||
    fail "job $dotted of task mail.send died"
for line in HERALD_TASK=mail.send HERALD_QUEUE=mail.v2; do
    grep -qx "$line" "$TEST_DIR/env.$dotted" ||
        fail "job $dotted lacks $line in its environment"
done
"$HERALD" -c "$HERALD_CONF" config >"$TEST_DIR/effective.conf" ||
    fail "herald config failed"
grep -q 'name = "mail.v2";' "$TEST_DIR/effective.conf" ||
    fail "herald config does not print the name of queue mail.v2"
"$HERALDD" -c "$TEST_DIR/effective.conf" --check >/dev/null ||
    fail "heraldd --check rejects the output of herald config"

note "a payload larger than a pipe buffer reaches the handler whole"
big=$(enqueue ok "queue => 'lc', payload => jsonb_build_object('big', repeat('x', 300000))")
wait_for 10 "the big job to complete" \
    sql_is "SELECT count(*) FROM herald.jobs WHERE id = $big" 0
[ "$(wc -c <"$TEST_DIR/payload.$big")" -eq 300011 ] ||
    fail "the handler read $(wc -c <"$TEST_DIR/payload.$big") bytes of a 300011-byte payload"

note "exit 75 is retried with growing delays, then dies exhausted"
temp=$(enqueue tempfail "queue => 'lc', max_attempts => 4")
wait_for 20 "job $temp to die" \
    sql_is "SELECT reason FROM herald.dead_jobs WHERE id = $temp" exhausted
sql_is "SELECT jsonb_array_length(errors) FROM herald.dead_jobs
    WHERE id = $temp" 4 || fail "job $temp has not 4 history entries"
sql_is "SELECT string_agg(e->>'outcome' || ':' || (e->>'exit_code'), ',')
    FROM herald.dead_jobs, jsonb_array_elements(errors) e WHERE id = $temp" \
    "failed:75,failed:75,failed:75,failed:75" ||
    fail "the history of job $temp does not show 4 exits with 75"
delays=$(grep "msg=\"job retry scheduled\".* job_id=$temp " "$HERALDD_LOG" |
    sed 's/.*delay_ms=\([0-9]*\).*/\1/' | tr '\n' ' ')
[ "$delays" = "300 600 1200 " ] ||
    fail "job $temp was retried after \"$delays\" ms, expected 300 600 1200"
# The gaps between the starts of attempts are the delays plus the run
# time and the wake-up, so each is at least its delay and they grow.
gaps=$(sql "SELECT string_agg(round(extract(epoch FROM gap) * 1000)::text,
        ' ' ORDER BY n)
    FROM (SELECT n, (e->>'at')::timestamptz
            - lag((e->>'at')::timestamptz) OVER (ORDER BY n) AS gap
          FROM herald.dead_jobs,
               jsonb_array_elements(errors) WITH ORDINALITY a(e, n)
          WHERE id = $temp) g
    WHERE gap IS NOT NULL")
set -- $gaps
[ $# -eq 3 ] || fail "expected 3 gaps between attempts, got \"$gaps\""
[ "$1" -ge 300 ] && [ "$2" -ge 600 ] && [ "$3" -ge 1200 ] &&
    [ "$2" -gt "$1" ] && [ "$3" -gt "$2" ] ||
    fail "the gaps between attempts ($gaps ms) do not grow from 300 ms"
sql_is "SELECT errors->0->>'output' LIKE '%MARKER_OUTPUT_7f3a%'
    FROM herald.dead_jobs WHERE id = $temp" t ||
    fail "the history of job $temp lacks the handler's output"

note "exit 65 dies after one attempt as permanent"
perm=$(enqueue permfail "queue => 'lc', max_attempts => 4")
wait_for 10 "job $perm to die" \
    sql_is "SELECT reason FROM herald.dead_jobs WHERE id = $perm" permanent
sql_is "SELECT attempt || ' ' || jsonb_array_length(errors) || ' '
    || (errors->0->>'exit_code')
    FROM herald.dead_jobs WHERE id = $perm" "1 1 65" ||
    fail "job $perm did not die after 1 attempt with exit code 65"

note "a task without a handler is retried, then dies as exhausted"
none=$(enqueue nohandler "queue => 'lc', max_attempts => 2")
wait_for 10 "job $none to wait for its retry" sql_is \
    "SELECT state || ' ' || attempt FROM herald.jobs WHERE id = $none" \
    "queued 1"
sql_is "SELECT errors->0->>'outcome' || ': ' || (errors->0->>'output')
    FROM herald.jobs WHERE id = $none" \
    "failed: no handler configured for task nohandler" ||
    fail "the history of job $none does not name the missing handler"
log_has "msg=\"no handler configured\".* job_id=$none task=nohandler" ||
    fail "the log does not report the missing handler of job $none"
"$HERALD" -d "$JOB_DB" job retry-now "$none" 999999999 \
    >"$TEST_DIR/now.out" 2>"$TEST_DIR/now.err" ||
    fail "herald job retry-now $none failed: $(cat "$TEST_DIR/now.err")"
grep -qx "moved 1 job to now" "$TEST_DIR/now.out" ||
    fail "retry-now printed: $(cat "$TEST_DIR/now.out")"
grep -q "job 999999999 not found" "$TEST_DIR/now.err" ||
    fail "retry-now did not name the missing job: $(cat "$TEST_DIR/now.err")"
wait_for 10 "job $none to die" \
    sql_is "SELECT reason FROM herald.dead_jobs WHERE id = $none" exhausted
sql_is "SELECT attempt || ' ' || jsonb_array_length(errors)
    FROM herald.dead_jobs WHERE id = $none" "2 2" ||
    fail "job $none did not die after 2 attempts"

note "a dead job retried from the dead table runs again"
flaky=$(enqueue flaky "queue => 'lc'")
wait_for 10 "job $flaky to die" \
    sql_is "SELECT reason FROM herald.dead_jobs WHERE id = $flaky" permanent
touch "$TEST_DIR/flaky.fixed"
"$HERALD" -d "$JOB_DB" dead retry "$flaky" >/dev/null ||
    fail "herald dead retry $flaky failed"
wait_for 10 "the retried job $flaky to complete" \
    test -f "$TEST_DIR/flaky.done"
wait_for 10 "job $flaky to leave both tables" \
    sql_is "SELECT (SELECT count(*) FROM herald.jobs WHERE id = $flaky)
        + (SELECT count(*) FROM herald.dead_jobs WHERE id = $flaky)" 0

note "payloads and handler output never reach the log"
log_has MARKER_PAYLOAD_91c2 && fail "a payload reached heraldd's log"
log_has MARKER_OUTPUT_7f3a && fail "handler output reached heraldd's log"
log_has 'level=error' && fail "heraldd logged an error"

stop_heraldd 15
[ "$HERALDD_STATUS" -eq 0 ] || fail "heraldd exited with $HERALDD_STATUS"
log_has 'msg="heraldd stopped"' || fail "heraldd did not log its stop"
check_no_leftovers
exit 0
