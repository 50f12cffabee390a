/*
 * cmd_dead.c: herald dead, the dead-letter queue: list, show, retry and
 * purge.
 *
 * A bulk retry or purge needs --all, so that a command line that lost
 * its ids by mistake (an empty shell variable) does nothing.  It counts
 * and acts in one REPEATABLE READ transaction, so it changes exactly the
 * rows it counted even while other jobs die, and over confirm_over rows
 * it needs --yes or a typed confirmation (confirm.c).
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
    "herald dead list [FILTER...] [--limit N] [--json]\n"
    "       herald dead show [--json] ID\n"
    "       herald dead retry ID... | --all [FILTER...] [--dry-run] [--yes]\n"
    "       herald dead retry ID --payload JSON|-\n"
    "       herald dead purge ID... | --all [FILTER...] [--dry-run] [--yes]\n"
    "FILTER: --queue QUEUE --task TASK --older-than DURATION\n"
    "        --exit-status N --grep TEXT --match TEXT";

#define DEAD_DEFAULT_LIMIT	100
#define DEAD_MAX_LIMIT		1000000

/*
 * The last history entry records how the last attempt ended.  A role
 * that may not read errors, herald_viewer, reads herald.dead_jobs_redacted
 * instead (hd_cli_exec_redactable()).
 */
static const char list_sql[] =
    "SELECT id, task, queue, attempt, max_attempts, reason,"
    "  (extract(epoch FROM died_at - now()) * 1000)::bigint,"
    "  errors->-1->>'outcome', errors->-1->>'exit_code',"
    "  errors->-1->>'signal', " HD_SQL_JSON_TIME("died_at")
    " FROM herald.dead_jobs"
    " WHERE ($1::text IS NULL OR queue = $1)"
    "   AND ($2::text IS NULL OR task = $2)"
    "   AND ($4::bigint IS NULL"
    "     OR died_at < now() - $4::bigint * interval '1 ms')"
    "   AND ($5::integer IS NULL"
    "     OR errors->-1->'exit_code' = to_jsonb($5::integer))"
    "   AND ($6::text IS NULL OR strpos(lower("
    "     coalesce(errors->-1->>'output', '')), lower($6::text)) > 0)"
    "   AND herald.dead_match($7::text, task, queue, reason, payload,"
    "     errors)"
    " ORDER BY id"
    " LIMIT $3";

static const char show_sql[] =
    "SELECT id, task, queue, priority, attempt, max_attempts, reason,"
    "  " HD_SQL_UTC_SECOND("created_at") ","
    "  (extract(epoch FROM created_at - now()) * 1000)::bigint,"
    "  " HD_SQL_UTC_SECOND("died_at") ","
    "  (extract(epoch FROM died_at - now()) * 1000)::bigint,"
    "  event_id, event_type, payload::text, errors::text,"
    "  " HD_SQL_JSON_TIME("created_at") ", " HD_SQL_JSON_TIME("died_at") ","
    "  jsonb_pretty(payload), " HD_SQL_HISTORY_SHOWN("errors")
    " FROM herald.dead_jobs WHERE id = $1";

/*
 * Lock the listed dead jobs, so the count and the missing ids agree; the
 * function locks for herald_console, which may not UPDATE the table.
 */
static const char lock_sql[] =
    "SELECT id FROM herald.lock_dead_jobs($1::bigint[])";

static void
print_help(void)
{
	printf("herald dead lists, shows, retries and purges dead jobs: jobs "
	    "that failed\npermanently or used all their attempts.\n\n"
	    "Usage: %s\n\n"
	    "Commands:\n"
	    "  list   list dead jobs with the reason and the last attempt's "
	    "end\n"
	    "  show   print every field of a dead job, its payload and each "
	    "attempt\n"
	    "  retry  queue dead jobs again with their attempts reset\n"
	    "  purge  delete dead jobs\n\n"
	    "Options:\n"
	    "  -q, --queue=QUEUE  only jobs of QUEUE\n"
	    "  -t, --task=TASK    only jobs of TASK\n"
	    "  -n, --limit=N      list at most N jobs (default: %d)\n"
	    "  -a, --all          retry or purge every dead job that matches "
	    "the filters,\n"
	    "                     or every dead job without them\n"
	    "  -o, --older-than=DURATION\n"
	    "                     only jobs that died longer ago than "
	    "DURATION (\"90s\", \"2h\")\n"
	    "  -e, --exit-status=N  only jobs whose last attempt exited with "
	    "N\n"
	    "  -g, --grep=TEXT    only jobs whose last attempt's output "
	    "contains TEXT,\n"
	    "                     ignoring case\n"
	    "  -m, --match=TEXT   only jobs whose task, queue, reason, "
	    "payload or last\n"
	    "                     output contains TEXT, ignoring case: "
	    "the console's\n"
	    "                     filter words\n"
	    "  -N, --dry-run      print how many dead jobs retry or purge "
	    "would change,\n"
	    "                     and change nothing (a retry's runs and "
	    "rolls back)\n"
	    "  -y, --yes          act on more than confirm_over jobs "
	    "(herald.conf, default\n"
	    "                     %d) without asking\n"
	    "  -p, --payload=JSON|-  retry one dead job with this payload "
	    "instead of its\n"
	    "                     own (\"-\": read it from standard input); "
	    "the original\n"
	    "                     stays in the job's history\n"
	    "  -j, --json         list or show as JSON: list prints an object "
	    "with\n"
	    "                     dead_jobs, an array, and truncated; show "
	    "prints the job\n"
	    "                     with its payload and its history of "
	    "attempts\n"
	    "  -h, --help         print this help and exit\n",
	    usage, DEAD_DEFAULT_LIMIT, HD_DEFAULT_CONFIRM_OVER);
}

