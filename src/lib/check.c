/*
 * check.c: checks of names and payloads made before anything reaches the
 * database, so a bad value gets a precise message and changes nothing.
 */

#include <ctype.h>
#include <stdarg.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "herald.h"
#include "db.h"
#include "util.h"

void
hd_error_set(struct herald_error *error, enum herald_code code,
    const char *fmt, ...)
{
	va_list	ap;

	if (error == NULL)
		return;
	error->code = code;
	error->sqlstate[0] = '\0';
	va_start(ap, fmt);
	vsnprintf(error->message, sizeof(error->message), fmt, ap);
	va_end(ap);
}

/* Maximum length of a too-long name quoted in a message. */
#define CHECK_QUOTE_MAX	80

const char *
herald_strerror(enum herald_code code)
{
	switch (code) {
	case HERALD_OK:
		return "success";
	case HERALD_EINVAL:
		return "invalid argument";
	case HERALD_EDB:
		return "database error";
	case HERALD_ECONNECT:
		return "connection failure";
	case HERALD_ENOTFOUND:
		return "not found";
	case HERALD_ESCHEMA:
		return "database schema mismatch";
	case HERALD_ENOMEM:
		return "out of memory";
	case HERALD_EHANDLER:
		return "event handler failed";
	case HERALD_ESTATE:
		return "invalid state for this call";
	}
	return "unrecognized error code";
}

/*
 * Copy name to buf, of size bytes, as a message may quote it: printable
 * ASCII as it is and any other byte as \xHH, so that no control byte of
 * a bad name reaches a terminal or a log.  Return whether all of name
 * fit.
 */
static bool
check_quote(const char *name, char *buf, size_t size)
{
	size_t		len = 0;
	unsigned char	c;

	for (; *name != '\0' && len + 5 < size; name++) {
		c = (unsigned char)*name;
		if (isascii(c) && isprint(c))
			buf[len++] = (char)c;
		else
			len += (size_t)snprintf(buf + len, size - len, "\\x%02x",
			    c);
	}
	buf[len] = '\0';
	return *name == '\0';
}

static int
check_name_char(unsigned char c, int first)
{
	if (isascii(c) && isalnum(c))
		return 1;
	return !first && (c == '_' || c == '.' || c == ':' || c == '-');
}

int
herald_check_name(const char *what, const char *name,
    struct herald_error *error)
{
	char		 label[64], quoted[4 * HERALD_NAME_MAX + 1];
	size_t		 len, i;
	unsigned char	 c;
	bool		 whole;

	/* "task name", or "name" alone when what is NULL. */
	snprintf(label, sizeof label, "%s%sname", what != NULL ? what : "",
	    what != NULL ? " " : "");
	if (name == NULL) {
		hd_error_set(error, HERALD_EINVAL, "missing %s", label);
		return -1;
	}
	len = strlen(name);
	if (len == 0) {
		hd_error_set(error, HERALD_EINVAL, "%s is empty", label);
		return -1;
	}
	if (len > HERALD_NAME_MAX) {
		/* The quote ends before an escape that would not fit whole. */
		whole = check_quote(name, quoted, CHECK_QUOTE_MAX + 1);
		hd_error_set(error, HERALD_EINVAL,
		    "%s \"%s%s\" is %zu bytes long, over the limit of %d",
		    label, quoted, whole ? "" : "...", len, HERALD_NAME_MAX);
		return -1;
	}

	for (i = 0; i < len; i++) {
		c = (unsigned char)name[i];
		if (check_name_char(c, i == 0))
			continue;
		check_quote(name, quoted, sizeof quoted);
		/* _ . : - are allowed, but not first. */
		if (i == 0 && check_name_char(c, 0))
			hd_error_set(error, HERALD_EINVAL,
			    "invalid %s \"%s\": a name must start with a letter or digit, not '%c'",
			    label, quoted, c);
		else if (isascii(c) && isgraph(c))
			hd_error_set(error, HERALD_EINVAL,
			    "invalid %s \"%s\": character '%c' at position %zu is not allowed; use A-Z a-z 0-9 _ . : - starting with a letter or digit",
			    label, quoted, c, i + 1);
		else if (c == ' ')
			hd_error_set(error, HERALD_EINVAL,
			    "invalid %s \"%s\": a space at position %zu is not allowed; use A-Z a-z 0-9 _ . : - starting with a letter or digit",
			    label, quoted, i + 1);
		else
			hd_error_set(error, HERALD_EINVAL,
			    "invalid %s \"%s\": byte 0x%02x at position %zu is not allowed; use A-Z a-z 0-9 _ . : - starting with a letter or digit",
			    label, quoted, c, i + 1);
		return -1;
	}
	return 0;
}

