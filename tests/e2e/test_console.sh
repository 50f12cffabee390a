#!/bin/sh
# herald console, driven through tmux against a job database where
# heraldd runs real jobs: each screen shows the known numbers, retry,
# purge, pause and cancel from the keyboard change the database, a
# retried job's detail shows the retry in its history, a bulk purge needs
# its typed count, --read-only refuses actions, the layout holds at 80x24
# and 200x60 and the retries screen at 40 columns, and a database that
# goes away is shown as stale and is reconnected without a keypress, also
# by a console opened while it was away.
#
# Stopping PostgreSQL must not disturb other tests, so this test runs its
# own server on a port of its own.

. "${HERALD_SRCDIR:-.}/tests/e2e/lib.sh"

command -v tmux >/dev/null || { echo "SKIP: tmux is not installed"; exit 77; }

PG_DIR=$TEST_DIR/pg
TMUX_SOCK=$TEST_DIR/tmux.sock
# As root the private server runs as "postgres", which must reach it.
chmod 755 "$TEST_DIR"

console_cleanup() {
    tmux -S "$TMUX_SOCK" kill-server 2>/dev/null
    HERALD_PGPORT=$PG_PORT "$HERALD_SRCDIR/scripts/pg" stop "$PG_DIR" \
        >/dev/null 2>&1
}
trap '_st=$?; console_cleanup; (exit $_st); cleanup' EXIT

PG_PORT=$((5433 + $$ % 1000))
HERALD_PGPORT=$PG_PORT "$HERALD_SRCDIR/scripts/pg" start "$PG_DIR" \
    >"$TEST_DIR/pg.env" || fail "could not start a private PostgreSQL"
PG_USER=$(sed -n 's/^PGUSER=//p' "$TEST_DIR/pg.env")
PRIVATE="host=$PG_DIR port=$PG_PORT user=$PG_USER"
psql "$PRIVATE dbname=postgres" -XAtq -c "CREATE DATABASE herald_console" \
    -c "CREATE DATABASE herald_empty" || fail "could not create the databases"
JOB_DB="$PRIVATE dbname=herald_console"
"$HERALD" -d "$JOB_DB" migrate >/dev/null || fail "herald migrate failed"

write_handler work.sh <<EOF2
#!/bin/sh
cat >/dev/null
case \$HERALD_TASK in
flaky) echo "flaky attempt \$HERALD_ATTEMPT: connection refused"; exit 75 ;;
broken) echo "broken: payload has no address" >&2; exit 65 ;;
slow)
    touch "$TEST_DIR/started.\$HERALD_JOB_ID"
    while [ ! -f "$TEST_DIR/release" ]; do sleep 0.05; done ;;
esac
exit 0
EOF2

write_conf <<EOF2
queues = {
  mail = { workers = 1; concurrency = 4; };
  files = { workers = 1; };
  idle = { workers = 0; };
  ev = { workers = 0; };
};
tasks = {
  flaky = { queue = "mail"; exec = [ "$TEST_DIR/work.sh" ];
            retry = { max_attempts = 3; base_delay = "10m"; factor = 2.0;
                      max_delay = "1h"; jitter = 0.2; }; };
  slow = { queue = "mail"; exec = [ "$TEST_DIR/work.sh" ]; };
  broken = { queue = "files"; exec = [ "$TEST_DIR/work.sh" ]; };
  hold = { queue = "idle"; exec = [ "$TEST_DIR/work.sh" ]; };
  welcome = { queue = "ev"; exec = [ "$TEST_DIR/work.sh" ]; };
};
EOF2
start_heraldd

note "prepare known data"
for i in 1 2 3 4; do enqueue hold "queue => 'idle'" >/dev/null; done
for i in 1 2; do
    enqueue hold "queue => 'idle', run_at => now() + interval '1 hour'" \
        >/dev/null
done
# Three jobs of events, as the relay makes them from outbox rows 1 to 3.
sql "SELECT herald.relay_arrays('console', '{1,2,3}',
    '{\"{}\",\"{}\",\"{}\"}', NULL, NULL, '{e1,e2,e3}',
    '{UserRegistered,UserRegistered,UserRegistered}', '{1,2,3}',
    '{welcome,welcome,welcome}', '{ev,ev,ev}', NULL)" >/dev/null ||
    fail "could not relay the jobs of events"
sql "INSERT INTO herald.relay_status (origin, database, backlog, oldest_at,
    relayed_total, dropped_total)
    VALUES ('o1', 'shop', 7, now() - interval '5 seconds', 1234, 0)"
flaky=$(enqueue flaky "queue => 'mail', max_attempts => 3")
slow=$(enqueue slow "queue => 'mail'")
dead1=$(enqueue broken "queue => 'files'")
dead2=$(enqueue broken "queue => 'files'")
dead3=$(enqueue broken "queue => 'files'")
wait_for 10 "three dead jobs" sql_is "SELECT count(*) FROM herald.dead_jobs" 3
wait_for 10 "job $flaky to wait for its retry" sql_is \
    "SELECT attempt FROM herald.jobs WHERE id = $flaky AND run_at > now()" 1
