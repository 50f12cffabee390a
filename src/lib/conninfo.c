/*
 * conninfo.c: libpq connection strings with their passwords masked.
 *
 * The string is parsed by PQconninfoParse() rather than scanned here, so
 * that every form libpq accepts (quoted values, URIs with the password
 * in the user information or in the query) is masked alike.
 */

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libpq-fe.h>

#include "conninfo.h"
#include "util.h"

/*
 * Copy into reason the option that libpq's message names after prefix, as
 * in libpq 15's "invalid connection option \"%s\"".  Return false when
 * message has another form.
 */
static bool
conninfo_unknown_option(const char *message, const char *prefix,
    char *reason, size_t size)
{
	const char	*name, *end;

	if (strncmp(message, prefix, strlen(prefix)) != 0)
		return false;
	name = message + strlen(prefix);
	end = name + strspn(name, "abcdefghijklmnopqrstuvwxyz_");
	if (end == name || *end != '"')
		return false;
	snprintf(reason, size, "unknown option \"%.*s\"", (int)(end - name),
	    name);
	return true;
}

/*
 * The options whose values libpq 15 checks only when it connects: those
 * read as whole numbers, and those with a fixed set of values.  No such
 * value is a secret, so a reason may quote it.
 */
static const char *const conninfo_numbers[] = {
	"connect_timeout", "keepalives", "keepalives_idle",
	"keepalives_interval", "keepalives_count", "tcp_user_timeout", NULL
};

static const struct {
	const char	*keyword;
	const char	*choices;	/* as the reason lists them */
	const char	*values[7];
} conninfo_enums[] = {
	{ "sslmode", "disable, allow, prefer, require, verify-ca or "
	    "verify-full", { "disable", "allow", "prefer", "require",
	    "verify-ca", "verify-full", NULL } },
	{ "gssencmode", "disable, prefer or require",
	    { "disable", "prefer", "require", NULL } },
	{ "channel_binding", "disable, prefer or require",
	    { "disable", "prefer", "require", NULL } },
	{ "target_session_attrs", "any, read-write, read-only, primary, "
	    "standby or prefer-standby", { "any", "read-write", "read-only",
	    "primary", "standby", "prefer-standby", NULL } },
};

/*
 * Return whether s is a whole number from min to max, with optional
 * blanks around it, as libpq reads one.
 */
static bool
conninfo_number(const char *s, long min, long max)
{
	char	*end;
	long	 n;

	while (*s == ' ' || *s == '\t')
		s++;
	if (*s == '\0')
		return false;
	errno = 0;
	n = strtol(s, &end, 10);
	if (end == s || errno != 0 || n < min || n > max)
		return false;
	while (*end == ' ' || *end == '\t')
		end++;
	return *end == '\0';
}

/* Return whether each of the comma-separated ports is empty or valid. */
static bool
conninfo_ports(const char *ports)
{
	char	 one[16];
	size_t	 len;

	for (;;) {
		len = strcspn(ports, ",");
		if (len >= sizeof one)
			return false;
		memcpy(one, ports, len);
		one[len] = '\0';
		if (len > 0 && !conninfo_number(one, 1, 65535))
			return false;
		if (ports[len] == '\0')
			return true;
		ports += len + 1;
	}
}

/*
 * The TLS versions of ssl_min_protocol_version and
 * ssl_max_protocol_version, lowest first, which libpq 15 compares
 * ignoring case.
 */
static const char *const conninfo_tls_versions[] = {
	"TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3", NULL
};

/* Return the rank of TLS version s in conninfo_tls_versions, or -1. */
static int
conninfo_tls_rank(const char *s)
{
	int	i;

	for (i = 0; conninfo_tls_versions[i] != NULL; i++)
		if (strcasecmp(s, conninfo_tls_versions[i]) == 0)
			return i;
	return -1;
}

