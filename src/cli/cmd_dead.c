/*
 * cmd_dead.c: herald dead, the dead-letter queue: list, show, retry and
 * purge.
 *
 * A bulk retry or purge needs --all, so that a command line that lost
 * its ids by mistake (an empty shell variable) does nothing.
 */

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"
#include "db.h"
#include "store.h"
#include "util.h"

static const char usage[] =
    "herald dead list [--queue QUEUE] [--task TASK] [--limit N]\n"
    "       herald dead show ID\n"
    "       herald dead retry ID... | --all [--queue QUEUE] [--task TASK]\n"
    "       herald dead purge ID... | --all [--queue QUEUE] [--task TASK]";

#define DEAD_DEFAULT_LIMIT	100
#define DEAD_MAX_LIMIT		1000000

/* The last history entry records how the last attempt ended. */
static const char list_sql[] =
    "SELECT id, task, queue, attempt, max_attempts, reason,"
    "  (extract(epoch FROM died_at - now()) * 1000)::bigint,"
    "  errors->-1->>'outcome', errors->-1->>'exit_code',"
    "  errors->-1->>'signal'"
    " FROM herald.dead_jobs"
    " WHERE ($1::text IS NULL OR queue = $1)"
    "   AND ($2::text IS NULL OR task = $2)"
    " ORDER BY id"
    " LIMIT $3";

static const char show_sql[] =
    "SELECT id, task, queue, priority, attempt, max_attempts, reason,"
    "  date_trunc('second', created_at)::text,"
    "  (extract(epoch FROM created_at - now()) * 1000)::bigint,"
    "  date_trunc('second', died_at)::text,"
    "  (extract(epoch FROM died_at - now()) * 1000)::bigint,"
    "  event_id, event_type, payload::text, errors::text"
    " FROM herald.dead_jobs WHERE id = $1";

/* Lock the listed dead jobs, so the count and the missing ids agree. */
static const char lock_sql[] =
    "SELECT id FROM herald.dead_jobs WHERE id = ANY ($1::bigint[])"
    " ORDER BY id FOR UPDATE";

static void
print_help(void)
{
	printf("herald dead lists, shows, retries and purges dead jobs: jobs "
	    "that failed\npermanently or used all their attempts.\n\n"
	    "Usage:\n  %s\n\n"
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
	    "--queue and\n"
	    "                     --task, or every dead job without them\n"
	    "  -h, --help         print this help and exit\n",
	    usage, DEAD_DEFAULT_LIMIT);
}

/* Options and ids of a dead subcommand. */
struct dead_args {
	const char	*action;
	const char	*queue;
	const char	*task;
	long		 limit;
	bool		 all;
	int64_t		*ids;
	size_t		 nids;
};

static int
report_db_error(PGconn *conn, const PGresult *res, const char *what)
{
	struct herald_error	error;

	hd_error_from_pg(&error, conn, res, what);
	hd_cli_error("%s", error.message);
	return error.code == HERALD_ECONNECT ? EX_UNAVAILABLE :
	    HD_EXIT_FAILURE;
}

/* Format how an attempt ended: "exit 75", "signal 9", "timeout". */
static void
format_end(const char *outcome, const char *exit_code, const char *signal,
    char *buf, size_t size)
{
	if (outcome != NULL && (strcmp(outcome, "timeout") == 0 ||
	    strcmp(outcome, "lost") == 0))
		snprintf(buf, size, "%s", outcome);
	else if (signal != NULL && strtol(signal, NULL, 10) > 0)
		snprintf(buf, size, "signal %s", signal);
	else if (exit_code != NULL && strtol(exit_code, NULL, 10) >= 0)
		snprintf(buf, size, "exit %s", exit_code);
	else
		snprintf(buf, size, "%s", outcome != NULL ? outcome : "-");
}

static const char *
value_or_null(const PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col) ? NULL : PQgetvalue(res, row, col);
}