wait_for 10 "job $slow to run" test -f "$TEST_DIR/started.$slow"

# --- tmux helpers -----------------------------------------------------------

T() {
    tmux -S "$TMUX_SOCK" "$@"
}

# start_console NAME ARGS...: run herald console in a new tmux session
# NAME of 80x24, on CONSOLE_DB if set, else on the job database; its exit
# status goes to $TEST_DIR/NAME.exit.  The shell around it ignores SIGINT,
# as a login shell does for a job in the foreground, so a ^C reaches the
# console alone.
start_console() {
    _name=$1
    shift
    T new-session -d -s "$_name" -x 80 -y 24 \
        "trap '' INT; '$HERALD' -d '${CONSOLE_DB:-$JOB_DB}' -c '$HERALD_CONF' console $* \
        2>'$TEST_DIR/$_name.err'; echo \$? >'$TEST_DIR/$_name.exit'; \
        sleep 600" || fail "could not start tmux"
    wait_for 10 "the console $_name to draw" screen_has "$_name" "1 Queues"
}

screen() {
    T capture-pane -p -t "$1"
}

# screen_has SESSION TEXT: the visible screen contains TEXT.
screen_has() {
    screen "$1" | grep -qF -- "$2"
}

# screen_matches SESSION REGEX: a line of the screen matches REGEX.
screen_matches() {
    screen "$1" | grep -qE -- "$2"
}

# Print the screen of each console, for a failure.
show_screens() {
    for _s in $(T list-sessions -F '#S' 2>/dev/null); do
        echo "--- screen of $_s"
        screen "$_s"
    done
}
FAIL_HOOK=show_screens

keys() {
    _s=$1
    shift
    T send-keys -t "$_s" "$@"
}

expect_screen() {
    wait_for 10 "$2 on the screen of $1" screen_has "$1" "$2"
}

expect_line() {
    wait_for 10 "a line like /$2/ on the screen of $1" screen_matches "$1" "$2"
}

# lines_blank SESSION FIRST LAST: lines FIRST to LAST of the screen are
# blank.
lines_blank() {
    ! screen "$1" | sed -n "$2,$3p" | grep -q '[^ ]'
}

# Every line fits the width and the status line is the last one.
layout_fits() {
    _cols=$2
    _lines=$3
    screen "$1" >"$TEST_DIR/layout.txt"
    [ "$(wc -l <"$TEST_DIR/layout.txt")" -eq "$_lines" ] || return 1
    awk -v w="$_cols" 'length($0) > w { bad = 1 } END { exit bad }' \
        "$TEST_DIR/layout.txt" || return 1
    sed -n 1p "$TEST_DIR/layout.txt" | grep -qF "1 Queues" || return 1
    sed -n "${_lines}p" "$TEST_DIR/layout.txt" | grep -qF "updated"
}

# --- screens ----------------------------------------------------------------