/* Options and ids of a dead subcommand. */
struct dead_args {
	const char	*action;
	const char	*queue;
	const char	*task;
	long		 limit;
	bool		 all;
	bool		 json;
	int64_t		*ids;
	size_t		 nids;
	int64_t		 older_than_ms;	/* 0: any age */
	bool		 has_exit_status;
	long		 exit_status;
	const char	*grep;
	const char	*match;		/* as the console's filter words */
	bool		 dry_run;
	bool		 yes;
	const char	*payload;	/* --payload, "-" for stdin */
};

/* Whether a filter beyond --queue and --task is given. */
static bool
has_more_filters(const struct dead_args *args)
{
	return args->older_than_ms > 0 || args->has_exit_status ||
	    args->grep != NULL || args->match != NULL;
}

static void
fill_filter(const struct dead_args *args, struct hd_dead_filter *filter)
{
	memset(filter, 0, sizeof *filter);
	filter->queue = args->queue;
	filter->task = args->task;
	filter->older_than_ms = args->older_than_ms;
	filter->has_exit_status = args->has_exit_status;
	filter->exit_status = (int)args->exit_status;
	filter->grep = args->grep;
	filter->text = args->match;
}

/* Report a failed query; read is true for a listing, false for an action. */
static int
report_db_error(PGconn *conn, const PGresult *res, const char *what,
    bool read)
{
	struct herald_error	error;

	hd_error_from_pg(&error, conn, res, what);
	if (read)
		hd_cli_read_error(&error);
	else
		hd_cli_action_error(&error);
	return error.code == HERALD_ECONNECT ? EX_UNAVAILABLE :
	    HD_EXIT_FAILURE;
}

static const char *
value_or_null(const PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col) ? NULL : PQgetvalue(res, row, col);
}

/* Print the rows of list_sql, at most limit, as JSON. */
static void
print_list_json(const PGresult *res, long limit)
{
	json_t	*root, *jobs, *job;
	char	 end[48];
	int	 row, nrows = PQntuples(res);

	jobs = json_array();
	for (row = 0; row < nrows && row < limit; row++) {
		hd_cli_format_end(value_or_null(res, row, 7),
		    value_or_null(res, row, 8), value_or_null(res, row, 9),
		    end, sizeof end);
		job = json_object();
		json_object_set_new(job, "id", hd_cli_json_int(res, row, 0));
		json_object_set_new(job, "task", hd_cli_json_text(res, row, 1));
		json_object_set_new(job, "queue", hd_cli_json_text(res, row, 2));
		json_object_set_new(job, "attempt", hd_cli_json_int(res, row,
		    3));
		json_object_set_new(job, "max_attempts", hd_cli_json_int(res,
		    row, 4));
		json_object_set_new(job, "reason", hd_cli_json_text(res, row,
		    5));
		json_object_set_new(job, "died_at", hd_cli_json_text(res, row,
		    10));
		json_object_set_new(job, "last_outcome",
		    hd_cli_json_text(res, row, 7));
		json_object_set_new(job, "last_end", json_string(end));
		json_array_append_new(jobs, job);
	}
	root = json_object();
	json_object_set_new(root, "dead_jobs", jobs);
	json_object_set_new(root, "truncated", json_boolean(nrows > limit));
	hd_cli_json_print(root);
}

