#!/bin/sh
# herald enqueue --from: one job per JSON line, all of them or none, with
# a bad line named by its number, and unique keys per line.

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

# A payload is stored as written: 0.1 stays 0.1 rather than the nearest
# double, an integer past 64 bits is taken, and a key spelt with an
# escape is still the payload.
cat >"$TEST_DIR/numbers.jsonl" <<'JOBS'
{"task": "numbers", "payload": {"price": 0.1, "n": 123456789012345678901234, "s": "x,}\"y"}, "priority": 2.0}
{"pay\u006coad": [1, {"a": [0.30]}, "]"], "task": "numbers"}
JOBS
h enqueue --from "$TEST_DIR/numbers.jsonl" >/dev/null ||
    fail "enqueue --from with exact numbers failed"
sql_is "SELECT string_agg(priority || ' ' || payload::text, ', ' ORDER BY id)
    FROM herald.jobs WHERE task = 'numbers'" \
    '2 {"n": 123456789012345678901234, "s": "x,}\"y", "price": 0.1}, 0 [1, {"a": [0.30]}, "]"]' ||
    fail "payloads were changed: $(sql "SELECT payload::text
        FROM herald.jobs WHERE task = 'numbers' ORDER BY id")"
note "ok: payloads stored as written"
# Standard input works as well.
printf '{"task": "from_stdin"}\n' | h enqueue --from - >/dev/null ||
    fail "enqueue --from - failed"
sql_is "SELECT count(*) FROM herald.jobs WHERE task = 'from_stdin'" 1 ||
    fail "the job from standard input is missing"
note "ok: a job from standard input"
# Input with no job succeeds with a note, so that an empty export is not
# mistaken for a run that enqueued something.
printf '\n' | h enqueue --from - >"$TEST_DIR/out" 2>"$TEST_DIR/err" ||
    fail "enqueue --from of no job failed: $(cat "$TEST_DIR/err")"
[ ! -s "$TEST_DIR/out" ] || fail "no job printed ids: $(cat "$TEST_DIR/out")"
grep -qx 'herald: note: standard input has no job; nothing was enqueued' \
    "$TEST_DIR/err" || fail "no note for input with no job: $(cat "$TEST_DIR/err")"

# Unique keys per line: a key held by an earlier job, of the database or
# of the file, gives that job's id and adds nothing.
held=$(h enqueue unique_task --unique held-key) ||
    fail "enqueue --unique failed"
cat >"$TEST_DIR/unique.jsonl" <<'JOBS'
{"task": "unique_task", "unique": "k1"}
{"task": "unique_task", "unique": "k1"}
{"task": "unique_task"}
{"task": "unique_task", "unique": "held-key"}
{"task": "unique_task", "unique": "k2", "unique_for": "1h", "unique_states": "running"}
JOBS
h enqueue --from "$TEST_DIR/unique.jsonl" >"$TEST_DIR/ids" ||
    fail "enqueue --from with unique keys failed"
id_of() {
    sed -n "${1}p" "$TEST_DIR/ids"
}
[ "$(wc -l <"$TEST_DIR/ids")" -eq 5 ] ||
    fail "expected 5 ids, got: $(cat "$TEST_DIR/ids")"
[ "$(id_of 2)" = "$(id_of 1)" ] ||
    fail "line 2 did not get the id of line 1, which has its key"
[ "$(id_of 3)" != "$(id_of 1)" ] && [ "$(id_of 5)" != "$(id_of 3)" ] ||
    fail "lines without a common key share an id: $(cat "$TEST_DIR/ids")"
[ "$(id_of 4)" = "$held" ] ||
    fail "line 4 got $(id_of 4), not $held, whose job holds its key"
sql_is "SELECT count(*) FROM herald.jobs WHERE task = 'unique_task'" 4 ||
    fail "expected 4 jobs: the held job and lines 1, 3 and 5"
sql_is "SELECT job_id || ' ' || states::text || ' ' ||
        (until > now() + interval '59 minutes')
    FROM herald.unique_keys WHERE key = 'k2'" "$(id_of 5) {running} true" ||
    fail "line 5's key does not have its states and period"
cp "$TEST_DIR/ids" "$TEST_DIR/ids.first"

# Again: every key is held now, by a queued job or a period.
h enqueue --from "$TEST_DIR/unique.jsonl" >"$TEST_DIR/ids" ||
    fail "enqueue --from with held keys failed"
for line in 1 2 4 5; do
    [ "$(id_of "$line")" = "$(sed -n "${line}p" "$TEST_DIR/ids.first")" ] ||
        fail "line $line got a new job while its key is held"
