/*
 * cmd_jobs.c: herald jobs, a list of live jobs without their payloads.
 */

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "db.h"
#include "queue_sql.h"

static const char usage[] =
    "herald jobs [--queue QUEUE] [--state STATE] [--task TASK] "
    "[--limit N]\n"
    "           [--json]";

#define JOBS_DEFAULT_LIMIT	100
#define JOBS_MAX_LIMIT		1000000

/*
 * The jobs of herald.jobs, read through herald.jobs_redacted for the
 * state that leases give them, and those of the inbox.  Each part is
 * sorted and cut on its own, so the first is read by its primary key, as
 * one ORDER BY over a UNION ALL of the two would not be.  $4 is the limit.
 */
static const char jobs_sql[] =
    "SELECT id, task, queue, shown_state, attempt, max_attempts, priority,"
    "  (extract(epoch FROM " HD_SQL_FINITE_RUN_AT("run_at")
    " - now()) * 1000)::bigint,"
    "  " HD_SQL_JSON_TIME("run_at")
    " FROM ((SELECT id, task, queue, attempt, max_attempts, priority,"
    "    run_at, " HD_SQL_SHOWN_STATE " AS shown_state"
    "  FROM herald.jobs_redacted"
    "  WHERE ($1::text IS NULL OR queue = $1)"
    "    AND ($3::text IS NULL OR task = $3)"
    "    AND ($2::text IS NULL OR " HD_SQL_SHOWN_STATE " = $2)"
    "  ORDER BY id LIMIT $4)"
    "  UNION ALL"
    "  (SELECT id, task, queue, 0, max_attempts::integer, priority, run_at,"
    "    CASE WHEN run_at <= now() THEN 'queued' ELSE 'scheduled' END"
    "  FROM herald.inbox"
    "  WHERE ($1::text IS NULL OR queue = $1)"
    "    AND ($3::text IS NULL OR task = $3)"
    "    AND ($2::text IS NULL OR $2 = CASE WHEN run_at <= now()"
    "      THEN 'queued' ELSE 'scheduled' END)"
    "  ORDER BY id LIMIT $4)) j"
    " ORDER BY id"
    " LIMIT $4";

static void
print_help(void)
{
	printf("herald jobs lists live jobs (queued, scheduled, running or "
	    "retrying) by id.\n\n"
	    "Usage: %s\n\n"
	    "Options:\n"
	    "  -q, --queue=QUEUE  only jobs of QUEUE\n"
	    "  -s, --state=STATE  only jobs in STATE: queued (ready now), "
	    "scheduled,\n"
	    "                     running or retrying\n"
	    "  -t, --task=TASK    only jobs of TASK\n"
	    "  -n, --limit=N      show at most N jobs (default: %d)\n"
	    "  -j, --json         print one JSON object: jobs, an array, and "
	    "truncated,\n"
	    "                     true when more jobs match\n"
	    "  -h, --help         print this help and exit\n\n"
	    "Dead jobs are listed by \"herald dead list\".\n",
	    usage, JOBS_DEFAULT_LIMIT);
}

static bool
valid_state(const char *state)
{
	static const char *const states[] = {
		"queued", "scheduled", "running", "retrying", NULL
	};
	int			 i;

	for (i = 0; states[i] != NULL; i++)
		if (strcmp(state, states[i]) == 0)
			return true;
	return false;
}

static void
print_jobs(const PGresult *res, int limit)
{
	static const char	*headers[] = {
		"id", "task", "queue", "state", "attempt", "priority", "run_at"
	};
	struct hd_table		 table;
	char			 when[48];
	int			 row, nrows = PQntuples(res);

	hd_table_init(&table, 7, headers, "rlllrrl");
	for (row = 0; row < nrows && row < limit; row++) {
		int64_t	run_in_ms = strtoll(PQgetvalue(res, row, 7), NULL,
		    10);

		hd_cli_format_relative(run_in_ms, when, sizeof when);
		hd_table_cell(&table, "%s", PQgetvalue(res, row, 0));
		hd_table_cell(&table, "%s", PQgetvalue(res, row, 1));
		hd_table_cell(&table, "%s", PQgetvalue(res, row, 2));
		hd_table_cell(&table, "%s", PQgetvalue(res, row, 3));
		hd_table_cell(&table, "%s/%s", PQgetvalue(res, row, 4),
		    PQgetvalue(res, row, 5));
		hd_table_cell(&table, "%s", PQgetvalue(res, row, 6));
		hd_table_cell(&table, "%s", when);
	}
	hd_table_print(&table, stdout);
	hd_table_release(&table);
	if (nrows > limit)
		hd_cli_error("more jobs match; showing the first %d (see "
		    "--limit)", limit);
}

