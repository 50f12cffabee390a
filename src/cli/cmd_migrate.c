/*
 * cmd_migrate.c: herald migrate, which applies the schema migrations
 * compiled into this build.
 */

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "db.h"
#include "migrate.h"

static const char usage[] = "herald migrate [--app]";

static void
print_help(void)
{
	printf("herald migrate applies the missing migrations of the job "
	    "database schema.\n\n"
	    "Usage: %s\n\n"
	    "Options:\n"
	    "      --app   migrate the application database (the outbox) "
	    "instead: app_db\n"
	    "              of the configuration, or -d CONNINFO\n"
	    "  -h, --help  print this help and exit\n", usage);
}

/* Apply the migrations of schema on conn and print what happened. */
static int
migrate_schema(PGconn *conn, enum hd_schema schema, const char *what)
{
	struct herald_error	 error;
	int			 applied, version;

	if (hd_schema_not_other(conn, schema, &error) == -1) {
		hd_cli_error("could not migrate %s: %s; nothing was changed",
		    what, error.message);
		return error.code == HERALD_ESCHEMA ? EX_CONFIG :
		    error.code == HERALD_ECONNECT ? EX_UNAVAILABLE :
		    HD_EXIT_FAILURE;
	}
	applied = hd_migrate(conn, schema, &error);
	if (applied == -1 ||
	    hd_schema_version(conn, schema, &version, &error) == -1) {
		hd_cli_error("could not migrate %s: %s", what, error.message);
		return error.code == HERALD_ECONNECT ? EX_UNAVAILABLE :
		    HD_EXIT_FAILURE;
	}
	if (applied == 0)
		printf("%s: already at version %d\n", what, version);
	else
		printf("%s: applied %d migration%s, now at version %d\n", what,
		    applied, applied == 1 ? "" : "s", version);
	return HD_EXIT_OK;
}

/* Migrate the application database: -d, else app_db of the configuration. */
static int
migrate_app(struct hd_cli *cli)
{
	const struct hd_config	*config;
	const char		*conninfo = cli->conninfo;
	struct herald_error	 error;
	PGconn			*conn;
	int			 status;

	if (conninfo == NULL) {
		if ((status = hd_cli_config(cli, &config)) != HD_EXIT_OK)
			return status;
		if (config == NULL || config->app_db == NULL) {
			hd_cli_error("no application database: set app_db "
			    "in the configuration or give -d CONNINFO");
			return config == NULL ? HD_EXIT_USAGE : EX_CONFIG;
		}
		conninfo = config->app_db;
	} else if ((status = hd_cli_check_dbname(conninfo)) != HD_EXIT_OK)
		return status;

	conn = hd_db_connect(conninfo, "herald", &error);
	if (conn == NULL) {
		hd_cli_error("could not connect to application database: %s",
		    error.message);
		return EX_UNAVAILABLE;
	}
	status = migrate_schema(conn, HD_SCHEMA_APP, "application database");
	PQfinish(conn);
	return status;
}

int
hd_cmd_migrate(struct hd_cli *cli, int argc, char **argv)
{
	static const struct option	options[] = {
		{ "app", no_argument, NULL, 'a' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	bool				app = false;
	int				c, status;

	while ((c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
		switch (c) {
		case 'a':
			app = true;
			break;
		case 'h':
			print_help();
			return HD_EXIT_OK;
		default:
			return hd_cli_bad_option("migrate", usage, options, argv, c);
		}
	}
	if (optind < argc)
		return hd_cli_usage_error("migrate", usage,
		    "unexpected argument \"%s\"", argv[optind]);

	if (app)
		return migrate_app(cli);
	if ((status = hd_cli_connect(cli, false)) != HD_EXIT_OK)
		return status;
	return migrate_schema(cli->conn, HD_SCHEMA_JOB, "job database");
}
