/*
 * cmd_job.c: herald job show, printing a live job with its payload and
 * history, herald job cancel, deleting queued jobs before they run and
 * stopping running ones, and herald job retry-now, running waiting jobs
 * at once.
 *
 * A queued job (due now, scheduled for later or waiting to retry) is
 * deleted at once.  A running job is marked, and its worker stops the
 * handler and deletes the job within a second or so.  Each cancel is
 * recorded in herald.audit with the ids it deleted or marked.
 */

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"
#include "db.h"
#include "queue_sql.h"
#include "store.h"
#include "util.h"

static const char usage[] =
    "herald job show [--json] ID\n"
    "       herald job cancel [--dry-run] [--yes] ID...\n"
    "       herald job retry-now ID...";

/*
 * A live job, with the state an operator sees (as herald jobs shows it),
 * its times, and its payload as PostgreSQL formats it.
 */
static const char show_sql[] =
    "SELECT id, task, queue, priority, attempt, max_attempts,"
    "  " HD_SQL_SHOWN_STATE ","
    "  " HD_SQL_UTC_SECOND("created_at") ","
    "  (extract(epoch FROM created_at - now()) * 1000)::bigint,"
    "  " HD_SQL_UTC_SECOND("run_at") ","
    "  (extract(epoch FROM " HD_SQL_FINITE_RUN_AT("run_at")
    " - now()) * 1000)::bigint,"
    "  event_id, event_type, payload::text, errors::text,"
    "  " HD_SQL_JSON_TIME("created_at") ", " HD_SQL_JSON_TIME("run_at") ","
    "  jsonb_pretty(payload), " HD_SQL_HISTORY_SHOWN("errors")
    " FROM herald.live_jobs WHERE id = $1";

/* The columns of show_sql. */
enum show_column {
	SHOW_ID = 0, SHOW_TASK, SHOW_QUEUE, SHOW_PRIORITY, SHOW_ATTEMPT,
	SHOW_MAX_ATTEMPTS, SHOW_STATE, SHOW_CREATED, SHOW_CREATED_MS,
	SHOW_RUN_AT, SHOW_RUN_AT_MS, SHOW_EVENT_ID, SHOW_EVENT_TYPE,
	SHOW_PAYLOAD, SHOW_ERRORS, SHOW_CREATED_JSON, SHOW_RUN_AT_JSON,
	SHOW_PAYLOAD_PRETTY, SHOW_HISTORY_SHOWN
};

/*
 * Lock the listed jobs, so what is reported and what is deleted agree; the
 * function locks for herald_console, which may not UPDATE the table.
 */
static const char lock_sql[] =
    "SELECT id, state FROM herald.lock_jobs($1::bigint[])";

static void
print_help(void)
{
	printf("herald job shows a job, cancels jobs, or runs waiting jobs "
	    "now.\n\n"
	    "Usage: %s\n\n"
	    "Commands:\n"
	    "  show       print the live job ID: its state, attempts, times, "
	    "payload and\n"
	    "             history (herald dead show prints a dead job)\n"
	    "  cancel     delete each queued job ID (due now, scheduled or "
	    "waiting to\n"
	    "             retry); stop each running job ID (SIGTERM, then "
	    "SIGKILL, to\n"
	    "             an exec handler) and delete it\n"
	    "  retry-now  run each job ID that waits for its backoff or its "
	    "schedule\n"
	    "             now, without waiting\n\n"
	    "Options:\n"
	    "  -j, --json     job show: print the job as one JSON object\n"
	    "  -N, --dry-run  print how many jobs cancel would delete, and "
	    "change nothing\n"
	    "  -y, --yes      cancel more than confirm_over jobs "
	    "(herald.conf, default %d)\n"
	    "                 without asking\n"
	    "  -h, --help     print this help and exit\n", usage,
	    HD_DEFAULT_CONFIRM_OVER);
}

static int
exit_status(const struct herald_error *error)
{
	return error->code == HERALD_ECONNECT ? EX_UNAVAILABLE :
	    HD_EXIT_FAILURE;
}

/*
 * Report each of the nids ids that rows lacks (every one when rows is
 * NULL) as not live.  A dead one is named as dead, with the herald dead
 * command that acts on it and what that does.  One query finds the dead
 * ones among them.
 */
