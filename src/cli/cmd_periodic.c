/*
 * cmd_periodic.c: herald periodic, listing the periodic jobs with their
 * last and next slots.
 *
 * The list comes from herald.periodic, which the active janitor writes
 * from its configuration, so it shows what runs, whichever host's
 * configuration that is.  Times are in UTC; the schedule itself is read
 * in the entry's time zone.
 */

#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"
#include "db.h"
#include "queue_sql.h"

static const char usage[] = "herald periodic [--json]";

/*
 * How long past its next slot an entry reads as overdue.  The active
 * janitor looks at an entry at its next slot, so one this late means that
 * no janitor runs, or that the active one cannot reach the database.
 */
#define PERIODIC_OVERDUE	"10 seconds"

static const char list_sql[] =
    "SELECT name, schedule, timezone, task, queue, catch_up,"
    " to_char(last_slot AT TIME ZONE 'UTC',"
    " 'YYYY-MM-DD HH24:MI:SS\"Z\"'), last_job_id, last_enqueued,"
    " to_char(next_slot AT TIME ZONE 'UTC',"
    " 'YYYY-MM-DD HH24:MI:SS\"Z\"'),"
    " coalesce(next_slot < now() - interval '" PERIODIC_OVERDUE "', false),"
    " " HD_SQL_JSON_TIME("last_slot") ", " HD_SQL_JSON_TIME("next_slot")
    " FROM herald.periodic ORDER BY name";

static void
print_help(void)
{
	printf("herald periodic lists the periodic jobs of the active "
	    "janitor.\n\n"
	    "Usage: %s\n\n"
	    "Options:\n"
	    "  -j, --json  print a JSON array, one object per entry\n"
	    "  -h, --help  print this help and exit\n\n"
	    "last is the last slot and the id of its job (\"missed\" when "
	    "catch_up = \"none\"\nskipped it); next is the next slot, "
	    "\"overdue\" when no janitor enqueued it\nwithin 10 s.  "
	    "Times are in UTC.\n", usage);
}

/* The LAST column: the slot and its job id, or "-" before the first. */
static void
format_last(const PGresult *res, int row, char *buf, size_t size)
{
	if (PQgetisnull(res, row, 6))
		snprintf(buf, size, "-");
	else if (strcmp(PQgetvalue(res, row, 8), "t") == 0)
		snprintf(buf, size, "%s #%s", PQgetvalue(res, row, 6),
		    PQgetvalue(res, row, 7));
	else
		snprintf(buf, size, "%s missed", PQgetvalue(res, row, 6));
}

static void
print_table(const PGresult *res)
{
	static const char	*headers[] = {
		"name", "schedule", "zone", "task", "last", "next"
	};
	struct hd_table		 table;
	char			 last[96];
	int			 row, overdue = 0;

	if (PQntuples(res) == 0) {
		printf("no periodic jobs\n");
		return;
	}
	hd_table_init(&table, 6, headers, "llllll");
	for (row = 0; row < PQntuples(res); row++) {
		overdue += strcmp(PQgetvalue(res, row, 10), "t") == 0;
		format_last(res, row, last, sizeof last);
		hd_table_cell(&table, "%s", PQgetvalue(res, row, 0));
		hd_table_cell(&table, "%s", PQgetvalue(res, row, 1));
		hd_table_cell(&table, "%s", PQgetvalue(res, row, 2));
		hd_table_cell(&table, "%s", PQgetvalue(res, row, 3));
		hd_table_cell(&table, "%s", last);
		hd_table_cell(&table, "%s%s", PQgetisnull(res, row, 9) ? "-" :
		    PQgetvalue(res, row, 9),
		    strcmp(PQgetvalue(res, row, 10), "t") == 0 ?
		    " overdue" : "");
	}
	hd_table_print(&table, stdout);
	hd_table_release(&table);
	if (overdue > 0)
		hd_cli_error("%d periodic job%s overdue: no janitor has "
		    "enqueued %s; is heraldd running, and can it reach the "
		    "job database?", overdue, overdue == 1 ? " is" : "s are",
		    overdue == 1 ? "it" : "them");
}

static void
print_json(const PGresult *res)
{
	json_t	*list = json_array(), *o;
	int	 row;

	for (row = 0; row < PQntuples(res); row++) {
		o = json_object();
		json_object_set_new(o, "name", hd_cli_json_text(res, row, 0));
		json_object_set_new(o, "schedule",
		    hd_cli_json_text(res, row, 1));
		json_object_set_new(o, "timezone",
		    hd_cli_json_text(res, row, 2));
		json_object_set_new(o, "task", hd_cli_json_text(res, row, 3));
		json_object_set_new(o, "queue", hd_cli_json_text(res, row, 4));
		json_object_set_new(o, "catch_up",
		    hd_cli_json_text(res, row, 5));
		json_object_set_new(o, "last_slot",
		    hd_cli_json_text(res, row, 11));
		json_object_set_new(o, "last_job_id",
		    hd_cli_json_int(res, row, 7));
		json_object_set_new(o, "last_enqueued",
		    hd_cli_json_bool(res, row, 8));
		json_object_set_new(o, "next_slot",
		    hd_cli_json_text(res, row, 12));
		json_object_set_new(o, "overdue",
		    hd_cli_json_bool(res, row, 10));
		json_array_append_new(list, o);
	}
	hd_cli_json_print(list);
}

int
hd_cmd_periodic(struct hd_cli *cli, int argc, char **argv)
{
	static const struct option	 options[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct herald_error		 error;
	PGresult			*res;
	bool				 json = false;
	int				 c, status;

	while ((c = getopt_long(argc, argv, ":hj", options, NULL)) != -1) {
		if (c == 'j')
			json = true;
		else if (c == 'h') {
			print_help();
			return HD_EXIT_OK;
		} else
			return hd_cli_bad_option("periodic", usage, options, argv, c);
	}
	if (optind < argc)
		return hd_cli_usage_error("periodic", usage,
		    "unexpected argument \"%s\"", argv[optind]);

	if ((status = hd_cli_connect(cli, true)) != HD_EXIT_OK)
		return status;
	res = PQexec(cli->conn, list_sql);
	if (!hd_db_ok(res)) {
		hd_error_from_pg(&error, cli->conn, res,
		    "could not read periodic jobs");
		hd_cli_error("%s", error.message);
		PQclear(res);
		return error.code == HERALD_ECONNECT ? EX_UNAVAILABLE :
		    HD_EXIT_FAILURE;
	}
	if (json)
		print_json(res);
	else
		print_table(res);
	PQclear(res);
	return HD_EXIT_OK;
}