static int
dead_list(struct hd_cli *cli, const struct dead_args *args)
{
	static const char	*headers[] = {
		"id", "task", "queue", "attempts", "reason", "died", "last"
	};
	const char		*params[7], *option;
	char			 limit_text[24], died[48], end[48];
	char			 older[24], exit_status[24];
	struct hd_table		 table;
	PGresult		*res;
	const struct hd_config	*config;
	bool			 redacted;
	int			 row, nrows, status;

	/* As in herald jobs: a file that does not load fails in any case. */
	if ((args->queue != NULL || args->task != NULL) &&
	    (status = hd_cli_config(cli, &config)) != HD_EXIT_OK)
		return status;
	snprintf(limit_text, sizeof limit_text, "%ld", args->limit + 1);
	snprintf(older, sizeof older, "%" PRId64, args->older_than_ms);
	snprintf(exit_status, sizeof exit_status, "%ld", args->exit_status);
	params[0] = args->queue;
	params[1] = args->task;
	params[2] = limit_text;
	params[3] = args->older_than_ms > 0 ? older : NULL;
	params[4] = args->has_exit_status ? exit_status : NULL;
	params[5] = args->grep;
	params[6] = args->match;
	res = hd_cli_exec_redactable(cli->conn, list_sql, 7, params,
	    &redacted);
	if (!hd_db_ok(res)) {
		status = report_db_error(cli->conn, res,
		    "could not list dead jobs", true);
		PQclear(res);
		return status;
	}
	/*
	 * The redacted view has no output and no payloads, so --grep would
	 * match nothing and --match would miss what it should find.
	 */
	if (redacted && (args->grep != NULL || args->match != NULL)) {
		option = args->grep != NULL ? "--grep" : "--match";
		hd_cli_error("could not list dead jobs with %s: this role may "
		    "not read %s; %s needs herald_console", option,
		    args->grep != NULL ? "the output of attempts" :
		    "payloads or the output of attempts", option);
		PQclear(res);
		return HD_EXIT_FAILURE;
	}

	nrows = PQntuples(res);
	status = nrows == 0 ? hd_cli_check_filter(cli, "dead job",
	    args->queue, args->task) : HD_EXIT_OK;
	/* An unknown name is an error, so no empty table goes out. */
	if (status != HD_EXIT_OK) {
		PQclear(res);
		return status;
	}
	if (args->json) {
		print_list_json(res, args->limit);
		PQclear(res);
		return status;
	}
	hd_table_init(&table, 7, headers, "rllllll");
	for (row = 0; row < nrows && row < args->limit; row++) {
		hd_cli_format_relative(strtoll(PQgetvalue(res, row, 6), NULL,
		    10), died, sizeof died);
		hd_cli_format_end(value_or_null(res, row, 7),
		    value_or_null(res, row, 8), value_or_null(res, row, 9),
		    end, sizeof end);
		hd_table_cell(&table, "%s", PQgetvalue(res, row, 0));
		hd_table_cell(&table, "%s", PQgetvalue(res, row, 1));
		hd_table_cell(&table, "%s", PQgetvalue(res, row, 2));
		hd_table_cell(&table, "%s/%s", PQgetvalue(res, row, 3),
		    PQgetvalue(res, row, 4));
		hd_table_cell(&table, "%s", PQgetvalue(res, row, 5));
		hd_table_cell(&table, "%s", died);
		hd_table_cell(&table, "%s", end);
	}
	hd_table_print(&table, stdout);
	hd_table_release(&table);
	if (nrows > args->limit)
		hd_cli_error("more dead jobs match; showing the first %ld "
		    "(see --limit)", args->limit);
	PQclear(res);
	return status;
}

static void
print_dead_job(const PGresult *res)
{
	printf("%-11s %s\n", "id:", PQgetvalue(res, 0, 0));
	printf("%-11s %s\n", "task:", PQgetvalue(res, 0, 1));
	printf("%-11s %s\n", "queue:", PQgetvalue(res, 0, 2));
	printf("%-11s %s\n", "priority:", PQgetvalue(res, 0, 3));
	hd_cli_print_attempts(PQgetvalue(res, 0, 4), PQgetvalue(res, 0, 5),
	    PQgetvalue(res, 0, 18));
	printf("%-11s %s\n", "reason:", PQgetvalue(res, 0, 6));
	hd_cli_print_time("created:", PQgetvalue(res, 0, 7),
	    PQgetvalue(res, 0, 8));
	hd_cli_print_time("died:", PQgetvalue(res, 0, 9),
	    PQgetvalue(res, 0, 10));
	if (!PQgetisnull(res, 0, 11))
		printf("%-11s %s (%s)\n", "event:", PQgetvalue(res, 0, 11),
		    PQgetisnull(res, 0, 12) ? "-" : PQgetvalue(res, 0, 12));
	printf("payload:\n");
	/* PostgreSQL formats it, keeping every number as stored. */
	if (PQgetisnull(res, 0, 17))
		printf("  (hidden: this role may not read payloads)\n");
	else
		hd_cli_print_indented(PQgetvalue(res, 0, 17), "  ");
	hd_cli_print_history(PQgetvalue(res, 0, 18));
}

