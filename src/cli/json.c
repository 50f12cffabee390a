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
hd_cli_json_print_row(const PGresult *res,
    const struct hd_cli_json_column *columns, size_t n)
{
	json_t	*json = json_object();
	char	*text, *at, *rest, needle[64];
	size_t	 i, len;

	for (i = 0; i < n; i++)
		json_object_set_new(json, columns[i].key,
		    columns[i].kind == HD_JSON_INT ?
		    hd_cli_json_int(res, 0, columns[i].col) :
		    columns[i].kind == HD_JSON_TEXT ?
		    hd_cli_json_text(res, 0, columns[i].col) : json_null());
	text = json_dumps(json, JSON_INDENT(2) | JSON_PRESERVE_ORDER |
	    JSON_ENSURE_ASCII);
	json_decref(json);
	if (text == NULL)
		return;

	/*
	 * Write each raw column over its null.  Quotes inside a string are
	 * escaped, so the unescaped text "key": null is the member itself,
	 * and the members come in the order of columns.
	 */
	rest = text;
	for (i = 0; i < n; i++) {
		if (columns[i].kind != HD_JSON_RAW ||
		    PQgetisnull(res, 0, columns[i].col))
			continue;
		len = (size_t)snprintf(needle, sizeof needle, "\"%s\": null",
		    columns[i].key);
		if ((at = strstr(rest, needle)) == NULL)
			continue;
		fwrite(rest, 1, (size_t)(at - rest) + len - 4, stdout);
		fputs(PQgetvalue(res, 0, columns[i].col), stdout);
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