start_console c
note "queues screen"
# No worker serves queue idle (workers = 0), so nothing claims its jobs.
expect_line c '^ idle +4 +2 +0 +0 +0 +0 +0 +[0-9ms]+ +no workers'
expect_line c '^ files +0 +0 +0 +0 +3 '
expect_line c '^ mail +0 +0 +1 +1 +0 '
expect_line c '^ total +7 +2 +1 +1 +3 '
wait_for 10 "an 80x24 layout" layout_fits c 80 24
# The status line names the socket directory whole when the state leaves
# room: a third of the line cut it to "herald_console on /tmp/he~".  The
# window is as wide as the target, " | " and "updated 59s ago" need, in
# the console's steps of 8, whatever TMPDIR is.
status_names_target() {
    screen c | tail -n 1 | grep -qF "herald_console on $PG_DIR | "
}
T resize-window -t c -x $((${#PG_DIR} + 40)) -y 24
wait_for 10 "the status line to name $PG_DIR" status_names_target
T resize-window -t c -x 80 -y 24
wait_for 10 "an 80x24 layout again" layout_fits c 80 24

# A worker that a heraldd stopped restarting, as herald status lists it.
sql "INSERT INTO herald.failed_children (supervisor_id, role, queue,
        failures, slot)
    VALUES ('gone-supervisor', 'worker', 'idle', 5, 1)" >/dev/null
expect_line c '^ idle +4 .* FAILED'
sql "DELETE FROM herald.failed_children" >/dev/null
expect_line c '^ idle +4 .* no workers'

note "workers screen"
keys c 2
expect_screen c "1 supervisor (0 dead), 1 job running"
heraldd_pid=$HERALDD_PID
expect_line c " $heraldd_pid supervisor"
expect_line c " [0-9]+ +worker +[0-9][0-9a-z]* +mail +$slow slow "
expect_line c " [0-9]+ +worker +[0-9][0-9a-z]* +files +idle"
expect_line c " [0-9]+ +janitor +[0-9][0-9a-z]* +active"
# A relay that heraldd stopped restarting has no process left to list,
# so a line under the list names it, as herald status does.
sql "INSERT INTO herald.failed_children (supervisor_id, role, failures)
    SELECT id, 'relay', 5 FROM herald.processes WHERE kind = 'supervisor'" \
    >/dev/null || fail "could not mark a relay failed"
expect_line c "^ FAILED relay, 5 failures; reload heraldd [0-9a-f]{8} on $(hostname) \\(pid $heraldd_pid\\) *$"
sql "DELETE FROM herald.failed_children WHERE role = 'relay'" >/dev/null

note "retries screen"
keys c 3
expect_screen c "1 job waiting to retry"
# The header of the schedule column fits 80 columns whole.
expect_line c "^ +id task +queue +attempt +next +(then, if every attempt fails|if all attempts fail)$"
# A delay of 8 to 12 minutes (10m, jitter 0.2), seconds of which have
# passed: one drawn near 8m reads 7m59s.
expect_line c "^ +$flaky flaky +mail +2 of 3 +in (7|8|9|10|11|12)m"
expect_screen c "then 20m, dead"
expect_line c "job $flaky \\(flaky\\): attempt 2 of 3 in [0-9ms]+; the last one ended: exit 75"
# The time carries the weekday when it falls on another day.
expect_line c "^ +then 20m, dead at about ([A-Z][a-z]{2} )?[0-9]+:[0-9]+ if every attempt fails"

note "retries screen at 40 columns"
T resize-window -t c -x 40 -y 24
expect_line c "^ +id task +attempt +next$"
expect_line c "^ +$flaky flaky +2 of 3 +in [0-9]+m"
# Below the one row, nothing until the two lines about the job.
lines_blank c 5 21 ||
    fail "text below the rows at 40 columns: $(screen c | sed -n 5,21p)"
T resize-window -t c -x 80 -y 24
wait_for 10 "an 80x24 layout after 40 columns" layout_fits c 80 24

note "events screen"
# The report is fresh, as a running relay keeps it.
sql "UPDATE herald.relay_status SET updated_at = now(),
    oldest_at = now() - interval '5 seconds' WHERE origin = 'o1'" >/dev/null
keys c 5
expect_line c "^ shop +7 +[0-9]+s +1234 +0 "
expect_line c "^ UserRegistered +[0-9]+ +[0-9]+ +[0-9.]+ +3 +3"
# The old report of a relay that is gone shows no backlog or lag, which
# would read as an empty outbox, and the health panel marks it too.
sql "UPDATE herald.relay_status SET updated_at = now() - interval '2 minutes'
    WHERE origin = 'o1'" >/dev/null
expect_line c "^ shop +[?] +[?] +1234 +0 +2m"
keys c 1
expect_screen c "outbox ?, no relay report for 2m"

note "dead letters screen and the detail of a dead job"
keys c 4
expect_screen c "3 dead jobs"
expect_line c "^ +$dead1 broken +files +1/10 .*exit 65 \\(permanent\\)"
# A task name longer than the narrow task column must not squeeze it.
sql "UPDATE herald.dead_jobs SET task = 'broken_longer_name'
    WHERE id = $dead3" >/dev/null
T resize-window -t c -x 40 -y 24
expect_line c "^ +$dead3 broken_l~ +files +1/10 +"
expect_line c "^ +id task +queue +tries +di"
expect_line c "^ +$dead1 broken +files +1/10 +"
sql "UPDATE herald.dead_jobs SET task = 'broken' WHERE id = $dead3" >/dev/null
# At 60 columns a queue name longer than the queue column widens it.
sql "UPDATE herald.dead_jobs SET queue = 'files.out'
    WHERE id = $dead3" >/dev/null
T resize-window -t c -x 60 -y 24
expect_line c "^ +$dead3 broken +files.out +1/10 "
sql "UPDATE herald.dead_jobs SET queue = 'files' WHERE id = $dead3" >/dev/null
T resize-window -t c -x 80 -y 24
expect_line c "^ +$dead3 broken +files +1/10 "
# A module handler's permanent failure has no exit status: its outcome
# is its reason, shown once.
sql "CREATE TABLE kept_errors AS
        SELECT id, errors FROM herald.dead_jobs WHERE id = $dead3;
    UPDATE herald.dead_jobs SET errors = jsonb_set(errors, '{-1}',
        (errors->-1) - 'exit_code' || '{\"outcome\": \"permanent\"}')
    WHERE id = $dead3" >/dev/null
keys c C-l
expect_line c "^ +$dead3 broken +files +1/10 .* permanent$"
sql "UPDATE herald.dead_jobs d SET errors = k.errors FROM kept_errors k
        WHERE d.id = k.id;
    DROP TABLE kept_errors" >/dev/null
keys c C-l
expect_line c "^ +$dead3 broken +files +1/10 .*exit 65 \\(permanent\\)"
wait_for 10 "an 80x24 layout after the dead screen at 40 columns" \
    layout_fits c 80 24
keys c Enter
expect_screen c "job $dead1   task broken   queue files"
expect_screen c "dead (permanent)"
# Times in UTC with a Z, as in the history and herald dead show.
expect_line c "^ *created +[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:]{8}Z *$"
expect_line c "#1 .* permanent +exit 65"
expect_screen c "| broken: payload has no address"
# An output line longer than the screen wraps, so its end stays in view.
sql "UPDATE herald.dead_jobs SET errors = jsonb_set(errors, '{-1,output}',
        to_jsonb('broken: ' || repeat('x', 100) || ' end of the output'))
    WHERE id = $dead1" >/dev/null
keys c C-l
expect_screen c "x end of the output"
sql "UPDATE herald.dead_jobs SET errors = jsonb_set(errors, '{-1,output}',
        to_jsonb('broken: payload has no address'::text))
    WHERE id = $dead1" >/dev/null
