#!/bin/sh
# Bad input to herald and heraldd --check: each case must exit with the
# expected status, print a message naming the bad value, print nothing on
# standard output, and leave the live jobs as they were.

. "$HERALD_SRCDIR/tests/e2e/lib.sh"

unset HERALD_CONFIG

jobs_count() {
    sql "SELECT count(*) FROM herald.live_jobs"
}

# expect_fail STATUS PATTERN COMMAND [ARG...]: run COMMAND and check its
# exit status, its standard error against the extended regular
# expression PATTERN, its empty standard output, and the job count.
expect_fail() {
    _want=$1
    _pattern=$2
    shift 2
    _before=$(jobs_count)
    _status=0
    "$@" >"$TEST_DIR/stdout" 2>"$TEST_DIR/stderr" || _status=$?
    _after=$(jobs_count)
    _err=$(cat "$TEST_DIR/stderr")

    [ "$_status" -eq "$_want" ] ||
        fail "$* exited with $_status, expected $_want: $_err"
    grep -Eq -- "$_pattern" "$TEST_DIR/stderr" ||
        fail "$*: message does not match \"$_pattern\": $_err"
    [ ! -s "$TEST_DIR/stdout" ] ||
        fail "$*: printed on standard output: $(cat "$TEST_DIR/stdout")"
    [ "$_after" = "$_before" ] ||
        fail "$*: job count went from $_before to $_after"
    note "ok: exit $_status: $(head -n 1 "$TEST_DIR/stderr")"
}

h() {
    "$HERALD" -d "$JOB_DB" "$@"
}

hc() {
    "$HERALD" -c "$HERALD_CONF" "$@"
}

write_conf <<'EOF'
payload_max = 64;
queues = {
  mail = { workers = 1; };
};
tasks = {
  send_mail = { queue = "mail"; exec = [ "/bin/true" ]; };
};
EOF

# A valid job is written, so the job counts above can change.
before=$(jobs_count)
id=$(h enqueue send_mail --payload '{"to": "ada@example.com"}') ||
    fail "a valid enqueue failed"
[ "$(jobs_count)" -eq $((before + 1)) ] || fail "a valid enqueue wrote no job"
[ "$(sql "SELECT task FROM herald.live_jobs WHERE id = $id")" = send_mail ] ||
    fail "enqueue printed $id, which is not the new job's id"

note "payloads"
expect_fail 65 '^herald: payload.*byte [0-9]+' \
    h enqueue send_mail --payload '{"to": x}'
expect_fail 65 '^herald: payload.*byte [0-9]+' \
    h enqueue send_mail --payload '{"to": "ada@example.com",'
expect_fail 65 '^herald: payload.*(object or array|number)' \
    h enqueue send_mail --payload 42
expect_fail 65 '^herald: payload.*duplicate key "to" at line 1' \
    h enqueue send_mail --payload '{"to": "a@example.com", "to": "b@example.com"}'
expect_fail 65 '^herald: payload.*(object or array|string)' \
    h enqueue send_mail --payload '"text"'
expect_fail 65 '^herald: payload is empty; use a JSON object' \
    h enqueue send_mail --payload ''
expect_fail 65 '^herald: payload.*limit of 64' \
    hc enqueue send_mail --payload \
    '{"body": "0123456789012345678901234567890123456789012345678901234567890123456789"}'
# Over the default limit of 1 MiB, read from standard input.
{
    printf '{"body": "'
    head -c 1100000 /dev/zero | tr '\0' a
    printf '"}'
} >"$TEST_DIR/big.json"
expect_fail 65 '^herald: payload.*limit' \
    sh -c '"$0" -d "$1" enqueue send_mail --payload - <"$2"' \
    "$HERALD" "$JOB_DB" "$TEST_DIR/big.json"
printf '{"a": 1,\0}' >"$TEST_DIR/nul.json"
expect_fail 65 '^herald: payload contains a NUL byte at byte 9$' \
    sh -c '"$0" -d "$1" enqueue send_mail --payload - <"$2"' \
    "$HERALD" "$JOB_DB" "$TEST_DIR/nul.json"
expect_fail 65 '^herald: payload is empty; use a JSON object' \
    h enqueue send_mail --payload '   '
# Valid JSON, but past what PostgreSQL's numeric type holds.
expect_fail 65 '^herald: payload has a number out of the range of PostgreSQL.s numeric type \(at most 131072 digits before the decimal point and 16383 after\) at line 1, column 7 \(byte 7\)$' \
    h enqueue send_mail --payload '{"a": 1e999999}'
echo '[1, 2' >"$TEST_DIR/short.json"
expect_fail 65 '^herald: payload.*line [0-9]+.*byte [0-9]+' \
    sh -c '"$0" -d "$1" enqueue send_mail --payload - <"$2"' \
    "$HERALD" "$JOB_DB" "$TEST_DIR/short.json"