static void
print_jobs_json(const PGresult *res, int limit)
{
	json_t	*root, *jobs, *job;
	int	 row, nrows = PQntuples(res);

	jobs = json_array();
	for (row = 0; row < nrows && row < limit; row++) {
		job = json_object();
		json_object_set_new(job, "id", hd_cli_json_int(res, row, 0));
		json_object_set_new(job, "task", hd_cli_json_text(res, row, 1));
		json_object_set_new(job, "queue", hd_cli_json_text(res, row, 2));
		json_object_set_new(job, "state", hd_cli_json_text(res, row, 3));
		json_object_set_new(job, "attempt", hd_cli_json_int(res, row,
		    4));
		json_object_set_new(job, "max_attempts", hd_cli_json_int(res,
		    row, 5));
		json_object_set_new(job, "priority", hd_cli_json_int(res, row,
		    6));
		json_object_set_new(job, "run_at", hd_cli_json_text(res, row,
		    8));
		json_object_set_new(job, "run_in_ms", hd_cli_json_int(res, row,
		    7));
		json_array_append_new(jobs, job);
	}
	root = json_object();
	json_object_set_new(root, "jobs", jobs);
	json_object_set_new(root, "truncated", json_boolean(nrows > limit));
	hd_cli_json_print(root);
}

int
hd_cmd_jobs(struct hd_cli *cli, int argc, char **argv)
{
	static const struct option	 options[] = {
		{ "queue", required_argument, NULL, 'q' },
		{ "state", required_argument, NULL, 's' },
		{ "task", required_argument, NULL, 't' },
		{ "limit", required_argument, NULL, 'n' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char			*params[4] = { NULL, NULL, NULL };
	const struct hd_config		*config;
	struct herald_error		 error;
	char				 limit_text[24];
	long				 limit = JOBS_DEFAULT_LIMIT;
	bool				 json = false;
	PGresult			*res;
	int				 c, status;

	while ((c = getopt_long(argc, argv, ":q:s:t:n:jh", options,
	    NULL)) != -1) {
		switch (c) {
		case 'q':
			params[0] = optarg;
			break;
		case 's':
			if (!valid_state(optarg)) {
				hd_cli_error("invalid value \"%s\" for "
				    "--state: use queued, scheduled, running "
				    "or retrying", optarg);
				return EX_DATAERR;
			}
			params[1] = optarg;
			break;
		case 't':
			params[2] = optarg;
			break;
		case 'n':
			status = hd_cli_parse_int("--limit", optarg, 1,
			    JOBS_MAX_LIMIT, &limit);
			if (status != HD_EXIT_OK)
				return status;
			break;
		case 'j':
			json = true;
			break;
		case 'h':
			print_help();
			return HD_EXIT_OK;
		default:
			return hd_cli_bad_option("jobs", usage, options, argv, c);
		}
	}
	if (optind < argc)
		return hd_cli_usage_error("jobs", usage,
		    "unexpected argument \"%s\"", argv[optind]);
	/* A filter that no name can match is a mistake, not an empty list. */
	if ((params[0] != NULL &&
	    herald_check_name("queue", params[0], &error) == -1) ||
	    (params[2] != NULL &&
	    herald_check_name("task", params[2], &error) == -1)) {
		hd_cli_error("%s", error.message);
		return EX_DATAERR;
	}

	/*
	 * A filter's names are checked against the file when nothing
	 * matches.  The file is read first, so that one that does not load
	 * fails the command whether jobs match or not.
	 */
	if ((params[0] != NULL || params[2] != NULL) &&
	    (status = hd_cli_config(cli, &config)) != HD_EXIT_OK)
		return status;
	if ((status = hd_cli_connect(cli, true)) != HD_EXIT_OK)
		return status;

	/* Fetching one row more than shown reveals whether more jobs match. */
	snprintf(limit_text, sizeof limit_text, "%ld", limit + 1);
	params[3] = limit_text;
	res = PQexecParams(cli->conn, jobs_sql, 4, NULL, params, NULL, NULL,
	    0);
	if (!hd_db_ok(res)) {
		hd_error_from_pg(&error, cli->conn, res, "could not list jobs");
		hd_cli_error("%s", error.message);
		PQclear(res);
		return error.code == HERALD_ECONNECT ? EX_UNAVAILABLE :
		    HD_EXIT_FAILURE;
	}
	status = PQntuples(res) == 0 ? hd_cli_check_filter(cli, "job",
	    params[0], params[2]) : HD_EXIT_OK;
	/* An unknown name is an error, so no empty table goes out. */
	if (status == HD_EXIT_OK && json)
		print_jobs_json(res, (int)limit);
	else if (status == HD_EXIT_OK)
		print_jobs(res, (int)limit);
	PQclear(res);
	return status;
}
