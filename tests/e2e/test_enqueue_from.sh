#!/bin/sh
# herald enqueue --from: one job per JSON line, all of them or none, with
# a bad line named by its number.

. "$HERALD_SRCDIR/tests/e2e/lib.sh"

unset HERALD_CONFIG

h() {
    "$HERALD" -d "$JOB_DB" "$@"
}

jobs_count() {
    sql "SELECT count(*) FROM herald.jobs"
}

# Three jobs from a file, with a blank line, every key, and defaults.
cat >"$TEST_DIR/jobs.jsonl" <<'JOBS'
{"task": "send_mail", "queue": "mail", "payload": {"to": "ada@example.com"}}

{"task": "resize", "payload": [1, 2], "priority": -3, "max_attempts": 4, "run_at": "2030-01-01T00:00:00Z"}
{"task": "report", "queue": null, "payload": null}
JOBS
h enqueue --from "$TEST_DIR/jobs.jsonl" >"$TEST_DIR/ids" ||
    fail "enqueue --from a good file failed"
[ "$(wc -l <"$TEST_DIR/ids")" -eq 3 ] ||
    fail "expected 3 ids, got: $(cat "$TEST_DIR/ids")"
first=$(head -n 1 "$TEST_DIR/ids")
sql_is "SELECT queue || ' ' || (payload->>'to') FROM herald.jobs
    WHERE id = $first" "mail ada@example.com" ||
    fail "job $first does not have the queue and payload of line 1"
sql_is "SELECT priority || ' ' || max_attempts || ' ' ||
        to_char(run_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI')
    FROM herald.jobs WHERE task = 'resize'" "-3 4 2030-01-01 00:00" ||
    fail "line 3's priority, max_attempts or run_at were not kept"
sql_is "SELECT queue || ' ' || payload::text || ' ' || max_attempts
    FROM herald.jobs WHERE task = 'report'" "default {} 10" ||
    fail "line 4 did not get the defaults"
note "ok: three jobs from a file"

# Standard input works as well.
printf '{"task": "from_stdin"}\n' | h enqueue --from - >/dev/null ||
    fail "enqueue --from - failed"
sql_is "SELECT count(*) FROM herald.jobs WHERE task = 'from_stdin'" 1 ||
    fail "the job from standard input is missing"
note "ok: a job from standard input"

# expect_bad STATUS PATTERN INPUT: --from - with INPUT fails with STATUS,
# a message matching PATTERN, and no job added.
expect_bad() {
    _before=$(jobs_count)
    _status=0
    printf '%b' "$3" | h enqueue --from - >"$TEST_DIR/out" \
        2>"$TEST_DIR/err" || _status=$?
    [ "$_status" -eq "$1" ] ||
        fail "exit status $_status, expected $1: $(cat "$TEST_DIR/err")"
    grep -Eq -- "$2" "$TEST_DIR/err" ||
        fail "message does not match \"$2\": $(cat "$TEST_DIR/err")"
    [ ! -s "$TEST_DIR/out" ] || fail "printed ids: $(cat "$TEST_DIR/out")"
    [ "$(jobs_count)" = "$_before" ] || fail "a job was added"
    note "ok: $(cat "$TEST_DIR/err")"
}

good='{"task": "ok"}\n'
expect_bad 65 'line 3 of standard input: invalid JSON' \
    "$good$good{\"task\": \n$good"
expect_bad 65 'line 2 of standard input: invalid queue name' \
    "$good{\"task\": \"a\", \"queue\": \"no spaces\"}\n"
expect_bad 65 'line 1 of standard input: task is missing' '{"queue": "q"}\n'
expect_bad 65 'line 2 of standard input: priority must be' \
    "$good{\"task\": \"a\", \"priority\": 99999}\n"
expect_bad 65 'line 1 of standard input: payload must be a JSON object' \
    '{"task": "a", "payload": "text"}\n'
expect_bad 65 'line 1 of standard input: unrecognized key "prio"' \
    '{"task": "a", "prio": 1}\n'
expect_bad 65 'line 2 of standard input: invalid time "tomorrow"' \
    "$good{\"task\": \"a\", \"run_at\": \"tomorrow\"}\n"
expect_bad 65 'line 1 of standard input: invalid JSON' \
    '\0{"task": "a"}\n'
expect_bad 65 'line 1 of standard input: .u0000 at column [0-9]+: PostgreSQL jsonb does not accept it' \
    '{"task": "a", "payload": {"x": "\\u0000"}}\n'

# A line far longer than any job is rejected before it is read whole.
# With no configuration the payload limit is 1 MiB, so a line may have
# 6 MiB and 64 KiB, and reading a line of 20 MiB must stop there.
_status=0
{ printf '{"task": "a", "payload": {"x": "'
  head -c 20971520 /dev/zero | tr '\0' 'x'
  printf '"}}\n'; } | h enqueue --from - >/dev/null 2>"$TEST_DIR/err" ||
    _status=$?
[ "$_status" -eq 65 ] && grep -q 'line 1 of standard input: the line is longer than 6356992 bytes' "$TEST_DIR/err" ||
    fail "a 20 MiB line gave $_status: $(cat "$TEST_DIR/err")"
note "ok: $(cat "$TEST_DIR/err")"

_status=0
h enqueue --from - task </dev/null 2>"$TEST_DIR/err" || _status=$?
[ "$_status" -eq 2 ] && grep -q "cannot be used with a task" "$TEST_DIR/err" ||
    fail "--from with a task was accepted: $_status"

# With a configuration, tasks must be known and the queue is the task's.
cat >"$TEST_DIR/herald.conf" <<EOF
job_db = "$JOB_DB";
queues = { mail = { workers = 1; }; };
tasks = { send_mail = { queue = "mail"; exec = [ "/bin/true" ];
    retry = { max_attempts = 7; }; }; };
EOF
printf '{"task": "send_mail"}\n' |
    "$HERALD" -c "$TEST_DIR/herald.conf" enqueue --from - >/dev/null ||
    fail "enqueue --from with a configuration failed"
sql_is "SELECT queue || ' ' || max_attempts FROM herald.jobs
    WHERE task = 'send_mail' ORDER BY id DESC LIMIT 1" "mail 7" ||
    fail "the configured queue and attempts were not used"
_status=0
printf '{"task": "send_mail"}\n{"task": "unknown_task"}\n' |
    "$HERALD" -c "$TEST_DIR/herald.conf" enqueue --from - \
    >/dev/null 2>"$TEST_DIR/err" || _status=$?
[ "$_status" -eq 65 ] && grep -q 'line 2 of standard input: unknown task' \
    "$TEST_DIR/err" || fail "an unknown task was not rejected: $_status"
note "ok: the configuration is applied"
