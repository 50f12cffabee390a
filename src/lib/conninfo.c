/*
 * conninfo.c: libpq connection strings with their passwords masked.
 *
 * The string is parsed by PQconninfoParse() rather than scanned here, so
 * that every form libpq accepts (quoted values, URIs with the password
 * in the user information or in the query) is masked alike.
 */

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "conninfo.h"
#include "util.h"

bool
hd_conninfo_parses(const char *conninfo)
{
	PQconninfoOption	*options;
	char			*message = NULL;

	options = PQconninfoParse(conninfo, &message);
	PQfreemem(message);
	if (options == NULL)
		return false;
	PQconninfoFree(options);
	return true;
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