/*
 * Name the JSON type of a payload that parsed only as a scalar, or return
 * NULL when it does not parse at all.
 */
static const char *
check_scalar_type(const char *payload, size_t len)
{
	json_t		*value;
	const char	*type;

	value = json_loadb(payload, len,
	    JSON_DECODE_ANY | JSON_DECODE_INT_AS_REAL, NULL);
	if (value == NULL)
		return NULL;
	switch (json_typeof(value)) {
	case JSON_STRING:
		type = "a string";
		break;
	case JSON_INTEGER:
	case JSON_REAL:
		type = "a number";
		break;
	case JSON_TRUE:
	case JSON_FALSE:
		type = "a boolean";
		break;
	case JSON_NULL:
		type = "null";
		break;
	default:
		type = "a scalar";
		break;
	}
	json_decref(value);
	return type;
}

/* Maximum length of a JSON token quoted in a syntax error. */
#define CHECK_TOKEN_MAX	40

/* Whether c may be part of a bare JSON token such as true or 12.5. */
static bool
check_token_char(unsigned char c)
{
	return c > 0x20 && c < 0x7f && strchr("{}[],:\"", c) == NULL;
}

/*
 * Quote into buf the whole token of payload that ends at or runs through
 * byte position, where jansson reports a syntax error, cut to
 * CHECK_TOKEN_MAX bytes with "...".  jansson's own text names only the
 * letters it read ("CANARY" of "CANARY2") and leaves out a token longer
 * than 20 bytes.  Return false when no bare token is there.
 */
static bool
check_quote_token(const char *payload, size_t len, int position, char *buf,
    size_t size)
{
	size_t	start, end;

	if (position < 0 || (size_t)position > len)
		return false;
	start = end = (size_t)position;
	while (start > 0 && check_token_char((unsigned char)payload[start - 1]))
		start--;
	while (end < len && check_token_char((unsigned char)payload[end]))
		end++;
	if (start == end)
		return false;
	if (end - start > CHECK_TOKEN_MAX)
		snprintf(buf, size, "'%.*s...'", CHECK_TOKEN_MAX,
		    payload + start);
	else
		snprintf(buf, size, "'%.*s'", (int)(end - start),
		    payload + start);
	return true;
}

/*
 * Fill error with jansson's syntax error jerr.  When jansson quotes a
 * bare token, or would have but for its length, the quote is replaced by
 * the whole token, so every such message quotes it the same way.
 */
static void
check_syntax_error(const char *payload, size_t len, const json_error_t *jerr,
    struct herald_error *error)
{
	const char	*near = strstr(jerr->text, " near '");
	const char	*quoted;
	char		 token[CHECK_TOKEN_MAX + 8];
	int		 textlen = (int)strlen(jerr->text);
	bool		 bare = false;

	if (near != NULL) {
		quoted = near + strlen(" near '");
		bare = check_token_char((unsigned char)quoted[0]);
		textlen = (int)(near - jerr->text);
	} else
		bare = strstr(jerr->text, " near ") == NULL &&
		    (strcmp(jerr->text, "invalid token") == 0 ||
		    strcmp(jerr->text, "unexpected token") == 0 ||
		    strstr(jerr->text, " expected") != NULL);

	/*
	 * A control byte that jansson quotes would reach a terminal or a log
	 * as it is, and show as nothing: it is named by its value instead.
	 */
	if (near != NULL && iscntrl((unsigned char)quoted[0]) &&
	    quoted[1] == '\'')
		hd_error_set(error, HERALD_EINVAL,
		    "payload is not valid JSON: %.*s near control byte 0x%02x "
		    "at line %d, column %d (byte %d)", textlen, jerr->text,
		    (unsigned char)quoted[0], jerr->line, jerr->column,
		    jerr->position);
	else if (bare && check_quote_token(payload, len, jerr->position,
	    token, sizeof token))
		hd_error_set(error, HERALD_EINVAL,
		    "payload is not valid JSON: %.*s near %s at line %d, column %d (byte %d)",
		    textlen, jerr->text, token, jerr->line, jerr->column,
		    jerr->position);
	else
		hd_error_set(error, HERALD_EINVAL,
		    "payload is not valid JSON: %s at line %d, column %d (byte %d)",
		    jerr->text, jerr->line, jerr->column, jerr->position);
}

