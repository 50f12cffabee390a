#!/bin/sh
# Periodic jobs through heraldd: two heraldd share one job database and
# the janitor of the active one is killed; every slot of an entry that
# runs every 3 seconds gets exactly one job.  After a long pause only the
# newest missed slot runs, and herald periodic lists the entry.  Entries
# that another host stored are replaced or removed with a warning.

. "${HERALD_SRCDIR:-.}/tests/e2e/lib.sh"
. "${HERALD_SRCDIR:-.}/tests/e2e/drill.sh"

# conf SCHEDULE: write the configuration, with SCHEDULE for entry rare.
conf() {
    write_conf <<EOF2
queues = { pq = { workers = 1; poll_interval = "200ms"; }; };
tasks = { probe = { queue = "pq"; exec = [ "$PROBE", "$PROBE_LOG" ]; }; };
periodic = {
  tick = { schedule = "@every 3s"; task = "probe"; payload = "{\"n\": 1}"; };
  nightly = { schedule = "30 2 * * *"; timezone = "Europe/Berlin";
              task = "probe"; catch_up = "none"; };
  rare = { schedule = "$1"; task = "probe"; };
};
EOF2
}
conf "0 0 1 1 *"
# Entries that another host stored from its own herald.conf.
sql "INSERT INTO herald.periodic
        (name, schedule, timezone, task, queue, catch_up, stored_by)
    VALUES ('nightly', '0 3 * * *', 'UTC', 'probe', 'pq', 'none',
            'other-host'),
           ('gone', '@every 1h', 'UTC', 'probe', 'pq', 'none',
            'other-host')" >/dev/null
start_heraldd
first_pid=$HERALDD_PID
first_log=$HERALDD_LOG
wait_for 10 "the janitor to replace the other host's entry" log_has \
    'msg="periodic entry replaced" .*periodic=nightly previous_host=other-host'
log_has 'msg="periodic entry removed" .*periodic=gone previous_host=other-host' ||
    fail "removing another host's entry logged no warning"
log_has 'msg="periodic entry replaced" .*periodic=tick' &&
    fail "a new entry was logged as replaced"
sql_is "SELECT stored_by FROM herald.periodic WHERE name = 'nightly'" \
    "$(hostname)" || fail "the entry does not name this host"
HERALDD_LOG="$TEST_DIR/heraldd2.log"
start_heraldd
second_pid=$HERALDD_PID

# slots: the slots logged as enqueued by both heraldd, one per line.
slots() {
    cat "$first_log" "$HERALDD_LOG" |
        sed -n 's/.*msg="periodic job enqueued".* periodic=tick .* slot=\([0-9]*\) .*/\1/p' |
        sort -n
}
slot_count_at_least() { [ "$(slots | grep -c .)" -ge "$1" ]; }

