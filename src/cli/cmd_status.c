/*
 * cmd_status.c: herald status, one line of job counts per queue.
 */

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "db.h"
#include "outbox.h"
#include "queue_sql.h"
#include "util.h"

static const char usage[] = "herald status [--json]";

/* Every queue, whatever the age of the counters that name it. */
static const char status_sql[] = HD_SQL_QUEUE_STATUS("");

#define NCOUNTS	7	/* queued .. failed, columns 1 to 7 */

static void
print_help(void)
{
	printf("herald status shows the jobs of each queue.\n\n"
	    "Usage: %s\n\n"
	    "Columns, named as in the console:\n"
	    "  ready        due now, waiting for a worker\n"
	    "  sched        first attempt due later\n"
	    "  run          claimed by a worker\n"
	    "  retry        failed, waiting for the backoff delay\n"
	    "  dead         in the dead-letter queue\n"
	    "  done/m       completed in the last minute (estimated from "
	    "counters)\n"
	    "  fail/m       failed attempts in the last minute (likewise)\n"
	    "  oldest       how long the oldest ready job has waited\n"
	    "  workers      worker processes serving the queue, on every "
	    "host\n"
	    "  paused       \"yes\" when workers claim nothing from the queue "
	    "(herald queue)\n\n"
	    "When a relay moves events from an application database, a\n"
	    "second table shows each outbox: its backlog, its lag (the age\n"
	    "of its oldest row), the jobs relayed and the events dropped\n"
	    "for want of a subscriber, and how long ago the relay reported.\n\n"
	    "Options:\n"
	    "  -j, --json   print one JSON object with the arrays queues, "
	    "outboxes and\n"
	    "               failed_children; times in milliseconds\n"
	    "  -h, --help   print this help and exit\n", usage);
}

/* Build a text[] literal of the configured queue names, or "{}". */
static char *
configured_queues(const struct hd_config *config)
{
	size_t	 i, len = 3;
	char	*array;

	for (i = 0; config != NULL && i < config->nqueues; i++)
		len += 2 * strlen(config->queues[i].name) + 3;
	array = hd_xmalloc(len);
	strcpy(array, "{");
	for (i = 0; config != NULL && i < config->nqueues; i++) {
		const char	*s;
		char		*p = array + strlen(array);

		if (i > 0)
			*p++ = ',';
		*p++ = '"';
		for (s = config->queues[i].name; *s != '\0'; s++) {
			if (*s == '"' || *s == '\\')
				*p++ = '\\';
			*p++ = *s;
		}
		*p++ = '"';
		*p = '\0';
	}
	strcat(array, "}");
	return array;
}

static void
format_wait(const PGresult *res, int row, int col, char *buf, size_t size)
{
	if (PQgetisnull(res, row, col))
		snprintf(buf, size, "-");
	else
		hd_format_duration(strtoll(PQgetvalue(res, row, col), NULL, 10),
		    buf, size);
}

static void
print_status(const PGresult *res)
{
	static const char	*headers[] = {
		"queue", "ready", "sched", "run", "retry", "dead", "done/m",
		"fail/m", "oldest", "workers", "paused"
	};
	struct hd_table		 table;
	long long		 totals[NCOUNTS] = { 0 }, workers = 0;
	long long		 oldest = -1;
	char			 wait[32];
	int			 row, col;

	hd_table_init(&table, 11, headers, "lrrrrrrrrrl");
	for (row = 0; row < PQntuples(res); row++) {
		hd_table_cell(&table, "%s", PQgetvalue(res, row, 0));
		for (col = 1; col <= NCOUNTS; col++) {
			long long	n = strtoll(PQgetvalue(res, row, col),
			    NULL, 10);

			totals[col - 1] += n;
			hd_table_cell(&table, "%lld", n);
		}
		format_wait(res, row, 8, wait, sizeof wait);
		hd_table_cell(&table, "%s", wait);
		hd_table_cell(&table, "%s", PQgetvalue(res, row, 10));
		workers += strtoll(PQgetvalue(res, row, 10), NULL, 10);
		hd_table_cell(&table, "%s",
		    strcmp(PQgetvalue(res, row, 9), "t") == 0 ? "yes" : "no");
		if (!PQgetisnull(res, row, 8) &&
		    strtoll(PQgetvalue(res, row, 8), NULL, 10) > oldest)
			oldest = strtoll(PQgetvalue(res, row, 8), NULL, 10);
	}

	hd_table_cell(&table, "total");
	for (col = 0; col < NCOUNTS; col++)
		hd_table_cell(&table, "%lld", totals[col]);
	if (oldest >= 0)
		hd_format_duration(oldest, wait, sizeof wait);
	else
		snprintf(wait, sizeof wait, "-");
	hd_table_cell(&table, "%s", wait);
	hd_table_cell(&table, "%lld", workers);
	hd_table_cell(&table, "%s", "");

	hd_table_print(&table, stdout);
	hd_table_release(&table);
}