# A payload_max above the library's default of 1 MiB raises the limit of
# herald enqueue, with --payload - and with --from alike.
sed 's/^payload_max = 64;/payload_max = 2097152;/' "$HERALD_CONF" \
    >"$TEST_DIR/big.conf"
awk 'BEGIN { printf "{\"pad\": \""; for (i = 0; i < 1500000; i++)
    printf "x"; printf "\"}" }' >"$TEST_DIR/big.json"
"$HERALD" -c "$TEST_DIR/big.conf" enqueue send_mail --payload - \
    <"$TEST_DIR/big.json" >"$TEST_DIR/big.ids" 2>"$TEST_DIR/big.err" ||
    fail "a 1.5 MB payload under payload_max was rejected: $(cat "$TEST_DIR/big.err")"
{ printf '{"task": "send_mail", "payload": '; cat "$TEST_DIR/big.json"; echo '}'; } \
    >"$TEST_DIR/big.jsonl"
"$HERALD" -c "$TEST_DIR/big.conf" enqueue --from "$TEST_DIR/big.jsonl" \
    >>"$TEST_DIR/big.ids" 2>"$TEST_DIR/big.err" ||
    fail "a 1.5 MB payload under payload_max was rejected by --from: $(cat "$TEST_DIR/big.err")"
# The checks below count the jobs of queue mail without these two.
[ "$(wc -l <"$TEST_DIR/big.ids")" -eq 2 ] ||
    fail "expected two job ids: $(cat "$TEST_DIR/big.ids")"
h job cancel $(cat "$TEST_DIR/big.ids") >/dev/null ||
    fail "could not cancel the jobs with large payloads"

note "tasks and queues"
expect_fail 65 'unknown task "send_fax" in ".*herald\.conf"$' \
    hc enqueue send_fax
expect_fail 65 'invalid task name' h enqueue 'send mail'
expect_fail 65 'task name is empty' h enqueue ''
expect_fail 65 'invalid queue name "-mail"' \
    h enqueue send_mail --queue -mail
expect_fail 65 'queue name .* over the limit of 63' \
    h enqueue send_mail --queue "$(printf 'q%070d' 0)"
expect_fail 65 'task "send_mail" runs on queue "mail" in ".*herald\.conf", not on "default"' \
    hc enqueue send_mail --queue default

note "times"
expect_fail 65 '"tomorrow" for --at' h enqueue send_mail --at tomorrow
expect_fail 65 '"2026-02-30 10:00" for --at' \
    h enqueue send_mail --at '2026-02-30 10:00'
expect_fail 65 '"2026-12-04T25:00:00Z" for --at' \
    h enqueue send_mail --at 2026-12-04T25:00:00Z
expect_fail 65 '"2026-12-04T18:00:00 CET" for --at' \
    h enqueue send_mail --at '2026-12-04T18:00:00 CET'
expect_fail 65 'time "1900-01-01T00:00:00Z" for --at is out of range: use a time from 1970-01-01T00:00:00Z to 9999-12-31T23:59:59Z$' \
    h enqueue send_mail --at 1900-01-01T00:00:00Z
expect_fail 65 'time "10000-01-01T00:00:00Z" for --at is out of range: use a time from 1970-01-01T00:00:00Z to 9999-12-31T23:59:59Z$' \
    h enqueue send_mail --at 10000-01-01T00:00:00Z
expect_fail 65 'time "1970-01-01T00:30:00\+01:00" for --at is out of range' \
    h enqueue send_mail --at 1970-01-01T00:30:00+01:00
expect_fail 65 'time "9999-12-31T23:30:00-01:00" for --at is out of range' \
    h enqueue send_mail --at 9999-12-31T23:30:00-01:00
expect_fail 65 'line 1 of standard input: time "1969-12-31T23:59:59Z" for run_at is out of range' \
    sh -c 'echo "{\"task\": \"send_mail\", \"run_at\": \"1969-12-31T23:59:59Z\"}" |
    "$0" -d "$1" enqueue --from -' "$HERALD" "$JOB_DB"
# Without a file the job goes to queue default, with a note on it.
h enqueue send_mail >/dev/null 2>"$TEST_DIR/note.err" ||
    fail "enqueue without a configuration failed"
grep -q '^herald: note: no configuration file was read, so job [0-9]* went to queue "default"; give -c FILE or --queue' \
    "$TEST_DIR/note.err" || fail "no note of the default queue: $(cat "$TEST_DIR/note.err")"
h enqueue send_mail --queue elsewhere >/dev/null 2>"$TEST_DIR/note.err" ||
    fail "enqueue with --queue failed"
[ ! -s "$TEST_DIR/note.err" ] ||
    fail "enqueue with --queue printed: $(cat "$TEST_DIR/note.err")"
# A date alone is its midnight in UTC.
date_id=$(h enqueue send_mail --at 2031-05-06) ||
    fail "enqueue --at with a date alone failed"
