#!/bin/sh
# The on-call walkthrough of doc/operations.md, against heraldd running
# real jobs: a task fails, the console finds it and its last error in a
# few keys, an edited payload is retried (and a payload that is not JSON
# is refused), the handler is fixed, a dry run counts the dead jobs that a
# bulk retry then changes, the queue drains, and the health signals (the
# dead count, an open transaction holding back vacuum) show and clear.
# Also: --yes over confirm_over, retry now, and the retention line.

. "${HERALD_SRCDIR:-.}/tests/e2e/lib.sh"

command -v tmux >/dev/null || { echo "SKIP: tmux is not installed"; exit 77; }

TMUX_SOCK=$TEST_DIR/tmux.sock
HOLDER_PID=
ops_cleanup() {
    tmux -S "$TMUX_SOCK" kill-server 2>/dev/null
    [ -n "$HOLDER_PID" ] && kill "$HOLDER_PID" 2>/dev/null
}
trap '_st=$?; ops_cleanup; (exit $_st); cleanup' EXIT

T() {
    tmux -S "$TMUX_SOCK" "$@"
}
screen() {
    T capture-pane -p -t ops
}
screen_has() {
    screen | grep -qF -- "$1"
}
expect_screen() {
    wait_for 10 "\"$1\" on the console" screen_has "$1"
}
keys() {
    T send-keys -t ops "$@"
}
fits_80x24() {
    screen >"$TEST_DIR/layout.txt"
    [ "$(wc -l <"$TEST_DIR/layout.txt")" -eq 24 ] &&
        awk 'length($0) > 80 { bad = 1 } END { exit bad }' \
            "$TEST_DIR/layout.txt"
}

# The handler fails while $TEST_DIR/broken exists, with a message that
# names the payload's address.
touch "$TEST_DIR/broken"
write_handler notify.sh <<EOF
#!/bin/sh
payload=\$(cat)
if [ -f "$TEST_DIR/broken" ]; then
    echo "smtp refused recipient in \$payload"
    exit 1
fi
echo "\$payload" >>"$TEST_DIR/sent"
exit 0
EOF
# The editors the console runs: one changes the address, one breaks the
# JSON.
write_handler fix-address.sh <<'EOF'
#!/bin/sh
sed -i 's/bad@/good@/' "$1"
EOF
write_handler break-json.sh <<'EOF'
#!/bin/sh
printf '{"to": ' >"$1"
EOF

write_conf <<EOF
confirm_over = 3;
queues = { mail = { workers = 1; concurrency = 4; }; };
tasks = {
  notify = { queue = "mail"; exec = [ "$TEST_DIR/notify.sh" ];
             retry = { max_attempts = 2; base_delay = "100ms"; }; };
};
EOF
start_heraldd

note "a failing task fills the dead-letter queue"
for i in 1 2 3 4 5; do
    enqueue notify "queue => 'mail', max_attempts => 2,
        payload => '{\"to\": \"bad@$i\", \"amount\": 0.1,
            \"ref\": 123456789012345678901234}'" \
        >/dev/null
done
wait_for 20 "5 dead jobs" sql_is "SELECT count(*) FROM herald.dead_jobs" 5
first=$(sql "SELECT min(id) FROM herald.dead_jobs")

note "the queue screen shows the deaths in the health panel, at 80x24"
T new-session -d -s ops -x 80 -y 24 \
    "EDITOR='$TEST_DIR/break-json.sh' '$HERALD' -c '$HERALD_CONF' console \
    2>'$TEST_DIR/console.err'; sleep 600" || fail "could not start tmux"
expect_screen "1 Queues"
expect_screen "dead/1h 5"
expect_screen "vacuum: no transaction open for 10s or more holds it back"
fits_80x24 || fail "the queue screen does not fit 80x24: $(cat "$TEST_DIR/layout.txt")"

note "dead letters, then the first job's last error, in two keys"
keys 4
expect_screen "5 dead jobs"
expect_screen "retention: dead jobs 30d, newest 1000000 kept"
keys Enter
expect_screen "smtp refused recipient"

note "an edited payload that is not JSON changes nothing"
keys e
expect_screen "not valid JSON"
sql_is "SELECT payload->>'to' FROM herald.dead_jobs WHERE id = $first" \
    "bad@1" || fail "a payload that is not JSON changed the dead job"
