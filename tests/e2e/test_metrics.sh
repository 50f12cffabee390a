#!/bin/sh
# herald metrics: the text format passes a strict checker, which rejects
# broken input, and the numbers follow the jobs that heraldd runs.

. "$HERALD_SRCDIR/tests/e2e/lib.sh"

check_metrics() {
    awk -f "$HERALD_SRCDIR/tests/e2e/promcheck.awk"
}

# The checker itself must reject what a scraper would reject.
note "checker rejects broken input"
for bad in \
    'herald_x 1' \
    '# TYPE herald_x gauge
herald_x 1' \
    '# HELP herald_x x
# TYPE herald_x gauge
herald_x{queue="a"} one' \
    '# HELP herald_x x
# TYPE herald_x gauge
herald_x{queue="a} 1' \
    '# HELP herald_x x
# TYPE herald_x gauge
herald_x{queue="a",queue="b"} 1' \
    '# HELP herald_x x
# TYPE herald_x gauge
herald_x{queue="a"} 1
herald_x{queue="a"} 2' \
    '# HELP herald_x x
# TYPE herald_x counter
herald_x 1' \
    '# HELP herald_x x
# TYPE herald_x gauge
herald_x{queue="a\q"} 1' \
    '# HELP herald_a a
# TYPE herald_a gauge
herald_a 1
# HELP herald_b b
# TYPE herald_b gauge
herald_b 1
herald_a{q="x"} 2' \
    '# HELP herald_x x
# TYPE herald_x gauge
herald_x  1'
do
    if printf '%s\n' "$bad" | check_metrics >/dev/null 2>&1; then
        fail "the checker accepted: $bad"
    fi
done
printf '# HELP herald_x_total x\n# TYPE herald_x_total counter\nherald_x_total{queue="a\\"b\\\\c\\n"} 1.5e3 1700000000000\n' |
    check_metrics >/dev/null || fail "the checker rejected a valid sample"

write_handler ok <<'SH'
#!/bin/sh
exit 0
SH
write_handler broken <<'SH'
#!/bin/sh
exit 65
SH
write_conf <<EOF2
queues = { fast = { workers = 1; }; idle = { workers = 0; }; };
tasks = {
  ok = { queue = "fast"; exec = [ "$TEST_DIR/ok" ]; };
  broken = { queue = "fast"; exec = [ "$TEST_DIR/broken" ]; };
  never = { queue = "idle"; exec = [ "$TEST_DIR/ok" ]; };
};
EOF2

# metric NAME LABELS: print the value of one series of the last scrape;
# empty LABELS name the series without labels.
metric() {
    if [ -n "$2" ]; then
        _series="$1{$2}"
    else
        _series=$1
    fi
    awk -v series="$_series" '$1 == series { print $2 }' "$TEST_DIR/metrics"
}

scrape() {
    "$HERALD" -c "$HERALD_CONF" metrics >"$TEST_DIR/metrics" ||
        fail "herald metrics failed"
    check_metrics <"$TEST_DIR/metrics" >/dev/null 2>"$TEST_DIR/check.err" ||
        fail "invalid metrics: $(cat "$TEST_DIR/check.err")"
}

note "configured tasks show zeros before any job"
scrape
# Every family is documented in doc/metrics.md and in herald(1).
for family in $(sed -n 's/^# HELP \(herald_[a-z_]*\) .*/\1/p' \
    "$TEST_DIR/metrics"); do
    grep -q "\`$family\`" "$HERALD_SRCDIR/doc/metrics.md" ||
        fail "metric $family is not in doc/metrics.md"
    grep -q "^\.BR* $family\b" "$HERALD_SRCDIR/doc/herald.1.in" ||
        fail "metric $family is not in herald.1"
done
[ "$(metric herald_jobs 'queue="idle",task="never",state="queued"')" = 0 ] ||
    fail "no zero sample for the configured task never"
[ "$(metric herald_workers 'queue="fast"')" = 0 ] ||
    fail "workers of fast before heraldd started"
# The health families have every configured queue too, with no job yet.
for series in 'herald_queue_retry_due_jobs{queue="idle",within_seconds="60"}' \
    'herald_queue_leases_expired_last_hour{queue="idle"}' \
    'herald_queue_dead_last_hour{queue="idle"}'; do
    [ "$(awk -v s="$series" '$1 == s { print $2 }' "$TEST_DIR/metrics")" = 0 ] ||
        fail "no zero sample $series"
done

note "queued jobs and the oldest wait"
enqueue never "queue => 'idle'" >/dev/null
enqueue never "queue => 'idle'" >/dev/null
scrape
[ "$(metric herald_jobs 'queue="idle",task="never",state="queued"')" = 2 ] ||
    fail "herald_jobs of never is not 2"
age=$(metric herald_queue_oldest_job_age_seconds 'queue="idle"')
awk -v age="$age" 'BEGIN { exit !(age > 0) }' ||
    fail "oldest job age of idle is $age"

note "the inbox and the job table show their tuples and vacuums"
# The jobs of idle wait in the inbox, since no worker of idle waits.
# psql reports its statistics as it exits, so the next scrape counts them.
inbox_has_two() {
    scrape
    [ "$(metric herald_inbox_table_live_tuples '')" = 2 ]
}
wait_for 10 "2 live tuples in the inbox" inbox_has_two
[ "$(metric herald_jobs_table_live_tuples '')" = 0 ] ||
    fail "herald_jobs_table_live_tuples is not 0 with every job in the inbox"
[ "$(metric herald_inbox_table_autovacuum_enabled '')" = 1 ] ||
    fail "autovacuum is not enabled for the inbox"
[ -z "$(metric herald_inbox_table_vacuum_age_seconds '')" ] ||
    fail "a VACUUM age of the inbox before any VACUUM"
sql "VACUUM herald.inbox"
scrape
[ -n "$(metric herald_inbox_table_vacuum_age_seconds '')" ] ||
    fail "no VACUUM age of the inbox after VACUUM"
"$HERALD" -c "$HERALD_CONF" status >"$TEST_DIR/status" ||
    fail "herald status failed"
grep -q '^herald.inbox:  0 dead tuples, 2 live; last VACUUM .* ago$' \
    "$TEST_DIR/status" ||
    fail "no inbox line in herald status: $(cat "$TEST_DIR/status")"
grep -q '^herald.jobs:   [0-9]* dead tuples\{0,1\}, [0-9]* live; never vacuumed$' \
    "$TEST_DIR/status" ||
    fail "no job table line in herald status: $(cat "$TEST_DIR/status")"
! grep -q '^warning: autovacuum' "$TEST_DIR/status" ||
    fail "herald status warns of autovacuum: $(cat "$TEST_DIR/status")"
sql "ALTER TABLE herald.inbox SET (autovacuum_enabled = false)"
"$HERALD" -c "$HERALD_CONF" status >"$TEST_DIR/status" ||
    fail "herald status failed"
grep -qF 'warning: autovacuum is off for herald.inbox (autovacuum_enabled' \
    "$TEST_DIR/status" ||
    fail "no warning of autovacuum_enabled = false: $(cat "$TEST_DIR/status")"
scrape
[ "$(metric herald_inbox_table_autovacuum_enabled '')" = 0 ] ||
    fail "herald_inbox_table_autovacuum_enabled is not 0"
sql "ALTER TABLE herald.inbox RESET (autovacuum_enabled)"

note "status counts one failure in the singular"
sql "INSERT INTO herald.failed_children (supervisor_id, role, queue, failures)
    VALUES ('gone', 'worker', 'fast', 1), ('gone', 'relay', '', 2)"
"$HERALD" -c "$HERALD_CONF" status >"$TEST_DIR/status" ||
    fail "herald status failed"
grep -q '^failed: worker #1 of queue fast on ? (heraldd gone), 1 failure; ' \
    "$TEST_DIR/status" ||
    fail "no failed worker line: $(cat "$TEST_DIR/status")"
grep -q '^failed: relay on ? (heraldd gone), 2 failures; ' \
    "$TEST_DIR/status" ||
    fail "no failed relay line: $(cat "$TEST_DIR/status")"
sql "DELETE FROM herald.failed_children WHERE supervisor_id = 'gone'"

note "totals follow the jobs heraldd runs"
start_heraldd
for i in 1 2 3; do enqueue ok "queue => 'fast'" >/dev/null; done
enqueue broken "queue => 'fast'" >/dev/null
scraped_done() {
    scrape
    [ "$(metric herald_jobs_completed_total 'queue="fast",task="ok"')" = 3 ] &&
        [ "$(metric herald_dead_jobs 'queue="fast",task="broken"')" = 1 ]
}
wait_for 20 "3 completed and 1 dead job in the metrics" scraped_done
[ "$(metric herald_jobs_dead_total 'queue="fast",task="broken"')" = 1 ] ||
    fail "herald_jobs_dead_total of broken is not 1"
[ "$(metric herald_workers 'queue="fast"')" = 1 ] ||
    fail "herald_workers of fast is not 1"
[ "$(metric herald_processes 'kind="supervisor"')" = 1 ] ||
    fail "herald_processes of supervisors is not 1"

note "pruned counters keep the totals"
sql "UPDATE herald.counters SET minute = minute - interval '30 days'" >/dev/null
[ "$(sql "SELECT herald.prune_counters(1000, 1000)")" -ge 1 ] ||
    fail "prune_counters pruned nothing"
sql_is "SELECT count(*) FROM herald.counters" 0 ||
    fail "counters are left after pruning"
scrape
[ "$(metric herald_jobs_completed_total 'queue="fast",task="ok"')" = 3 ] ||
    fail "herald_jobs_completed_total went down after pruning"

note "an unreachable database prints nothing and exits 69"
"$HERALD" -d "host=$TEST_DIR port=1 dbname=none" metrics \
    >"$TEST_DIR/none.out" 2>/dev/null
status=$?
[ "$status" -eq 69 ] || fail "exit status $status, expected 69"
[ ! -s "$TEST_DIR/none.out" ] || fail "partial output without a database"

stop_heraldd 20
note "ok"
