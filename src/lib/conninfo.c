/*
 * conninfo.c: libpq connection strings with their passwords masked.
 *
 * The string is parsed by PQconninfoParse() rather than scanned here, so
 * that every form libpq accepts (quoted values, URIs with the password
 * in the user information or in the query) is masked alike.
 */

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

bool
hd_conninfo_parses(const char *conninfo, char *reason, size_t size)
{
	PQconninfoOption	*options;
	char			*message = NULL;

	reason[0] = '\0';
	options = PQconninfoParse(conninfo, &message);
	if (options != NULL) {
		PQconninfoFree(options);
		return true;
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