T kill-session -t ops
# The emptied server exits in the background; a new one on another socket
# cannot meet it on its way out.
TMUX_SOCK=$TEST_DIR/tmux2.sock

note "an edited payload is retried, and the original stays in the history"
T new-session -d -s ops -x 80 -y 24 \
    "EDITOR='$TEST_DIR/fix-address.sh' '$HERALD' -c '$HERALD_CONF' console \
    2>'$TEST_DIR/console.err'; sleep 600" || fail "could not start tmux"
expect_screen "1 Queues"
keys 4
expect_screen "5 dead jobs"
keys Enter
expect_screen "smtp refused recipient"
keys e
expect_screen "payload edited"
wait_for 10 "the edited job to die again with its new payload" sql_is \
    "SELECT payload->>'to' FROM herald.dead_jobs WHERE id = $first" "good@1"
# The numbers the editor left alone are stored as they were.
sql_is "SELECT payload = '{\"to\": \"good@1\", \"amount\": 0.1,
        \"ref\": 123456789012345678901234}'::jsonb
    FROM herald.dead_jobs WHERE id = $first" t ||
    fail "the edit changed other members: $(sql "SELECT payload
        FROM herald.dead_jobs WHERE id = $first")"
# herald dead show --json prints those numbers as stored, in valid JSON.
"$HERALD" -c "$HERALD_CONF" dead show --json "$first" >"$TEST_DIR/show.json" ||
    fail "herald dead show --json $first failed"
json=$(sed "s/'/''/g" "$TEST_DIR/show.json")
sql_is "SELECT (j->'payload') = '{\"to\": \"good@1\", \"amount\": 0.1,
        \"ref\": 123456789012345678901234}'::jsonb
        AND jsonb_typeof(j->'history') = 'array'
    FROM (SELECT '$json'::jsonb AS j) s" t ||
    fail "herald dead show --json printed: $(cat "$TEST_DIR/show.json")"
sql_is "SELECT count(*) FROM herald.dead_jobs WHERE id = $first
    AND errors @> '[{\"outcome\": \"edited\", \"payload\": {\"to\": \"bad@1\"}}]'" \
    1 || fail "the original payload is not in the history"
# The edit names its program, as the retry after it does.
sql_is "SELECT count(*) FROM herald.dead_jobs, jsonb_array_elements(errors) e
    WHERE id = $first AND e->>'outcome' = 'edited'
      AND e->>'output' LIKE 'payload edited by % (%@%, herald console) before a retry'" \
    1 || fail "the edit does not name the console: $(sql "SELECT errors FROM herald.dead_jobs WHERE id = $first")"
# The text of herald dead show prints it too, under the edit.
"$HERALD" -c "$HERALD_CONF" dead show "$first" >"$TEST_DIR/show.txt" ||
    fail "herald dead show $first failed"
grep -A3 '^  edited ' "$TEST_DIR/show.txt" |
    grep -q '^    | {"to": *"bad@1"' ||
    fail "herald dead show does not print the payload before the edit: $(cat "$TEST_DIR/show.txt")"
sql_is "SELECT count(*) FROM herald.audit
    WHERE action = 'dead retry edited' AND ids = '{$first}'" 1 ||
    fail "the edit was not recorded in the audit table"

note "over confirm_over, a bulk action off a terminal needs --yes"
"$HERALD" -c "$HERALD_CONF" dead retry --all --task notify </dev/null \
    >"$TEST_DIR/noyes.out" 2>&1 && fail "a bulk retry of 5 went ahead"
grep -q "more than confirm_over (3)" "$TEST_DIR/noyes.out" ||
    fail "unexpected refusal: $(cat "$TEST_DIR/noyes.out")"
sql_is "SELECT count(*) FROM herald.dead_jobs" 5 ||
    fail "a refused bulk retry changed dead jobs"

note "an open transaction shows as the vacuum blocker"
psql "$JOB_DB" -XAtq -v ON_ERROR_STOP=1 \
    -c "SET application_name = 'report-job'" \
    -c "BEGIN ISOLATION LEVEL REPEATABLE READ" \
    -c "SELECT count(*) FROM herald.jobs" -c "SELECT pg_sleep(60)" \
    >/dev/null 2>&1 &
HOLDER_PID=$!
wait_for 10 "the report's snapshot" sql_is "SELECT count(*)
    FROM pg_stat_activity WHERE application_name = 'report-job'
      AND backend_xmin IS NOT NULL" 1
