#!/bin/sh
# The man pages render without warnings and join no words by mistake.
# They document every option that a --help prints in the right page (and,
# for herald, in the section of the command), every command, and every
# setting of herald.conf.  herald config prints every setting, and its
# output reads back the same.  Needs no database.

set -u
: "${HERALD:?}" "${HERALDD:?}" "${HERALD_SRCDIR:?}" "${HERALD_BUILDDIR:?}"

TEST_DIR=$(mktemp -d "${TMPDIR:-/tmp}/herald-test_manpages.XXXXXX") || exit 1
trap 'rm -rf "$TEST_DIR"' EXIT
trap 'exit 1' INT TERM HUP
MAN=$HERALD_BUILDDIR/doc
failures=0

fail() {
    echo "FAIL: test_manpages: $*" >&2
    failures=$((failures + 1))
}

if ! command -v groff >/dev/null 2>&1; then
    echo "SKIP: groff is not installed (Debian package groff-base)"
    exit 77
fi

# Render every page; groff -ww prints every warning on standard error.
for page in herald.1 heraldd.8 herald.conf.5 libherald.3; do
    [ -f "$MAN/$page" ] || { fail "$MAN/$page was not built"; continue; }
    groff -ww -z -man "$MAN/$page" 2>"$TEST_DIR/groff.err" ||
        fail "groff failed on $page"
    [ ! -s "$TEST_DIR/groff.err" ] ||
        fail "groff warns on $page: $(cat "$TEST_DIR/groff.err")"
    if command -v man >/dev/null 2>&1; then
        MANWIDTH=80 man -l "$MAN/$page" >/dev/null 2>"$TEST_DIR/man.err" ||
            fail "man -l failed on $page"
        [ ! -s "$TEST_DIR/man.err" ] ||
            fail "man -l warns on $page: $(cat "$TEST_DIR/man.err")"
    fi
done