sql_is "SELECT run_at = '2031-05-06 00:00:00+00' FROM herald.live_jobs
    WHERE id = $date_id" t || fail "--at 2031-05-06 is not its midnight in UTC"
expect_fail 65 '"2031-05-06T" for --at' h enqueue send_mail --at 2031-05-06T
expect_fail 65 '"5 parsecs" for --in' h enqueue send_mail --in '5 parsecs'
expect_fail 65 '"-5s" for --in' h enqueue send_mail --in -5s
expect_fail 65 'duration "400d" for --in is out of range: the maximum is 366d' \
    h enqueue send_mail --in 400d
expect_fail 2 '--at and --in' \
    h enqueue send_mail --at 2026-12-04T18:00:00Z --in 5m

note "unique keys"
expect_fail 65 'invalid key for --unique: use 1 to 255 bytes' \
    h enqueue send_mail --unique ''
expect_fail 65 '"soon" for --unique-for' \
    h enqueue send_mail --unique k --unique-for soon
expect_fail 65 'duration "500d" for --unique-for is out of range: the maximum is 366d' \
    h enqueue send_mail --unique k --unique-for 500d
expect_fail 65 '"done" for --unique-states' \
    h enqueue send_mail --unique k --unique-states done
expect_fail 2 '--unique-for and --unique-states need --unique' \
    h enqueue send_mail --unique-for 5m

note "numbers"
expect_fail 65 '"40000" for --priority.*-32768 to 32767' \
    h enqueue send_mail --priority 40000
expect_fail 65 '"-40000" for --priority.*-32768 to 32767' \
    h enqueue send_mail --priority -40000
expect_fail 65 '"99999999999999999999" for --priority' \
    h enqueue send_mail --priority 99999999999999999999
expect_fail 65 '"0" for --max-attempts.*1 to 1000' \
    h enqueue send_mail --max-attempts 0
expect_fail 65 '"1001" for --max-attempts.*1 to 1000' \
    h enqueue send_mail --max-attempts 1001
expect_fail 65 '"high" for --priority' h enqueue send_mail --priority high
expect_fail 65 '"3x" for --max-attempts' \
    h enqueue send_mail --max-attempts 3x
expect_fail 65 '"" for --priority' h enqueue send_mail --priority ''
expect_fail 65 '"ten" for --limit' h jobs --limit ten

note "configuration files"
cat >"$TEST_DIR/wrong-type.conf" <<EOF
job_db = "$JOB_DB";
queues = {
  mail = { workers = "two"; };
};
tasks = {
  send_mail = { queue = "mail"; exec = [ "/bin/true" ]; };
};
EOF
cat >"$TEST_DIR/missing.conf" <<EOF
job_db = "$JOB_DB";
queues = { mail = { workers = 1; }; };
tasks = {
  send_mail = {
    exec = [ "/bin/true" ];
  };
};
EOF
expect_fail 78 'wrong-type\.conf:3: .*workers' \
    "$HERALD" -c "$TEST_DIR/wrong-type.conf" enqueue send_mail
expect_fail 78 'wrong-type\.conf:3: .*workers' \
    "$HERALDD" --check -c "$TEST_DIR/wrong-type.conf"
expect_fail 78 'missing\.conf:4: .*"queue"' \
    "$HERALD" -c "$TEST_DIR/missing.conf" enqueue send_mail
expect_fail 78 'missing\.conf:4: .*"queue"' \
    "$HERALDD" --check -c "$TEST_DIR/missing.conf"
expect_fail 78 'no-such\.conf' \
    "$HERALD" -c "$TEST_DIR/no-such.conf" status
# heraldd has heraldd-child parse connection strings with libpq.
cat >"$TEST_DIR/bad-conninfo.conf" <<EOF
job_db = "$JOB_DB";
app_db = "host=/tmp bogus_keyword=1";
allow_root_handlers = true;
queues = { mail = { workers = 1; }; };
tasks = { send_mail = { queue = "mail"; exec = [ "/bin/true" ]; }; };
EOF
expect_fail 78 'bad-conninfo\.conf:2: app_db: invalid connection string: unknown option "bogus_keyword"' \
    "$HERALDD" --check -c "$TEST_DIR/bad-conninfo.conf"
expect_fail 78 'bad-conninfo\.conf:2: app_db: invalid connection string' \
    "$HERALDD" -c "$TEST_DIR/bad-conninfo.conf"
# Values that libpq checks only when it connects, and a bare name that is
# not one word.
sed 's/bogus_keyword=1/connect_timeout=abc/' "$TEST_DIR/bad-conninfo.conf" \
    >"$TEST_DIR/bad-value.conf"
expect_fail 78 'bad-value\.conf:2: app_db: invalid connection string: invalid connect_timeout "abc"; use a whole number' \
    "$HERALDD" --check -c "$TEST_DIR/bad-value.conf"
