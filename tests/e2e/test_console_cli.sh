#!/bin/sh
# The scriptable forms of the console's actions: "herald queue pause" stops
# claims from a queue until "herald queue resume", "herald job cancel"
# deletes queued jobs and leaves running ones, and every action, "herald
# dead retry" included, leaves a row in herald.audit.

. "${HERALD_SRCDIR:-.}/tests/e2e/lib.sh"

write_handler work.sh <<EOF2
#!/bin/sh
cat >/dev/null
if [ "\$HERALD_TASK" = slow ]; then
    touch "$TEST_DIR/started.\$HERALD_JOB_ID"
    while [ ! -f "$TEST_DIR/release" ]; do sleep 0.05; done
fi
[ "\$HERALD_TASK" = broken ] && exit 65
touch "$TEST_DIR/done.\$HERALD_JOB_ID"
EOF2

write_conf <<EOF2
queues = {
  pq = { workers = 1; poll_interval = "100ms"; };
  other = { workers = 1; concurrency = 2; };
  served = { workers = 1; };
};
tasks = {
  t = { queue = "pq"; exec = [ "$TEST_DIR/work.sh" ]; };
  u = { queue = "other"; exec = [ "$TEST_DIR/work.sh" ]; };
  slow = { queue = "other"; exec = [ "$TEST_DIR/work.sh" ]; };
  broken = { queue = "other"; exec = [ "$TEST_DIR/work.sh" ]; };
};
EOF2
start_heraldd
H() {
    "$HERALD" -c "$HERALD_CONF" "$@"
}

note "pause keeps jobs of the queue unclaimed"
out=$(H queue pause pq) || fail "herald queue pause failed"
[ "$out" = 'paused queue "pq"' ] || fail "pause printed: $out"
H status | grep -q '^pq .* yes$' || fail "herald status does not show pq paused"
# heraldd's log shows that the queue's jobs wait because of the pause.
wait_for 10 "heraldd to log the pause" log_has 'msg="queue paused" .*queue=pq$'
# One worker process serves pq, and none the queue that only a job names.
wait_for 10 "herald status to count the worker of pq" sh -c \
    "'$HERALD' -c '$HERALD_CONF' status | grep -Eq '^pq .* 1 +yes\$'"
sql "SELECT herald.enqueue('t', 'unserved')" >/dev/null ||
    fail "could not enqueue a job of queue unserved"
H status | grep -Eq '^unserved .* 0 +no$' ||
    fail "herald status counts a worker of queue unserved: $(H status)"
H status --json | grep -q '"workers": 1' ||
    fail "herald status --json has no worker count: $(H status --json)"
H jobs --json | grep -Eq '"run_at": "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z"' ||
    fail "herald jobs --json gives run_at unlike the other times: $(H jobs --json)"
# A queue that only another host's worker serves shows, without jobs.
sql "INSERT INTO herald.processes (id, kind, supervisor_id, host, pid, queue)
    VALUES ('elsewhere-w', 'worker', NULL, 'other-host', 1, 'far')" ||
    fail "could not register a worker of another host"
H status | grep -Eq '^far +0 .* 1 +no$' ||
    fail "herald status does not show queue far of another host: $(H status)"
sql "DELETE FROM herald.processes WHERE id = 'elsewhere-w'" >/dev/null
held=$(enqueue t "queue => 'pq'")
probe=$(enqueue u "queue => 'other'")
wait_for 10 "job $probe of the running queue" test -f "$TEST_DIR/done.$probe"
# The paused queue's worker polls every 100 ms: give it three polls.
polls_done() {
    [ $(($(now_ms) - probe_done)) -ge 300 ]
}
probe_done=$(now_ms)
wait_for 5 "three polls" polls_done
sql_is "SELECT state || ' ' || attempt FROM herald.jobs WHERE id = $held" \
    "queued 0" || fail "job $held of the paused queue was claimed"
out=$(H queue pause pq) || fail "a second pause failed"
[ "$out" = 'queue "pq" was already paused' ] || fail "second pause printed: $out"

note "resume lets the queue's jobs run"
H queue resume pq >/dev/null || fail "herald queue resume failed"
wait_for 10 "job $held after resume" test -f "$TEST_DIR/done.$held"
wait_for 10 "heraldd to log the resume" log_has 'msg="queue resumed" .*queue=pq$'
[ "$(grep -c 'msg="queue paused"' "$HERALDD_LOG")" -eq 1 ] ||
    fail "one pause was logged more than once: $(grep 'queue paused' "$HERALDD_LOG")"
H status | grep -q '^pq .* no$' || fail "herald status still shows pq paused"
sql_is "SELECT string_agg(action || ':' || queue || ':' || rows, ',' ORDER BY id)
    FROM herald.audit" "queue pause:pq:1,queue resume:pq:1" ||
    fail "audit rows: $(sql 'SELECT action, queue, rows FROM herald.audit')"
sql_is "SELECT count(*) FROM herald.audit WHERE db_user = current_user
    AND os_user = '$(id -un)' AND host = '$(hostname)'
    AND application = 'herald'" 2 ||
    fail "audit rows do not name the database user, OS user, host and program"