static void
report_not_live(struct hd_cli *cli, const struct hd_id_index *rows,
    const int64_t *ids, size_t nids, const char *command, const char *effect)
{
	struct hd_id_lookup	dead;
	size_t			i;

	hd_id_lookup_run(cli, &dead, "SELECT id FROM herald.dead_jobs "
	    "WHERE id = ANY ($1::bigint[])", ids, nids);
	for (i = 0; i < nids; i++) {
		if (rows != NULL && hd_id_index_find(rows, ids[i]) != -1)
			continue;
		if (hd_id_lookup_find(&dead, ids[i]) != -1)
			hd_cli_error("job %" PRId64 " is dead; herald dead %s "
			    "%" PRId64 " %s", ids[i], command, ids[i], effect);
		else
			hd_cli_error("job %" PRId64 " not found; completed and "
			    "cancelled jobs are deleted", ids[i]);
	}
	hd_id_lookup_release(&dead);
}

/* Report each id that is missing from res. */
static void
report_skipped(struct hd_cli *cli, const PGresult *res, const int64_t *ids,
    size_t nids)
{
	struct hd_id_index	rows;

	hd_id_index_rows(&rows, res, 0);
	report_not_live(cli, &rows, ids, nids, "purge", "deletes it");
	hd_id_index_release(&rows);
}

/* The number of rows of res, from lock_sql, that are running jobs. */
static int64_t
count_running(const PGresult *res)
{
	int64_t	count = 0;
	int	row;

	for (row = 0; row < PQntuples(res); row++)
		count += strcmp(PQgetvalue(res, row, 1), "running") == 0;
	return count;
}

static int
job_cancel(struct hd_cli *cli, const int64_t *ids, size_t nids,
    bool dry_run, bool yes)
{
	struct herald_error	 error;
	const char		*params[1];
	char			*array;
	PGresult		*res;
	int64_t			 count, running;
	int			 status = HD_EXIT_OK;

	if (hd_db_exec(cli->conn, "BEGIN", &error) == -1) {
		hd_cli_action_error(&error);
		return exit_status(&error);
	}
	array = hd_cli_id_array(ids, nids);
	params[0] = array;
	res = PQexecParams(cli->conn, lock_sql, 1, NULL, params, NULL, NULL,
	    0);
	free(array);
	if (!hd_db_ok(res)) {
		hd_error_from_pg(&error, cli->conn, res, "could not read jobs");
		hd_cli_action_error(&error);
		status = exit_status(&error);
		goto out;
	}
	report_skipped(cli, res, ids, nids);
	/* Every job found is cancelled: deleted, or stopped when running. */
	if (dry_run) {
		count = PQntuples(res);
		printf("would cancel %" PRId64 " job%s\n", count,
		    count == 1 ? "" : "s");
		PQclear(res);
		(void)hd_db_exec(cli->conn, "ROLLBACK", NULL);
		return HD_EXIT_OK;
	}
	status = hd_cli_confirm_bulk(cli, "job cancel", PQntuples(res), yes);
	if (status != HD_EXIT_OK)
		goto out;

	count = hd_job_cancel(cli->conn, ids, nids, &error);
	if (count == -1 || hd_db_exec(cli->conn, "COMMIT", &error) == -1) {
		hd_cli_action_error(&error);
		status = exit_status(&error);
		goto out;
	}
	running = count_running(res);
	if (count == 0)
		status = HD_EXIT_FAILURE;
	if (count > running)
		printf("cancelled %" PRId64 " job%s\n", count - running,
		    count - running == 1 ? "" : "s");
	if (running > 0)
		printf("stopping %" PRId64 " running job%s\n", running,
		    running == 1 ? "" : "s");

out:
	PQclear(res);
	if (status != HD_EXIT_OK)
		(void)hd_db_exec(cli->conn, "ROLLBACK", NULL);
	return status;
}

/* Whether each listed job runs, is due or waits, read before a retry-now. */
static const char wait_state_sql[] =
    "SELECT id, CASE WHEN state = 'running' THEN 'is running'"
    "  WHEN run_at <= now() THEN 'is due already' ELSE '' END"
    " FROM herald.live_jobs WHERE id = ANY ($1::bigint[])";

/*
 * Name each listed job that retry-now leaves alone and why, from res of
 * wait_state_sql.
 */