sed 's/bogus_keyword=1/port=5432,5433,5434/' "$TEST_DIR/bad-conninfo.conf" \
    >"$TEST_DIR/bad-ports.conf"
expect_fail 78 'bad-ports\.conf:2: app_db: invalid connection string: port lists 3 ports for 1 host; give one port for all hosts or one per host' \
    "$HERALDD" --check -c "$TEST_DIR/bad-ports.conf"
sed 's/bogus_keyword=1/ssl_min_protocol_version=TLSv1.3 ssl_max_protocol_version=TLSv1.2/' \
    "$TEST_DIR/bad-conninfo.conf" >"$TEST_DIR/bad-tls.conf"
expect_fail 78 'bad-tls\.conf:2: app_db: invalid connection string: ssl_min_protocol_version "TLSv1.3" is above ssl_max_protocol_version "TLSv1.2"' \
    "$HERALDD" --check -c "$TEST_DIR/bad-tls.conf"
sed 's|app_db = .*|app_db = "not a conninfo";|' "$TEST_DIR/bad-conninfo.conf" \
    >"$TEST_DIR/bad-name.conf"
expect_fail 78 "bad-name\\.conf:2: app_db: invalid connection string: neither key=value pairs, a URI nor a database name; write a name with spaces as dbname='NAME'" \
    "$HERALDD" --check -c "$TEST_DIR/bad-name.conf"
# A heraldd without its heraldd-child beside it or in pkglibexecdir.
mkdir "$TEST_DIR/lonely"
cp "$HERALDD" "$TEST_DIR/lonely/heraldd"
[ -x /usr/local/libexec/herald/heraldd-child ] ||
    expect_fail 72 'cannot run .*/heraldd-child: No such file or directory .*also looked in .*/lonely, its own directory\)' \
        "$TEST_DIR/lonely/heraldd" --check -c "$TEST_DIR/bad-conninfo.conf"
# Only regular files, FIFOs and pipes are read.  Opening a FIFO without a
# writer must not wait for one, and timeout ends a command that hangs.
mkfifo "$TEST_DIR/fifo.conf"
expect_fail 78 'fifo\.conf: could not read configuration file: it is a FIFO or pipe and nothing was written to it' \
    timeout 10 "$HERALDD" --check -c "$TEST_DIR/fifo.conf"
expect_fail 78 'fifo\.conf: could not read configuration file: it is a FIFO or pipe and nothing was written to it' \
    timeout 10 "$HERALD" -c "$TEST_DIR/fifo.conf" status
expect_fail 78 '/dev/zero: could not read configuration file: it is not a regular file' \
    timeout 10 "$HERALDD" --check -c /dev/zero
cat "$HERALD_CONF" | "$HERALDD" --check -c /dev/stdin >"$TEST_DIR/stdout" ||
    fail "heraldd --check rejected a configuration read from a pipe"

note "heraldd-child started by hand"
child=$(dirname "$HERALDD")/heraldd-child
expect_fail 64 'heraldd starts this program .*; run heraldd instead' \
    "$child" worker mail
expect_fail 70 'error="invalid child specification at line 1"' \
    "$child" worker mail 3</etc/passwd
# spec ROLE: write a child specification for ROLE with this test's file.
spec() {
    printf 'version %s\nrole %s\npath %d\n%s\nconfig %d\n' \
        "$("$HERALDD" --version | cut -d' ' -f2-)" "$1" \
        "${#HERALD_CONF}" "$HERALD_CONF" "$(wc -c <"$HERALD_CONF")"
    cat "$HERALD_CONF"
    echo
}
spec bogus >"$TEST_DIR/bogus.spec"
expect_fail 64 'msg="unknown child role" role=bogus .*child_role=bogus' \
    "$child" bogus 3<"$TEST_DIR/bogus.spec"
spec check >"$TEST_DIR/check.spec"
"$child" check 3<"$TEST_DIR/check.spec" >"$TEST_DIR/stdout" ||
    fail "heraldd-child check rejected $HERALD_CONF: $(cat "$TEST_DIR/stdout")"

note "command line"
expect_fail 2 'unrecognized command "enqeue"' h enqeue send_mail
expect_fail 2 'unrecognized option "--colour"' h status --colour
expect_fail 2 'unrecognized option "--bogus"' "$HERALD" --bogus status
expect_fail 2 'unrecognized option "-z"' h enqueue send_mail -z
expect_fail 2 'option "--json" takes no argument' h dead list --json=yes
expect_fail 2 'unrecognized option "--jsn"' h dead list --jsn=yes
expect_fail 2 'option "--uni" is ambiguous: it may be --unique, --unique-for or --unique-states' \
    h enqueue send_mail --uni k
expect_fail 2 'option "--unique-" is ambiguous: it may be --unique-for or --unique-states' \
    h enqueue send_mail --unique k --unique-=1h
