#!/bin/sh
# The man pages render without warnings, document every option that a
# --help prints in the right page (and, for herald, in the section of
# the command), every command, and every setting of herald.conf.
# Needs no database.

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

# Every function of herald.h is in libherald(3).
for fn in $(sed -n 's/.*\(herald_[a-z_]*\)(.*/\1/p' \
    "$HERALD_SRCDIR/include/herald.h" | sort -u); do
    plain libherald.3 | grep -q "$fn" ||
        fail "function $fn of herald.h is missing from libherald(3)"
done

[ "$failures" -eq 0 ] || exit 1
echo "test_manpages: ok"
