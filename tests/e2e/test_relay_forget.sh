#!/bin/sh
# herald relay forget removes the report of an application database that
# no relay serves any more, and with it herald status's warning.  A fresh
# report is kept, and a name that two application databases share must
# be given as an origin, which herald status then shows beside it.  Each
# removal is recorded in herald.audit.

. "$HERALD_SRCDIR/tests/e2e/lib.sh"

unset HERALD_CONFIG

h() {
    "$HERALD" -d "$JOB_DB" "$@"
}

# expect_error STATUS PATTERN ARG...: herald ARG... exits with STATUS, its
# standard error matches PATTERN, and every report stays.
expect_error() {
    _want=$1
    _pattern=$2
    shift 2
    _status=0
    h "$@" >"$TEST_DIR/out" 2>"$TEST_DIR/err" || _status=$?
    [ "$_status" -eq "$_want" ] ||
        fail "herald $* exited with $_status, expected $_want: $(cat "$TEST_DIR/err")"
    grep -Eq -- "$_pattern" "$TEST_DIR/err" ||
        fail "herald $*: message does not match \"$_pattern\": $(cat "$TEST_DIR/err")"
    [ ! -s "$TEST_DIR/out" ] ||
        fail "herald $* printed: $(cat "$TEST_DIR/out")"
    sql_is "SELECT count(*) FROM herald.relay_status" 4 ||
        fail "herald $* changed the reports"
}

sql "INSERT INTO herald.relay_status
        (origin, database, backlog, relayed_total, dropped_total, updated_at)
    VALUES ('111/1', 'shop', 0, 10, 0, now() - interval '1 hour'),
        ('222/1', 'app1', 0, 5, 0, now() - interval '1 hour'),
        ('333/1', 'app1', 2, 7, 0, now()),
        ('444/1', 'live', 0, 1, 0, now())" >/dev/null ||
    fail "could not insert the relay reports"

note "status names a shared name with its origin, and points to forget"
h status >"$TEST_DIR/status" || fail "herald status failed"
grep -A1 '^outbox shop: no report for ' "$TEST_DIR/status" |
    grep -q '^  check that a relay runs for it, or run herald relay forget' ||
    fail "no warning about shop: $(cat "$TEST_DIR/status")"
grep -Eq '^app1 \(222/1\) ' "$TEST_DIR/status" ||
    fail "app1 is not named with its origin: $(cat "$TEST_DIR/status")"
grep -Eq '^shop +[?] +[?] +10 +0 ' "$TEST_DIR/status" ||
    fail "shop's old backlog is not shown as unknown: $(cat "$TEST_DIR/status")"
# A failed relay is listed before the outboxes' warnings, which then
# point to it instead of to forget.
sql "INSERT INTO herald.failed_children (supervisor_id, role, failures)
    VALUES ('gone-supervisor', 'relay', 5)" >/dev/null ||
    fail "could not mark a relay failed"
h status >"$TEST_DIR/status" || fail "herald status failed"
sed -n '/^failed: relay on /,$p' "$TEST_DIR/status" |
    grep -A1 '^outbox shop: no report for ' |
    grep -q '^  a relay failed (above): fix its cause, then reload that heraldd$' ||
    fail "the warning does not follow the failed relay: $(cat "$TEST_DIR/status")"
grep -q 'herald relay forget' "$TEST_DIR/status" &&
    fail "status points to forget beside a failed relay: $(cat "$TEST_DIR/status")"
sql "DELETE FROM herald.failed_children" >/dev/null
h status --json >"$TEST_DIR/status.json" || fail "status --json failed"
grep -q '"origin": "222/1"' "$TEST_DIR/status.json" ||
    fail "status --json lacks the origin"
grep -q '"stale": true' "$TEST_DIR/status.json" ||
    fail "status --json does not mark the old reports"

note "what is not forgotten"
expect_error 1 'the relay of "live" reported [0-9]+ ms ago; remove app_db' \
    relay forget live
expect_error 65 '2 application databases are named "app1"; name one by its origin' \
    relay forget app1
grep -Eqx 'herald:   222/1, last report 3[0-9]{3} s ago' "$TEST_DIR/err" ||
    fail "the origins of app1 are not listed: $(cat "$TEST_DIR/err")"
expect_error 1 'no relay report names "nowhere"' relay forget nowhere
# A control byte in a name reaches the terminal as '?'.
expect_error 1 'no relay report names "x[?]y"' relay forget "$(printf 'x\033y')"
expect_error 2 'no action given' relay
expect_error 2 'unrecognized action "drop"' relay drop shop
expect_error 2 'no application database given' relay forget
expect_error 2 'unexpected argument "app1"' relay forget shop app1
expect_error 65 'the name is empty' relay forget ''

note "status prints a control byte of a database name as '?'"
sql "INSERT INTO herald.relay_status (origin, database, backlog)
    VALUES ('555/1', E'odd\\x1b[31mname', 0)" >/dev/null ||
    fail "could not insert the report of odd"
h status >"$TEST_DIR/status" || fail "herald status failed"
grep -q '^odd?\[31mname ' "$TEST_DIR/status" ||
    fail "the control byte was not replaced: $(od -c "$TEST_DIR/status" | head)"
sql "DELETE FROM herald.relay_status WHERE origin = '555/1'" >/dev/null

note "forget by name and by origin"
out=$(h relay forget shop) || fail "herald relay forget shop failed"
[ "$out" = 'forgot the relay report of "shop" (origin 111/1)' ] ||
    fail "forget printed: $out"
h relay forget 222/1 >/dev/null || fail "herald relay forget 222/1 failed"
sql_is "SELECT string_agg(origin, ',' ORDER BY origin)
    FROM herald.relay_status" "333/1,444/1" ||
    fail "reports left: $(sql "SELECT origin FROM herald.relay_status")"
sql_is "SELECT string_agg(filter || ':' || rows, ',' ORDER BY id)
    FROM herald.audit WHERE action = 'relay forget'" \
    "database shop, origin 111/1:1,database app1, origin 222/1:1" ||
    fail "audit rows: $(sql "SELECT action, filter, rows FROM herald.audit")"
# The report of app1 is fresh, as its running relay keeps it.
sql "UPDATE herald.relay_status SET updated_at = now()
    WHERE origin = '333/1'" >/dev/null
h status >"$TEST_DIR/status" || fail "herald status failed"
! grep -q 'shop' "$TEST_DIR/status" ||
    fail "status still shows shop: $(cat "$TEST_DIR/status")"
grep -Eq '^app1 +2 ' "$TEST_DIR/status" ||
    fail "app1 is still named with its origin: $(cat "$TEST_DIR/status")"
exit 0