/* Print the row of show_sql as JSON, payload and history included. */
static void
print_dead_job_json(const PGresult *res)
{
	static const struct hd_cli_json_column	columns[] = {
		{ "id", 0, HD_JSON_INT },
		{ "task", 1, HD_JSON_TEXT },
		{ "queue", 2, HD_JSON_TEXT },
		{ "priority", 3, HD_JSON_INT },
		{ "attempt", 4, HD_JSON_INT },
		{ "max_attempts", 5, HD_JSON_INT },
		{ "reason", 6, HD_JSON_TEXT },
		{ "created_at", 15, HD_JSON_TEXT },
		{ "died_at", 16, HD_JSON_TEXT },
		{ "event_id", 11, HD_JSON_TEXT },
		{ "event_type", 12, HD_JSON_TEXT },
		{ "payload", 13, HD_JSON_RAW },
		{ "history", 14, HD_JSON_RAW }
	};

	hd_cli_json_print_row(res, columns, sizeof columns / sizeof columns[0]);
}

/*
 * Report each of the nids ids as not dead: a live job with its state and
 * the herald job command that shows it, any other as not found.  One
 * query finds the live ones among them.
 */
static void
report_not_dead(struct hd_cli *cli, const int64_t *ids, size_t nids)
{
	struct hd_id_lookup	live;
	size_t			i;
	long			row;

	hd_id_lookup_run(cli, &live, "SELECT id, " HD_SQL_SHOWN_STATE
	    " FROM herald.live_jobs WHERE id = ANY ($1::bigint[])", ids, nids);
	for (i = 0; i < nids; i++) {
		row = hd_id_lookup_find(&live, ids[i]);
		if (row != -1)
			hd_cli_error("job %" PRId64 " is %s, not dead; herald "
			    "job show %" PRId64 " shows it", ids[i],
			    PQgetvalue(live.res, (int)row, 1), ids[i]);
		else
			hd_cli_error("dead job %" PRId64 " not found", ids[i]);
	}
	hd_id_lookup_release(&live);
}

static int
dead_show(struct hd_cli *cli, const struct dead_args *args)
{
	const char	*params[1];
	char		 id_text[24];
	PGresult	*res;
	bool		 redacted;
	int		 status = HD_EXIT_OK;

	snprintf(id_text, sizeof id_text, "%" PRId64, args->ids[0]);
	params[0] = id_text;
	/* herald_viewer reads the job without its payload and output. */
	res = hd_cli_exec_redactable(cli->conn, show_sql, 1, params,
	    &redacted);
	if (!hd_db_ok(res))
		status = report_db_error(cli->conn, res,
		    "could not read dead job", true);
	else if (PQntuples(res) == 0) {
		report_not_dead(cli, args->ids, 1);
		status = HD_EXIT_FAILURE;
	} else if (args->json)
		print_dead_job_json(res);
	else
		print_dead_job(res);
	PQclear(res);
	return status;
}

/*
 * Report each listed id that is not in column 0 of res, once even when
 * it is listed twice, and return how many were missing.
 */
static size_t
report_missing(struct hd_cli *cli, const PGresult *res,
    const struct dead_args *args)
{
	struct hd_id_index	 given, rows;
	int64_t			*missing;
	size_t			 i, nmissing = 0;

	missing = hd_xcalloc(args->nids, sizeof *missing);
	hd_id_index_ids(&given, args->ids, args->nids);
	hd_id_index_rows(&rows, res, 0);
	for (i = 0; i < args->nids; i++) {
		if (hd_id_index_find(&given, args->ids[i]) < (long)i)
			continue;
		if (hd_id_index_find(&rows, args->ids[i]) == -1)
			missing[nmissing++] = args->ids[i];
	}
	hd_id_index_release(&given);
	hd_id_index_release(&rows);
	if (nmissing > 0)
		report_not_dead(cli, missing, nmissing);
	free(missing);
	return nmissing;
}

/*
 * Name the listed dead jobs that a retry left dead, in the transaction
 * of the retry: those whose unique key another job holds.
 */
