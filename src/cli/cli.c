/*
 * cli.c: configuration, connection, number parsing and table output
 * shared by the herald subcommands.
 */

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "conninfo.h"
#include "db.h"
#include "migrate.h"
#include "util.h"

/*
 * The cancel handle of the job database connection.  Without it, a
 * SIGINT, SIGTERM or SIGHUP (an ssh session that drops) ends herald while
 * the server goes on with the statement, and keeps its locks, until the
 * statement ends.
 */
static PGcancel *volatile cli_cancel;
static const int	 cli_stop_signals[] = { SIGINT, SIGTERM, SIGHUP };

/* Cancel the running statement, then end as the signal would have. */
static void
cli_on_stop(int signo)
{
	struct sigaction	sa;
	char			errbuf[256];

	if (cli_cancel != NULL)
		(void)PQcancel(cli_cancel, errbuf, sizeof errbuf);
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = SIG_DFL;
	sigemptyset(&sa.sa_mask);
	sigaction(signo, &sa, NULL);
	raise(signo);
}

/* Free the cancel handle with the stop signals blocked. */
static void
cli_release_cancel(void)
{
	sigset_t	block, old;
	PGcancel	*cancel;
	size_t		 i;

	if (cli_cancel == NULL)
		return;
	sigemptyset(&block);
	for (i = 0; i < sizeof cli_stop_signals / sizeof cli_stop_signals[0];
	    i++)
		sigaddset(&block, cli_stop_signals[i]);
	sigprocmask(SIG_BLOCK, &block, &old);
	cancel = cli_cancel;
	cli_cancel = NULL;
	sigprocmask(SIG_SETMASK, &old, NULL);
	PQfreeCancel(cancel);
}

/*
 * Cancel the statements of conn on SIGINT, SIGTERM and SIGHUP, except a
 * signal that herald was started to ignore, as a shell's background job
 * ignores SIGINT and nohup SIGHUP.
 */
static void
cli_catch_stop(PGconn *conn)
{
	struct sigaction	sa, old;
	size_t			i;

	/* A second connection, as the console's, replaces the first's. */
	cli_release_cancel();
	cli_cancel = PQgetCancel(conn);
	if (cli_cancel == NULL)
		return;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = cli_on_stop;
	sigemptyset(&sa.sa_mask);
	for (i = 0; i < sizeof cli_stop_signals / sizeof cli_stop_signals[0];
	    i++) {
		if (sigaction(cli_stop_signals[i], NULL, &old) == 0 &&
		    old.sa_handler != SIG_IGN)
			sigaction(cli_stop_signals[i], &sa, NULL);
	}
}

void
hd_cli_release(struct hd_cli *cli)
{
	cli_release_cancel();
	PQfinish(cli->conn);
	cli->conn = NULL;
	hd_config_free(cli->config);
	cli->config = NULL;
	cli->config_loaded = false;
}