# Open for less than 10 s it is not named: heraldd's own transactions,
# open for milliseconds, would be named all the time.
"$HERALD" -c "$HERALD_CONF" status >"$TEST_DIR/status.out" 2>&1 ||
    fail "herald status failed: $(cat "$TEST_DIR/status.out")"
grep -q "vacuum: no transaction open for 10s or more holds it back" \
    "$TEST_DIR/status.out" ||
    fail "herald status named a young transaction: $(cat "$TEST_DIR/status.out")"
blocker_shown() {
    "$HERALD" -c "$HERALD_CONF" status >"$TEST_DIR/status.out" 2>&1 &&
        grep -q "held back by a transaction, pid [0-9]* (report-job)" \
            "$TEST_DIR/status.out"
}
wait_for 30 "herald status to name the blocker" blocker_shown
keys 1
expect_screen "(report-job)"
fits_80x24 || fail "the queue screen does not fit 80x24"
# The backend sleeps on after its client goes, so end it from the server.
sql "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
    WHERE datname = current_database()
      AND application_name = 'report-job'" >/dev/null
wait "$HOLDER_PID" 2>/dev/null
HOLDER_PID=

note "a misspelt task matches nothing, is named and fails with 65"
status=0
"$HERALD" -c "$HERALD_CONF" dead retry --all --task notfy --yes \
    >"$TEST_DIR/typo.out" 2>"$TEST_DIR/typo.err" || status=$?
[ "$status" -eq 65 ] ||
    fail "a retry of a misspelt task exited with $status, not 65"
grep -qx "retried 0 dead jobs" "$TEST_DIR/typo.out" ||
    fail "unexpected retry: $(cat "$TEST_DIR/typo.out")"
grep -qx 'herald: no dead job matched, and the configuration has no task "notfy"' \
    "$TEST_DIR/typo.err" ||
    fail "the unknown task was not named: $(cat "$TEST_DIR/typo.err")"
status=0
"$HERALD" -c "$HERALD_CONF" dead list --queue mial >"$TEST_DIR/typo.out" \
    2>"$TEST_DIR/typo.err" || status=$?
[ ! -s "$TEST_DIR/typo.out" ] ||
    fail "dead list of a misspelt queue printed: $(cat "$TEST_DIR/typo.out")"
[ "$status" -eq 65 ] ||
    fail "dead list of a misspelt queue exited with $status, not 65"
grep -qx 'herald: no dead job matched, and the configuration has no queue "mial"' \
    "$TEST_DIR/typo.err" ||
    fail "the unknown queue was not named: $(cat "$TEST_DIR/typo.err")"
status=0
"$HERALD" -c "$HERALD_CONF" jobs --task notfy >"$TEST_DIR/typo.out" \
    2>"$TEST_DIR/typo.err" || status=$?
[ ! -s "$TEST_DIR/typo.out" ] ||
    fail "herald jobs of a misspelt task printed: $(cat "$TEST_DIR/typo.out")"
[ "$status" -eq 65 ] ||
    fail "herald jobs of a misspelt task exited with $status, not 65"
grep -qx 'herald: no job matched, and the configuration has no task "notfy"' \
    "$TEST_DIR/typo.err" ||
    fail "the unknown task was not named: $(cat "$TEST_DIR/typo.err")"
# A connection string given with -d does not skip the file's names.
status=0
"$HERALD" -c "$HERALD_CONF" -d "$JOB_DB" jobs --task notfy >/dev/null \
    2>"$TEST_DIR/typo.err" || status=$?
[ "$status" -eq 65 ] ||
    fail "herald -d jobs of a misspelt task exited with $status, not 65"
# A file that does not load fails a filtered listing, matches or not.
status=0
HERALD_CONFIG="$TEST_DIR/none.conf" "$HERALD" -d "$JOB_DB" jobs \
    --queue mail >/dev/null 2>"$TEST_DIR/typo.err" || status=$?
[ "$status" -eq 78 ] ||
    fail "herald jobs with a missing HERALD_CONFIG exited with $status, not 78"

note "fix the handler, dry-run, retry every dead job of the task"
rm "$TEST_DIR/broken"
"$HERALD" -c "$HERALD_CONF" dead retry --all --task notify --dry-run \
    >"$TEST_DIR/dry.out" || fail "the dry run failed"
grep -qx "would retry 5 dead jobs" "$TEST_DIR/dry.out" ||
    fail "unexpected dry run: $(cat "$TEST_DIR/dry.out")"