note "cancel deletes queued jobs and reports missing ones"
later=$(enqueue t "queue => 'pq', run_at => now() + interval '1 hour'")
out=$(H job cancel "$later") || fail "herald job cancel $later failed"
[ "$out" = "cancelled 1 job" ] || fail "cancel printed: $out"
sql_is "SELECT count(*) FROM herald.live_jobs WHERE id = $later" 0 ||
    fail "job $later is still there"
sql_is "SELECT ids::text || ' ' || rows FROM herald.audit
    WHERE action = 'job cancel'" "{$later} 1" || fail "cancel was not audited"
running=$(enqueue slow "queue => 'other'")
wait_for 10 "job $running to start" test -f "$TEST_DIR/started.$running"
H job cancel 99999 >"$TEST_DIR/cancel.out" 2>&1 &&
    fail "cancelling a missing job succeeded"
grep -q "job 99999 not found" "$TEST_DIR/cancel.out" ||
    fail "no message about the missing job: $(cat "$TEST_DIR/cancel.out")"
H dead show "$running" >"$TEST_DIR/show.out" 2>&1 &&
    fail "herald dead show of running job $running succeeded"
grep -qx "herald: job $running is running, not dead; herald job show $running shows it" \
    "$TEST_DIR/show.out" ||
    fail "herald dead show of a live job printed: $(cat "$TEST_DIR/show.out")"
sql_is "SELECT state FROM herald.live_jobs WHERE id = $running" running ||
    fail "the running job $running was touched"
touch "$TEST_DIR/release"
wait_for 10 "job $running to finish" test -f "$TEST_DIR/done.$running"

note "dead retry from the command line is audited"
dead=$(enqueue broken "queue => 'other'")
wait_for 10 "job $dead to die" sql_is \
    "SELECT count(*) FROM herald.dead_jobs WHERE id = $dead" 1