static void
report_held(struct hd_cli *cli, const struct dead_args *args)
{
	const char	*params[1];
	char		*array;
	PGresult	*res;
	int		 row;

	array = hd_cli_id_array(args->ids, args->nids);
	params[0] = array;
	res = PQexecParams(cli->conn, "SELECT d.id, coalesce(u.job_id::text,"
	    " '?'), d.unique_key FROM herald.dead_jobs d"
	    " LEFT JOIN herald.unique_keys u ON u.key = d.unique_key"
	    " WHERE d.id = ANY ($1::bigint[]) ORDER BY d.id", 1, NULL, params,
	    NULL, NULL, 0);
	free(array);
	for (row = 0; hd_db_ok(res) && row < PQntuples(res); row++)
		hd_cli_error("dead job %s cannot be retried: job %s took its "
		    "unique key \"%s\"", PQgetvalue(res, row, 0),
		    PQgetvalue(res, row, 1), PQgetvalue(res, row, 2));
	PQclear(res);
	hd_cli_error("no dead job was retried: listed ids are retried all "
	    "or none, so retry the others without these");
}

/*
 * Retry or purge the listed ids in one transaction: lock them and act on
 * them only when every one exists, and for a retry when every one gets
 * its unique key, so a mistyped id changes nothing.
 */
static int
act_on_ids(struct hd_cli *cli, const struct dead_args *args,
    int64_t (*action)(PGconn *, const struct hd_dead_filter *,
    struct herald_error *), int64_t *count, int64_t *selected)
{
	struct hd_dead_filter	 filter = { 0 };
	struct herald_error	 error;
	const char		*params[1];
	char			*array;
	PGresult		*res;
	bool			 retry = strcmp(args->action, "retry") == 0;
	int			 status = HD_EXIT_OK;

	if (hd_db_exec(cli->conn, "BEGIN", &error) == -1) {
		hd_cli_action_error(&error);
		return error.code == HERALD_ECONNECT ? EX_UNAVAILABLE :
		    HD_EXIT_FAILURE;
	}

	array = hd_cli_id_array(args->ids, args->nids);
	params[0] = array;
	res = PQexecParams(cli->conn, lock_sql, 1, NULL, params, NULL, NULL,
	    0);
	free(array);
	if (!hd_db_ok(res)) {
		/* The rows are locked for the action: name the action. */
		status = report_db_error(cli->conn, res, retry ?
		    "could not retry dead jobs" : "could not purge dead jobs",
		    false);
		goto out;
	}
	if (report_missing(cli, res, args) > 0) {
		/* With one id, "dead job N not found" is the whole message. */
		if (args->nids > 1)
			hd_cli_error("no dead job was %s, since some were not "
			    "found", retry ? "retried" : "purged");
		status = HD_EXIT_FAILURE;
		goto out;
	}
	*count = *selected = PQntuples(res);
	/* A dry run of a retry runs it and rolls back, to count held keys. */
	if (args->dry_run && !retry) {
		status = -1;	/* roll back the locks, report the count */
		goto out;
	}
	if (!args->dry_run && (status = hd_cli_confirm_bulk(cli, retry ?
	    "dead retry" : "dead purge", *count, args->yes)) != HD_EXIT_OK)
		goto out;

	filter.ids = args->ids;
	filter.nids = args->nids;
	if ((*count = action(cli->conn, &filter, &error)) == -1) {
		hd_cli_action_error(&error);
		status = error.code == HERALD_ECONNECT ? EX_UNAVAILABLE :
		    HD_EXIT_FAILURE;
		goto out;
	}
	/* Listed ids are retried all or none, as they are found. */
	if (*count < *selected) {
		report_held(cli, args);
		status = HD_EXIT_FAILURE;
		goto out;
	}
	if (args->dry_run) {
		status = -1;
		goto out;
	}
	if (hd_db_exec(cli->conn, "COMMIT", &error) == -1) {
		hd_cli_action_error(&error);
		status = error.code == HERALD_ECONNECT ? EX_UNAVAILABLE :
		    HD_EXIT_FAILURE;
	}

out:
	PQclear(res);
	if (status != HD_EXIT_OK)
		(void)hd_db_exec(cli->conn, "ROLLBACK", NULL);
	return status == -1 ? HD_EXIT_OK : status;
}