static int
dead_list(struct hd_cli *cli, const struct dead_args *args)
{
	static const char	*headers[] = {
		"id", "task", "queue", "attempts", "reason", "died", "last"
	};
	const char		*params[3];
	char			 limit_text[24], died[48], end[48];
	struct hd_table		 table;
	PGresult		*res;
	int			 row, nrows;

	snprintf(limit_text, sizeof limit_text, "%ld", args->limit + 1);
	params[0] = args->queue;
	params[1] = args->task;
	params[2] = limit_text;
	res = PQexecParams(cli->conn, list_sql, 3, NULL, params, NULL, NULL,
	    0);
	if (!hd_db_ok(res)) {
		int	status = report_db_error(cli->conn, res,
		    "could not list dead jobs");

		PQclear(res);
		return status;
	}

	hd_table_init(&table, 7, headers, "rllllll");
	nrows = PQntuples(res);
	for (row = 0; row < nrows && row < args->limit; row++) {
		hd_cli_format_relative(strtoll(PQgetvalue(res, row, 6), NULL,
		    10), died, sizeof died);
		format_end(value_or_null(res, row, 7),
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
	return HD_EXIT_OK;
}

/*
 * Print text with each line indented, replacing control characters other
 * than tab, so that handler output cannot send escape sequences to the
 * terminal.  That includes the C1 controls U+0080 to U+009F, which some
 * terminals obey (U+009B starts a sequence as ESC [ does); in UTF-8 they
 * are 0xc2 followed by 0x80 to 0x9f.
 */
static void
print_indented(const char *text, const char *indent)
{
	const unsigned char	*p;
	bool			 line_start = true;

	for (p = (const unsigned char *)text; *p != '\0'; p++) {
		if (line_start)
			fputs(indent, stdout);
		line_start = *p == '\n';
		if (p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) {
			putchar('?');
			p++;
		} else if (*p == '\n' || *p == '\t' ||
		    (*p >= 0x20 && *p != 0x7f))
			putchar(*p);
		else
			putchar('?');
	}
	if (!line_start)
		putchar('\n');
}

static void
print_payload(const char *payload)
{
	json_error_t	 jerror;
	json_t		*json;
	char		*pretty = NULL;

	json = json_loads(payload, 0, &jerror);
	if (json != NULL)
		pretty = json_dumps(json, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	print_indented(pretty != NULL ? pretty : payload, "  ");
	free(pretty);
	json_decref(json);
}

/* Store a member of a history entry in buf as text, "" when null. */
static void
member_text(json_t *entry, const char *key, char *buf, size_t size)
{
	json_t	*value = json_object_get(entry, key);

	if (json_is_string(value))
		snprintf(buf, size, "%s", json_string_value(value));
	else if (json_is_integer(value))
		snprintf(buf, size, "%" JSON_INTEGER_FORMAT,
		    json_integer_value(value));
	else
		buf[0] = '\0';
}

static void
print_attempt(json_t *entry)
{
	char	attempt[24], at[64], outcome[32], exit_code[24], signal[24];
	char	duration_ms[24], duration[32], end[48];
	json_t	*output;

	member_text(entry, "attempt", attempt, sizeof attempt);
	member_text(entry, "at", at, sizeof at);
	member_text(entry, "outcome", outcome, sizeof outcome);
	member_text(entry, "exit_code", exit_code, sizeof exit_code);
	member_text(entry, "signal", signal, sizeof signal);
	member_text(entry, "duration_ms", duration_ms, sizeof duration_ms);

	format_end(outcome[0] != '\0' ? outcome : NULL,
	    exit_code[0] != '\0' ? exit_code : NULL,
	    signal[0] != '\0' ? signal : NULL, end, sizeof end);
	if (duration_ms[0] != '\0')
		hd_format_duration(strtoll(duration_ms, NULL, 10), duration,
		    sizeof duration);
	else
		snprintf(duration, sizeof duration, "-");

	/* "timeout" and "lost" are both the outcome and the end. */
	printf("  attempt %s  %s  %s%s%s  %s\n",
	    attempt[0] != '\0' ? attempt : "?", at[0] != '\0' ? at : "-",
	    outcome[0] != '\0' ? outcome : "-",
	    strcmp(outcome, end) == 0 ? "" : "  ",
	    strcmp(outcome, end) == 0 ? "" : end, duration);

	output = json_object_get(entry, "output");
	if (json_is_string(output) && json_string_length(output) > 0)
		print_indented(json_string_value(output), "    | ");
}

static void
print_history(const char *errors)
{
	json_error_t	 jerror;
	json_t		*history, *entry;
	size_t		 i;

	printf("history:\n");
	history = json_loads(errors, 0, &jerror);
	if (!json_is_array(history) || json_array_size(history) == 0) {
		printf("  (no attempts recorded)\n");
		json_decref(history);
		return;
	}
	json_array_foreach(history, i, entry)
		print_attempt(entry);
	json_decref(history);
}

static void
print_field_time(const char *name, const PGresult *res, int time_col,
    int delta_col)
{
	char	relative[48];

	hd_cli_format_relative(strtoll(PQgetvalue(res, 0, delta_col), NULL,
	    10), relative, sizeof relative);
	printf("%-11s %s (%s)\n", name, PQgetvalue(res, 0, time_col),
	    relative);
}

static void
print_dead_job(const PGresult *res)
{
	printf("%-11s %s\n", "id:", PQgetvalue(res, 0, 0));
	printf("%-11s %s\n", "task:", PQgetvalue(res, 0, 1));
	printf("%-11s %s\n", "queue:", PQgetvalue(res, 0, 2));
	printf("%-11s %s\n", "priority:", PQgetvalue(res, 0, 3));
	printf("%-11s %s of %s\n", "attempts:", PQgetvalue(res, 0, 4),
	    PQgetvalue(res, 0, 5));
	printf("%-11s %s\n", "reason:", PQgetvalue(res, 0, 6));
	print_field_time("created:", res, 7, 8);
	print_field_time("died:", res, 9, 10);
	if (!PQgetisnull(res, 0, 11))
		printf("%-11s %s (%s)\n", "event:", PQgetvalue(res, 0, 11),
		    PQgetisnull(res, 0, 12) ? "-" : PQgetvalue(res, 0, 12));
	printf("payload:\n");
	print_payload(PQgetvalue(res, 0, 13));
	print_history(PQgetvalue(res, 0, 14));
}

static int
dead_show(struct hd_cli *cli, const struct dead_args *args)
{
	const char	*params[1];
	char		 id_text[24];
	PGresult	*res;
	int		 status = HD_EXIT_OK;

	snprintf(id_text, sizeof id_text, "%" PRId64, args->ids[0]);
	params[0] = id_text;
	res = PQexecParams(cli->conn, show_sql, 1, NULL, params, NULL, NULL,
	    0);
	if (!hd_db_ok(res))
		status = report_db_error(cli->conn, res,
		    "could not read dead job");
	else if (PQntuples(res) == 0) {
		hd_cli_error("dead job %s not found", id_text);
		status = HD_EXIT_FAILURE;
	} else
		print_dead_job(res);
	PQclear(res);
	return status;
}

/* Build a bigint[] literal such as "{1,2,3}". */
static char *
id_array(const int64_t *ids, size_t nids)
{
	char	*array, *p;
	size_t	 i;

	array = hd_xmalloc(nids * 21 + 3);
	p = array;
	*p++ = '{';
	for (i = 0; i < nids; i++)
		p += sprintf(p, "%s%" PRId64, i > 0 ? "," : "", ids[i]);
	*p++ = '}';
	*p = '\0';
	return array;
}

/*
 * Report each listed id that is not in column 0 of res, once even when
 * it is listed twice, and return how many were missing.
 */
static size_t
report_missing(const PGresult *res, const struct dead_args *args)
{
	size_t	i, j, missing = 0;
	int	row;

	for (i = 0; i < args->nids; i++) {
		bool	found = false;

		for (j = 0; j < i && !found; j++)
			found = args->ids[j] == args->ids[i];
		for (row = 0; row < PQntuples(res) && !found; row++)
			found = strtoll(PQgetvalue(res, row, 0), NULL, 10) ==
			    args->ids[i];
		if (!found) {
			hd_cli_error("dead job %" PRId64 " not found",
			    args->ids[i]);
			missing++;
		}
	}
	return missing;
}

/*
 * Retry or purge the listed ids in one transaction: lock them and act on
 * them only when every one exists, so a mistyped id changes nothing.
 */
static int
act_on_ids(struct hd_cli *cli, const struct dead_args *args,
    int64_t (*action)(PGconn *, const struct hd_dead_filter *,
    struct herald_error *), int64_t *count)
{
	struct hd_dead_filter	 filter = { 0 };
	struct herald_error	 error;
	const char		*params[1];
	char			*array;
	PGresult		*res;
	int			 status = HD_EXIT_OK;

	if (hd_db_exec(cli->conn, "BEGIN", &error) == -1) {
		hd_cli_error("%s", error.message);
		return error.code == HERALD_ECONNECT ? EX_UNAVAILABLE :
		    HD_EXIT_FAILURE;
	}

	array = id_array(args->ids, args->nids);
	params[0] = array;
	res = PQexecParams(cli->conn, lock_sql, 1, NULL, params, NULL, NULL,
	    0);
	free(array);
	if (!hd_db_ok(res)) {
		status = report_db_error(cli->conn, res,
		    "could not read dead jobs");
		goto out;
	}
	if (report_missing(res, args) > 0) {
		hd_cli_error("no dead job was %s, since some were not found",
		    strcmp(args->action, "retry") == 0 ? "retried" : "purged");
		status = HD_EXIT_FAILURE;
		goto out;
	}

	filter.ids = args->ids;
	filter.nids = args->nids;
	*count = action(cli->conn, &filter, &error);
	if (*count == -1 || hd_db_exec(cli->conn, "COMMIT", &error) == -1) {
		hd_cli_error("%s", error.message);
		status = error.code == HERALD_ECONNECT ? EX_UNAVAILABLE :
		    HD_EXIT_FAILURE;
	}

out:
	PQclear(res);
	if (status != HD_EXIT_OK)
		(void)hd_db_exec(cli->conn, "ROLLBACK", NULL);
	return status;
}

static int
dead_act(struct hd_cli *cli, const struct dead_args *args)
{
	bool			 retry = strcmp(args->action, "retry") == 0;
	struct hd_dead_filter	 filter = { 0 };
	struct herald_error	 error;
	int64_t			 count;
	int			 status;

	if (args->all) {
		filter.queue = args->queue;
		filter.task = args->task;
		count = retry ? hd_dead_retry(cli->conn, &filter, &error) :
		    hd_dead_purge(cli->conn, &filter, &error);
		if (count == -1) {
			hd_cli_error("%s", error.message);
			return error.code == HERALD_ECONNECT ?
			    EX_UNAVAILABLE : HD_EXIT_FAILURE;
		}
	} else {
		status = act_on_ids(cli, args,
		    retry ? hd_dead_retry : hd_dead_purge, &count);
		if (status != HD_EXIT_OK)
			return status;
	}

	printf("%s %" PRId64 " dead job%s\n", retry ? "retried" : "purged",
	    count, count == 1 ? "" : "s");
	return HD_EXIT_OK;
}

/* Check which options and arguments the action accepts. */
static int
check_args(const struct dead_args *args)
{
	const char	*action = args->action;

	if (strcmp(action, "list") == 0) {
		if (args->nids > 0 || args->all)
			return hd_cli_usage_error("dead", usage,
			    "dead list takes no ids and no --all");
		return HD_EXIT_OK;
	}
	if (strcmp(action, "show") == 0) {
		if (args->nids != 1 || args->all || args->queue != NULL ||
		    args->task != NULL)
			return hd_cli_usage_error("dead", usage,
			    "dead show takes one id and no options");
		return HD_EXIT_OK;
	}
	if (args->nids > 0 && args->all)
		return hd_cli_usage_error("dead", usage,
		    "give ids or --all, not both");
	if (args->nids == 0 && !args->all)
		return hd_cli_usage_error("dead", usage,
		    "no dead job ids given; use --all to %s every dead job "
		    "that matches --queue and --task", action);
	if (!args->all && (args->queue != NULL || args->task != NULL))
		return hd_cli_usage_error("dead", usage,
		    "--queue and --task select dead jobs only with --all");
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
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	int				c, status, i;

	while ((c = getopt_long(argc, argv, ":q:t:n:ah", options,
	    NULL)) != -1) {
		switch (c) {
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
		case 'h':
			print_help();
			return -1;
		default:
			return hd_cli_bad_option("dead", usage, argv, c);
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

	args->ids = hd_xcalloc((size_t)(argc - optind), sizeof *args->ids);
	for (i = optind; i < argc; i++) {
		status = hd_cli_parse_id(argv[i], &args->ids[args->nids]);
		if (status != HD_EXIT_OK)
			return status;
		args->nids++;
	}
	return check_args(args);
}

int
hd_cmd_dead(struct hd_cli *cli, int argc, char **argv)
{
	struct dead_args	args = { .limit = DEAD_DEFAULT_LIMIT };
	int			status;

	status = parse_args(argc, argv, &args);
	if (status != HD_EXIT_OK) {
		free(args.ids);
		return status == -1 ? HD_EXIT_OK : status;
	}
	if ((status = hd_cli_connect(cli, true)) != HD_EXIT_OK)
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