static void
report_not_waiting(struct hd_cli *cli, const PGresult *res,
    const int64_t *ids, size_t nids)
{
	struct hd_id_index	 rows;
	const char		*reason;
	size_t			 i;
	long			 row;

	hd_id_index_rows(&rows, res, 0);
	for (i = 0; i < nids; i++) {
		row = hd_id_index_find(&rows, ids[i]);
		if (row == -1)
			continue;
		reason = PQgetvalue(res, (int)row, 1);
		if (*reason != '\0')
			hd_cli_error("job %" PRId64 " %s", ids[i], reason);
	}
	report_not_live(cli, &rows, ids, nids, "retry", "queues it again");
	hd_id_index_release(&rows);
}

/*
 * Run the listed jobs now when they wait for their backoff or schedule;
 * name those that do not wait.
 */
static int
job_retry_now(struct hd_cli *cli, const int64_t *ids, size_t nids)
{
	struct herald_error	 error;
	const char		*params[1];
	char			*array;
	PGresult		*res;
	int64_t			 count;

	array = hd_cli_id_array(ids, nids);
	params[0] = array;
	res = PQexecParams(cli->conn, wait_state_sql, 1, NULL, params, NULL,
	    NULL, 0);
	free(array);
	if (!hd_db_ok(res)) {
		hd_error_from_pg(&error, cli->conn, res, "could not read jobs");
		hd_cli_action_error(&error);
		PQclear(res);
		return exit_status(&error);
	}
	count = hd_job_retry_now(cli->conn, ids, nids, &error);
	if (count == -1) {
		hd_cli_action_error(&error);
		PQclear(res);
		return exit_status(&error);
	}
	if ((size_t)count < nids)
		report_not_waiting(cli, res, ids, nids);
	PQclear(res);
	printf("moved %" PRId64 " job%s to now\n", count,
	    count == 1 ? "" : "s");
	return count == 0 ? HD_EXIT_FAILURE : HD_EXIT_OK;
}

static void
print_job(const PGresult *res)
{
	printf("%-11s %s\n", "id:", PQgetvalue(res, 0, SHOW_ID));
	printf("%-11s %s\n", "task:", PQgetvalue(res, 0, SHOW_TASK));
	printf("%-11s %s\n", "queue:", PQgetvalue(res, 0, SHOW_QUEUE));
	printf("%-11s %s\n", "priority:", PQgetvalue(res, 0, SHOW_PRIORITY));
	printf("%-11s %s\n", "state:", PQgetvalue(res, 0, SHOW_STATE));
	hd_cli_print_attempts(PQgetvalue(res, 0, SHOW_ATTEMPT),
	    PQgetvalue(res, 0, SHOW_MAX_ATTEMPTS),
	    PQgetvalue(res, 0, SHOW_HISTORY_SHOWN));
	hd_cli_print_time("created:", PQgetvalue(res, 0, SHOW_CREATED),
	    PQgetvalue(res, 0, SHOW_CREATED_MS));
	/* A running job's run_at is when its attempt became due. */
	if (strcmp(PQgetvalue(res, 0, SHOW_STATE), "running") != 0)
		hd_cli_print_time("due:", PQgetvalue(res, 0, SHOW_RUN_AT),
		    PQgetvalue(res, 0, SHOW_RUN_AT_MS));
	if (!PQgetisnull(res, 0, SHOW_EVENT_ID))
		printf("%-11s %s (%s)\n", "event:",
		    PQgetvalue(res, 0, SHOW_EVENT_ID),
		    PQgetisnull(res, 0, SHOW_EVENT_TYPE) ? "-" :
		    PQgetvalue(res, 0, SHOW_EVENT_TYPE));
	printf("payload:\n");
	if (PQgetisnull(res, 0, SHOW_PAYLOAD_PRETTY))
		printf("  (hidden: this role may not read payloads)\n");
	else
		hd_cli_print_indented(PQgetvalue(res, 0, SHOW_PAYLOAD_PRETTY),
		    "  ");
	hd_cli_print_history(PQgetvalue(res, 0, SHOW_HISTORY_SHOWN));
}