# The job commands name a dead job as dead and the command to use.
for args in "show:show $dead:shows it" "cancel:purge $dead:deletes it" \
    "retry-now:retry $dead:queues it again"; do
    command=${args%%:*}
    hint=${args#*:}
    H job "$command" "$dead" >"$TEST_DIR/dead-job.out" 2>&1 &&
        fail "herald job $command of dead job $dead succeeded"
    grep -qx "herald: job $dead is dead; herald dead ${hint%%:*} ${hint#*:}" \
        "$TEST_DIR/dead-job.out" ||
        fail "herald job $command of a dead job printed: $(cat "$TEST_DIR/dead-job.out")"
done
H dead retry "$dead" >/dev/null || fail "herald dead retry failed"
sql_is "SELECT ids::text || ' ' || rows FROM herald.audit
    WHERE action = 'dead retry'" "{$dead} 1" || fail "dead retry was not audited"

note "dead --match selects what the console's filter words do"
acme=$(enqueue broken "queue => 'other', payload => '{\"customer\": \"ACME-77\"}'")
other=$(enqueue broken "queue => 'other', payload => '{\"customer\": \"Initech\"}'")
wait_for 10 "jobs $acme and $other to die" sql_is \
    "SELECT count(*) FROM herald.dead_jobs WHERE id IN ($acme, $other)" 2
H dead list --match acme-77 >"$TEST_DIR/match.out" ||
    fail "dead list --match failed"
grep -q "^ *$acme " "$TEST_DIR/match.out" ||
    fail "dead list --match left out job $acme: $(cat "$TEST_DIR/match.out")"
! grep -q "^ *$other " "$TEST_DIR/match.out" ||
    fail "dead list --match listed job $other: $(cat "$TEST_DIR/match.out")"
H dead purge --all --match ACME-77 --yes >"$TEST_DIR/match.out" ||
    fail "dead purge --match failed: $(cat "$TEST_DIR/match.out")"
sql_is "SELECT string_agg(id::text, ',') FROM herald.dead_jobs
    WHERE id IN ($acme, $other)" "$other" ||
    fail "dead purge --match did not purge job $acme alone"
H dead purge --all --match '' --yes >/dev/null 2>&1 && fail "an empty --match purged"
H dead purge --all --match ' ' --yes >/dev/null 2>&1 && fail "a blank --match purged"
sql_is "SELECT filter FROM herald.audit WHERE action = 'dead purge'
    ORDER BY id DESC LIMIT 1" "text=ACME-77" ||
    fail "the audit row of dead purge --match lacks its filter"
# A purge of every dead job is recorded as "all": its audit row had every
# field empty.
H dead purge --all --yes >/dev/null || fail "dead purge --all failed"
sql_is "SELECT coalesce(ids::text, '') || '|' || coalesce(queue, '') || '|'
    || coalesce(task, '') || '|' || filter || '|' || (rows > 0)
    FROM herald.audit WHERE action = 'dead purge' ORDER BY id DESC LIMIT 1" \
    "|||all|true" ||
    fail "the audit row of dead purge --all: $(sql "SELECT * FROM herald.audit
        WHERE action = 'dead purge' ORDER BY id DESC LIMIT 1")"

note "bad arguments are usage or data errors"
H queue >/dev/null 2>&1
[ $? -eq 2 ] || fail "herald queue without an action did not exit 2"
H queue pause 'bad name!' >/dev/null 2>&1
[ $? -eq 65 ] || fail "an invalid queue name did not exit 65"

note "an unknown queue is an error and pauses nothing"
status=0
H queue pause pq mial >"$TEST_DIR/pause.out" 2>&1 || status=$?
[ "$status" -eq 65 ] || fail "pausing an unknown queue exited $status"
grep -q 'unknown queue "mial": not in ".*\.conf", and no job, dead job, setting or worker names it$' \
    "$TEST_DIR/pause.out" ||
    fail "unexpected message: $(cat "$TEST_DIR/pause.out")"
sql_is "SELECT count(*) FROM herald.queues WHERE paused OR name = 'mial'" 0 ||
    fail "a list with an unknown queue paused something"
status=0
"$HERALD" -d "$JOB_DB" queue pause nowhere >"$TEST_DIR/pause.out" 2>&1 ||
    status=$?
[ "$status" -eq 1 ] || fail "pausing a queue nothing names exited $status"
grep -q 'queue "nowhere" not found' "$TEST_DIR/pause.out" ||
    fail "unexpected message: $(cat "$TEST_DIR/pause.out")"
# A queue that a running worker serves is known without a configuration,
# before any job names it, as herald status lists it.
out=$("$HERALD" -d "$JOB_DB" queue pause served 2>&1) ||
    fail "pausing queue served by its worker failed: $out"
[ "$out" = 'paused queue "served"' ] || fail "pause printed: $out"
"$HERALD" -d "$JOB_DB" queue resume served >/dev/null ||
    fail "resuming queue served failed"

# A queue removed from the configuration, or served by another host,
# still has its jobs: resuming it must not need another configuration.
note "a queue that only the database knows can be paused and resumed"
sql "SELECT herald.enqueue('t', 'elsewhere')" >/dev/null ||
    fail "could not enqueue a job of queue elsewhere"
H queue pause elsewhere >"$TEST_DIR/pause.out" 2>&1 ||
    fail "pausing queue elsewhere failed: $(cat "$TEST_DIR/pause.out")"
grep -q 'note: queue "elsewhere" is not in ".*\.conf", so no worker of this configuration serves it' \
    "$TEST_DIR/pause.out" ||
    fail "no note that the queue is not configured: $(cat "$TEST_DIR/pause.out")"
sql_is "SELECT paused FROM herald.queues WHERE name = 'elsewhere'" t ||
    fail "queue elsewhere was not paused"
H queue resume elsewhere >/dev/null 2>&1 || fail "resuming queue elsewhere failed"
sql_is "SELECT paused FROM herald.queues WHERE name = 'elsewhere'" f ||
    fail "queue elsewhere was not resumed"

H job cancel abc >/dev/null 2>&1
[ $? -eq 65 ] || fail "an invalid job id did not exit 65"

# Checking each given id against every returned row took 10 s of CPU for
# 20000 ids, which a script that cancels a whole backlog passes.
note "job cancel and dead retry take 20000 ids at once"
sql "INSERT INTO herald.jobs (task, queue, payload)
    SELECT 'bulk', 'nowhere', '{}' FROM generate_series(1, 20000)" ||
    fail "could not insert 20000 jobs"
sql "SELECT id FROM herald.jobs WHERE task = 'bulk'" >"$TEST_DIR/bulk.ids"
timeout 5 xargs "$HERALD" -d "$JOB_DB" job cancel --dry-run \
    <"$TEST_DIR/bulk.ids" >"$TEST_DIR/bulk.out" 2>&1 ||
    fail "job cancel --dry-run of 20000 ids failed or took over 5 s: $(tail -n 3 "$TEST_DIR/bulk.out")"
grep -qx "would cancel 20000 jobs" "$TEST_DIR/bulk.out" ||
    fail "job cancel --dry-run printed: $(tail -n 3 "$TEST_DIR/bulk.out")"
timeout 5 xargs "$HERALD" -d "$JOB_DB" dead retry \
    <"$TEST_DIR/bulk.ids" >"$TEST_DIR/bulk.out" 2>&1 &&
    fail "dead retry of 20000 live jobs succeeded"
[ "$(grep -c '^herald: job [0-9]* is queued, not dead; herald job show [0-9]* shows it$' \
    "$TEST_DIR/bulk.out")" -eq 20000 ] ||
    fail "dead retry of 20000 ids printed: $(tail -n 3 "$TEST_DIR/bulk.out")"

note "heraldd's log names a queue with ready jobs and no worker"
wait_for 30 "heraldd to log queue unserved" log_has \
    'msg="queue has no worker" .*queue=unserved ready=1$'
[ "$(grep -c 'msg="queue has no worker" .*queue=unserved ' "$HERALDD_LOG")" \
    -eq 1 ] || fail "queue unserved was logged more than once"
! log_has 'msg="queue has no worker" .*queue=pq ' ||
    fail "queue pq, which has a worker, was logged"

H queue --help | grep -q "pause" || fail "herald queue --help says nothing"
H job --help | grep -q "cancel" || fail "herald job --help says nothing"
exit 0