done
sql_is "SELECT count(*) FROM herald.jobs WHERE task = 'unique_task'" 5 ||
    fail "expected one more job, of line 3, which has no key"
note "ok: unique keys from a file"

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

# A number past the range of a double is valid JSON, which jsonb keeps as
# numeric.  In a member other than the payload it is still an error.
printf '{"task": "wide", "payload": {"a": 1e400, "b": [-2E+999]}}\n' |
    h enqueue --from - >/dev/null || fail "a payload with 1e400 was rejected"
sql_is "SELECT payload = '{\"a\": 1e400, \"b\": [-2E+999]}'::jsonb
    FROM herald.jobs WHERE task = 'wide'" t ||
    fail "the payload with 1e400 was changed"
expect_bad 65 'line 1 of standard input: number 1e400 at column 34 is out of range; only the payload may hold it$' \
    '{"task": "wide", "priority": 1e400}\n'

good='{"task": "ok"}\n'
expect_bad 65 'line 3 of standard input: invalid JSON: the line ends before the value does$' \
    "$good$good{\"task\": \n$good"
expect_bad 65 "line 2 of standard input: invalid JSON at column 9: ':' expected near 'x'$" \
    "$good{\"task\" x}\n"
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
expect_bad 65 'line 1 of standard input: contains a NUL byte at byte 1$' \
    '\0{"task": "a"}\n'
expect_bad 65 'line 2 of standard input: contains a NUL byte at byte 12$' \
    "$good{\"task\": \"a\\0b\"}\n"
expect_bad 65 'line 2 of standard input: invalid key for unique: use 1 to 255 bytes' \
    "$good{\"task\": \"a\", \"unique\": \"\"}\n"
expect_bad 65 'line 1 of standard input: unique must be a string' \
    '{"task": "a", "unique": 7}\n'
expect_bad 65 'line 2 of standard input: invalid duration "soon" for unique_for' \
    "$good{\"task\": \"a\", \"unique\": \"k\", \"unique_for\": \"soon\"}\n"
expect_bad 65 'line 1 of standard input: invalid states "done" for unique_states' \
    '{"task": "a", "unique": "k", "unique_states": "done"}\n'
expect_bad 65 'line 1 of standard input: unique_for and unique_states need unique' \
    '{"task": "a", "unique_states": "queued"}\n'
expect_bad 65 'line 1 of standard input: .u0000 at column [0-9]+: PostgreSQL jsonb does not accept it' \
    '{"task": "a", "payload": {"x": "\\u0000"}}\n'
expect_bad 65 'line 2 of standard input: duplicate key "task" at column 21' \
    "$good{\"task\": \"ok\", \"task\": \"perm\"}\n"
expect_bad 65 'line 1 of standard input: duplicate key "x" at column 37' \
    '{"task": "a", "payload": {"x": 1, "x": 2}}\n'

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

# expect_bad_file STATUS PATTERN PATH: --from PATH fails with STATUS, a
# message matching PATTERN, and no job added.
expect_bad_file() {
    _before=$(jobs_count)
    _status=0
    h enqueue --from "$3" >"$TEST_DIR/out" 2>"$TEST_DIR/err" || _status=$?
    [ "$_status" -eq "$1" ] ||
        fail "--from $3: exit status $_status, expected $1: $(cat "$TEST_DIR/err")"
    grep -Eq -- "$2" "$TEST_DIR/err" ||
        fail "--from $3: message does not match \"$2\": $(cat "$TEST_DIR/err")"
    [ ! -s "$TEST_DIR/out" ] || fail "printed ids: $(cat "$TEST_DIR/out")"
    [ "$(jobs_count)" = "$_before" ] || fail "a job was added"
    note "ok: $(cat "$TEST_DIR/err")"
}

# Messages name a file by its path in quotes.  A directory exits 66, as
# a missing file does, with a message that says it is a directory.
printf '{"task": "ok"}\n{"task": \n' >"$TEST_DIR/bad.jsonl"
expect_bad_file 65 "invalid job on line 2 of \"$TEST_DIR/bad\\.jsonl\": invalid JSON" \
    "$TEST_DIR/bad.jsonl"
expect_bad_file 66 "could not open \"$TEST_DIR/none\\.jsonl\": No such file or directory" \
    "$TEST_DIR/none.jsonl"
mkdir "$TEST_DIR/jobs.d"
expect_bad_file 66 "could not open \"$TEST_DIR/jobs\\.d\": it is a directory, not a file of JSON lines" \
    "$TEST_DIR/jobs.d"

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