sql_is "SELECT count(*) FROM herald.dead_jobs" 5 ||
    fail "the dry run changed dead jobs"
"$HERALD" -c "$HERALD_CONF" dead retry --all --task notify --yes \
    >"$TEST_DIR/retry.out" || fail "the bulk retry failed"
grep -qx "retried 5 dead jobs" "$TEST_DIR/retry.out" ||
    fail "unexpected retry: $(cat "$TEST_DIR/retry.out")"

note "the queue drains and the signals return to normal"
wait_for 20 "the queue to drain" sql_is \
    "SELECT (SELECT count(*) FROM herald.jobs)
        + (SELECT count(*) FROM herald.dead_jobs)" 0
[ "$(wc -l <"$TEST_DIR/sent")" -eq 5 ] || fail "not every job ran once"
grep -q "good@1" "$TEST_DIR/sent" || fail "the edited payload did not run"
wait_for 10 "the blocker to go" sh -c "'$HERALD' -c '$HERALD_CONF' status |
    grep -q 'vacuum: no transaction open for 10s or more holds it back'"
expect_screen "vacuum: no transaction open for 10s or more holds it back"
expect_screen "oldest ready -"

note "retry now runs a job that waits for its backoff"
id=$(sql "INSERT INTO herald.jobs (task, queue, attempt, run_at)
    VALUES ('notify', 'mail', 1, now() + interval '1 hour') RETURNING id")
"$HERALD" -c "$HERALD_CONF" job retry-now "$id" >"$TEST_DIR/now.out" ||
    fail "job retry-now failed: $(cat "$TEST_DIR/now.out")"
wait_for 10 "the job to run" sql_is \
    "SELECT count(*) FROM herald.jobs WHERE id = $id" 0

note "a bulk retry leaves dead a job whose unique key another job holds"
holder=$("$HERALD" -c "$HERALD_CONF" enqueue notify --unique k1 --in 1h) ||
    fail "could not enqueue the holder of k1"
sql "INSERT INTO herald.dead_jobs (id, task, queue, payload, priority,
        attempt, max_attempts, created_at, reason, errors, unique_key)
    VALUES (900000001, 'notify', 'mail', '{\"to\": \"x@1\"}', 0, 2, 2,
        now(), 'exhausted', '[]', 'k1'),
        (900000002, 'notify', 'mail', '{\"to\": \"x@2\"}', 0, 2, 2,
        now(), 'exhausted', '[]', NULL)" >/dev/null ||
    fail "could not insert the dead jobs"
# The dry run counts the held job, and a retry of listed ids that include
# it retries none and names the holder.
"$HERALD" -c "$HERALD_CONF" dead retry --all --task notify --dry-run \
    >"$TEST_DIR/held-dry.out" 2>&1 || fail "the dry run failed: $(cat "$TEST_DIR/held-dry.out")"
grep -qx "would retry 1 dead job; 1 would stay dead, since other jobs hold their unique keys" \
    "$TEST_DIR/held-dry.out" || fail "unexpected dry run: $(cat "$TEST_DIR/held-dry.out")"
status=0
"$HERALD" -c "$HERALD_CONF" dead retry 900000001 900000002 \
    >"$TEST_DIR/held-ids.out" 2>&1 || status=$?
[ "$status" -eq 1 ] || fail "a retry of a held id exited $status"
grep -qx "herald: dead job 900000001 cannot be retried: job $holder took its unique key \"k1\"" \
    "$TEST_DIR/held-ids.out" || fail "unexpected retry: $(cat "$TEST_DIR/held-ids.out")"
sql_is "SELECT count(*) FROM herald.dead_jobs" 2 ||
    fail "a retry of listed ids with a held key changed dead jobs"
"$HERALD" -c "$HERALD_CONF" dead retry --all --task notify --yes \
    >"$TEST_DIR/held.out" 2>&1 || fail "the retry failed: $(cat "$TEST_DIR/held.out")"
grep -qx "retried 1 dead job; 1 left dead, since other jobs hold their unique keys" \
    "$TEST_DIR/held.out" || fail "unexpected retry: $(cat "$TEST_DIR/held.out")"
sql_is "SELECT string_agg(id::text, ',') FROM herald.dead_jobs" 900000001 ||
    fail "the wrong dead jobs were retried"
[ -n "$holder" ] || fail "no holder id"

exit 0
