#!/bin/sh
# A herald_viewer login reads every listing of the command line, dead
# jobs included, through the redacted views: no payload or output reaches
# it.  dead list --grep, which needs the output, fails, as does an
# enqueue, with one "could not enqueue" in front of the server's message
# and a hint that names herald_producer.  A login with no herald role
# gets a hint that names the roles to grant, and heraldd run as a viewer
# logs that its role needs herald_worker.

. "$HERALD_SRCDIR/tests/e2e/lib.sh"

unset HERALD_CONFIG

VIEWER="herald_e2e_viewer_$$"
EXTRA_ROLES=$VIEWER
admin_sql "CREATE ROLE \"$VIEWER\" LOGIN IN ROLE herald_viewer" >/dev/null ||
    fail "could not create role $VIEWER"

as_viewer() {
    "$HERALD" -d "$JOB_DB user=$VIEWER" "$@"
}

dead=$(enqueue send_mail "queue => 'mail', payload => '{\"to\": \"CANARY-DEAD\"}'")
token=$(sql "SELECT lease_token FROM herald.claim('mail', 'test', 1, 60000)
    WHERE id = $dead")
[ -n "$token" ] || fail "could not claim job $dead"
[ "$(sql "SELECT herald.fail($dead, $token,
    '{\"exit_code\": 3, \"output\": \"CANARY-OUTPUT\"}', true, 0)")" = dead ] ||
    fail "could not make job $dead dead"
queued=$(enqueue send_mail "queue => 'mail', payload => '{\"to\": \"CANARY-QUEUED\"}'")

# check_listing NAME COMMAND...: run COMMAND, which must succeed and
# print no payload or output, keeping its output in $TEST_DIR/NAME.
check_listing() {
    _name=$1
    shift
    "$@" >"$TEST_DIR/$_name" 2>"$TEST_DIR/$_name.err" ||
        fail "$* failed: $(cat "$TEST_DIR/$_name.err")"
    ! grep -q CANARY "$TEST_DIR/$_name" "$TEST_DIR/$_name.err" ||
        fail "$* printed a payload or output: $(cat "$TEST_DIR/$_name")"
}

note "dead list falls back to the redacted view"
check_listing dead-list as_viewer dead list
grep -Eq "^ *$dead +send_mail +mail .* permanent .* exit 3$" \
    "$TEST_DIR/dead-list" ||
    fail "dead list does not show job $dead: $(cat "$TEST_DIR/dead-list")"
check_listing dead-list-json as_viewer dead list --json
grep -q "\"id\": $dead," "$TEST_DIR/dead-list-json" ||
    fail "dead list --json does not show job $dead"
grep -q '"last_end": "exit 3"' "$TEST_DIR/dead-list-json" ||
    fail "dead list --json lacks the exit code: $(cat "$TEST_DIR/dead-list-json")"
check_listing dead-list-filter as_viewer dead list --queue mail --exit-status 3
grep -Eq "^ *$dead " "$TEST_DIR/dead-list-filter" ||
    fail "dead list with filters does not show job $dead"

note "the other listings work for a viewer"
check_listing jobs as_viewer jobs
grep -Eq "^ *$queued +send_mail +mail +queued " "$TEST_DIR/jobs" ||
    fail "jobs does not show job $queued: $(cat "$TEST_DIR/jobs")"
check_listing jobs-json as_viewer jobs --json
check_listing job-show as_viewer job show "$queued"
grep -q '^  (hidden: this role may not read payloads)$' "$TEST_DIR/job-show" ||
    fail "job show does not say the payload is hidden: $(cat "$TEST_DIR/job-show")"
grep -Eq '^state: +queued$' "$TEST_DIR/job-show" ||
    fail "job show lacks the state: $(cat "$TEST_DIR/job-show")"
check_listing dead-show as_viewer dead show "$dead"
grep -q '^  (hidden: this role may not read payloads)$' "$TEST_DIR/dead-show" ||
    fail "dead show does not say the payload is hidden: $(cat "$TEST_DIR/dead-show")"
grep -Eq '^reason: +permanent$' "$TEST_DIR/dead-show" ||
    fail "dead show lacks the reason: $(cat "$TEST_DIR/dead-show")"
check_listing dead-show-json as_viewer dead show --json "$dead"
grep -q '"payload": null' "$TEST_DIR/dead-show-json" ||
    fail "dead show --json has a payload: $(cat "$TEST_DIR/dead-show-json")"
check_listing status as_viewer status
grep -Eq '^mail +1 +0 +0 +0 +1 ' "$TEST_DIR/status" ||
    fail "status does not count the jobs of mail: $(cat "$TEST_DIR/status")"
check_listing status-json as_viewer status --json
check_listing periodic as_viewer periodic
check_listing metrics as_viewer metrics
grep -q '^herald_dead_jobs{queue="mail",task="send_mail"} 1$' \
    "$TEST_DIR/metrics" || fail "metrics do not count the dead job"

note "what needs the output fails"
# --match reads payloads and output too.
for option in grep match; do
    status=0
    as_viewer dead list "--$option" canary >"$TEST_DIR/$option" \
        2>"$TEST_DIR/$option.err" || status=$?
    [ "$status" -eq 1 ] || fail "dead list --$option exited $status"
    [ ! -s "$TEST_DIR/$option" ] ||
        fail "dead list --$option printed: $(cat "$TEST_DIR/$option")"
    grep -q "could not list dead jobs with --$option: .*needs herald_console" \
        "$TEST_DIR/$option.err" ||
        fail "unexpected message: $(cat "$TEST_DIR/$option.err")"
done

note "an action without herald_console names the role it needs"
status=0
as_viewer dead retry "$dead" >/dev/null 2>"$TEST_DIR/retry.err" ||
    status=$?
[ "$status" -eq 1 ] || fail "dead retry as a viewer exited $status"
grep -q '^herald: this role may not act on jobs or queues: grant it herald_console' \
    "$TEST_DIR/retry.err" ||
    fail "unexpected message: $(cat "$TEST_DIR/retry.err")"
# The failure names the retry, not a read.
grep -q '^herald: could not retry dead jobs: permission denied' \
    "$TEST_DIR/retry.err" ||
    fail "the failure does not name the retry: $(cat "$TEST_DIR/retry.err")"
sql_is "SELECT count(*) FROM herald.dead_jobs WHERE id = $dead" 1 ||
    fail "a viewer retried dead job $dead"

note "an enqueue without producer rights names its failure once"
status=0
as_viewer enqueue send_mail >"$TEST_DIR/enqueue" 2>"$TEST_DIR/enqueue.err" ||
    status=$?
[ "$status" -eq 1 ] || fail "enqueue as a viewer exited $status"
[ "$(head -n 1 "$TEST_DIR/enqueue.err")" = \
    "herald: could not enqueue job: permission denied for view new_jobs" ] ||
    fail "unexpected message: $(cat "$TEST_DIR/enqueue.err")"
[ "$(sed -n 2p "$TEST_DIR/enqueue.err")" = "herald: hint: this role may not \
enqueue: grant it herald_producer (see security.md of herald's documentation)" ] ||
    fail "no hint names herald_producer: $(cat "$TEST_DIR/enqueue.err")"
status=0
echo '{"task": "send_mail"}' | as_viewer enqueue --from - \
    >"$TEST_DIR/enqueue" 2>"$TEST_DIR/enqueue.err" || status=$?
[ "$status" -eq 1 ] || fail "enqueue --from as a viewer exited $status"
grep -q '^herald: could not enqueue jobs: permission denied for function ' \
    "$TEST_DIR/enqueue.err" ||
    fail "unexpected message: $(cat "$TEST_DIR/enqueue.err")"
grep -q '^herald: hint: this role may not enqueue: grant it herald_producer' \
    "$TEST_DIR/enqueue.err" ||
    fail "no hint names herald_producer: $(cat "$TEST_DIR/enqueue.err")"

# denied ROLE PATTERN ARG...: herald ARG..., run as ROLE, exits 1 and
# prints a line that matches PATTERN on standard error.
denied() {
    _role=$1
    _pattern=$2
    shift 2
    _status=0
    "$HERALD" -d "$JOB_DB user=$_role" "$@" >"$TEST_DIR/denied" \
        2>"$TEST_DIR/denied.err" || _status=$?
    [ "$_status" -eq 1 ] || fail "herald $* as $_role exited $_status"
    grep -q -- "$_pattern" "$TEST_DIR/denied.err" ||
        fail "herald $* as $_role: unexpected message: $(cat "$TEST_DIR/denied.err")"
}

note "a read that the role may not do names herald_viewer"
PRODUCER="herald_e2e_producer_$$"
NOBODY="herald_e2e_nobody_$$"
EXTRA_ROLES="$VIEWER $PRODUCER $NOBODY"
admin_sql "CREATE ROLE \"$PRODUCER\" LOGIN IN ROLE herald_producer" \
    >/dev/null || fail "could not create role $PRODUCER"
denied "$PRODUCER" '^herald: this role may not read jobs: grant it herald_viewer' \
    dead show "$dead"

note "a login with no herald role is told which roles to grant"
admin_sql "CREATE ROLE \"$NOBODY\" LOGIN" >/dev/null ||
    fail "could not create role $NOBODY"
denied "$NOBODY" '^herald: could not read schema version: permission denied' \
    status
denied "$NOBODY" '^herald: hint: this role has none of herald.s roles; grant it herald_viewer' \
    status

note "heraldd run as a viewer names the grant it lacks"
cat >"$HERALD_CONF" <<EOF2
job_db = "$JOB_DB user=$VIEWER";
allow_root_handlers = true;
queues = { mail = { workers = 1; }; };
tasks = { send_mail = { queue = "mail"; exec = [ "/bin/true" ]; }; };
EOF2
touch "$HERALDD_LOG"
"$HERALDD" -c "$HERALD_CONF" 2>>"$HERALDD_LOG" &
HERALDD_PID=$!
wait_for 10 "the hint about herald_worker" log_has \
    "msg=\"could not connect to job database\" .*sqlstate=42501 .*hint=\"grant herald_worker to the role of job_db\" user=$VIEWER\$"
stop_heraldd 10

# Without CONNECT on the database, the hint names that grant instead.
admin_sql "REVOKE CONNECT ON DATABASE \"$TEST_DB\" FROM PUBLIC" >/dev/null ||
    fail "could not revoke CONNECT"
"$HERALDD" -c "$HERALD_CONF" 2>>"$HERALDD_LOG" &
HERALDD_PID=$!
wait_for 10 "the hint about CONNECT" log_has \
    'msg="could not connect to job database" .*sqlstate=42501 .*hint="grant CONNECT on the database to the role of job_db"'
stop_heraldd 10
exit 0