/* Check the value of option o; on a bad one write reason and fail. */
static bool
conninfo_value(const PQconninfoOption *o, char *reason, size_t size)
{
	const char *const	*v;
	size_t			 i;

	if (strcmp(o->keyword, "ssl_min_protocol_version") == 0 ||
	    strcmp(o->keyword, "ssl_max_protocol_version") == 0) {
		if (o->val[0] == '\0' || conninfo_tls_rank(o->val) != -1)
			return true;
		snprintf(reason, size, "invalid %s \"%.32s\"; use TLSv1, "
		    "TLSv1.1, TLSv1.2 or TLSv1.3", o->keyword, o->val);
		return false;
	}
	if (strcmp(o->keyword, "port") == 0) {
		if (conninfo_ports(o->val))
			return true;
		snprintf(reason, size, "invalid port \"%.32s\"; use 1 to "
		    "65535", o->val);
		return false;
	}
	for (v = conninfo_numbers; *v != NULL; v++) {
		if (strcmp(o->keyword, *v) != 0)
			continue;
		if (conninfo_number(o->val, INT_MIN, INT_MAX))
			return true;
		snprintf(reason, size, "invalid %s \"%.32s\"; use a whole "
		    "number", o->keyword, o->val);
		return false;
	}
	for (i = 0; i < sizeof conninfo_enums / sizeof conninfo_enums[0];
	    i++) {
		if (strcmp(o->keyword, conninfo_enums[i].keyword) != 0)
			continue;
		for (v = conninfo_enums[i].values; *v != NULL; v++)
			if (strcmp(o->val, *v) == 0)
				return true;
		snprintf(reason, size, "invalid %s \"%.32s\"; use %s",
		    o->keyword, o->val, conninfo_enums[i].choices);
		return false;
	}
	return true;
}

/* Return the non-empty value of keyword in options, or NULL. */
static const char *
conninfo_get(const PQconninfoOption *options, const char *keyword)
{
	const PQconninfoOption	*o;

	for (o = options; o->keyword != NULL; o++)
		if (strcmp(o->keyword, keyword) == 0)
			return o->val != NULL && o->val[0] != '\0' ? o->val : NULL;
	return NULL;
}

/* Count the elements of a comma-separated list as libpq does. */
static int
conninfo_count(const char *list)
{
	int	n = 1;

	for (; *list != '\0'; list++)
		if (*list == ',')
			n++;
	return n;
}

/*
 * Check the lists of hosts, addresses and ports against each other, as
 * libpq 15 does when it connects.  The number of hosts comes from
 * hostaddr, else host, and port has one port for all of them or one for
 * each.  Only lists in the string are compared, because the PG*
 * variables and a service file fill in the others at run time.
 */
static bool
conninfo_hosts(const PQconninfoOption *options, char *reason, size_t size)
{
	const char	*host, *hostaddr, *port;
	int		 hosts, names, ports;

	host = conninfo_get(options, "host");
	hostaddr = conninfo_get(options, "hostaddr");
	port = conninfo_get(options, "port");
	if (hostaddr != NULL)
		hosts = conninfo_count(hostaddr);
	else if (host != NULL)
		hosts = conninfo_count(host);
	else
		return true;

	if (host != NULL && hostaddr != NULL &&
	    (names = conninfo_count(host)) != hosts) {
		snprintf(reason, size, "host lists %d name%s but hostaddr %d "
		    "address%s; give one name per address", names,
		    names == 1 ? "" : "s", hosts, hosts == 1 ? "" : "es");
		return false;
	}
	if (port != NULL && (ports = conninfo_count(port)) != 1 &&
	    ports != hosts) {
		snprintf(reason, size, "port lists %d ports for %d host%s; "
		    "give one port for all hosts or one per host", ports, hosts,
		    hosts == 1 ? "" : "s");
		return false;
	}
	return true;
}

/*
 * Check that ssl_min_protocol_version is not above
 * ssl_max_protocol_version.  A bound missing from the string comes from
 * PGSSLMINPROTOCOLVERSION, PGSSLMAXPROTOCOLVERSION or a service file at
 * run time, so only a pair in the string is compared.
 *
 * NOTE: a maximum below TLSv1.2, libpq 15's default minimum, without a
 * minimum in the string passes here and fails when libpq connects.
 */