/*
 * The outbox of each application database as its relay last reported it:
 * the backlog, the age of the oldest row (the relay's lag) and when the
 * report was made, so a relay that stopped reporting shows as stale.
 */
static const char relay_sql[] =
    "SELECT database, backlog,"
    "  (extract(epoch FROM now() - oldest_at) * 1000)::bigint,"
    "  relayed_total, dropped_total,"
    "  (extract(epoch FROM now() - updated_at) * 1000)::bigint,"
    "  origin, count(*) OVER (PARTITION BY database) > 1"
    " FROM herald.relay_status ORDER BY database, origin";

/* Return whether the report of row is too old to show its backlog. */
static bool
relay_stale(const PGresult *res, int row)
{
	return !PQgetisnull(res, row, 5) &&
	    strtoll(PQgetvalue(res, row, 5), NULL, 10) >= HD_RELAY_STALE_MS;
}

/*
 * Name row's application database in buf: by its name, with its origin
 * when another application database has the same name.
 */
static void
relay_label(const PGresult *res, int row, char *buf, size_t size)
{
	if (strcmp(PQgetvalue(res, row, 7), "t") == 0)
		snprintf(buf, size, "%s (%s)", PQgetvalue(res, row, 0),
		    PQgetvalue(res, row, 6));
	else
		snprintf(buf, size, "%s", PQgetvalue(res, row, 0));
}

/*
 * The children that a heraldd stopped restarting after too many
 * failures, with the host of that heraldd when it is registered.  The
 * column slot numbers the failed workers of one queue from 1.
 */
static const char failed_sql[] =
    "SELECT f.role, f.queue, f.failures, coalesce(p.host, '?'),"
    "  f.supervisor_id, f.slot, p.pid"
    " FROM herald.failed_children f"
    " LEFT JOIN herald.processes p ON p.id = f.supervisor_id"
    " ORDER BY 4, f.supervisor_id, f.role, f.queue, f.slot";

/* Return whether a relay is among the failed children of res. */
static bool
relay_failed(const PGresult *res)
{
	int	row;

	for (row = 0; row < PQntuples(res); row++)
		if (strcmp(PQgetvalue(res, row, 0), "relay") == 0)
			return true;
	return false;
}

/* Print one line per failed child of res, a result of failed_sql. */
static void
print_failed_children(const PGresult *res)
{
	int	row;

	if (PQntuples(res) > 0)
		printf("\n");
	for (row = 0; row < PQntuples(res); row++) {
		const char	*failures = PQgetvalue(res, row, 2);
		const char	*noun = hd_cli_plural(failures, "failure",
		    "failures");
		char		 pid[32] = "";

		if (!PQgetisnull(res, row, 6))
			snprintf(pid, sizeof pid, ", pid %s",
			    PQgetvalue(res, row, 6));
		if (PQgetvalue(res, row, 1)[0] != '\0')
			printf("failed: %s #%s of queue %s on %s (heraldd "
			    "%s%s), %s %s; reload heraldd to retry now\n",
			    PQgetvalue(res, row, 0), PQgetvalue(res, row, 5),
			    PQgetvalue(res, row, 1), PQgetvalue(res, row, 3),
			    PQgetvalue(res, row, 4), pid, failures, noun);
		else
			printf("failed: %s on %s (heraldd %s%s), %s %s; "
			    "reload heraldd to retry now\n",
			    PQgetvalue(res, row, 0), PQgetvalue(res, row, 3),
			    PQgetvalue(res, row, 4), pid, failures, noun);
	}
}

/*
 * Print the relay table when any application database has reported, then
 * the children of failed, then a line for each outbox whose relay stopped
 * reporting.
 */