/*
 * Fail unless every number of the len bytes of payload fits PostgreSQL's
 * numeric, which would reject the whole statement.  Only a payload with
 * an exponent or a long number can miss, so others skip the scan.
 */
static int
check_numeric_range(const char *payload, size_t len,
    struct herald_error *error)
{
	long	at;
	int	line = 1, column = 1;
	long	i;

	if (len < 16384 && strpbrk(payload, "eE") == NULL)
		return 0;
	if ((at = hd_json_numeric_misfit(payload, len)) == -1)
		return 0;
	for (i = 0; i < at; i++)
		if (payload[i] == '\n') {
			line++;
			column = 1;
		} else
			column++;
	hd_error_set(error, HERALD_EINVAL,
	    "payload has a number out of the range of PostgreSQL's numeric "
	    "type (at most 131072 digits before the decimal point and 16383 "
	    "after) at line %d, column %d (byte %ld)", line, column, at + 1);
	return -1;
}

/*
 * Integers are read as reals so that numbers past 64 bits, which jsonb
 * stores as numeric, are not rejected.  An object with a duplicate key is
 * rejected, since jsonb would keep only the last value without a word.
 */
int
herald_check_payload(const char *payload, size_t max_bytes,
    struct herald_error *error)
{
	json_t		*value;
	json_error_t	 jerr;
	const char	*scalar, *checked = payload;
	char		 key[128], *zeroed = NULL;
	size_t		 len;

	if (payload == NULL) {
		hd_error_set(error, HERALD_EINVAL, "missing payload");
		return -1;
	}
	len = strlen(payload);
	if (len > max_bytes) {
		hd_error_set(error, HERALD_EINVAL,
		    "payload is %zu bytes, over the limit of %zu",
		    len, max_bytes);
		return -1;
	}

	if (strspn(payload, " \t\r\n") == len) {
		hd_error_set(error, HERALD_EINVAL,
		    "payload is empty; use a JSON object or array such as {}");
		return -1;
	}

	value = json_loadb(payload, len,
	    JSON_DECODE_INT_AS_REAL | JSON_REJECT_DUPLICATES, &jerr);

	/*
	 * A number past the range of a double (1e400) is valid JSON, which
	 * jsonb stores as numeric.  The payload goes to the database as
	 * text, so only the document around such a number is checked here,
	 * with every number read as 0.
	 */
	if (value == NULL &&
	    json_error_code(&jerr) == json_error_numeric_overflow) {
		if ((zeroed = malloc(len + 1)) == NULL) {
			hd_error_set(error, HERALD_ENOMEM, "out of memory");
			return -1;
		}
		memcpy(zeroed, payload, len + 1);
		hd_json_zero_numbers(zeroed, len);
		checked = zeroed;
		value = json_loadb(zeroed, len,
		    JSON_DECODE_INT_AS_REAL | JSON_REJECT_DUPLICATES, &jerr);
	}
	if (value != NULL) {
		json_decref(value);
		free(zeroed);
		return check_numeric_range(payload, len, error);
	}

	if (json_error_code(&jerr) == json_error_null_character)
		hd_error_set(error, HERALD_EINVAL,
		    "payload contains \\u0000, which PostgreSQL jsonb does not accept, at line %d, column %d (byte %d)",
		    jerr.line, jerr.column, jerr.position);
	else if (json_error_code(&jerr) == json_error_duplicate_key) {
		hd_json_error_token(jerr.text, key, sizeof key);
		hd_error_set(error, HERALD_EINVAL,
		    "payload has duplicate key %s at line %d, column %d (byte %d); PostgreSQL jsonb would keep only the last value",
		    key, jerr.line, jerr.column, jerr.position);
	}
	else if ((scalar = check_scalar_type(checked, len)) != NULL)
		hd_error_set(error, HERALD_EINVAL,
		    "payload must be a JSON object or array, not %s", scalar);
	else
		check_syntax_error(payload, len, &jerr, error);
	free(zeroed);
	return -1;
}
