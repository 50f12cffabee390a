#!/bin/sh
# Payloads and handler output never reach a log line: jobs whose payload
# holds a canary string succeed, fail, retry, die and come through the
# relay; their handlers print the canary; operators retry, purge, cancel
# and pause.  The canary then appears in no line of heraldd's log (at
# level debug) and in no output of a herald command, except herald dead
# show, which exists to show it.  herald dead show prints no control
# character a handler wrote.

. "${HERALD_SRCDIR:-.}/tests/e2e/lib.sh"

CANARY=c4n4ry-7f3e9b
APP_NAME="${TEST_DB}_app"
APP_DB="$HERALD_TEST_CONNINFO dbname=$APP_NAME"
EXTRA_DATABASES=$APP_NAME
OUT=$TEST_DIR/out
mkdir "$OUT"

admin_sql "CREATE DATABASE \"$APP_NAME\"" >/dev/null ||
    fail "could not create database $APP_NAME"
"$HERALD" -d "$APP_DB" migrate --app >"$OUT/migrate-app" 2>&1 ||
    fail "herald migrate --app failed: $(cat "$OUT/migrate-app")"

# Every handler echoes its payload to both outputs; the terminal title
# sequence tests what herald dead show prints.
write_handler handler.sh <<'EOF'
#!/bin/sh
payload=$(cat)
echo "stdout: $payload"
echo "stderr: $payload" >&2
case $HERALD_TASK in
ok|relayed) exit 0 ;;
flaky) [ "$HERALD_ATTEMPT" -ge 2 ] && exit 0; exit 75 ;;
broken) printf '\033]0;title\007\033[2J' >&2; exit 65 ;;
*) exit 75 ;;
esac
EOF

write_conf <<EOF
app_db = "$APP_DB";
queues = { q = { workers = 1; concurrency = 4; }; };
tasks = {
  ok = { queue = "q"; exec = [ "$TEST_DIR/handler.sh" ]; };
  flaky = { queue = "q"; exec = [ "$TEST_DIR/handler.sh" ];
    retry = { base_delay = "100ms"; max_delay = "100ms"; }; };
  broken = { queue = "q"; exec = [ "$TEST_DIR/handler.sh" ]; };
  exhausted = { queue = "q"; exec = [ "$TEST_DIR/handler.sh" ];
    retry = { max_attempts = 2; base_delay = "100ms"; max_delay = "100ms"; }; };
  relayed = { queue = "q"; exec = [ "$TEST_DIR/handler.sh" ]; };
};
events = { Happened = [ "relayed" ]; };
EOF
start_heraldd

# herald NAME ARGS...: run herald with the configuration; its outputs go
# to $OUT/NAME.out and $OUT/NAME.err.
herald() {
    _name=$1
    shift
    "$HERALD" -c "$HERALD_CONF" "$@" >"$OUT/$_name.out" \
        2>"$OUT/$_name.err" || fail "herald $* failed: $(cat "$OUT/$_name.err")"
}

payload="{\"email\": \"$CANARY@example.org\"}"
note "jobs that succeed, retry, die and come through the relay"
herald enqueue-ok enqueue ok --payload "$payload"
herald enqueue-flaky enqueue flaky --payload "$payload"
herald enqueue-broken enqueue broken --payload "$payload"
herald enqueue-exhausted enqueue exhausted --payload "$payload"
psql "$APP_DB" -XAtq -v ON_ERROR_STOP=1 -c "INSERT INTO herald.outbox
    (kind, event_id, event_type, payload)
    VALUES ('event', gen_random_uuid(), 'Happened', '$payload');
    NOTIFY herald_outbox" >/dev/null || fail "could not write the outbox"

counts_reached() {
    sql_is "SELECT count(*) FROM herald.live_jobs" 0 &&
        sql_is "SELECT count(*) FROM herald.dead_jobs" 2 &&
        sql_is "SELECT coalesce(sum(completed), 0) FROM herald.counters" 3
}
wait_for 20 "three completed and two dead jobs" counts_reached
broken=$(sql "SELECT id FROM herald.dead_jobs WHERE task = 'broken'")
exhausted=$(sql "SELECT id FROM herald.dead_jobs WHERE task = 'exhausted'")

note "herald dead show prints the payload and no control character"
herald show dead show "$broken"
grep -q "$CANARY" "$OUT/show.out" ||
    fail "herald dead show did not show the payload"
grep -q "$(printf '\033')" "$OUT/show.out" &&
    fail "herald dead show printed an escape character"

note "operator actions"
herald list dead list
herald retry dead retry "$broken"
wait_for 10 "job $broken to die again" sql_is \
    "SELECT jsonb_array_length(errors) FROM herald.dead_jobs
    WHERE id = $broken" 3
herald purge dead purge "$exhausted"
later=$(sql "SELECT herald.enqueue('ok', 'q', '$payload',
    run_at => now() + interval '1 hour')")
herald cancel job cancel "$later"
herald pause queue pause q
herald resume queue resume q
herald status status
# The relay table shows the outbox backlog, and no other line repeats it.
grep -q '^outbox  *backlog  *lag ' "$OUT/status.out" ||
    fail "herald status shows no relay table: $(cat "$OUT/status.out")"
! grep -q '^outbox:' "$OUT/status.out" ||
    fail "herald status shows the outbox backlog twice"
stop_heraldd 10

note "the canary appears in no log line and no command output"
grep -n "$CANARY" "$HERALDD_LOG" &&
    fail "the canary reached heraldd's log"
for f in "$OUT"/*; do
    case $f in
    "$OUT/show.out") continue ;;
    esac
    if grep -q "$CANARY" "$f"; then
        fail "the canary reached $(basename "$f"): $(grep "$CANARY" "$f")"
    fi
done
# The test would prove nothing if the handlers never saw the canary.
sql_is "SELECT count(*) FROM herald.dead_jobs
    WHERE errors::text LIKE '%$CANARY%'" 1 ||
    fail "the handlers' output holds no canary"
check_no_leftovers