static int
print_relay_status(PGconn *conn, const PGresult *failed)
{
	static const char	*headers[] = {
		"outbox", "backlog", "lag", "relayed", "dropped", "reported"
	};
	struct herald_error	 error;
	struct hd_table		 table;
	PGresult		*res;
	char			 lag[32], age[32];
	char			 label[2 * HD_OUTBOX_ORIGIN_MAX + 80];
	int			 row;

	res = PQexec(conn, relay_sql);
	if (!hd_db_ok(res)) {
		hd_error_from_pg(&error, conn, res,
		    "could not read the relay status");
		hd_cli_error("%s", error.message);
		PQclear(res);
		return HD_EXIT_FAILURE;
	}
	if (PQntuples(res) == 0) {
		PQclear(res);
		print_failed_children(failed);
		return HD_EXIT_OK;
	}

	hd_table_init(&table, 6, headers, "lrrrrr");
	for (row = 0; row < PQntuples(res); row++) {
		format_wait(res, row, 2, lag, sizeof lag);
		format_wait(res, row, 5, age, sizeof age);
		relay_label(res, row, label, sizeof label);
		hd_table_cell(&table, "%s", label);
		/* An old report's backlog and lag are unknown, not zero. */
		if (relay_stale(res, row)) {
			hd_table_cell(&table, "?");
			hd_table_cell(&table, "?");
		} else {
			hd_table_cell(&table, "%s", PQgetvalue(res, row, 1));
			hd_table_cell(&table, "%s", lag);
		}
		hd_table_cell(&table, "%s", PQgetvalue(res, row, 3));
		hd_table_cell(&table, "%s", PQgetvalue(res, row, 4));
		hd_table_cell(&table, "%s ago", age);
	}
	printf("\n");
	hd_table_print(&table, stdout);
	hd_table_release(&table);
	print_failed_children(failed);
	/* A relay reports every second; an old report means none runs. */
	for (row = 0; row < PQntuples(res); row++) {
		if (!relay_stale(res, row))
			continue;
		format_wait(res, row, 5, age, sizeof age);
		relay_label(res, row, label, sizeof label);
		/* Two lines, so that each fits 80 columns. */
		printf("outbox %s: no report for %s, so its backlog and lag "
		    "are old;\n", label, age);
		if (relay_failed(failed))
			printf("  a relay failed (above): fix its cause, then "
			    "reload that heraldd\n");
		else
			printf("  check that a relay runs for it, or run herald "
			    "relay forget once no\n  relay serves it\n");
	}
	PQclear(res);
	return HD_EXIT_OK;
}

/* Run sql and return its result, or print the error and return NULL. */
static PGresult *
status_query(PGconn *conn, const char *sql, const char *what)
{
	struct herald_error	 error;
	PGresult		*res;

	res = PQexec(conn, sql);
	if (hd_db_ok(res))
		return res;
	hd_error_from_pg(&error, conn, res, what);
	hd_cli_error("%s", error.message);
	PQclear(res);
	return NULL;
}

/*
 * Print the queue-health signals, or with root add them to it as
 * "health".
 */
static int
print_health(PGconn *conn, json_t *root)
{
	struct herald_error	error;
	struct hd_health	health;

	if (hd_health_fetch(conn, &health, &error) == -1) {
		hd_cli_error("%s", error.message);
		return error.code == HERALD_ECONNECT ? EX_UNAVAILABLE :
		    HD_EXIT_FAILURE;
	}
	if (root != NULL)
		json_object_set_new(root, "health", hd_health_json(&health));
	else
		hd_health_print(&health);
	hd_health_release(&health);
	return HD_EXIT_OK;
}