keys c Escape
expect_screen c "3 dead jobs"

note "retry and purge from the keyboard"
keys c r
expect_screen c "retried 1 dead job"
wait_for 10 "job $dead1 to die again" sql_is \
    "SELECT jsonb_array_length(errors) FROM herald.dead_jobs
    WHERE id = $dead1" 3
expect_screen c "3 dead jobs"
# The list may not show the job again yet, when it refreshed while the
# job ran: then the first row is another job.  Open the first row until
# it is the job.
opened=
for attempt in 1 2 3 4 5 6 7 8 9 10; do
    keys c g Enter
    expect_line c '^ *job [0-9]+   task '
    if screen_has c "job $dead1   task broken"; then
        opened=yes
        break
    fi
    keys c Escape
    expect_screen c "dead jobs"
    sleep 0.5
done
[ -n "$opened" ] || fail "the dead list did not show job $dead1 again"
expect_screen c "attempts   1 of 10 since the last retry (2 in all)"
expect_line c "^ +retried +[0-9-]+ [0-9:]+Z$"
expect_screen c "| retried from the dead-letter queue by "
expect_line c "^ +#2 .* permanent +exit 65"
keys c Escape
expect_screen c "3 dead jobs"
keys c g j
expect_screen c "3 dead jobs, row 2"
keys c d
expect_screen c "Purge dead job $dead2? Type y to confirm:"
keys c n Enter
expect_screen c "not confirmed: nothing changed"
sql_is "SELECT count(*) FROM herald.dead_jobs WHERE id = $dead2" 1 ||
    fail "job $dead2 was purged without a yes"
keys c d
expect_screen c "Purge dead job $dead2? Type y to confirm:"
keys c y Enter
expect_screen c "purged 1 dead job"
sql_is "SELECT count(*) FROM herald.dead_jobs WHERE id = $dead2" 0 ||
    fail "job $dead2 was not purged"
# The message leaves the status line after 10 s, so that it is not read
# as news of a later state.
purge_message_gone() {
    ! screen_has c "purged 1 dead job"
}
wait_for 20 "the purge message to go" purge_message_gone
sql_is "SELECT string_agg(action || ' ' || ids::text, ',' ORDER BY id)
    FROM herald.audit" "dead retry {$dead1},dead purge {$dead2}" ||
    fail "audit: $(sql 'SELECT action, ids FROM herald.audit')"

note "a bulk purge needs the typed count"
expect_screen c "2 dead jobs"
keys c D
expect_screen c "Purge ALL 2 dead jobs? Type 2 to confirm:"
# A prompt wider than the screen keeps its end: what to type, and the
# typed text.
T resize-window -t c -x 40 -y 24
keys c 1
expect_line c '^~.*Type 2 to confirm: 1 *$'
T resize-window -t c -x 80 -y 24
# ^C cancels the prompt, as Escape does, and the console stays.
keys c C-c
expect_screen c "cancelled"
screen_has c "1 Queues" || fail "^C at a prompt ended the console"
[ ! -e "$TEST_DIR/c.exit" ] || fail "^C at a prompt quit the console"
keys c D
expect_screen c "Purge ALL 2 dead jobs? Type 2 to confirm:"
keys c y e s Enter
expect_screen c "not confirmed"
sql_is "SELECT count(*) FROM herald.dead_jobs" 2 ||
    fail "an unconfirmed bulk purge deleted dead jobs"
keys c / t a s k : b r o k n Enter
expect_screen c 'filter set; the configuration has no task "brokn"'
expect_screen c "no dead job matches the filter"
# The console reads its file again once it changed: the new task, from a
# file that it now includes, is known.
echo '  brokn = { queue = "idle"; exec = [ "/bin/true" ]; };' \
    >"$TEST_DIR/more.conf"
sed "s|^  hold = |@include \"$TEST_DIR/more.conf\"\\n  hold = |" \
    "$HERALD_CONF" >"$TEST_DIR/brokn.conf"
