/*
 * json.c: building the --json output of the herald subcommands from
 * query results, with jansson.
 */

#include <stdio.h>
#include <stdlib.h>

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

json_t *
hd_cli_json_parsed(const PGresult *res, int row, int col)
{
	json_error_t	 error;
	json_t		*json;

	if (PQgetisnull(res, row, col))
		return json_null();
	json = json_loads(PQgetvalue(res, row, col), JSON_DECODE_ANY |
	    JSON_ALLOW_NUL, &error);
	return json != NULL ? json : json_string(PQgetvalue(res, row, col));
}