static bool
conninfo_tls_range(const PQconninfoOption *options, char *reason,
    size_t size)
{
	const char	*min, *max;

	min = conninfo_get(options, "ssl_min_protocol_version");
	max = conninfo_get(options, "ssl_max_protocol_version");
	if (min == NULL || max == NULL ||
	    conninfo_tls_rank(min) <= conninfo_tls_rank(max))
		return true;
	snprintf(reason, size, "ssl_min_protocol_version \"%s\" is above "
	    "ssl_max_protocol_version \"%s\"", min, max);
	return false;
}

bool
hd_conninfo_parses(const char *conninfo, char *reason, size_t size)
{
	PQconninfoOption	*options, *o;
	char			*message = NULL;
	bool			 ok = true;

	reason[0] = '\0';
	options = PQconninfoParse(conninfo, &message);
	if (options != NULL) {
		for (o = options; ok && o->keyword != NULL; o++)
			if (o->val != NULL)
				ok = conninfo_value(o, reason, size);
		if (ok)
			ok = conninfo_hosts(options, reason, size) &&
			    conninfo_tls_range(options, reason, size);
		PQconninfoFree(options);
		return ok;
	}
	if (message != NULL && !conninfo_unknown_option(message,
	    "invalid connection option \"", reason, size))
		conninfo_unknown_option(message,
		    "invalid URI query parameter: \"", reason, size);
	PQfreemem(message);
	return false;
}

/* A growing string; data is always NUL-terminated once started. */
struct conninfo_buf {
	char	*data;
	size_t	 len;
	size_t	 cap;
};

static void
buf_putc(struct conninfo_buf *b, char c)
{
	if (b->len + 2 > b->cap) {
		b->cap = b->cap == 0 ? 128 : b->cap * 2;
		b->data = hd_xrealloc(b->data, b->cap, 1);
	}
	b->data[b->len++] = c;
	b->data[b->len] = '\0';
}

static void
buf_puts(struct conninfo_buf *b, const char *s)
{
	while (*s != '\0')
		buf_putc(b, *s++);
}

/*
 * Append value as libpq reads it back: bare when it is non-empty and has
 * no space, quote or backslash, else in single quotes with \' and \\.
 */
static void
buf_put_value(struct conninfo_buf *b, const char *value)
{
	bool		 quote = value[0] == '\0';
	const char	*p;

	for (p = value; *p != '\0' && !quote; p++)
		quote = *p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' ||
		    *p == '\'' || *p == '\\';
	if (!quote) {
		buf_puts(b, value);
		return;
	}
	buf_putc(b, '\'');
	for (p = value; *p != '\0'; p++) {
		if (*p == '\'' || *p == '\\')
			buf_putc(b, '\\');
		buf_putc(b, *p);
	}
	buf_putc(b, '\'');
}

/* The keywords whose values are secrets: password and sslpassword. */
static bool
is_secret(const char *keyword)
{
	return strcmp(keyword, "password") == 0 ||
	    strcmp(keyword, "sslpassword") == 0;
}

char *
hd_conninfo_mask(const char *conninfo)
{
	struct conninfo_buf	 b = { NULL, 0, 0 };
	PQconninfoOption	*options, *o;
	char			*message = NULL;

	options = PQconninfoParse(conninfo, &message);
	PQfreemem(message);
	if (options == NULL)
		return NULL;

	for (o = options; o->keyword != NULL; o++) {
		if (o->val == NULL)
			continue;
		if (b.len > 0)
			buf_putc(&b, ' ');
		buf_puts(&b, o->keyword);
		buf_putc(&b, '=');
		if (is_secret(o->keyword))
			buf_puts(&b, HD_CONNINFO_MASK);
		else
			buf_put_value(&b, o->val);
	}
	PQconninfoFree(options);
	if (b.data == NULL)
		b.data = hd_xstrdup("");
	return b.data;
}