cat "$TEST_DIR/brokn.conf" >"$HERALD_CONF"
grep -q '^@include' "$HERALD_CONF" || fail "the include was not added"
# Past the console's look at the file, the same filter names no error.
filter_known() {
    keys c / C-u t a s k : b r o k n "$@" Enter
    screen_has c "filter set" && ! screen_has c "has no task"
}
wait_for 10 "the console to read the new task" filter_known
# A change of the included file alone is seen too.
echo '  brokn2 = { queue = "idle"; exec = [ "/bin/true" ]; };' \
    >>"$TEST_DIR/more.conf"
wait_for 10 "the console to read the included file" filter_known 2
# A file that no longer loads keeps the last one in use, with the reason.
# At 40 columns the message needs more lines than the three above the
# status line, so its first line ends in "~" and its end still shows.
cp "$TEST_DIR/more.conf" "$TEST_DIR/more.good"
echo '  brokn3 = { queue = "idle"; exec = [ "/bin/true" ]; bogus = 1; };' \
    >>"$TEST_DIR/more.conf"
expect_screen c "could not read the changed configuration"
T resize-window -t c -x 40 -y 24
expect_line c '^could not read the changed~ *$'
expect_screen c 'unrecognized'
expect_line c '(^| )setting *$'
T resize-window -t c -x 80 -y 24
cp "$TEST_DIR/more.good" "$TEST_DIR/more.conf"
expect_screen c "read the changed configuration, which is now in use"
wait_for 10 "the console to read the restored file" filter_known 2
keys c / C-u q u e u e : f i l e s Space t a s k : b r o k e n Enter
expect_screen c "2 dead jobs matching queue:files task:broken, row 1"
# A piece of a line that ends at the screen's edge reads as cut when the
# pieces after it have no room: ", row 1" vanished without a mark.
T resize-window -t c -x 45 -y 24
expect_line c '^ 2 dead jobs matching queue:files task:broke~ *$'
T resize-window -t c -x 80 -y 24
keys c / C-u t a s k : b r o k e n Enter
expect_screen c "2 dead jobs matching task:broken"
keys c D
expect_screen c "Purge ALL 2 dead jobs matching task:broken? Type 2"
keys c 2 Enter
expect_screen c "purged 2 dead jobs"
sql_is "SELECT count(*) FROM herald.dead_jobs" 0 ||
    fail "the confirmed bulk purge left dead jobs"

note "the cursor stays on its dead job as rows die under smaller ids"
# 250 dead jobs, more than the screen's window of 200 rows, at even ids.
dead_rows() {
    sql "INSERT INTO herald.dead_jobs (id, task, queue, payload, priority,
        attempt, max_attempts, created_at, reason, errors)
        SELECT $1 + 2 * k, 'broken', 'files', '{}', 0, 1, 1, now(),
            'permanent', '[]'
        FROM generate_series(0, $2 - 1) k" >/dev/null
}
keys c / C-u Enter
dead_rows 100000 250
expect_screen c "250 dead jobs"
keys c G
expect_line c "^ +100498 broken"
# 60 rows at odd ids below the cursor's push it out of its window.
dead_rows 100101 60
expect_screen c "310 dead jobs"
keys c Enter
expect_line c "^ *job 100498 +task broken"
keys c Escape
sql "DELETE FROM herald.dead_jobs WHERE id >= 100000" >/dev/null
expect_screen c "no dead job"

note "pause a queue and cancel a job from the keyboard"
keys c 1
expect_line c '^ ev +3 '
keys c p
expect_line c '^ ev +3 .* PAUSED'
sql_is "SELECT paused FROM herald.queues WHERE name = 'ev'" t ||
    fail "queue ev is not paused"
keys c 3
expect_screen c "1 job waiting to retry"
keys c c
expect_screen c "Cancel job $flaky? Type y to confirm:"
keys c y Enter
expect_screen c "cancelled 1 job"
sql_is "SELECT count(*) FROM herald.jobs WHERE id = $flaky" 0 ||
    fail "job $flaky was not cancelled"