/* Report a failed statement of a bulk action and return the exit status. */
static int
report_bulk_error(const struct herald_error *error)
{
	/* SQLSTATE serialization_failure: a counted row changed meanwhile. */
	if (strcmp(error->sqlstate, "40001") == 0) {
		hd_cli_error("dead jobs changed while this command ran; "
		    "nothing changed, run it again");
		return HD_EXIT_FAILURE;
	}
	hd_cli_action_error(error);
	return error->code == HERALD_ECONNECT ? EX_UNAVAILABLE :
	    HD_EXIT_FAILURE;
}

/*
 * Retry or purge every dead job that matches the filters: count them,
 * then, unless the count needs a confirmation that does not come, act on
 * them, all in one REPEATABLE READ transaction.  A dry run of a purge
 * stops at the count; one of a retry runs it and rolls back.  The action
 * reads the snapshot the count read, so jobs that die meanwhile are left
 * alone, and a counted job that another client retried or purged
 * meanwhile makes the action fail and change nothing.
 */
static int
act_on_filter(struct hd_cli *cli, const struct dead_args *args,
    int64_t *count, int64_t *selected)
{
	bool			 retry = strcmp(args->action, "retry") == 0;
	struct hd_dead_filter	 filter;
	struct herald_error	 error;
	int64_t			 changed;
	int			 status;

	fill_filter(args, &filter);
	if (hd_db_exec(cli->conn, "BEGIN ISOLATION LEVEL REPEATABLE READ",
	    &error) == -1)
		return report_bulk_error(&error);
	if ((*count = hd_dead_count(cli->conn, &filter, &error)) == -1) {
		status = report_bulk_error(&error);
		goto fail;
	}
	*selected = *count;
	/* A dry run of a retry runs it and rolls back, to count held keys. */
	if (args->dry_run && (!retry || *count == 0)) {
		(void)hd_db_exec(cli->conn, "ROLLBACK", NULL);
		return HD_EXIT_OK;
	}
	if (!args->dry_run && (status = hd_cli_confirm_bulk(cli, retry ?
	    "dead retry" : "dead purge", *count, args->yes)) != HD_EXIT_OK)
		goto fail;

	changed = retry ? hd_dead_retry(cli->conn, &filter, &error) :
	    hd_dead_purge(cli->conn, &filter, &error);
	if (changed == -1 || (!args->dry_run &&
	    hd_db_exec(cli->conn, "COMMIT", &error) == -1)) {
		status = report_bulk_error(&error);
		goto fail;
	}
	if (args->dry_run)
		(void)hd_db_exec(cli->conn, "ROLLBACK", NULL);
	*count = changed;
	return HD_EXIT_OK;

fail:
	(void)hd_db_exec(cli->conn, "ROLLBACK", NULL);
	return status;
}

/* Read all of standard input into a string; NULL when it fails. */
static char *
read_stdin(void)
{
	char	*text = NULL, buf[8192];
	size_t	 len = 0, n;

	text = hd_xmalloc(1);
	while ((n = fread(buf, 1, sizeof buf, stdin)) > 0) {
		text = hd_xrealloc(text, len + n + 1, 1);
		memcpy(text + len, buf, n);
		len += n;
	}
	text[len] = '\0';
	if (ferror(stdin)) {
		free(text);
		return NULL;
	}
	return text;
}

/* Retry one dead job with the payload of --payload. */
static int
retry_edited(struct hd_cli *cli, const struct dead_args *args)
{
	struct herald_error	 error;
	size_t			 payload_max = HERALD_PAYLOAD_MAX;
	char			*payload;
	int64_t			 count;

	if (strcmp(args->payload, "-") == 0) {
		if ((payload = read_stdin()) == NULL) {
			hd_cli_error("could not read the payload from standard "
			    "input");
			return HD_EXIT_FAILURE;
		}
	} else
		payload = hd_xstrdup(args->payload);
	if (cli->config != NULL)
		payload_max = cli->config->payload_max;

	count = hd_dead_retry_edited(cli->conn, args->ids[0], payload,
	    payload_max, &error);
	free(payload);
	if (count == -1) {
		hd_cli_action_error(&error);
		if (error.code == HERALD_EINVAL)
			return EX_DATAERR;
		return error.code == HERALD_ECONNECT ? EX_UNAVAILABLE :
		    HD_EXIT_FAILURE;
	}
	if (count == 0) {
		report_not_dead(cli, args->ids, 1);
		return HD_EXIT_FAILURE;
	}
	printf("retried dead job %" PRId64 " with the edited payload\n",
	    args->ids[0]);
	return HD_EXIT_OK;
}