void
hd_cli_error(const char *fmt, ...)
{
	va_list	ap;

	fputs("herald: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

void
hd_cli_herald_error(const char *what, const struct herald_error *error)
{
	size_t	len = strlen(what);

	if (strncmp(error->message, what, len) == 0 &&
	    error->message[len] == ':')
		hd_cli_error("%s", error->message);
	else
		hd_cli_error("%s: %s", what, error->message);
}

int
hd_cli_usage_error(const char *command, const char *usage,
    const char *fmt, ...)
{
	va_list	ap;

	fputs("herald: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (usage != NULL)
		fprintf(stderr, "usage: %s\n", usage);
	if (command != NULL)
		fprintf(stderr, "Try \"herald %s --help\".\n", command);
	else
		fprintf(stderr, "Try \"herald --help\".\n");
	return HD_EXIT_USAGE;
}

/*
 * Return the argument placeholder of the global option name, as written
 * ("-c" or "--config"), or NULL when it is not a global option that a
 * command's arguments may carry by mistake.
 */
static const char *
global_option_argument(const char *name)
{
	static const struct {
		const char	*short_name;
		const char	*long_name;
		const char	*argument;
	} globals[] = {
		{ "-c", "--config", " FILE" },
		{ "-d", "--dbname", " CONNINFO" },
	};
	size_t	i;

	for (i = 0; i < sizeof globals / sizeof globals[0]; i++)
		if (strcmp(name, globals[i].short_name) == 0 ||
		    strcmp(name, globals[i].long_name) == 0)
			return globals[i].argument;
	return NULL;
}

int
hd_cli_bad_option(const char *command, const char *usage,
    const struct option *options, char **argv, int c)
{
	const char	*argument;
	char		 name[64], message[512];

	/* herald stops reading its own options at the command's name. */
	if (hd_option_error(options, argv, c, name, sizeof name, message,
	    sizeof message) && command != NULL &&
	    (argument = global_option_argument(name)) != NULL)
		return hd_cli_usage_error(command, usage,
		    "unrecognized option \"%s\" for %s; global options go "
		    "before the command, as in \"herald %s%s %s\"", name,
		    command, name, argument, command);
	return hd_cli_usage_error(command, usage, "%s", message);
}

int
hd_cli_config(struct hd_cli *cli, const struct hd_config **config)
{
	const char	*path;
	const char	*env = getenv("HERALD_CONFIG");
	bool		 chosen;
	char		 error[HD_CONFIG_ERROR_MAX];

	if (cli->config_loaded) {
		*config = cli->config;
		return HD_EXIT_OK;
	}

	/*
	 * A file named with -c or HERALD_CONFIG must exist; the default one
	 * is optional, so that -d or the PG* variables work without it.
	 */
	chosen = cli->config_path != NULL || (env != NULL && env[0] != '\0');
	path = hd_config_default_path(cli->config_path);
	if (!chosen && access(path, F_OK) == -1 && errno == ENOENT) {
		cli->config_loaded = true;
		*config = NULL;
		return HD_EXIT_OK;
	}

	cli->config = hd_config_load(path, error, sizeof error);
	if (cli->config == NULL) {
		hd_cli_error("%s", error);
		return EX_CONFIG;
	}
	cli->config_loaded = true;
	*config = cli->config;
	return HD_EXIT_OK;
}

static int
exit_status_of(const struct herald_error *error)
{
	switch (error->code) {
	case HERALD_ECONNECT:
		return EX_UNAVAILABLE;
	case HERALD_EINVAL:
		return EX_DATAERR;
	case HERALD_ESCHEMA:
		/* As heraldd: the job database is not set up for this build. */
		return EX_CONFIG;
	default:
		return HD_EXIT_FAILURE;
	}
}

int
hd_cli_check_dbname(const char *conninfo)
{
	char	reason[160];

	if (strncmp(conninfo, "postgres://", 11) != 0 &&
	    strncmp(conninfo, "postgresql://", 13) != 0 &&
	    strchr(conninfo, '=') == NULL)
		return HD_EXIT_OK;
	if (hd_conninfo_parses(conninfo, reason, sizeof reason))
		return HD_EXIT_OK;
	hd_cli_error("invalid connection string given with -d: %s (see "
	    "\"Connection Strings\" in the PostgreSQL manual)",
	    reason[0] != '\0' ? reason : "libpq cannot parse it");
	return EX_DATAERR;
}

int
hd_cli_connect_failed(const struct herald_error *error)
{
	if (error->code == HERALD_ECONNECT) {
		hd_cli_error("could not connect to job database: %s",
		    error->message);
		return EX_UNAVAILABLE;
	}
	hd_cli_error("%s", error->message);
	if (strcmp(error->sqlstate, HD_SQLSTATE_DENIED) == 0)
		hd_cli_error("hint: this role has none of herald's roles; "
		    "grant it herald_viewer to read, herald_console to act on "
		    "jobs and queues, or herald_producer to enqueue (see "
		    "security.md of herald's documentation)");
	return exit_status_of(error);
}

static int
cli_connect(struct hd_cli *cli, bool check_schema, bool *down)
{
	const struct hd_config	*config = NULL;
	struct herald_error	 error;
	const char		*conninfo = cli->conninfo;
	int			 status;

	if (cli->conn != NULL)
		return HD_EXIT_OK;

	if (conninfo == NULL) {
		if ((status = hd_cli_config(cli, &config)) != HD_EXIT_OK)
			return status;
		conninfo = config != NULL ? config->job_db : "";
	} else if ((status = hd_cli_check_dbname(conninfo)) != HD_EXIT_OK)
		return status;

	/* The conninfo is never printed, since it may hold a password. */
	cli->conn = hd_db_connect(conninfo, "herald", &error);
	/*
	 * Without a file or -d, libpq's defaults were only a guess, and
	 * waiting for them would hide the hint below.
	 */
	if (cli->conn == NULL && down != NULL &&
	    !hd_db_connect_lasting(&error) &&
	    (cli->conninfo != NULL || config != NULL)) {
		*down = true;
		return EX_UNAVAILABLE;
	}
	if (cli->conn == NULL) {
		hd_cli_error("could not connect to job database: %s",
		    error.message);
		/* Without a file or -d, libpq's defaults were only a guess. */
		if (cli->conninfo == NULL && config == NULL)
			hd_cli_error("hint: no configuration file was found, so "
			    "libpq's defaults and PG* variables were used; give "
			    "-c FILE, HERALD_CONFIG or -d CONNINFO");
		return EX_UNAVAILABLE;
	}

	cli_catch_stop(cli->conn);

	if (check_schema && hd_schema_check(cli->conn, HD_SCHEMA_JOB,
	    &error) == -1)
		return hd_cli_connect_failed(&error);
	return HD_EXIT_OK;
}

int
hd_cli_connect(struct hd_cli *cli, bool check_schema)
{
	return cli_connect(cli, check_schema, NULL);
}

int
hd_cli_connect_or_down(struct hd_cli *cli, bool *down)
{
	*down = false;
	return cli_connect(cli, false, down);
}

int
hd_cli_begin_snapshot(struct hd_cli *cli)
{
	struct herald_error	error;

	if (hd_db_exec(cli->conn, "BEGIN ISOLATION LEVEL REPEATABLE READ,"
	    " READ ONLY", &error) == -1) {
		hd_cli_error("%s", error.message);
		return exit_status_of(&error);
	}
	return HD_EXIT_OK;
}

PGresult *
hd_cli_exec_redactable(PGconn *conn, const char *sql, int nparams,
    const char *const *params, bool *redacted)
{
	PGresult	*res;
	const char	*sqlstate;
	char		*redacted_sql;

	*redacted = false;
	res = PQexecParams(conn, sql, nparams, NULL, params, NULL, NULL, 0);
	if (hd_db_ok(res))
		return res;
	sqlstate = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	if (sqlstate == NULL || strcmp(sqlstate, HD_SQLSTATE_DENIED) != 0)
		return res;

	PQclear(res);
	redacted_sql = hd_db_redact_sql(sql);
	res = PQexecParams(conn, redacted_sql, nparams, NULL, params, NULL,
	    NULL, 0);
	free(redacted_sql);
	*redacted = true;
	return res;
}

int
hd_cli_parse_int(const char *option, const char *text, long min, long max,
    long *value)
{
	char	*end;
	long	 v;

	errno = 0;
	v = strtol(text, &end, 10);
	if (end == text || *end != '\0' || text[0] == ' ' ||
	    text[0] == '\t') {
		hd_cli_error("invalid value \"%s\" for %s: not a whole number",
		    text, option);
		return EX_DATAERR;
	}
	if (errno == ERANGE || v < min || v > max) {
		hd_cli_error("value \"%s\" for %s is out of range: use %ld to "
		    "%ld", text, option, min, max);
		return EX_DATAERR;
	}
	*value = v;
	return HD_EXIT_OK;
}

int
hd_cli_parse_id(const char *text, int64_t *id)
{
	char		*end;
	long long	 v;

	errno = 0;
	v = strtoll(text, &end, 10);
	if (end != text && *end == '\0' && text[0] >= '0' && text[0] <= '9' &&
	    errno == ERANGE) {
		hd_cli_error("invalid job id \"%s\": out of range; ids go up "
		    "to %lld", text, LLONG_MAX);
		return EX_DATAERR;
	}
	if (end == text || *end != '\0' || text[0] < '0' || text[0] > '9' ||
	    errno == ERANGE || v <= 0) {
		hd_cli_error("invalid job id \"%s\": use a positive whole "
		    "number", text);
		return EX_DATAERR;
	}
	*id = v;
	return HD_EXIT_OK;
}

const char *
hd_cli_plural(const char *count, const char *one, const char *many)
{
	return strcmp(count, "1") == 0 ? one : many;
}

void
hd_cli_format_relative(int64_t delta_ms, char *buf, size_t size)
{
	char	duration[32];

	if (delta_ms > -1000 && delta_ms < 1000) {
		snprintf(buf, size, "now");
		return;
	}
	hd_format_duration(delta_ms < 0 ? -delta_ms : delta_ms, duration,
	    sizeof duration);
	if (delta_ms > 0)
		snprintf(buf, size, "in %s", duration);
	else
		snprintf(buf, size, "%s ago", duration);
}

void
hd_table_init(struct hd_table *table, size_t ncols, const char **headers,
    const char *align)
{
	memset(table, 0, sizeof *table);
	table->ncols = ncols;
	table->headers = headers;
	table->align = align;
}

char *
hd_cli_printable(char *text)
{
	unsigned char	*p;

	for (p = (unsigned char *)text; *p != '\0'; p++)
		if (*p < 0x20 || *p == 0x7f)
			*p = '?';
	return text;
}

void
hd_table_cell(struct hd_table *table, const char *fmt, ...)
{
	va_list	 ap;
	char	*cell;
	int	 len;

	va_start(ap, fmt);
	len = vasprintf(&cell, fmt, ap);
	va_end(ap);
	if (len < 0)
		cell = hd_xstrdup("");
	hd_cli_printable(cell);

	if (table->ncells == table->cap) {
		table->cap = table->cap == 0 ? 64 : table->cap * 2;
		table->cells = hd_xrealloc(table->cells, table->cap,
		    sizeof *table->cells);
	}
	table->cells[table->ncells++] = cell;
}

size_t
hd_table_rows(const struct hd_table *table)
{
	return table->ncells / table->ncols;
}

static void
print_row(const struct hd_table *table, const char *const *row,
    const size_t *widths, FILE *out)
{
	size_t	col;

	for (col = 0; col < table->ncols; col++) {
		int	 width = (int)widths[col];
		bool	 last = col + 1 == table->ncols;

		if (col > 0)
			fputs("  ", out);
		if (table->align[col] == 'r')
			fprintf(out, "%*s", width, row[col]);
		else if (last)
			fputs(row[col], out);
		else
			fprintf(out, "%-*s", width, row[col]);
	}
	fputc('\n', out);
}

void
hd_table_print(const struct hd_table *table, FILE *out)
{
	size_t	*widths;
	size_t	 row, col, nrows = hd_table_rows(table);

	widths = hd_xcalloc(table->ncols, sizeof *widths);
	for (col = 0; col < table->ncols; col++)
		widths[col] = strlen(table->headers[col]);
	for (row = 0; row < nrows; row++)
		for (col = 0; col < table->ncols; col++) {
			size_t	len = strlen(table->cells[row * table->ncols +
			    col]);

			if (len > widths[col])
				widths[col] = len;
		}

	print_row(table, table->headers, widths, out);
	for (row = 0; row < nrows; row++)
		print_row(table, (const char *const *)table->cells +
		    row * table->ncols, widths, out);
	free(widths);
}

void
hd_table_release(struct hd_table *table)
{
	size_t	i;

	for (i = 0; i < table->ncells; i++)
		free(table->cells[i]);
	free(table->cells);
	memset(table, 0, sizeof *table);
}

void
hd_cli_action_error(const struct herald_error *error)
{
	hd_cli_error("%s", error->message);
	if (strcmp(error->sqlstate, HD_SQLSTATE_DENIED) == 0)
		hd_cli_error("this role may not act on jobs or queues: grant "
		    "it herald_console (see security.md of herald's "
		    "documentation)");
}

void
hd_cli_read_error(const struct herald_error *error)
{
	hd_cli_error("%s", error->message);
	if (strcmp(error->sqlstate, HD_SQLSTATE_DENIED) == 0)
		hd_cli_error("this role may not read jobs: grant it "
		    "herald_viewer, or herald_console to act on them too (see "
		    "security.md of herald's documentation)");
}

char *
hd_cli_id_array(const int64_t *ids, size_t nids)
{
	char	*array, *p;
	size_t	 i;

	/* 20 characters for a bigint and its sign, 1 for the comma. */
	array = hd_xmalloc(nids * 21 + 3);
	p = array;
	*p++ = '{';
	for (i = 0; i < nids; i++)
		p += sprintf(p, "%s%" PRId64, i > 0 ? "," : "", ids[i]);
	*p++ = '}';
	*p = '\0';
	return array;
}

struct hd_id_position {
	int64_t	id;
	long	position;
};

static int
id_position_cmp(const void *a, const void *b)
{
	const struct hd_id_position	*x = a, *y = b;

	if (x->id != y->id)
		return x->id < y->id ? -1 : 1;
	if (x->position != y->position)
		return x->position < y->position ? -1 : 1;
	return 0;
}

void
hd_id_index_ids(struct hd_id_index *index, const int64_t *ids, size_t nids)
{
	size_t	i;

	index->entries = hd_xcalloc(nids > 0 ? nids : 1,
	    sizeof *index->entries);
	index->n = nids;
	for (i = 0; i < nids; i++) {
		index->entries[i].id = ids[i];
		index->entries[i].position = (long)i;
	}
	qsort(index->entries, index->n, sizeof *index->entries,
	    id_position_cmp);
}

void
hd_id_index_rows(struct hd_id_index *index, const PGresult *res, int col)
{
	int	row, nrows = PQntuples(res);

	index->entries = hd_xcalloc(nrows > 0 ? (size_t)nrows : 1,
	    sizeof *index->entries);
	index->n = (size_t)nrows;
	for (row = 0; row < nrows; row++) {
		index->entries[row].id = strtoll(PQgetvalue(res, row, col),
		    NULL, 10);
		index->entries[row].position = row;
	}
	qsort(index->entries, index->n, sizeof *index->entries,
	    id_position_cmp);
}

long
hd_id_index_find(const struct hd_id_index *index, int64_t id)
{
	size_t	lo = 0, hi = index->n, mid;

	/* The first entry whose id is not below id. */
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (index->entries[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == index->n || index->entries[lo].id != id)
		return -1;
	return index->entries[lo].position;
}

void
hd_id_index_release(struct hd_id_index *index)
{
	free(index->entries);
	index->entries = NULL;
	index->n = 0;
}

void
hd_id_lookup_run(struct hd_cli *cli, struct hd_id_lookup *lookup,
    const char *sql, const int64_t *ids, size_t nids)
{
	const char	*params[1];
	char		*array;
	bool		 redacted;

	array = hd_cli_id_array(ids, nids);
	params[0] = array;
	lookup->res = hd_cli_exec_redactable(cli->conn, sql, 1, params,
	    &redacted);
	free(array);
	if (!hd_db_ok(lookup->res)) {
		PQclear(lookup->res);
		lookup->res = NULL;
	}
	hd_id_index_rows(&lookup->rows, lookup->res, 0);
}

long
hd_id_lookup_find(const struct hd_id_lookup *lookup, int64_t id)
{
	return hd_id_index_find(&lookup->rows, id);
}

void
hd_id_lookup_release(struct hd_id_lookup *lookup)
{
	hd_id_index_release(&lookup->rows);
	PQclear(lookup->res);
	lookup->res = NULL;
}

int
hd_cli_check_filter(struct hd_cli *cli, const char *what,
    const char *queue, const char *task)
{
	const struct hd_config	*config;
	int			 status;

	if ((status = hd_cli_config(cli, &config)) != HD_EXIT_OK)
		return status;
	if (config == NULL)
		return HD_EXIT_OK;
	if (queue != NULL && hd_config_queue(cli->config, queue) == NULL) {
		hd_cli_error("no %s matched, and the configuration has no "
		    "queue \"%s\"", what, queue);
		status = EX_DATAERR;
	}
	if (task != NULL && hd_config_task(cli->config, task) == NULL) {
		hd_cli_error("no %s matched, and the configuration has no "
		    "task \"%s\"", what, task);
		status = EX_DATAERR;
	}
	return status;
}
