/*
 * cmd_relay.c: herald relay, forgetting the relay report of an
 * application database that no relay serves any more.
 *
 * Each application database that a relay served keeps its report in
 * herald.relay_status, so that herald status and the console warn when
 * the reports stop.  Once an application database is retired for good,
 * "herald relay forget" removes its report, and with it the warning.
 */

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "db.h"
#include "outbox.h"
#include "store.h"

static const char usage[] = "herald relay forget DATABASE|ORIGIN";

static void
print_help(void)
{
	printf("herald relay forgets the relay report of an application "
	    "database.\n\n"
	    "Usage: %s\n\n"
	    "Commands:\n"
	    "  forget  remove the report of the application database named "
	    "DATABASE, or\n"
	    "          of ORIGIN, which herald status --json shows, once no "
	    "relay has\n"
	    "          reported for it for %d seconds\n\n"
	    "Options:\n"
	    "  -h, --help  print this help and exit\n\n"
	    "Remove app_db from the configuration of every heraldd that "
	    "relays it first,\nand reload them.  A relay that serves it again "
	    "later makes a new report.\nIn an application database, SELECT "
	    "herald.outbox_origin() prints its origin.\n", usage,
	    HD_RELAY_STALE_MS / 1000);
}

/* Copy text to buf, of size bytes, as a message may print it. */
static const char *
relay_shown(const char *text, char *buf, size_t size)
{
	snprintf(buf, size, "%s", text);
	return hd_cli_printable(buf);
}

/* The reports whose database or origin is $1, with their age in ms. */
static const char find_sql[] =
    "SELECT origin, database,"
    "  (extract(epoch FROM now() - updated_at) * 1000)::bigint"
    " FROM herald.relay_status WHERE origin = $1 OR database = $1"
    " ORDER BY origin";

/*
 * Find the one report that name names, and fail unless its relay
 * stopped reporting.  Return HD_EXIT_OK with its row in *found.
 */
static int
relay_find(struct hd_cli *cli, const char *name, PGresult **found)
{
	struct herald_error	 error;
	const char		*params[1] = { name };
	PGresult		*res;
	char			 shown[256];
	int			 row;

	*found = NULL;
	res = PQexecParams(cli->conn, find_sql, 1, NULL, params, NULL, NULL,
	    0);
	if (!hd_db_ok(res)) {
		hd_error_from_pg(&error, cli->conn, res,
		    "could not read the relay reports");
		hd_cli_action_error(&error);
		PQclear(res);
		return error.code == HERALD_ECONNECT ? EX_UNAVAILABLE :
		    HD_EXIT_FAILURE;
	}
	if (PQntuples(res) == 0) {
		hd_cli_error("no relay report names \"%s\"; herald status "
		    "lists the application databases",
		    relay_shown(name, shown, sizeof shown));
		PQclear(res);
		return HD_EXIT_FAILURE;
	}
	if (PQntuples(res) > 1) {
		hd_cli_error("%d application databases are named \"%s\"; name "
		    "one by its origin:", PQntuples(res),
		    relay_shown(name, shown, sizeof shown));
		for (row = 0; row < PQntuples(res); row++)
			hd_cli_error("  %s, last report %lld s ago",
			    PQgetvalue(res, row, 0),
			    strtoll(PQgetvalue(res, row, 2), NULL, 10) / 1000);
		PQclear(res);
		return EX_DATAERR;
	}
	if (strtoll(PQgetvalue(res, 0, 2), NULL, 10) < HD_RELAY_STALE_MS) {
		hd_cli_error("the relay of \"%s\" reported %s ms ago; remove "
		    "app_db from its heraldd's configuration and reload it "
		    "first", relay_shown(PQgetvalue(res, 0, 1), shown,
		    sizeof shown), PQgetvalue(res, 0, 2));
		PQclear(res);
		return HD_EXIT_FAILURE;
	}
	*found = res;
	return HD_EXIT_OK;
}

static int
relay_forget(struct hd_cli *cli, const char *name)
{
	struct hd_action	 action;
	struct herald_error	 error;
	PGresult		*found;
	char			 shown[256];
	int64_t			 count;
	int			 status;

	if ((status = relay_find(cli, name, &found)) != HD_EXIT_OK)
		return status;
	count = -1;
	if (hd_action_relay_forget(&action, PQgetvalue(found, 0, 0),
	    &error) == 0)
		count = hd_action_run(cli->conn, &action, &error);
	hd_action_release(&action);
	if (count == -1) {
		hd_cli_action_error(&error);
		PQclear(found);
		return error.code == HERALD_ECONNECT ? EX_UNAVAILABLE :
		    HD_EXIT_FAILURE;
	}
	if (count == 0)
		hd_cli_error("the relay of \"%s\" reported again; nothing was "
		    "forgotten", relay_shown(PQgetvalue(found, 0, 1), shown,
		    sizeof shown));
	else
		printf("forgot the relay report of \"%s\" (origin %s)\n",
		    relay_shown(PQgetvalue(found, 0, 1), shown, sizeof shown),
		    PQgetvalue(found, 0, 0));
	PQclear(found);
	return count == 0 ? HD_EXIT_FAILURE : HD_EXIT_OK;
}

int
hd_cmd_relay(struct hd_cli *cli, int argc, char **argv)
{
	static const struct option	 options[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char			*action;
	int				 c, status;

	while ((c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
		if (c == 'h') {
			print_help();
			return HD_EXIT_OK;
		}
		return hd_cli_bad_option("relay", usage, options, argv, c);
	}
	if (optind >= argc)
		return hd_cli_usage_error("relay", usage,
		    "no action given: use forget");
	action = argv[optind++];
	if (strcmp(action, "forget") != 0)
		return hd_cli_usage_error("relay", usage,
		    "unrecognized action \"%s\": use forget", action);
	if (optind >= argc)
		return hd_cli_usage_error("relay", usage,
		    "no application database given");
	if (optind + 1 < argc)
		return hd_cli_usage_error("relay", usage,
		    "unexpected argument \"%s\"", argv[optind + 1]);
	if (argv[optind][0] == '\0') {
		hd_cli_error("invalid application database: the name is empty");
		return EX_DATAERR;
	}
	if ((status = hd_cli_connect(cli, true)) != HD_EXIT_OK)
		return status;
	return relay_forget(cli, argv[optind]);
}