static int
dead_act(struct hd_cli *cli, const struct dead_args *args)
{
	bool			 retry = strcmp(args->action, "retry") == 0;
	int64_t			 count = 0, selected = 0;
	int			 status;

	if (args->payload != NULL)
		return retry_edited(cli, args);
	if (args->all)
		status = act_on_filter(cli, args, &count, &selected);
	else
		status = act_on_ids(cli, args,
		    retry ? hd_dead_retry : hd_dead_purge, &count, &selected);
	if (status != HD_EXIT_OK)
		return status;

	status = count == 0 ? hd_cli_check_filter(cli, "dead job",
	    args->queue, args->task) : HD_EXIT_OK;
	if (args->dry_run && selected > count)
		printf("would retry %" PRId64 " dead job%s; %" PRId64 " would "
		    "stay dead, since other jobs hold their unique keys\n",
		    count, count == 1 ? "" : "s", selected - count);
	else if (args->dry_run)
		printf("would %s %" PRId64 " dead job%s\n",
		    retry ? "retry" : "purge", count, count == 1 ? "" : "s");
	else if (selected > count)
		/* A retry leaves dead the jobs whose key another job holds. */
		printf("retried %" PRId64 " dead job%s; %" PRId64 " left "
		    "dead, since other jobs hold their unique keys\n", count,
		    count == 1 ? "" : "s", selected - count);
	else
		printf("%s %" PRId64 " dead job%s\n",
		    retry ? "retried" : "purged", count, count == 1 ? "" : "s");
	return status;
}

/* Check which options and arguments the action accepts. */
static int
check_args(const struct dead_args *args)
{
	const char	*action = args->action;

	if (args->json && strcmp(action, "list") != 0 &&
	    strcmp(action, "show") != 0)
		return hd_cli_usage_error("dead", usage,
		    "--json applies to dead list and dead show only");

	if ((args->dry_run || args->yes) && strcmp(action, "retry") != 0 &&
	    strcmp(action, "purge") != 0)
		return hd_cli_usage_error("dead", usage,
		    "--dry-run and --yes apply to dead retry and dead purge "
		    "only");
	if (args->payload != NULL && strcmp(action, "retry") != 0)
		return hd_cli_usage_error("dead", usage,
		    "--payload applies to dead retry only");
	if (args->payload != NULL && (args->nids != 1 || args->all ||
	    args->dry_run))
		return hd_cli_usage_error("dead", usage,
		    "--payload retries one dead job: give one id and no "
		    "--all or --dry-run");

	if (strcmp(action, "list") == 0) {
		if (args->nids > 0 || args->all)
			return hd_cli_usage_error("dead", usage,
			    "dead list takes no ids and no --all");
		return HD_EXIT_OK;
	}
	if (strcmp(action, "show") == 0) {
		if (args->nids == 0)
			return hd_cli_usage_error("dead", usage,
			    "no dead job id given; dead show takes one id");
		if (args->nids > 1)
			return hd_cli_usage_error("dead", usage,
			    "dead show takes one id, not %zu", args->nids);
		if (args->all || args->queue != NULL || args->task != NULL ||
		    has_more_filters(args))
			return hd_cli_usage_error("dead", usage,
			    "dead show takes no option other than --json");
		return HD_EXIT_OK;
	}
	if (args->nids > 0 && args->all)
		return hd_cli_usage_error("dead", usage,
		    "give ids or --all, not both");
	if (args->nids == 0 && !args->all)
		return hd_cli_usage_error("dead", usage,
		    "no dead job ids given; use --all to %s every dead job "
		    "that matches the filters", action);
	if (!args->all && (args->queue != NULL || args->task != NULL ||
	    has_more_filters(args)))
		return hd_cli_usage_error("dead", usage,
		    "filters select dead jobs only with --all");
	return HD_EXIT_OK;
}

