/*
 * json.c: building the --json output of the herald subcommands from
 * query results, with jansson.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"

void
hd_cli_json_print(json_t *json)
{
	if (json_dumpf(json, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER |
	    JSON_ENSURE_ASCII) == 0)
		putchar('\n');
	json_decref(json);
}

void
hd_cli_json_print_raw(json_t *json, const char *const *keys,
    const PGresult *res, const int *cols, size_t n)
{
	char	*text, *at, *rest, needle[64];
	size_t	 i, len;

	text = json_dumps(json, JSON_INDENT(2) | JSON_PRESERVE_ORDER |
	    JSON_ENSURE_ASCII);
	json_decref(json);
	if (text == NULL)
		return;
	rest = text;
	for (i = 0; i < n; i++) {
		/*
		 * Quotes inside a string are escaped, so the unescaped text
		 * "key": null is the member itself.  The members come in the
		 * order of keys, which is the order json has them in.
		 */
		len = (size_t)snprintf(needle, sizeof needle, "\"%s\": null",
		    keys[i]);
		if ((at = strstr(rest, needle)) == NULL ||
		    PQgetisnull(res, 0, cols[i]))
			continue;
		fwrite(rest, 1, (size_t)(at - rest) + len - 4, stdout);
		fputs(PQgetvalue(res, 0, cols[i]), stdout);
		rest = at + len;
	}
	fputs(rest, stdout);
	putchar('\n');
	free(text);
}

json_t *
hd_cli_json_int(const PGresult *res, int row, int col)
{
	if (PQgetisnull(res, row, col))
		return json_null();
	return json_integer(strtoll(PQgetvalue(res, row, col), NULL, 10));
}

json_t *
hd_cli_json_text(const PGresult *res, int row, int col)
{
	if (PQgetisnull(res, row, col))
		return json_null();
	return json_string(PQgetvalue(res, row, col));
}

json_t *
hd_cli_json_bool(const PGresult *res, int row, int col)
{
	if (PQgetisnull(res, row, col))
		return json_null();
	return json_boolean(PQgetvalue(res, row, col)[0] == 't');
}