# The alternating-font macros (.BR, .IR, ...) print their arguments with
# no space between them, so two words that meet there, as in
# .RB ( \(dqhost=/run/postgresql dbname=herald\(dq ), render as one
# ("postgresqldbname").  Such an argument needs double quotes.
for page in herald.1 heraldd.8 herald.conf.5 libherald.3; do
    [ -f "$MAN/$page" ] || continue
    awk -v page="$page" '
        /^\.(BR|RB|IR|RI|BI|IB) / {
            text = substr($0, 5); n = 0; arg = ""; quoted = 0; have = 0
            for (i = 1; i <= length(text); i++) {
                c = substr(text, i, 1)
                if (quoted) {
                    if (c == "\"") quoted = 0; else arg = arg c
                } else if (c == "\"") {
                    quoted = 1; have = 1
                } else if (c == " ") {
                    if (have) { args[++n] = arg; arg = ""; have = 0 }
                } else {
                    arg = arg c; have = 1
                }
            }
            if (have) args[++n] = arg
            for (j = 1; j < n; j++) {
                left = args[j]; right = args[j + 1]
                gsub(/\\\(dq|\\f[BIRP]/, "", left)
                gsub(/\\\(dq|\\f[BIRP]/, "", right)
                if (left ~ /[A-Za-z0-9\/@.]$/ && right ~ /^[A-Za-z0-9\/@$]/)
                    print page ":" NR ": " $0
            }
        }' "$MAN/$page"
done >"$TEST_DIR/joined"
[ ! -s "$TEST_DIR/joined" ] ||
    fail "font macros join two words: $(cat "$TEST_DIR/joined")"

# plain PAGE: the page's source with \- as - and without font changes.
plain() {
    sed -e 's/\\-/-/g' -e 's/\\f[BIRP]//g' -e 's/\\(dq/"/g' "$MAN/$1"
}

# section PAGE NAME: the lines of .SS NAME up to the next .SS or .SH.
section() {
    plain "$1" | awk -v name="$2" '
        /^\.S[SH] / { inside = ($0 == ".SS " name) ; next }
        inside'
}

# options: the options that the --help on standard input defines, one a
# line: the leading "-x, --long" of each option line.
options() {
    sed -n 's/^ \{1,8\}\(-[A-Za-z0-9]\)\{0,1\}\(, \)\{0,1\}\(--[a-z][a-z-]*\)\{0,1\}.*/\1 \3/p' |
        tr ' ' '\n' | grep -- '^-'
}

# check_options WHAT TEXT: every option of the help in $TEST_DIR/help is
# in TEXT as a word.
check_options() {
    _opts=$(options <"$TEST_DIR/help")
    [ -n "$_opts" ] || fail "no options found in the help of $1"
    for _opt in $_opts; do
        printf '%s\n' "$2" | grep -q -- "\\(^\\|[^a-z-]\\)$_opt\\([^a-z-]\\|\$\\)" ||
            fail "$1: option $_opt of --help is missing from the man page"
    done
}

# herald's global options are in OPTIONS, before COMMANDS.
"$HERALD" --help >"$TEST_DIR/help" || fail "herald --help failed"
check_options "herald" "$(plain herald.1 | sed -n '/^\.SH OPTIONS/,/^\.SH COMMANDS/p')"

# Each command has its section, with its options.
commands=$(sed -n '/^Commands:/,/^$/s/^  \([a-z]*\) .*/\1/p' "$TEST_DIR/help")
[ -n "$commands" ] || fail "no commands in herald --help"
for cmd in $commands; do
    text=$(section herald.1 "$cmd")
    [ -n "$text" ] || { fail "herald.1 has no section for $cmd"; continue; }
    "$HERALD" "$cmd" --help >"$TEST_DIR/help" ||
        fail "herald $cmd --help failed"
    check_options "herald $cmd" "$text"
    # The summary in herald --help names every action of the command.
    summary=$("$HERALD" --help | sed -n "s/^  $cmd  *//p")
    actions=$(sed -n "s/^  *herald $cmd \([a-z][a-z|-]*\)\( .*\)*\$/\1/p" \
        "$TEST_DIR/help" | tr '|' '\n' | sort -u)
    for action in $actions; do
        printf '%s\n' "$summary" | grep -qw -- "$action" ||
            fail "herald --help: the summary of $cmd, \"$summary\", omits $action"
    done
done

"$HERALDD" --help >"$TEST_DIR/help" || fail "heraldd --help failed"
check_options "heraldd" "$(plain heraldd.8)"

# Every setting that herald config prints is in herald.conf(5).
"$HERALD" -c "$HERALD_SRCDIR/doc/herald.conf" config >"$TEST_DIR/config" ||
    fail "herald config failed on doc/herald.conf"
settings=$(sed -n 's/^ *\([a-z_]*\) = .*/\1/p' "$TEST_DIR/config" | sort -u)
queue_and_task_names=$("$HERALD" -c "$HERALD_SRCDIR/doc/herald.conf" \
    config --names=queues; "$HERALD" -c "$HERALD_SRCDIR/doc/herald.conf" \
    config --names=tasks)
conf5=$(plain herald.conf.5)
for s in $settings; do
    printf '%s\n' "$queue_and_task_names" | grep -qx -- "$s" && continue
    printf "%s\n" "$conf5" | grep -q "^\.BR*\( \|.* \)$s\\b" ||
        fail "setting $s is not described in herald.conf(5)"
done

# herald config prints every setting of a file that sets each one to a
# value other than its default, one a line as herald config writes them.
# Its output is a valid file, and printing that file again gives the
# same settings.  The top level's user, group and limits show in each
# task.
me=$(id -un) my_group=$(id -gn)
cat >"$TEST_DIR/full.conf" <<EOF
job_db = "dbname=herald host=/run/postgresql";
app_db = "dbname=shop host=/run/postgresql";
log_level = "debug";
grace_period = "45s";
lease = "2m";
payload_max = 65536;
confirm_over = 50;
allow_root_handlers = true;
user = "$me";
group = "$my_group";
limits = {
  address_space = "2GB";
  open_files = 512;
  cpu_time = "10m";
};
retention = {
  counters = "2d";
  hourly_counters = "60d";
  dead = "7d";
  dead_rows = 5000;
  processes = "5m";
};
restart_limit = {
  failures = 3;
  window = "2m";
  cool_down = "10m";
};
queues = {
  mail = {
    workers = 2;
    concurrency = 4;
    poll_interval = "250ms";
    max_jobs = 100;
    max_rss = "256MB";
    limit = 3;
    rate = 2.5;
  };
  bulk = {
    rate = 123456.789;
  };
  fast = {
    rate = 1000000.0;
  };
};
tasks = {
  send = {
    queue = "mail";
    exec = [ "/bin/echo", "a \"quoted\" \\\\ argument", "tab\\x09here" ];
    timeout = "90s";
    retry = {
      max_attempts = 7;
      base_delay = "2s";
      factor = 1.5;
      max_delay = "10m";
      jitter = 0.125;
    };
    env = [ "HOME", "MODE=test" ];
    user = "$me";
    group = "$my_group";
    limits = {
      open_files = 64;
    };
  };
  resize = {
    queue = "bulk";
    module = {
      path = "/usr/lib/shop/images.so";
      symbol = "resize";
    };
  };
};
events = {
  UserRegistered = [ "send", "resize" ];
};
periodic = {
  nightly = {
    schedule = "0 3 * * *";
    timezone = "Europe/Berlin";
    task = "send";
    payload = "{\"full\": true}";
    priority = -5;
    catch_up = "none";
  };
};
EOF

# settings_of FILE: the lines of FILE without comments, the source
# comments of herald config ("# line 3", "# default") and indentation.
settings_of() {
    sed -e '/^ *#/d' -e 's/^ *//' \
        -e 's/ *# \(line [0-9]*\(, top level\)\{0,1\}\|default\)$//' "$1"
}

"$HERALDD" -c "$TEST_DIR/full.conf" --check >/dev/null \
    2>"$TEST_DIR/check.err" ||
    fail "heraldd --check rejects the full example: $(cat "$TEST_DIR/check.err")"
"$HERALD" -c "$TEST_DIR/full.conf" config >"$TEST_DIR/printed.conf" ||
    fail "herald config failed on the full example"
settings_of "$TEST_DIR/printed.conf" >"$TEST_DIR/printed.settings"
settings_of "$TEST_DIR/full.conf" | grep '^[a-z_]* = [^{[]*;$' |
    while IFS= read -r line; do
        grep -qxF -- "$line" "$TEST_DIR/printed.settings" || echo "$line"
    done >"$TEST_DIR/dropped"
[ ! -s "$TEST_DIR/dropped" ] ||
    fail "herald config drops settings: $(tr '\n' ' ' <"$TEST_DIR/dropped")"
grep -qxF '"tab\x09here"' "$TEST_DIR/printed.settings" ||
    fail "herald config does not print the exec arguments"

"$HERALDD" -c "$TEST_DIR/printed.conf" --check >/dev/null \
    2>"$TEST_DIR/check.err" ||
    fail "heraldd --check rejects herald config's output: $(cat "$TEST_DIR/check.err")"
"$HERALD" -c "$TEST_DIR/printed.conf" config >"$TEST_DIR/reprinted.conf" ||
    fail "herald config failed on its own output"
settings_of "$TEST_DIR/reprinted.conf" >"$TEST_DIR/reprinted.settings"
diff "$TEST_DIR/printed.settings" "$TEST_DIR/reprinted.settings" \
    >"$TEST_DIR/diff" ||
    fail "herald config prints its own output differently: $(cat "$TEST_DIR/diff")"

# Every setting of the full example is in herald.conf(5) too.
for s in $(sed -n 's/^ *\([a-z_]*\) = .*/\1/p' "$TEST_DIR/printed.conf" |
    sort -u); do
    case $s in mail | bulk | fast | send | resize | nightly) continue ;; esac
    printf "%s\n" "$conf5" | grep -q "^\.BR*\( \|.* \)$s\\b" ||
        fail "setting $s is not described in herald.conf(5)"
done

# Every function of herald.h is in libherald(3).
for fn in $(sed -n 's/.*\(herald_[a-z_]*\)(.*/\1/p' \
    "$HERALD_SRCDIR/include/herald.h" | sort -u); do
    plain libherald.3 | grep -q "$fn" ||
        fail "function $fn of herald.h is missing from libherald(3)"
done

# The README's example configuration passes heraldd --check.  As root,
# which the README's steps may run as, that takes a user for the
# handlers; as another user the example's user = "nobody" is rejected.
awk '/^Then write a `herald.conf`:/ { found = 1; next }
    found && /^```/ { if (inside) exit; inside = 1; next }
    inside { print }' "$HERALD_SRCDIR/README.md" >"$TEST_DIR/readme.conf"
[ -s "$TEST_DIR/readme.conf" ] ||
    fail "no example configuration found in README.md"
if [ "$(id -u)" -eq 0 ]; then
    "$HERALDD" -c "$TEST_DIR/readme.conf" --check >/dev/null \
        2>"$TEST_DIR/readme.err" ||
        fail "README.md's example fails heraldd --check as root: $(cat "$TEST_DIR/readme.err")"
else
    echo "test_manpages: not root, so the README example is not checked"
fi

[ "$failures" -eq 0 ] || exit 1
echo "test_manpages: ok"