static int
parse_args(int argc, char **argv, struct dead_args *args)
{
	static const struct option	options[] = {
		{ "queue", required_argument, NULL, 'q' },
		{ "task", required_argument, NULL, 't' },
		{ "limit", required_argument, NULL, 'n' },
		{ "all", no_argument, NULL, 'a' },
		{ "json", no_argument, NULL, 'j' },
		{ "older-than", required_argument, NULL, 'o' },
		{ "exit-status", required_argument, NULL, 'e' },
		{ "grep", required_argument, NULL, 'g' },
		{ "match", required_argument, NULL, 'm' },
		{ "dry-run", no_argument, NULL, 'N' },
		{ "yes", no_argument, NULL, 'y' },
		{ "payload", required_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	int				c, status, i, rc;

	while ((c = getopt_long(argc, argv, ":q:t:n:ajo:e:g:m:Nyp:h", options,
	    NULL)) != -1) {
		switch (c) {
		case 'o':
			rc = hd_parse_duration_ms(optarg, &args->older_than_ms);
			if (rc == -2) {
				hd_cli_error("duration \"%s\" for "
				    "--older-than is out of range: the maximum "
				    "is 366d", optarg);
				return EX_DATAERR;
			}
			if (rc == -1 || args->older_than_ms <= 0) {
				hd_cli_error("invalid duration \"%s\" for "
				    "--older-than: use a positive number with "
				    "ms, s, m, h or d", optarg);
				return EX_DATAERR;
			}
			break;
		case 'e':
			status = hd_cli_parse_int("--exit-status", optarg, 0,
			    255, &args->exit_status);
			if (status != HD_EXIT_OK)
				return status;
			args->has_exit_status = true;
			break;
		case 'g':
			/* An empty pattern, often an unset variable, matches all. */
			if (*optarg == '\0') {
				hd_cli_error("--grep pattern is empty; "
				    "to select every dead job leave --grep out");
				return EX_DATAERR;
			}
			args->grep = optarg;
			break;
		case 'm':
			/* Blanks alone match the blanks between the fields. */
			if (optarg[strspn(optarg, " \t")] == '\0') {
				hd_cli_error("--match text is empty or blank; "
				    "to select every dead job leave --match out");
				return EX_DATAERR;
			}
			args->match = optarg;
			break;
		case 'N':
			args->dry_run = true;
			break;
		case 'y':
			args->yes = true;
			break;
		case 'p':
			args->payload = optarg;
			break;
		case 'q':
			args->queue = optarg;
			break;
		case 't':
			args->task = optarg;
			break;
		case 'n':
			status = hd_cli_parse_int("--limit", optarg, 1,
			    DEAD_MAX_LIMIT, &args->limit);
			if (status != HD_EXIT_OK)
				return status;
			break;
		case 'a':
			args->all = true;
			break;
		case 'j':
			args->json = true;
			break;
		case 'h':
			print_help();
			return -1;
		default:
			return hd_cli_bad_option("dead", usage, options, argv, c);
		}
	}

	if (optind >= argc)
		return hd_cli_usage_error("dead", usage,
		    "no action given: use list, show, retry or purge");
	args->action = argv[optind++];
	if (strcmp(args->action, "list") != 0 &&
	    strcmp(args->action, "show") != 0 &&
	    strcmp(args->action, "retry") != 0 &&
	    strcmp(args->action, "purge") != 0)
		return hd_cli_usage_error("dead", usage,
		    "unrecognized action \"%s\": use list, show, retry or "
		    "purge", args->action);

	if (strcmp(args->action, "list") == 0 && optind < argc)
		return hd_cli_usage_error("dead", usage,
		    "dead list takes no ids and no --all");

	args->ids = hd_xcalloc((size_t)(argc - optind), sizeof *args->ids);
	for (i = optind; i < argc; i++) {
		status = hd_cli_parse_id(argv[i], &args->ids[args->nids]);
		if (status != HD_EXIT_OK)
			return status;
		args->nids++;
	}
	return check_args(args);
}

/*
 * Check the --queue and --task filters like every other name, so a
 * misspelt filter is reported instead of matching nothing.
 */
static int
check_filter_names(const struct dead_args *args)
{
	struct herald_error	error;

	if ((args->queue != NULL &&
	    herald_check_name("queue", args->queue, &error) == -1) ||
	    (args->task != NULL &&
	    herald_check_name("task", args->task, &error) == -1)) {
		hd_cli_action_error(&error);
		return EX_DATAERR;
	}
	return HD_EXIT_OK;
}

int
hd_cmd_dead(struct hd_cli *cli, int argc, char **argv)
{
	struct dead_args	 args = { .limit = DEAD_DEFAULT_LIMIT };
	const struct hd_config	*config;
	int			 status;

	status = parse_args(argc, argv, &args);
	if (status != HD_EXIT_OK) {
		free(args.ids);
		return status == -1 ? HD_EXIT_OK : status;
	}
	if ((status = check_filter_names(&args)) != HD_EXIT_OK ||
	    (status = hd_cli_config(cli, &config)) != HD_EXIT_OK ||
	    (status = hd_cli_connect(cli, true)) != HD_EXIT_OK)
		goto out;

	if (strcmp(args.action, "list") == 0)
		status = dead_list(cli, &args);
	else if (strcmp(args.action, "show") == 0)
		status = dead_show(cli, &args);
	else
		status = dead_act(cli, &args);

out:
	free(args.ids);
	return status;
}
