# promcheck.awk: a strict checker of the Prometheus text exposition
# format, version 0.0.4, with the lint rules of `promtool check metrics`
# that herald follows: every family has HELP and TYPE, counters end in
# _total.  Reads the text on standard input; prints one "line N: ..."
# per problem on standard error and exits 1 when it found any, else
# prints the number of families and samples and exits 0.
#
#   awk -f promcheck.awk <metrics.txt

function fail(msg) {
    printf "line %d: %s\n", NR, msg > "/dev/stderr"
    errors++
}

function valid_name(s) {
    return s ~ /^[a-zA-Z_:][a-zA-Z0-9_:]*$/
}

function valid_value(s) {
    return s ~ /^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?$/ ||
        s ~ /^([+-]?Inf|NaN)$/
}

# The family a sample named s belongs to: s itself, or s without a
# suffix that histograms and summaries add.
function family_of(s,    base) {
    if (s in type)
        return s
    if (match(s, /_(bucket|sum|count)$/)) {
        base = substr(s, 1, RSTART - 1)
        if (type[base] == "histogram" || type[base] == "summary")
            return base
    }
    return s
}

# Start family f, which must not have appeared before the current one.
function enter(f) {
    if (f == current)
        return
    if (f in seen)
        fail("family " f " is split: its lines are not together")
    seen[f] = 1
    current = f
    nfamilies++
}

# Parse the labels in text (without braces) into a canonical string;
# set label_error on a problem.
function parse_labels(text,    rest, name, value, c, canon, n, i, names) {
    rest = text
    canon = ""
    label_error = ""
    delete names
    while (rest != "") {
        if (!match(rest, /^[a-zA-Z_][a-zA-Z0-9_]*="/)) {
            label_error = "invalid label at \"" rest "\""
            return ""
        }
        name = substr(rest, 1, RLENGTH - 2)
        rest = substr(rest, RLENGTH + 1)
        if (name ~ /^__/)
            label_error = "reserved label name " name
        if (name in names)
            label_error = "label " name " is repeated"
        names[name] = 1
        value = ""
        for (;;) {
            if (rest == "") {
                label_error = "unterminated value of label " name
                return ""
            }
            c = substr(rest, 1, 1)
            if (c == "\"")
                break
            if (c == "\\") {
                c = substr(rest, 2, 1)
                if (c != "\\" && c != "\"" && c != "n") {
                    label_error = "invalid escape \\" c " in label " name
                    return ""
                }
                value = value "\\" c
                rest = substr(rest, 3)
                continue
            }
            value = value c
            rest = substr(rest, 2)
        }
        rest = substr(rest, 2)
        canon = canon name "=" value "\001"
        if (rest == "")
            break
        if (substr(rest, 1, 1) != ",") {
            label_error = "expected a comma after label " name
            return ""
        }
        rest = substr(rest, 2)
    }
    # Sort the pairs so that the order of labels does not matter.
    n = split(canon, pairs, "\001")
    for (i = 2; i < n; i++) {
        c = pairs[i]
        for (j = i - 1; j >= 1 && pairs[j] > c; j--)
            pairs[j + 1] = pairs[j]
        pairs[j + 1] = c
    }
    canon = ""
    for (i = 1; i < n; i++)
        canon = canon pairs[i] ","
    return canon
}

/^#/ {
    if ($0 ~ /^# (HELP|TYPE) /) {
        kind = $2
        name = $3
        if (!valid_name(name)) {
            fail("invalid metric name \"" name "\"")
            next
        }
        enter(family_of(name))
        if (kind == "HELP") {
            if (name in help)
                fail("second HELP for " name)
            help[name] = 1
            text = substr($0, length("# HELP " name) + 2)
            if (text ~ /\\[^\\n]/ || text ~ /\\$/)
                fail("invalid escape in HELP of " name)
        } else {
            if (name in type)
                fail("second TYPE for " name)
            if (name in sampled)
                fail("TYPE of " name " after its samples")
            if (NF != 4 || $4 !~ /^(counter|gauge|histogram|summary|untyped)$/)
                fail("invalid TYPE line for " name)
            type[name] = $4
            if ($4 == "counter" && name !~ /_total$/)
                fail("counter " name " does not end in _total")
        }
    }
    next
}

/^[ \t]*$/ {
    next
}

{
    line = $0
    if (!match(line, /^[a-zA-Z_:][a-zA-Z0-9_:]*/)) {
        fail("invalid sample line")
        next
    }
    name = substr(line, 1, RLENGTH)
    rest = substr(line, RLENGTH + 1)
    labels = ""
    if (substr(rest, 1, 1) == "{") {
        # The labels end at the first "}" outside a quoted value.
        inq = 0
        for (i = 2; i <= length(rest); i++) {
            c = substr(rest, i, 1)
            if (inq && c == "\\") {
                i++
                continue
            }
            if (c == "\"")
                inq = !inq
            else if (!inq && c == "}")
                break
        }
        if (i > length(rest)) {
            fail("unterminated labels")
            next
        }
        labels = parse_labels(substr(rest, 2, i - 2))
        if (label_error != "") {
            fail(label_error)
            next
        }
        rest = substr(rest, i + 1)
    }
    if (rest !~ /^ [^ ]+( -?[0-9]+)?$/) {
        fail("expected a space, a value and an optional timestamp")
        next
    }
    split(substr(rest, 2), fields, " ")
    if (!valid_value(fields[1]))
        fail("invalid value \"" fields[1] "\"")
    f = family_of(name)
    if (!(f in type))
        fail("sample of " name " without a TYPE line")
    if (!(f in help))
        fail("sample of " name " without a HELP line")
    enter(f)
    if (type[f] == "counter" && fields[1] ~ /^-/)
        fail("negative value of counter " name)
    series = name "{" labels "}"
    if (series in samples)
        fail("duplicate series " series)
    samples[series] = 1
    sampled[name] = 1
    nsamples++
}

END {
    if (NR == 0)
        fail("no input")
    for (name in type)
        if (!(name in help))
            printf "family %s: no HELP line\n", name > "/dev/stderr"
    for (name in type)
        if (!(name in help))
            errors++
    if (errors > 0)
        exit 1
    printf "%d families, %d samples\n", nfamilies, nsamples
}