# s lists every queued job, so a job that is ready now can be cancelled.
queued=$(sql "SELECT count(*) FROM herald.live_jobs WHERE state = 'queued'")
first=$(sql "SELECT id FROM herald.live_jobs WHERE state = 'queued'
    ORDER BY run_at, id LIMIT 1")
first_job=$(sql "SELECT format('%L, queue => %L', task, queue)
    FROM herald.jobs WHERE id = $first")
keys c s
expect_screen c "$queued jobs waiting to run (all queued jobs), soonest first"
keys c c
expect_screen c "Cancel job $first? Type y to confirm:"
keys c y e s Enter
expect_screen c "cancelled 1 job"
sql_is "SELECT count(*) FROM herald.jobs WHERE id = $first" 0 ||
    fail "the ready job $first under the cursor was not cancelled"
# A job like it takes its place, so the counts below stay as they were.
sql "SELECT herald.enqueue($first_job)" >/dev/null
# The cursor stays on its job when a job sorts in above it.
expect_screen c "$queued jobs waiting to run"
keys c j
second=$(sql "SELECT id FROM herald.live_jobs WHERE state = 'queued'
    ORDER BY run_at, id OFFSET 1 LIMIT 1")
expect_line c "^ job $second \\("
above=$(enqueue hold "queue => 'idle', run_at => now() - interval '3 hours'")
expect_screen c "$((queued + 1)) jobs waiting to run"
expect_line c "^ job $second \\("
"$HERALD" -d "$JOB_DB" job cancel "$above" >/dev/null ||
    fail "could not cancel job $above"
keys c s

note "the schedule of an overdue job starts now"
overdue=$(enqueue hold "queue => 'idle', run_at => now() - interval '2 hours'")
keys c s
expect_line c "job $overdue \\(hold\\): attempt 1 of 10 now;"
# hold has the default policy: after attempt 1, nine delays from 5 s to
# 1280 s, 2555 s in all.  The minute may turn while the screen is drawn.
dead_at=$(($(date +%s) + 2555))
expect_line c "dead at about ([A-Z][a-z]{2} )?($(date -d "@$dead_at" +%H:%M)|$(date -d "@$((dead_at + 60))" +%H:%M)) if every attempt fails"
"$HERALD" -d "$JOB_DB" job cancel "$overdue" >/dev/null ||
    fail "could not cancel job $overdue"
keys c s

note "read-only refuses actions"
start_console ro --read-only
expect_screen ro "read-only"
keys ro 4
keys ro 1
keys ro p
# The whole message, up to its last word, fits the 80 columns.
expect_screen ro 'read-only console: "p" (pause or resume the queue under the cursor) is disabled'
sql_is "SELECT paused FROM herald.queues WHERE name = 'ev'" t ||
    fail "a read-only console changed queue ev"
# A message wider than the screen goes on over the line above the status
# line, so that its end still shows.
keys ro 4
keys ro r
expect_line ro '^read-only console: "r" \(retry the marked rows, or the row under the cursor\) is *$'
expect_line ro '^disabled *$'
# The status line below keeps its target and state.
screen ro | tail -n 1 | grep -q '^[^|]* | updated [0-9a-z]* ago *$' ||
    fail "the status line lost its target or state: $(screen ro | tail -n 1)"
# At 40 columns the same message takes three lines, its end included.
T resize-window -t ro -x 40 -y 24
keys ro r
expect_line ro '^read-only console: "r" \(retry the marked *$'
expect_line ro '^disabled *$'
T resize-window -t ro -x 80 -y 24
keys ro 1
keys ro '?'
expect_screen ro "Keys of Queues, read-only (q quits, other keys close, j/k scroll)"
# Nothing of the queue rows shows beside the help (the message of "r"
# above may still take the two lines above the status line).
screen ro | sed '1d;$d' | grep -v -e '^read-only console: ' -e '^disabled *$' |
    grep -q '^ \{0,3\}[^ ]' &&
    fail "the screen behind the help shows: $(screen ro)"
# The status line, the last, may still show the refusal of "p".
screen ro | sed '$d' | grep -qF "pause or resume" &&
    fail "read-only help lists the pause key"
# On a short terminal the help marks the rows below, and scrolls no
# further than its last row, "q quit".  The message of "r" may cover the
# mark until it goes, 10 s after "r".
T resize-window -t ro -x 80 -y 12
wait_for 30 "the mark of rows below on the screen of ro" \
    screen_has ro "more below: j scrolls"
keys ro j j j j j j j j j j j j j j j j j j j j j j j j j j j j j j
expect_line ro '^ +q +quit *$'
screen_has ro "more below" && fail "the help's end still says more below"
screen ro | sed -n 10p | grep -q '[^ ]' ||
    fail "the help scrolled past its end: $(screen ro)"
keys ro k
expect_screen ro "more below: j scrolls"
T resize-window -t ro -x 80 -y 24
# q quits a screen too small to draw, even with a prompt open there.
keys ro x
keys ro 4
keys ro /
expect_screen ro "filter (queue:NAME"
T resize-window -t ro -x 30 -y 8
expect_screen ro "keys off; q quits"
keys ro q
wait_for 10 "the read-only console to quit" test -s "$TEST_DIR/ro.exit"
[ "$(cat "$TEST_DIR/ro.exit")" = 0 ] || fail "q did not exit 0"

note "an action without herald_console names the role it needs"
# The role belongs to this test's own server, which goes with the test.
VIEWER="herald_e2e_console_viewer"
sql "CREATE ROLE \"$VIEWER\" LOGIN IN ROLE herald_viewer" >/dev/null ||
    fail "could not create role $VIEWER"
T new-session -d -s vw -x 80 -y 24 \
    "'$HERALD' -d '$JOB_DB user=$VIEWER' -c '$HERALD_CONF' console \
    2>'$TEST_DIR/vw.err'; sleep 600" || fail "could not start tmux"
wait_for 10 "the viewer's console to draw" screen_has vw "1 Queues"
paused_before=$(sql "SELECT count(*) FROM herald.queues WHERE paused")
# The first queue row is under the cursor once the rows are drawn.
expect_line vw '^ ev '
keys vw p
expect_screen vw "this role may not act: grant it herald_console, or use --read-only"
sql_is "SELECT count(*) FROM herald.queues WHERE paused" "$paused_before" ||
    fail "a viewer paused or resumed a queue"
T kill-session -t vw

note "resize to 200x60, 60x15, 30x8 and 40x10, and back to 80x24"
keys c 1
T resize-window -t c -x 200 -y 60
wait_for 10 "a 200x60 layout" layout_fits c 200 60
# The name column is as wide as the longest name, not half the screen,
# so the counts stay next to the names.
expect_line c '^ mail {2,16}[0-9]+ '
# A narrow screen drops the rates and the scheduled count before the
# state, so a paused queue still reads as paused.
T resize-window -t c -x 60 -y 15
expect_line c '^ ev +[0-9].* PAUSED'
screen_has c "done/m" && fail "the rates still show at 60 columns"
# The tab bar drops the program's name, so that every tab stays whole.
expect_line c '^ 1 Queues +2 Workers +3 Retries +4 Dead +5 Events *$'
# The workers screen keeps the heartbeat and cuts the job columns.
keys c 2
expect_line c " [0-9]+ +worker +[0-9][0-9a-z]* +files +idle"
workers_seen=$(date +%s)
keys c 1
T resize-window -t c -x 30 -y 8
expect_screen c "30x8, need 40x10"
# A key on a screen too small to draw does nothing: still screen 1 below.
keys c 2
expect_screen c "keys off; q quits"
# At the smallest size the health panel gives way to the queue rows.
T resize-window -t c -x 40 -y 10
expect_line c '^ mail +[0-9]'
T resize-window -t c -x 80 -y 24
wait_for 10 "an 80x24 layout after resizing" layout_fits c 80 24

note "the database goes away and comes back"
dead4=$(enqueue broken "queue => 'files'")
wait_for 10 "job $dead4 to die" sql_is \
    "SELECT count(*) FROM herald.dead_jobs WHERE id = $dead4" 1
keys c 4
expect_line c "^ +$dead4 broken +files "
keys c 1
touch "$TEST_DIR/release"
stop_heraldd 20
HERALD_PGPORT=$PG_PORT "$HERALD_SRCDIR/scripts/pg" stop "$PG_DIR" ||
    fail "could not stop the private PostgreSQL"
expect_screen c "STALE"
console_ticks() {
    awk '{ print $14 + $15 }' \
        "/proc/$(pgrep -P "$(T display -p -t "$1" "#{pane_pid}")")/stat"
}
cpu_from=$(now_ms)
ticks_c=$(console_ticks c)
expect_line c '^ idle +4 +2 '
# The workers screen, last read well before the outage, counts no
# process dead for the outage, and the status line gives its data's age.
workers_old() {
    [ $(($(date +%s) - workers_seen)) -ge 35 ]
}
wait_for 40 "the workers screen to be 35 s old" workers_old
# Waiting for the server takes the console under a fifth of a core: one
# that polled without a timeout used all of it.  Ticks are 10 ms.
waited() {
    [ $(($(now_ms) - cpu_from)) -ge 3000 ]
}
wait_for 10 "3 s of the outage to pass" waited
ticks=$(($(console_ticks c) - ticks_c))
[ $((ticks * 50)) -lt $(($(now_ms) - cpu_from)) ] ||
    fail "the console used $ticks ticks of CPU in $(($(now_ms) - cpu_from)) ms of the outage"
keys c 2
expect_screen c "1 supervisor (0 dead)"
expect_line c "STALE ([3-9][0-9]s|[0-9]+m[0-9s]*): database unreachable"
keys c 1
# A message on the status line must not hide that the data is stale.
keys c x
expect_screen c "no action on this key"
expect_line c "STALE [0-9]+s: database unreachable"
# A purge that could not be sent opens no confirmation prompt.
keys c 4
expect_line c "^ +$dead4 broken +files "
for key in d D; do
    keys c "$key"
    expect_screen c "not connected to the job database; nothing was changed"
    screen_has c "to confirm:" && fail "\"$key\" asked while disconnected"
    keys c x
    expect_screen c "no action on this key"
done
keys c 1
# A console opened during the outage waits for the server and shows why
# it has no data.  One on a database without the schema exits once the
# server responds, naming the command to run, and one on a database that
# does not exist exits with the server's error.
start_console d
expect_screen d "The job database is unreachable"
expect_screen d ".s.PGSQL.$PG_PORT"
expect_line d "STALE [0-9]+s: database unreachable"
CONSOLE_DB="$PRIVATE dbname=herald_empty" start_console e
expect_screen e "The job database is unreachable"
CONSOLE_DB="$PRIVATE dbname=herald_nosuchdb" start_console f
expect_screen f "The job database is unreachable"
# A message goes after 10 s during an outage too, while fetches wait: it
# stayed until the server came back.
screen_lacks() {
    ! screen_has "$@"
}
wait_for 20 "the message of x to go during the outage" \
    screen_lacks c "no action on this key"
HERALD_PGPORT=$PG_PORT "$HERALD_SRCDIR/scripts/pg" start "$PG_DIR" \
    >/dev/null || fail "could not restart the private PostgreSQL"
wait_for 20 "the console to reconnect" screen_has c "updated"
screen_has c "STALE" && fail "the console still shows STALE"
wait_for 20 "the console opened during the outage to connect" \
    screen_has d "updated"
expect_line d '^ idle +4 +2 '
wait_for 20 "the console without a schema to exit" test -s "$TEST_DIR/e.exit"
[ "$(cat "$TEST_DIR/e.exit")" = 78 ] ||
    fail "without a schema the console exited with $(cat "$TEST_DIR/e.exit")"
grep -q 'job database "herald_empty" .* has no herald schema; run "herald migrate" on it' \
    "$TEST_DIR/e.err" || fail "without a schema: $(cat "$TEST_DIR/e.err")"
wait_for 20 "the console without a database to exit" test -s "$TEST_DIR/f.exit"
[ "$(cat "$TEST_DIR/f.exit")" = 69 ] ||
    fail "without a database the console exited with $(cat "$TEST_DIR/f.exit")"
grep -q 'could not connect to job database: .*database "herald_nosuchdb" does not exist' \
    "$TEST_DIR/f.err" || fail "without a database: $(cat "$TEST_DIR/f.err")"
keys d q
wait_for 10 "the console opened during the outage to quit" \
    test -s "$TEST_DIR/d.exit"

note "a retry from the console counts the jobs it leaves dead"
"$HERALD" -d "$JOB_DB" -c "$HERALD_CONF" enqueue hold --unique kc --in 1h \
    >/dev/null || fail "could not enqueue the holder of kc"
sql "INSERT INTO herald.dead_jobs (id, task, queue, payload, priority,
        attempt, max_attempts, created_at, reason, errors, unique_key)
    VALUES (900000011, 'hold', 'idle', '{}', 0, 1, 1, now(), 'exhausted',
        '[]', 'kc'),
        (900000012, 'hold', 'idle', '{}', 0, 1, 1, now(), 'exhausted',
        '[]', NULL)" >/dev/null || fail "could not insert the dead jobs"
keys c 4
keys c / C-u t a s k : h o l d Enter
expect_screen c "2 dead jobs matching task:hold"
keys c R
expect_screen c "Retry ALL 2 dead jobs matching task:hold? Type 2"
keys c 2 Enter
expect_screen c "retried 1 dead job; 1 left dead, since other jobs hold their"
sql_is "SELECT id FROM herald.dead_jobs WHERE task = 'hold'" 900000011 ||
    fail "the console retried the wrong dead jobs"

note "a queue added to the file shows on the queues screen"
sed 's/^  ev = /  newq = { workers = 0; };\n  ev = /' "$HERALD_CONF" \
    >"$TEST_DIR/newq.conf"
cat "$TEST_DIR/newq.conf" >"$HERALD_CONF"
keys c 1
expect_line c "^ newq +0 +0 +0 +0 +0 "

note "a bulk purge of every dead job is audited as all"
sql "INSERT INTO herald.dead_jobs (id, task, queue, payload, priority,
        attempt, max_attempts, created_at, reason, errors)
    VALUES (900000021, 'hold', 'idle', '{}', 0, 1, 1, now(), 'exhausted',
        '[]'), (900000022, 'hold', 'idle', '{}', 0, 1, 1, now(),
        'exhausted', '[]')" >/dev/null || fail "could not insert dead jobs"
n=$(sql "SELECT count(*) FROM herald.dead_jobs")
keys c 4
keys c / C-u Enter
expect_screen c "$n dead jobs"
keys c D
expect_screen c "Purge ALL $n dead jobs? Type $n to confirm:"
keys c "$n" Enter
expect_screen c "purged $n dead jobs"
# The console bounds the purge by the newest id it showed; the row had
# only that, which did not say that every dead job went.
sql_is "SELECT filter ~ '^all max_id=[0-9]+$' FROM herald.audit
    WHERE action = 'dead purge' ORDER BY id DESC LIMIT 1" t ||
    fail "the audit row of the purge: $(sql "SELECT filter FROM herald.audit
        WHERE action = 'dead purge' ORDER BY id DESC LIMIT 1")"

note "SIGTERM restores the terminal"
pid=$(pgrep -P "$(T display -p -t c "#{pane_pid}")")
[ -n "$pid" ] || fail "no console process found"
kill -TERM "$pid"
wait_for 10 "the console to exit on SIGTERM" test -s "$TEST_DIR/c.exit"
[ "$(cat "$TEST_DIR/c.exit")" = 0 ] || fail "SIGTERM: exit $(cat "$TEST_DIR/c.exit")"
screen_has c "1 Queues" && fail "the terminal still shows the console"
exit 0