wait_for 15 "3 slots" slot_count_at_least 3
janitor=$(sql "SELECT j.pid FROM herald.processes j
    JOIN herald.processes s ON s.id = j.supervisor_id
    WHERE j.kind = 'janitor' AND s.pid = $first_pid")
[ -n "$janitor" ] || fail "no janitor of the first heraldd registered"
note "killing janitor $janitor"
kill -KILL "$janitor"
before=$(slots | grep -c .)
wait_for 15 "3 more slots" slot_count_at_least $((before + 3))

# Every slot from the first to the last, once, and one run for each.
first=$(slots | head -n 1)
last=$(slots | tail -n 1)
expected=$(((last - first) / 3 + 1))
[ "$(slots | grep -c .)" -eq "$expected" ] ||
    fail "expected $expected slots from $first to $last, got: $(slots | tr '\n' ' ')"
[ -z "$(slots | uniq -d)" ] || fail "slots enqueued twice: $(slots | uniq -d)"
for s in $(slots); do
    [ $((s % 3)) -eq 0 ] || fail "slot $s is not a multiple of 3 s"
done
all_ran() {
    load_probes
    sql_is "SELECT count(DISTINCT job_id) FROM drill_runs
        WHERE kind = 'end'" "$expected"
}
wait_for 10 "$expected jobs to run" all_ran

# A pause of an hour: one job for the newest slot, not 1200.
sql "UPDATE herald.periodic SET since = since - interval '1 hour',
    last_slot = last_slot - interval '1 hour' WHERE name = 'tick'" ||
    fail "could not move the last slot back"
before=$(slots | grep -c .)
wait_for 10 "the catch-up slot" slot_count_at_least $((before + 1))
sql_is "SELECT count(*) FROM herald.jobs WHERE task = 'probe'
    AND state = 'queued' AND run_at < now() - interval '2 seconds'" 0 ||
    fail "missed slots were enqueued"
[ "$(slots | grep -c .)" -le $((before + 2)) ] ||
    fail "more than the newest missed slot ran: $(slots | tail -n 5 | tr '\n' ' ')"

"$HERALD" -d "$JOB_DB" periodic >"$TEST_DIR/periodic.out" 2>&1 ||
    fail "herald periodic failed: $(cat "$TEST_DIR/periodic.out")"
! grep -q overdue "$TEST_DIR/periodic.out" ||
    fail "herald periodic calls an entry overdue: $(cat "$TEST_DIR/periodic.out")"
grep -q "^tick .*@every 3s .*UTC .*probe .*#[0-9]" "$TEST_DIR/periodic.out" ||
    fail "herald periodic does not list tick: $(cat "$TEST_DIR/periodic.out")"
grep -q "^nightly .*30 2 \* \* \* .*Europe/Berlin .* - " \
    "$TEST_DIR/periodic.out" ||
    fail "herald periodic does not list nightly: $(cat "$TEST_DIR/periodic.out")"
# JSON gives times as the other commands do, ISO 8601 in UTC.
"$HERALD" -d "$JOB_DB" periodic -j >"$TEST_DIR/periodic.json" ||
    fail "herald periodic -j failed"
grep -Eq '"next_slot": "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z"' \
    "$TEST_DIR/periodic.json" ||
    fail "herald periodic -j gives times unlike the others: $(cat "$TEST_DIR/periodic.json")"
sql_is "SELECT count(*) FROM herald.periodic WHERE name = 'nightly'
    AND extract(minute FROM next_slot) = 30
    AND next_slot > now() AND next_slot <= now() + interval '1 day'" 1 ||
    fail "the next slot of nightly is wrong: $(sql "SELECT next_slot FROM herald.periodic")"

note "a new schedule counts its slots from the reload"
# An entry known for a day, yearly so far, becomes hourly: the slots of
# the past day belong to no schedule that was in force, so none runs.
sql "UPDATE herald.periodic SET since = now() - interval '1 day'
    WHERE name = 'rare'" >/dev/null || fail "could not move since back"
conf "0 * * * *"
reload_s=$(date +%s)
kill -HUP "$first_pid" "$second_pid"
wait_for 15 "the janitor to take the new schedule of rare" sql_is \
    "SELECT schedule = '0 * * * *' AND next_slot > now()
    FROM herald.periodic WHERE name = 'rare'" t
for s in $(cat "$first_log" "$HERALDD_LOG" |
    sed -n 's/.*msg="periodic job enqueued".* periodic=rare .* slot=\([0-9]*\) .*/\1/p'); do
    [ "$s" -ge "$reload_s" ] ||
        fail "the reload enqueued rare for slot $s, before the change"
done

HERALDD_PID=$first_pid
stop_heraldd 20
HERALDD_PID=$second_pid
stop_heraldd 20

# With no janitor, an entry past its next slot is named overdue.
sql "UPDATE herald.periodic SET next_slot = now() - interval '1 minute'
    WHERE name = 'tick'" >/dev/null || fail "could not move next_slot back"
"$HERALD" -d "$JOB_DB" periodic >"$TEST_DIR/periodic.out" \
    2>"$TEST_DIR/periodic.err" ||
    fail "herald periodic failed: $(cat "$TEST_DIR/periodic.err")"
grep -q "^tick .*Z overdue$" "$TEST_DIR/periodic.out" ||
    fail "herald periodic does not call tick overdue: $(cat "$TEST_DIR/periodic.out")"
grep -qx "herald: 1 periodic job is overdue: no janitor has enqueued it; is heraldd running, and can it reach the job database?" \
    "$TEST_DIR/periodic.err" ||
    fail "herald periodic gave no note of the overdue entry: $(cat "$TEST_DIR/periodic.err")"
check_no_leftovers
exit 0