/* Print the row of show_sql as JSON, payload and history included. */
static void
print_job_json(const PGresult *res)
{
	static const struct hd_cli_json_column	columns[] = {
		{ "id", SHOW_ID, HD_JSON_INT },
		{ "task", SHOW_TASK, HD_JSON_TEXT },
		{ "queue", SHOW_QUEUE, HD_JSON_TEXT },
		{ "priority", SHOW_PRIORITY, HD_JSON_INT },
		{ "state", SHOW_STATE, HD_JSON_TEXT },
		{ "attempt", SHOW_ATTEMPT, HD_JSON_INT },
		{ "max_attempts", SHOW_MAX_ATTEMPTS, HD_JSON_INT },
		{ "created_at", SHOW_CREATED_JSON, HD_JSON_TEXT },
		{ "run_at", SHOW_RUN_AT_JSON, HD_JSON_TEXT },
		{ "event_id", SHOW_EVENT_ID, HD_JSON_TEXT },
		{ "event_type", SHOW_EVENT_TYPE, HD_JSON_TEXT },
		{ "payload", SHOW_PAYLOAD, HD_JSON_RAW },
		{ "history", SHOW_ERRORS, HD_JSON_RAW }
	};

	hd_cli_json_print_row(res, columns, sizeof columns / sizeof columns[0]);
}

/* Print the live job id; a dead, completed or cancelled one is not found. */
static int
job_show(struct hd_cli *cli, int64_t id, bool json)
{
	struct herald_error	 error;
	const char		*params[1];
	char			 id_text[24];
	PGresult		*res;
	bool			 redacted;
	int			 status = HD_EXIT_OK;

	snprintf(id_text, sizeof id_text, "%" PRId64, id);
	params[0] = id_text;
	res = hd_cli_exec_redactable(cli->conn, show_sql, 1, params,
	    &redacted);
	if (!hd_db_ok(res)) {
		hd_error_from_pg(&error, cli->conn, res, "could not read job");
		hd_cli_read_error(&error);
		status = exit_status(&error);
	} else if (PQntuples(res) == 0) {
		report_not_live(cli, NULL, &id, 1, "show", "shows it");
		status = HD_EXIT_FAILURE;
	} else if (json)
		print_job_json(res);
	else
		print_job(res);
	PQclear(res);
	return status;
}

int
hd_cmd_job(struct hd_cli *cli, int argc, char **argv)
{
	static const struct option	 options[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "dry-run", no_argument, NULL, 'N' },
		{ "yes", no_argument, NULL, 'y' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const struct hd_config		*config;
	const char			*action;
	int64_t				*ids;
	size_t				 nids = 0;
	bool				 dry_run = false, yes = false;
	bool				 json = false;
	int				 c, i, status;

	while ((c = getopt_long(argc, argv, ":jNyh", options, NULL)) != -1) {
		if (c == 'j')
			json = true;
		else if (c == 'N')
			dry_run = true;
		else if (c == 'y')
			yes = true;
		else if (c == 'h') {
			print_help();
			return HD_EXIT_OK;
		} else
			return hd_cli_bad_option("job", usage, options, argv, c);
	}
	if (optind >= argc)
		return hd_cli_usage_error("job", usage,
		    "no action given: use show, cancel or retry-now");
	action = argv[optind];
	if (strcmp(action, "show") != 0 && strcmp(action, "cancel") != 0 &&
	    strcmp(action, "retry-now") != 0)
		return hd_cli_usage_error("job", usage,
		    "unrecognized action \"%s\": use show, cancel or "
		    "retry-now", action);
	if (strcmp(action, "cancel") != 0 && (dry_run || yes))
		return hd_cli_usage_error("job", usage,
		    "--dry-run and --yes apply to job cancel only");
	if (strcmp(action, "show") != 0 && json)
		return hd_cli_usage_error("job", usage,
		    "--json applies to job show only");
	optind++;
	if (optind >= argc)
		return hd_cli_usage_error("job", usage, "no job ids given");
	if (strcmp(action, "show") == 0 && argc - optind > 1)
		return hd_cli_usage_error("job", usage,
		    "job show takes one id, not %d", argc - optind);

	ids = hd_xcalloc((size_t)(argc - optind), sizeof(*ids));
	for (i = optind; i < argc; i++) {
		status = hd_cli_parse_id(argv[i], &ids[nids]);
		if (status != HD_EXIT_OK)
			goto out;
		nids++;
	}
	if ((status = hd_cli_config(cli, &config)) != HD_EXIT_OK ||
	    (status = hd_cli_connect(cli, true)) != HD_EXIT_OK)
		goto out;
	if (strcmp(action, "show") == 0)
		status = job_show(cli, ids[0], json);
	else if (strcmp(action, "cancel") == 0)
		status = job_cancel(cli, ids, nids, dry_run, yes);
	else
		status = job_retry_now(cli, ids, nids);
out:
	free(ids);
	return status;
}
