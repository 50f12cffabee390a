/*
 * cli.h: what the subcommands of the herald command share.
 *
 * struct hd_cli contains the global options and, once a command requests
 * them, the configuration and the job database connection; each is loaded
 * or opened at most once and freed by hd_cli_release().  The helpers that
 * report a problem print one "herald: ..." line on standard error and
 * return the exit status the command should end with, so a command writes
 * `return hd_cli_...(...)` on its error paths.
 */

#ifndef HD_CLI_H
#define HD_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sysexits.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "config.h"
#include "herald.h"

/* Exit statuses besides the sysexits (EX_DATAERR, EX_UNAVAILABLE, ...). */
#define HD_EXIT_OK	0
#define HD_EXIT_FAILURE	1
#define HD_EXIT_USAGE	2

struct hd_cli {
	const char	*config_path;	/* -c, or NULL */
	const char	*conninfo;	/* -d, or NULL */

	bool		 config_loaded;	/* hd_cli_config() ran */
	struct hd_config *config;	/* NULL when there is none */
	PGconn		*conn;
};

/* A subcommand: herald NAME ARGS, with argv[0] the command's name. */
struct hd_cli_command {
	const char	*name;
	int		(*run)(struct hd_cli *cli, int argc, char **argv);
	const char	*summary;	/* one line for "herald --help" */
};

int	hd_cmd_console(struct hd_cli *cli, int argc, char **argv);
int	hd_cmd_config(struct hd_cli *cli, int argc, char **argv);
int	hd_cmd_dead(struct hd_cli *cli, int argc, char **argv);
int	hd_cmd_enqueue(struct hd_cli *cli, int argc, char **argv);
int	hd_cmd_job(struct hd_cli *cli, int argc, char **argv);
int	hd_cmd_jobs(struct hd_cli *cli, int argc, char **argv);
int	hd_cmd_metrics(struct hd_cli *cli, int argc, char **argv);
int	hd_cmd_migrate(struct hd_cli *cli, int argc, char **argv);
int	hd_cmd_periodic(struct hd_cli *cli, int argc, char **argv);
int	hd_cmd_queue(struct hd_cli *cli, int argc, char **argv);
int	hd_cmd_relay(struct hd_cli *cli, int argc, char **argv);
int	hd_cmd_status(struct hd_cli *cli, int argc, char **argv);

void	hd_cli_release(struct hd_cli *cli);

/* Print "herald: " and the message on standard error. */
void	hd_cli_error(const char *fmt, ...)
	    __attribute__((format(printf, 1, 2)));

/*
 * Print a libherald error as "herald: what: message", or without what when
 * the message starts with it already, as those built from a server error
 * do ("could not enqueue job: permission denied ...").
 */
void	hd_cli_herald_error(const char *what, const struct herald_error *error);

/*
 * Report a usage error of command: the message, usage (the command's
 * usage line) and a pointer to its --help.  Return HD_EXIT_USAGE.
 */
