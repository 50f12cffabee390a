#!/bin/sh
# Handler isolation: an exec handler sees only PATH, LANG, the HERALD_
# variables and its task's env list, inherits no descriptor but 0 to 2,
# runs under the configured resource limits and, when heraldd runs as
# root, as the configured user and group.  heraldd as root refuses to run
# handlers as root unless the configuration allows it.  The checks of
# user and group and of the refusal need root; as another user they are
# left out and said so.

. "${HERALD_SRCDIR:-.}/tests/e2e/lib.sh"

# The handler may run as nobody, which must reach its script and output.
chmod 755 "$TEST_DIR"
mkdir "$TEST_DIR/out"
chmod 777 "$TEST_DIR/out"

write_handler report.sh <<EOF
#!/bin/sh
# Record what the handler process sees, then list its descriptors from a
# program of its own, which inherits them (dash closes its script's).
out=$TEST_DIR/out/\$HERALD_JOB_ID
{
    echo "uid=\$(id -u) gid=\$(id -g) groups=\$(id -G)"
    echo "as=\$(ulimit -v) nofile=\$(ulimit -n) cpu=\$(ulimit -t)"
} >"\$out.ids"
env | sort >"\$out.env"
exec /bin/ls /proc/self/fd >"\$out.fds"
EOF

write_handler hang.sh <<EOF
#!/bin/sh
echo \$\$ >"$TEST_DIR/out/hang.pid"
exec sleep 300
EOF

run_user=
if [ "$(id -u)" -eq 0 ]; then
    run_user='user = "nobody"; group = "nogroup";'
fi

# Everything the worker's own environment holds, including a secret that
# must not reach the handler.
export HERALD_TEST_SECRET=hunter2 TZ=Europe/Paris

write_conf <<EOF
$run_user
limits = { address_space = "512MB"; open_files = 64; cpu_time = "2m"; };
queues = { q = { workers = 1; }; };
tasks = {
  report = { queue = "q"; exec = [ "$TEST_DIR/report.sh" ];
    env = [ "TZ", "SHOP_HOME=/var/lib/shop", "NOT_SET_ANYWHERE" ];
    limits = { open_files = 32; }; };
  hang = { queue = "q"; exec = [ "$TEST_DIR/hang.sh" ]; };
};
EOF

note "start heraldd with an extra descriptor open"
touch "$HERALDD_LOG"
exec 9>"$TEST_DIR/leak"
start_heraldd
exec 9>&-

id=$(enqueue report "queue => 'q', payload => '{\"n\": 1}'")
wait_for 10 "job $id to complete" sql_is \
    "SELECT count(*) FROM herald.live_jobs WHERE id = $id" 0
wait_for 10 "the handler's report" test -s "$TEST_DIR/out/$id.fds"
sql_is "SELECT count(*) FROM herald.dead_jobs" 0 ||
    fail "the handler failed: $(sql "SELECT errors FROM herald.dead_jobs")"

note "environment"
env_file=$TEST_DIR/out/$id.env
names=$(sed 's/=.*//' "$env_file" | grep -v '^PWD$' | tr '\n' ' ')
expected="HERALD_ATTEMPT HERALD_JOB_ID HERALD_MAX_ATTEMPTS HERALD_QUEUE HERALD_TASK PATH SHOP_HOME TZ "
# LANG appears only when heraldd has it.
[ -n "${LANG:-}" ] && expected=$(echo "$expected" | sed 's/PATH/LANG PATH/')
[ "$names" = "$expected" ] ||
    fail "the handler's environment has \"$names\", expected \"$expected\""
grep -qx 'TZ=Europe/Paris' "$env_file" || fail "TZ was not passed on"
grep -qx 'SHOP_HOME=/var/lib/shop' "$env_file" || fail "SHOP_HOME was not set"
grep -q hunter2 "$env_file" && fail "heraldd's environment reached the handler"

note "descriptors"
# 0 to 2, and the directory ls reads.
fds=$(tr '\n' ' ' <"$TEST_DIR/out/$id.fds")
[ "$fds" = "0 1 2 3 " ] || fail "the handler inherited descriptors: $fds"

note "resource limits"
grep -q "as=524288 nofile=32 cpu=120" "$TEST_DIR/out/$id.ids" ||
    fail "wrong limits: $(cat "$TEST_DIR/out/$id.ids")"

if [ "$(id -u)" -ne 0 ]; then
    note "not root: user, group and the refusal of root handlers not checked"
    exit 0
fi

note "user and group"
grep -qx "uid=65534 gid=65534 groups=65534" "$TEST_DIR/out/$id.ids" ||
    fail "the handler did not run as nobody: $(cat "$TEST_DIR/out/$id.ids")"

note "a handler run as nobody dies with its worker"
# Changing the user clears PR_SET_PDEATHSIG.  heraldd would kill the
# handler too, so it is stopped meanwhile: only the kernel can.
enqueue hang "queue => 'q'" >/dev/null
wait_for 10 "the handler to start" test -s "$TEST_DIR/out/hang.pid"
handler=$(cat "$TEST_DIR/out/hang.pid")
worker=$(sql "SELECT pid FROM herald.processes WHERE kind = 'worker'")
kill -STOP "$HERALDD_PID"
kill -KILL "$worker"
killed_at=$(now_ms)
while alive "$handler" && [ $(($(now_ms) - killed_at)) -lt 2000 ]; do
    sleep 0.05
done
kill -CONT "$HERALDD_PID"
not_alive "$handler" || fail "the handler outlived its worker by 2 s"
stop_heraldd 10

note "heraldd as root refuses root handlers without the opt-in"
cat >"$TEST_DIR/root.conf" <<EOF
job_db = "$JOB_DB";
queues = { q = {}; };
tasks = { report = { queue = "q"; exec = [ "$TEST_DIR/report.sh" ]; }; };
EOF
status=0
"$HERALDD" -c "$TEST_DIR/root.conf" 2>"$TEST_DIR/root.err" || status=$?
[ "$status" -eq 78 ] || fail "heraldd exited $status, expected 78"
grep -q 'tasks.report: the handler would run as root.*allow_root_handlers = true' \
    "$TEST_DIR/root.err" ||
    fail "the refusal names no setting: $(cat "$TEST_DIR/root.err")"
status=0
"$HERALDD" -c "$TEST_DIR/root.conf" --check >/dev/null 2>&1 || status=$?
[ "$status" -eq 78 ] || fail "heraldd --check exited $status, expected 78"
check_no_leftovers