expect_fail 2 'unrecognized option "-c" for status; global options go before the command, as in "herald -c FILE status"' \
    "$HERALD" status -c "$HERALD_CONF"
expect_fail 2 'unrecognized option "--dbname" for jobs; global options go before the command, as in "herald --dbname CONNINFO jobs"' \
    "$HERALD" jobs --dbname="$JOB_DB"
expect_fail 2 '"--payload" requires an argument' \
    h enqueue send_mail --payload
expect_fail 2 'no task given' h enqueue
expect_fail 2 'unexpected argument "extra"' h enqueue send_mail extra
expect_fail 2 'no command given' "$HERALD"
expect_fail 65 'invalid queue name "bad q": a space at position 4' h jobs --queue 'bad q'
expect_fail 2 'dead list takes no ids' h dead list extra
expect_fail 65 "invalid task name \"a/b\": character '/' at position 2" h jobs --task a/b

note "usage blocks align"
# check_usage WHAT FILE: in the usage block of FILE, from the line that
# starts with "usage:" or "Usage:" to the next empty or "Try" line, each
# "herald" line starts where the first one's "herald" does, and each
# wrapped line starts further right.
check_usage() {
    awk -v what="$1" '
        /^[Uu]sage:/ { inside = 1; column = index($0, "herald"); next }
        inside && (/^$/ || /^Try /) { inside = 0 }
        inside && column == 0 && /^ *herald / { column = index($0, "herald") }
        inside && /^ *herald / {
            if (index($0, "herald") != column)
                print what ": misaligned: " $0
        }
        inside && /^ *\[/ {
            if (match($0, /[^ ]/) <= column)
                print what ": wrapped line not indented: " $0
        }' "$2"
}
for command in "" migrate enqueue status jobs dead queue job periodic \
    console metrics config; do
    "$HERALD" $command --help >"$TEST_DIR/help" ||
        fail "herald $command --help failed"
    "$HERALD" $command --bogus >/dev/null 2>"$TEST_DIR/usage"
    check_usage "herald $command --help" "$TEST_DIR/help"
    check_usage "herald $command --bogus" "$TEST_DIR/usage"
    grep -q '^[Uu]sage:' "$TEST_DIR/help" ||
        fail "herald $command --help prints no usage"
    grep -q '^usage: ' "$TEST_DIR/usage" ||
        fail "herald $command --bogus prints no usage"
done >"$TEST_DIR/misaligned"
[ ! -s "$TEST_DIR/misaligned" ] ||
    fail "usage lines are misaligned: $(cat "$TEST_DIR/misaligned")"

note "databases"
expect_fail 69 'could not connect to job database' \
    "$HERALD" -d "host=/nonexistent-dir password=hunter2" enqueue send_mail
grep -q hunter2 "$TEST_DIR/stderr" && fail "the password was printed"
# libpq's lines are joined into one, with their sentences kept apart.
grep -q 'No such file or directory. Is the server running' \
    "$TEST_DIR/stderr" ||
    fail "libpq's lines ran together: $(cat "$TEST_DIR/stderr")"
grep -q "hint: no configuration file" "$TEST_DIR/stderr" &&
    fail "a hint about the configuration came with -d"
# With no -d and no configuration, the guess of libpq's defaults is named.
expect_fail 69 'hint: no configuration file was found, so libpq.s defaults and PG\* variables were used; give -c FILE, HERALD_CONFIG or -d CONNINFO' \
    env -u HERALD_CONFIG PGHOST=/nonexistent-dir "$HERALD" status
# A connection string that cannot work is bad data, not an unavailable
# database that a retry could reach.
expect_fail 65 'invalid connection string given with -d: invalid sslmode "bogus"; use disable, allow, prefer, require, verify-ca or verify-full' \
    "$HERALD" -d "$JOB_DB sslmode=bogus" status
expect_fail 65 'invalid connection string given with -d: invalid connect_timeout "abc"; use a whole number' \
    "$HERALD" -d "$JOB_DB connect_timeout=abc" enqueue send_mail
expect_fail 65 'invalid connection string given with -d: libpq cannot parse it' \
    "$HERALD" -d "host='/tmp password=hunter2" jobs
grep -q hunter2 "$TEST_DIR/stderr" && fail "the password was printed"
expect_fail 65 'invalid connection string given with -d: port lists 2 ports for 1 host' \
    "$HERALD" -d "host=/tmp port=5432,5433" migrate --app
empty_db="${TEST_DB}_empty"
admin_sql "CREATE DATABASE \"$empty_db\"" >/dev/null ||
    fail "could not create database $empty_db"
status=0
"$HERALD" -d "$HERALD_TEST_CONNINFO dbname=$empty_db password=hunter2" \
    enqueue send_mail >"$TEST_DIR/stdout" 2>"$TEST_DIR/stderr" || status=$?
# heraldd refuses to start on a database nobody migrated.
cat >"$TEST_DIR/empty.conf" <<EOF2
job_db = "$HERALD_TEST_CONNINFO dbname=$empty_db";
allow_root_handlers = true;
queues = { q = {}; };
tasks = { t = { queue = "q"; exec = [ "/bin/true" ]; }; };
EOF2
heraldd_status=0
"$HERALDD" -c "$TEST_DIR/empty.conf" 2>"$TEST_DIR/heraldd-empty.err" ||
    heraldd_status=$?
[ "$heraldd_status" -eq 78 ] ||
    fail "heraldd on an empty database exited $heraldd_status"
grep -q 'herald migrate' "$TEST_DIR/heraldd-empty.err" ||
    fail "heraldd gave no hint to run herald migrate: $(cat "$TEST_DIR/heraldd-empty.err")"
# herald status exits as heraldd does, and as enqueue above.
status_status=0
"$HERALD" -d "$HERALD_TEST_CONNINFO dbname=$empty_db" status \
    >/dev/null 2>"$TEST_DIR/status-empty.err" || status_status=$?
[ "$status_status" -eq 78 ] ||
    fail "herald status on an empty database exited $status_status"
empty_rows=$(psql "$HERALD_TEST_CONNINFO dbname=$empty_db" -XAtq -c \
    "SELECT count(*) FROM pg_tables WHERE schemaname = 'herald'")
admin_sql "DROP DATABASE \"$empty_db\"" >/dev/null
[ "$status" -eq 78 ] || fail "enqueue without the schema exited $status"
grep -q 'herald migrate' "$TEST_DIR/stderr" ||
    fail "no hint to run herald migrate: $(cat "$TEST_DIR/stderr")"
# The hint names the database, so the migration goes to the right one.
grep -q "job database \"$empty_db\" on [^ ]* port [0-9]* has no herald schema" \
    "$TEST_DIR/stderr" ||
    fail "the hint does not name the database: $(cat "$TEST_DIR/stderr")"
grep -q hunter2 "$TEST_DIR/stderr" && fail "the password was printed"
[ "$empty_rows" = 0 ] || fail "enqueue created herald tables"
# A database that does not exist may be created later, so heraldd starts,
# but logs once, with the database's name and without the server's text,
# why it cannot connect.
sed "s/dbname=$empty_db/dbname=${TEST_DB}_missing/" "$TEST_DIR/empty.conf" \
    >"$TEST_DIR/missing-db.conf"
"$HERALDD" -c "$TEST_DIR/missing-db.conf" 2>"$TEST_DIR/heraldd-missing.err" &
missing_pid=$!
wait_for 10 "heraldd to name the missing database" grep -q \
    "level=warn msg=\"could not connect before the start, starting anyway\" .*database=\"job database\" host=[^ ]* port=[^ ]* dbname=${TEST_DB}_missing user=[^ ]* error=\"database does not exist\" sqlstate=3D000\$" \
    "$TEST_DIR/heraldd-missing.err"
# The children log the cause as an SQLSTATE and its condition, without
# the server's text.
wait_for 10 "a worker to log the missing database" grep -q \
    'msg="could not connect to job database" .*error="database does not exist" sqlstate=3D000 ' \
    "$TEST_DIR/heraldd-missing.err"
kill -TERM "$missing_pid"
wait_for 10 "heraldd to stop" not_alive "$missing_pid"
wait "$missing_pid"
# A handler program that is missing is a warning, with its path, from
# --check and in the log.
sed 's|/bin/true|/nonexistent/handler|' "$TEST_DIR/missing-db.conf" \
    >"$TEST_DIR/no-program.conf"
"$HERALDD" --check -c "$TEST_DIR/no-program.conf" >/dev/null \
    2>"$TEST_DIR/no-program.err" ||
    fail "a missing handler program failed --check"
grep -q 'warning: .*tasks.t.exec: "/nonexistent/handler" is not an executable file' \
    "$TEST_DIR/no-program.err" ||
    fail "--check did not warn: $(cat "$TEST_DIR/no-program.err")"
"$HERALDD" -c "$TEST_DIR/no-program.conf" 2>"$TEST_DIR/no-program.log" &
missing_pid=$!
wait_for 10 "the warning in the log" grep -q \
    'msg="handler program not executable" .*program=/nonexistent/handler' \
    "$TEST_DIR/no-program.log"
# A reload warns again, since the program may have gone since the start.
warned_twice() {
    [ "$(grep -c 'msg="handler program not executable"' \
        "$TEST_DIR/no-program.log")" -ge 2 ]
}
kill -HUP "$missing_pid"
wait_for 10 "the warning again after a reload" warned_twice
kill -TERM "$missing_pid"
wait_for 10 "heraldd to stop" not_alive "$missing_pid"
wait "$missing_pid"
# A command pointed at the application database reports that, rather
# than asking to migrate it into a job database.
create_app_db
app_status=0
"$HERALD" -d "$APP_DB" status >/dev/null 2>"$TEST_DIR/status-app.err" ||
    app_status=$?
[ "$app_status" -eq 78 ] ||
    fail "herald status on the application database exited $app_status"
grep -q "job database \"$APP_NAME\" on [^ ]* port [0-9]* has no job schema but the application schema; check that it is the job database" \
    "$TEST_DIR/status-app.err" ||
    fail "the message does not say it is the application database: $(cat "$TEST_DIR/status-app.err")"
# herald migrate does not put the job schema into the application
# database, nor the application schema into the job database.
expect_fail 78 "could not migrate job database: \"$APP_NAME\" on [^ ]* port [0-9]* has the application schema and no job schema; check that the connection string names the job database; nothing was changed" \
    "$HERALD" -d "$APP_DB" migrate
expect_fail 78 "could not migrate application database: \"$TEST_DB\" on [^ ]* port [0-9]* has the job schema and no application schema" \
    "$HERALD" -d "$HERALD_TEST_CONNINFO dbname=$TEST_DB" migrate --app
sql_is "SELECT to_regclass('herald.app_migrations') IS NULL" t ||
    fail "the application schema went into the job database"
[ "$(psql "$APP_DB" -XAtqc "SELECT to_regclass('herald.migrations') IS NULL")" = t ] ||
    fail "the job schema went into the application database"
# heraldd names the command that migrates an application database.
admin_sql "DROP DATABASE \"$APP_NAME\"" >/dev/null
admin_sql "CREATE DATABASE \"$APP_NAME\"" >/dev/null
printf 'job_db = "%s";\napp_db = "%s";\nqueues = { q = {}; };\ntasks = { t = { queue = "q"; exec = [ "/bin/true" ]; }; };\n' \
    "$HERALD_TEST_CONNINFO dbname=$TEST_DB" "$APP_DB" >"$TEST_DIR/bare-app.conf"
echo "allow_root_handlers = true;" >>"$TEST_DIR/bare-app.conf"
expect_fail 78 "application database \"$APP_NAME\" on [^ ]* port [0-9]* has no herald schema; run \"herald migrate --app\" on it" \
    "$HERALDD" -c "$TEST_DIR/bare-app.conf"

note "dead jobs"
expect_fail 1 'dead job 999999 not found' h dead retry 999999
expect_fail 1 'dead job 999999 not found' h dead purge 999999
expect_fail 1 'dead job 999999 not found' h dead show 999999
# One id gets one line, which names it.
[ "$(grep -c . "$TEST_DIR/stderr")" -eq 1 ] ||
    fail "dead show of one missing id printed more than one line: $(cat "$TEST_DIR/stderr")"
h dead retry 999999 2>"$TEST_DIR/stderr" && fail "dead retry 999999 succeeded"
[ "$(cat "$TEST_DIR/stderr")" = "herald: dead job 999999 not found" ] ||
    fail "dead retry of one missing id printed: $(cat "$TEST_DIR/stderr")"
expect_fail 2 'no dead job id given; dead show takes one id' h dead show --json
expect_fail 2 'dead show takes one id, not 2' h dead show 1 2
expect_fail 2 'dead show takes no option other than --json' \
    h dead show --queue mail 1

# A list with one missing id changes nothing, not even the ids it found.
dead_id=$(enqueue send_mail "queue => 'mail'")
token=$(sql "SELECT lease_token FROM herald.claim('mail', 'test', 1, 60000)
    WHERE id = $dead_id")
[ "$(sql "SELECT herald.fail($dead_id, $token, '{}', true, 0)")" = dead ] ||
    fail "could not make job $dead_id dead"
expect_fail 1 'no dead job was retried' h dead retry "$dead_id" 999999
expect_fail 1 'no dead job was purged' h dead purge "$dead_id" 999999 999999
sql_is "SELECT count(*) FROM herald.dead_jobs WHERE id = $dead_id" 1 ||
    fail "a list with a missing id changed dead job $dead_id"
[ "$(grep -c 'dead job 999999 not found' "$TEST_DIR/stderr")" -eq 1 ] ||
    fail "an id listed twice was reported twice: $(cat "$TEST_DIR/stderr")"
# A live job is named with its state, in the one message of a single id
# and beside the missing ids of a list.
live_id=$(enqueue send_mail "queue => 'mail'")
expect_fail 1 "^herald: job $live_id is queued, not dead; herald job show $live_id shows it\$" \
    h dead retry "$live_id"
expect_fail 1 "job $live_id is queued, not dead" h dead purge "$live_id" 999999
grep -q 'dead job 999999 not found' "$TEST_DIR/stderr" ||
    fail "the missing id was not reported: $(cat "$TEST_DIR/stderr")"
# A job waiting for its next attempt is named as herald jobs names it.
waiting_id=$(enqueue send_mail "queue => 'mail', run_at => now() + interval '1 hour'")
sql "SELECT herald.move_inbox(NULL, ARRAY[$waiting_id::bigint]);
    UPDATE herald.jobs SET attempt = 1 WHERE id = $waiting_id" >/dev/null
expect_fail 1 "^herald: job $waiting_id is retrying, not dead" \
    h dead show "$waiting_id"
expect_fail 65 'invalid job id "abc"' h dead retry abc
expect_fail 65 'invalid job id "99999999999999999999": out of range; ids go up to 9223372036854775807' \
    h job cancel 99999999999999999999
expect_fail 2 'no dead job ids given' h dead retry
expect_fail 2 'only with --all' h dead purge --queue mail 1
expect_fail 2 'unrecognized action "resurrect"' h dead resurrect 1

expect_fail 65 'invalid queue name' h dead list --queue 'bad q'
expect_fail 65 'duration "999d" for --older-than is out of range: the maximum is 366d' \
    h dead purge --all --older-than 999d
expect_fail 65 'invalid task name' h dead retry --all --task 'bad/t'
# An empty pattern, as from an unset variable, would select every dead job.
dead_before=$(sql "SELECT count(*) FROM herald.dead_jobs")
[ "$dead_before" -ge 1 ] || fail "no dead job left to protect"
expect_fail 65 '^herald: --grep pattern is empty' \
    h dead purge --all --grep '' --yes
sql_is "SELECT count(*) FROM herald.dead_jobs" "$dead_before" ||
    fail "dead purge --grep '' purged dead jobs"

note "output that cannot be written"
# With standard output closed, the database connection must not take its
# descriptor and receive the id, and the id cannot be written: no job.
before=$(jobs_count)
status=0
h enqueue send_mail >&- 2>"$TEST_DIR/stderr" || status=$?
[ "$status" -eq 1 ] ||
    fail "enqueue with standard output closed exited $status, expected 1"
grep -q '^herald: could not write to standard output; no job was enqueued$' \
    "$TEST_DIR/stderr" ||
    fail "enqueue with standard output closed: $(cat "$TEST_DIR/stderr")"
[ "$(jobs_count)" -eq "$before" ] ||
    fail "enqueue with standard output closed enqueued a job"
# More JSON than one stdio buffer holds, so that the failed write is
# jansson's and not the final flush.
sql "SELECT herald.enqueue('send_mail', queue => 'mail')
    FROM generate_series(1, 100)" >/dev/null
status=0
h jobs --json -n 1000 >/dev/full 2>"$TEST_DIR/stderr" || status=$?
[ "$status" -eq 1 ] || fail "jobs --json to a full device exited $status"
grep -q '^herald: could not write to standard output$' "$TEST_DIR/stderr" ||
    fail "jobs --json: unexpected message: $(cat "$TEST_DIR/stderr")"
# An enqueue whose id cannot be printed keeps no job, so that a script
# that gets the failure may enqueue again.
before=$(jobs_count)
status=0
h enqueue send_mail --payload '{}' >/dev/full 2>"$TEST_DIR/stderr" ||
    status=$?
[ "$status" -eq 1 ] || fail "enqueue to a full device exited $status"
grep -q 'could not write to standard output; no job was enqueued' \
    "$TEST_DIR/stderr" ||
    fail "enqueue: unexpected message: $(cat "$TEST_DIR/stderr")"
status=0
printf '{"task": "send_mail"}\n{"task": "send_mail"}\n' |
    h enqueue --from - >/dev/full 2>"$TEST_DIR/stderr" || status=$?
[ "$status" -eq 1 ] || fail "enqueue --from to a full device exited $status"
grep -q 'could not write to standard output; no job was enqueued' \
    "$TEST_DIR/stderr" ||
    fail "enqueue --from: unexpected message: $(cat "$TEST_DIR/stderr")"
[ "$(jobs_count)" = "$before" ] ||
    fail "enqueues whose ids could not be written kept their jobs"

note "heraldd command line"
expect_fail 2 'heraldd: unrecognized option "--bogus"' "$HERALDD" --bogus
expect_fail 2 'heraldd: option "-c" requires an argument' "$HERALDD" -c
expect_fail 2 'heraldd: option "--config" requires an argument' \
    "$HERALDD" --config
expect_fail 2 'heraldd: option "--check" takes no argument' \
    "$HERALDD" --check=yes
expect_fail 2 'heraldd: option "--c" is ambiguous: it may be --config or --check' \
    "$HERALDD" --c
# A bad letter in a group after a long option is named, not the option.
expect_fail 2 'heraldd: unrecognized option "-z"' "$HERALDD" --check -zv
expect_fail 2 'heraldd: unrecognized option "--"' "$HERALDD" --=x
expect_fail 2 'heraldd: unexpected argument "extra"' "$HERALDD" extra

exit 0