int	hd_cli_usage_error(const char *command, const char *usage,
	    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/*
 * Report getopt_long's result c, '?' (an unrecognized, ambiguous or
 * misused option) or ':' (a missing argument; the option string must
 * start with ':').  options is the table given to getopt_long.  Return
 * HD_EXIT_USAGE.
 */
struct option;
int	hd_cli_bad_option(const char *command, const char *usage,
	    const struct option *options, char **argv, int c);

/*
 * Check the --queue and --task of a filter that matched no job.  Name
 * each that the configuration lacks, since it may be misspelt, as in
 * "no dead job matched" for what "dead job", and return EX_DATAERR.
 * The configuration is read here when -d spared it so far.  Otherwise
 * return HD_EXIT_OK.
 */
int	hd_cli_check_filter(struct hd_cli *cli, const char *what,
	    const char *queue, const char *task);

/*
 * Load the configuration: the -c file or $HERALD_CONFIG, which must load,
 * else the default file when it exists.  Store it (NULL when there is
 * none) in *config and return 0, or print the error and return EX_CONFIG.
 */
int	hd_cli_config(struct hd_cli *cli, const struct hd_config **config);

/*
 * Check the connection string given with -d as the configuration's are
 * checked, so that a value libpq rejects only when it connects is bad
 * data and not an unavailable database.  A bare database name passes.
 * Return 0, or print the error and return EX_DATAERR.
 */
int	hd_cli_check_dbname(const char *conninfo);

/*
 * Open the job database connection, once: -d, else the configuration's
 * job_db, else an empty conninfo so that libpq reads the PG* variables.
 * With check_schema, also check that the schema is current.  Return 0,
 * or print the error and return the exit status.
 */
int	hd_cli_connect(struct hd_cli *cli, bool check_schema);

/*
 * As hd_cli_connect() without the schema check, except that a server
 * that is down, starting or stopping sets *down and returns
 * EX_UNAVAILABLE with nothing printed, for a caller that can wait for it.
 */
int	hd_cli_connect_or_down(struct hd_cli *cli, bool *down);

/*
 * Print the error of a failed connection or schema check, with a hint
 * when the role was denied, and return the exit status.
 */
int	hd_cli_connect_failed(const struct herald_error *error);

/*
 * Begin a read-only transaction whose queries all see one snapshot and
 * one now(), so that the tables of a report agree with each other.
 * Return 0, or print the error and return the exit status.
 */
int	hd_cli_begin_snapshot(struct hd_cli *cli);

/*
 * Run sql, a query of a read-only listing, with its nparams text params.
 * When the server rejects it for lack of privilege, as it rejects
 * herald_viewer's reads of payloads, run it again on the redacted views
 * (hd_db_redact_sql()), as herald console does, and set *redacted.
 * Return the last result, which the caller checks and clears.
 */
PGresult *hd_cli_exec_redactable(PGconn *conn, const char *sql, int nparams,
	    const char *const *params, bool *redacted);

/*
 * Parse text, the value of option, as a whole number from min to max.
 * Return 0, or print an error naming the option and the range and return
 * EX_DATAERR.
 */
int	hd_cli_parse_int(const char *option, const char *text, long min,
	    long max, long *value);

/*
 * confirm.c: the job count above which a bulk action needs confirming
 * (the configuration's confirm_over, else the default), and the check
 * itself.  hd_cli_confirm_bulk() returns 0 when the action over count
 * rows may go ahead: yes is set, count is within the limit, or the
 * operator typed the count on a terminal.  Otherwise it prints why, with
 * what ("dead retry") as its subject, and returns HD_EXIT_FAILURE.
 */
int64_t	hd_cli_confirm_over(const struct hd_cli *cli);
int	hd_cli_confirm_bulk(const struct hd_cli *cli, const char *what,
	    int64_t count, bool yes);

/*
 * health.c: the queue-health signals (herald.queue_health(),
 * herald.database_health() and HD_SQL_TABLE_HEALTH) for herald status
 * and herald metrics.  hd_health_fetch() runs the three queries and
 * returns 0, or -1 with error filled; hd_health_release() frees the
 * results.  hd_health_metrics() also gives each queue of config (which
 * may be NULL) that has no row its zeros.
 */
struct hd_health {
	PGresult	*queues;
	PGresult	*database;	/* one row */
	PGresult	*tables;	/* one row per job table */
};

int	hd_health_fetch(PGconn *conn, struct hd_health *health,
	    struct herald_error *error);
void	hd_health_print(const struct hd_health *health);
json_t	*hd_health_json(const struct hd_health *health);
void	hd_health_metrics(const struct hd_health *health,
	    const struct hd_config *config);
void	hd_health_release(struct hd_health *health);

/* Return one when count, a number as text, is "1", else many. */
const char *hd_cli_plural(const char *count, const char *one,
	    const char *many);

/* Parse a job id (a positive whole number); 0 or EX_DATAERR. */
int	hd_cli_parse_id(const char *text, int64_t *id);

/*
 * Format a time relative to now, given as ms from now to it, as "in 40s",
 * "12s ago" or "now" (within a second).
 */
void	hd_cli_format_relative(int64_t delta_ms, char *buf, size_t size);

/*
 * A table printed as aligned plain text: a header row, then the rows,
 * columns separated by two spaces.  Cells are appended left to right,
 * row by row; the table owns copies of them.
 */
struct hd_table {
	size_t		  ncols;
	const char	**headers;
	const char	 *align;	/* per column: 'l' or 'r' */
	char		**cells;
	size_t		  ncells;
	size_t		  cap;
};

void	hd_table_init(struct hd_table *table, size_t ncols,
	    const char **headers, const char *align);
void	hd_table_cell(struct hd_table *table, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
size_t	hd_table_rows(const struct hd_table *table);
void	hd_table_print(const struct hd_table *table, FILE *out);
void	hd_table_release(struct hd_table *table);

/*
 * --json output.  hd_cli_json_print() prints json indented, with a
 * newline, and releases it.  The others return the value of a column as
 * a new JSON value, null for SQL NULL: a number, a string or a boolean.
 */
void	hd_cli_json_print(json_t *json);
/* The kind of JSON value that a column becomes. */
enum hd_cli_json_kind {
	HD_JSON_INT,		/* a number */
	HD_JSON_TEXT,		/* a string */
	HD_JSON_RAW		/* PostgreSQL's text of a jsonb value, as it is */
};

/* A member of a JSON object and the column it comes from. */
struct hd_cli_json_column {
	const char		*key;
	int			 col;
	enum hd_cli_json_kind	 kind;
};

/*
 * Print the first row of res as one JSON object of the n columns, as
 * hd_cli_json_print() does, null for SQL NULL.  An HD_JSON_RAW column is
 * written as it is, so its numbers are not read as doubles by jansson.
 */
void	hd_cli_json_print_row(const PGresult *res,
	    const struct hd_cli_json_column *columns, size_t n);
json_t	*hd_cli_json_int(const PGresult *res, int row, int col);
json_t	*hd_cli_json_text(const PGresult *res, int row, int col);
json_t	*hd_cli_json_bool(const PGresult *res, int row, int col);

/*
 * Print error, and when the database denied a privilege (42501), which
 * role the actions of herald dead, job and queue need.
 */
void	hd_cli_action_error(const struct herald_error *error);
/*
 * Replace each control character of text with '?', in place, and return
 * text.  So a name read from the database or typed by the user cannot
 * send escape sequences to the terminal.
 */
char	*hd_cli_printable(char *text);
/* Print error of a read, with the role to grant when it was denied. */
void	hd_cli_read_error(const struct herald_error *error);

/* ids as a bigint[] literal such as "{4,7}", malloc'ed. */
char	*hd_cli_id_array(const int64_t *ids, size_t nids);

/*
 * An index of job ids for commands given many ids: each id with its
 * position, sorted so that a lookup costs O(log n).  A command checks
 * each id it was given against the rows the database returned, and
 * looping over the rows for each id took 10 s of CPU for 20000 ids.
 */
struct hd_id_index {
	struct hd_id_position	*entries;
	size_t			 n;
};

/* Index ids, positions counted from 0. */
void	hd_id_index_ids(struct hd_id_index *index, const int64_t *ids,
	    size_t nids);
/* Index the ids of column col of res, each at its row. */
void	hd_id_index_rows(struct hd_id_index *index, const PGresult *res,
	    int col);
/* Return the first position of id, or -1 when it is not indexed. */
long	hd_id_index_find(const struct hd_id_index *index, int64_t id);
void	hd_id_index_release(struct hd_id_index *index);

/*
 * The rows that one query finds for many ids, indexed by the id in their
 * column 0, so that a command reports each missing id without a query of
 * its own.
 */
struct hd_id_lookup {
	PGresult		*res;
	struct hd_id_index	 rows;
};

/*
 * Run sql, whose $1 is the bigint[] of ids, and index its rows.  A query
 * that fails finds no row.
 */
void	hd_id_lookup_run(struct hd_cli *cli, struct hd_id_lookup *lookup,
	    const char *sql, const int64_t *ids, size_t nids);
/* Return the row of id in lookup->res, or -1. */
long	hd_id_lookup_find(const struct hd_id_lookup *lookup, int64_t id);
void	hd_id_lookup_release(struct hd_id_lookup *lookup);

/* show.c: printing one job for herald dead show and herald job show. */

/* Format how an attempt ended: "exit 75", "signal 9", "timeout". */
void	hd_cli_format_end(const char *outcome, const char *exit_code,
	    const char *signal, char *buf, size_t size);
/*
 * Print text with each line indented, replacing control characters other
 * than tab, so that handler output cannot send escape sequences to the
 * terminal.
 */
void	hd_cli_print_indented(const char *text, const char *indent);
/* Print a job's history, the JSON array errors, one entry a line. */
void	hd_cli_print_history(const char *errors);
/*
 * Print "attempts:" with those since the last retry from the dead-letter
 * queue, which max_attempts limits, and after a retry all of them.
 */
void	hd_cli_print_attempts(const char *attempt, const char *max_attempts,
	    const char *errors);
/* Print "name: when (3m ago)", delta_ms counting from now. */
void	hd_cli_print_time(const char *name, const char *when,
	    const char *delta_ms);

#endif /* HD_CLI_H */