/* Print the queues of res, the outboxes and the failed children as JSON. */
static int
print_status_json(PGconn *conn, const PGresult *res)
{
	static const char *const	 queue_keys[] = {
		"queue", "queued", "scheduled", "running", "retrying", "dead",
		"completed_last_minute", "failed_last_minute", "oldest_ready_ms"
	};
	static const char *const	 relay_keys[] = {
		"database", "backlog", "lag_ms", "relayed", "dropped",
		"reported_ms_ago"
	};
	json_t				*root, *array, *item;
	PGresult			*relays, *failed;
	int				 row, col;

	relays = status_query(conn, relay_sql,
	    "could not read the relay status");
	failed = relays == NULL ? NULL : status_query(conn, failed_sql,
	    "could not read the failed children");
	if (failed == NULL) {
		PQclear(relays);
		return HD_EXIT_FAILURE;
	}

	root = json_object();
	array = json_array();
	for (row = 0; row < PQntuples(res); row++) {
		item = json_object();
		json_object_set_new(item, "queue", hd_cli_json_text(res, row, 0));
		for (col = 1; col <= 8; col++)
			json_object_set_new(item, queue_keys[col],
			    hd_cli_json_int(res, row, col));
		json_object_set_new(item, "paused", hd_cli_json_bool(res, row,
		    9));
		json_object_set_new(item, "workers", hd_cli_json_int(res, row,
		    10));
		json_array_append_new(array, item);
	}
	json_object_set_new(root, "queues", array);

	array = json_array();
	for (row = 0; row < PQntuples(relays); row++) {
		item = json_object();
		json_object_set_new(item, "database",
		    hd_cli_json_text(relays, row, 0));
		json_object_set_new(item, "origin",
		    hd_cli_json_text(relays, row, 6));
		json_object_set_new(item, "stale",
		    json_boolean(relay_stale(relays, row)));
		for (col = 1; col <= 5; col++)
			json_object_set_new(item, relay_keys[col],
			    hd_cli_json_int(relays, row, col));
		json_array_append_new(array, item);
	}
	json_object_set_new(root, "outboxes", array);

	array = json_array();
	for (row = 0; row < PQntuples(failed); row++) {
		item = json_object();
		json_object_set_new(item, "role", hd_cli_json_text(failed, row,
		    0));
		json_object_set_new(item, "queue",
		    PQgetvalue(failed, row, 1)[0] != '\0' ?
		    hd_cli_json_text(failed, row, 1) : json_null());
		json_object_set_new(item, "slot", hd_cli_json_int(failed, row,
		    5));
		json_object_set_new(item, "failures", hd_cli_json_int(failed,
		    row, 2));
		json_object_set_new(item, "host", hd_cli_json_text(failed, row,
		    3));
		json_object_set_new(item, "supervisor_id",
		    hd_cli_json_text(failed, row, 4));
		json_object_set_new(item, "pid", PQgetisnull(failed, row, 6) ?
		    json_null() : hd_cli_json_int(failed, row, 6));
		json_array_append_new(array, item);
	}
	json_object_set_new(root, "failed_children", array);
	if (print_health(conn, root) != HD_EXIT_OK) {
		json_decref(root);
		PQclear(relays);
		PQclear(failed);
		return HD_EXIT_FAILURE;
	}

	hd_cli_json_print(root);
	PQclear(relays);
	PQclear(failed);
	return HD_EXIT_OK;
}

int
hd_cmd_status(struct hd_cli *cli, int argc, char **argv)
{
	static const struct option	 options[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const struct hd_config		*config = NULL;
	struct herald_error		 error;
	const char			*params[1];
	char				*queues;
	PGresult			*res;
	bool				 json = false;
	int				 c, status;

	while ((c = getopt_long(argc, argv, ":jh", options, NULL)) != -1) {
		if (c == 'j') {
			json = true;
			continue;
		}
		if (c == 'h') {
			print_help();
			return HD_EXIT_OK;
		}
		return hd_cli_bad_option("status", usage, options, argv, c);
	}
	if (optind < argc)
		return hd_cli_usage_error("status", usage,
		    "unexpected argument \"%s\"", argv[optind]);

	if ((status = hd_cli_config(cli, &config)) != HD_EXIT_OK ||
	    (status = hd_cli_connect(cli, true)) != HD_EXIT_OK ||
	    (status = hd_cli_begin_snapshot(cli)) != HD_EXIT_OK)
		return status;

	queues = configured_queues(config);
	params[0] = queues;
	res = PQexecParams(cli->conn, status_sql, 1, NULL, params, NULL, NULL,
	    0);
	free(queues);
	if (!hd_db_ok(res)) {
		hd_error_from_pg(&error, cli->conn, res, "could not read status");
		hd_cli_error("%s", error.message);
		PQclear(res);
		return error.code == HERALD_ECONNECT ? EX_UNAVAILABLE :
		    HD_EXIT_FAILURE;
	}
	if (json) {
		status = print_status_json(cli->conn, res);
		PQclear(res);
		return status;
	}
	print_status(res);
	PQclear(res);
	if ((res = status_query(cli->conn, failed_sql,
	    "could not read the failed children")) == NULL)
		return HD_EXIT_FAILURE;
	status = print_relay_status(cli->conn, res);
	PQclear(res);
	if (status != HD_EXIT_OK)
		return status;
	return print_health(cli->conn, NULL);
}
