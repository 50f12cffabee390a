/*
 * cmd_config.c: herald config, the effective configuration with the
 * source of each value.
 *
 * The output is itself a valid herald.conf: every setting with its value,
 * defaults included, and a comment naming where the value came from (a
 * line of the file, or the default).  Connection strings are shown
 * without passwords.  A closing comment block shows the job database
 * connection that herald itself would open, with the source of each
 * parameter (the connection string, a PG* environment variable, or
 * libpq's default).
 */

#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libconfig.h>
#include <libpq-fe.h>

#include "cli.h"
#include "conninfo.h"
#include "util.h"

static const char usage[] = "herald config [--names=KIND]";

/* Column at which the source comment of a setting starts. */
#define SOURCE_COLUMN	40

static void
print_help(void)
{
	printf("herald config prints the effective configuration: every "
	    "setting, defaults\nincluded, with the line of the file it came "
	    "from, or \"default\".\nPasswords in connection strings are "
	    "replaced by %s.\n\n"
	    "Usage: %s\n\n"
	    "Options:\n"
	    "  -n, --names=KIND  print only the names of the configured "
	    "queues, tasks or\n"
	    "                    events (KIND), one a line\n"
	    "  -h, --help        print this help and exit\n\n"
	    "The file is the one of -c, else $HERALD_CONFIG, else\n%s.\n",
	    HD_CONNINFO_MASK, usage, SYSCONFDIR "/herald.conf");
}

/* The file as libconfig parsed it, to find the line of each setting. */
struct config_out {
	config_t	 cfg;
	int		 depth;
	char		 path[256];	/* of the current group */
};

/* Return where setting name of the current group came from. */
static const char *
source_of(struct config_out *o, const char *name, char *buf, size_t size)
{
	const config_setting_t	*s;
	char			 path[512];

	snprintf(path, sizeof path, "%s%s%s", o->path,
	    o->path[0] != '\0' ? "." : "", name);
	s = config_lookup(&o->cfg, path);
	if (s == NULL)
		return "default";
	snprintf(buf, size, "line %u", config_setting_source_line(s));
	return buf;
}

/* Print one line, indented, with the source comment when not NULL. */
static void __attribute__((format(printf, 3, 4)))
emit(struct config_out *o, const char *source, const char *fmt, ...)
{
	va_list	ap;
	int	len;

	len = printf("%*s", o->depth * 2, "");
	va_start(ap, fmt);
	len += vprintf(fmt, ap);
	va_end(ap);
	if (source != NULL)
		printf("%*s# %s", len < SOURCE_COLUMN ? SOURCE_COLUMN - len : 1,
		    "", source);
	putchar('\n');
}

/*
 * Return text as a libconfig string literal, escaped, in memory the
 * caller frees.  The literal has no length limit, so that a long payload
 * or exec argument is printed whole.
 */
static char *
quote(const char *text)
{
	char	*buf;
	size_t	 n = 0;

	/* Each byte takes at most 4 ("\x1f"), plus the quotes and NUL. */
	buf = hd_xmalloc(strlen(text) * 4 + 3);
	buf[n++] = '"';
	for (; *text != '\0'; text++) {
		if (*text == '"' || *text == '\\') {
			buf[n++] = '\\';
			buf[n++] = *text;
		} else if ((unsigned char)*text < 0x20) {
			n += (size_t)sprintf(buf + n, "\\x%02x",
			    (unsigned char)*text);
		} else
			buf[n++] = *text;
	}
	buf[n++] = '"';
	buf[n] = '\0';
	return buf;
}

/* Format ms in the largest unit that keeps it whole: "30s", "250ms". */
static void
format_duration(int64_t ms, char *buf, size_t size)
{
	static const struct {
		int64_t		 ms;
		const char	*unit;
	} units[] = {
		{ 24 * 3600 * 1000, "d" }, { 3600 * 1000, "h" },
		{ 60 * 1000, "m" }, { 1000, "s" }
	};
	size_t	i;

	for (i = 0; i < sizeof units / sizeof units[0]; i++)
		if (ms % units[i].ms == 0) {
			snprintf(buf, size, "\"%" PRId64 "%s\"",
			    ms / units[i].ms, units[i].unit);
			return;
		}
	snprintf(buf, size, "\"%" PRId64 "ms\"", ms);
}

/* Format bytes as "512MB" when a unit keeps it whole, else a number. */
static void
format_size(int64_t bytes, char *buf, size_t size)
{
	if (bytes > 0 && bytes % (1024 * 1024 * 1024) == 0)
		snprintf(buf, size, "\"%" PRId64 "GB\"",
		    bytes / (1024 * 1024 * 1024));
	else if (bytes > 0 && bytes % (1024 * 1024) == 0)
		snprintf(buf, size, "\"%" PRId64 "MB\"", bytes / (1024 * 1024));
	else if (bytes > 0 && bytes % 1024 == 0)
		snprintf(buf, size, "\"%" PRId64 "kB\"", bytes / 1024);
	else
		snprintf(buf, size, "%" PRId64, bytes);
}

/*
 * Format a float so that libconfig reads it back as a float of the same
 * value: a whole number in full ("1000000.0", not "1e+06"), others with
 * the significant digits they need, and a "." or an exponent.
 */
static void
format_float(double value, char *buf, size_t size)
{
	hd_format_double(value, buf, size);
	if (strpbrk(buf, ".e") == NULL && strlen(buf) + 2 < size)
		strcat(buf, ".0");
}

static void
emit_string(struct config_out *o, const char *name, const char *value)
{
	char	*text, where[32];

	text = quote(value);
	emit(o, source_of(o, name, where, sizeof where), "%s = %s;", name,
	    text);
	free(text);
}

static void
emit_duration(struct config_out *o, const char *name, int64_t ms)
{
	char	text[48], where[32];

	format_duration(ms, text, sizeof text);
	emit(o, source_of(o, name, where, sizeof where), "%s = %s;", name,
	    text);
}

static void
emit_int(struct config_out *o, const char *name, int64_t value)
{
	char	where[32];

	emit(o, source_of(o, name, where, sizeof where), "%s = %" PRId64 ";",
	    name, value);
}

static void
emit_float(struct config_out *o, const char *name, double value)
{
	char	text[48], where[32];

	format_float(value, text, sizeof text);
	emit(o, source_of(o, name, where, sizeof where), "%s = %s;", name,
	    text);
}

/* Print a list of strings, such as an exec vector or an event's tasks. */
static void
emit_list(struct config_out *o, const char *name, char *const *items,
    size_t n)
{
	char	*text, where[32];
	size_t	 i;

	emit(o, source_of(o, name, where, sizeof where), "%s = [", name);
	o->depth++;
	for (i = 0; i < n; i++) {
		text = quote(items[i]);
		emit(o, NULL, "%s%s", text, i + 1 < n ? "," : "");
		free(text);
	}
	o->depth--;
	emit(o, NULL, "];");
}

/* Open group name, so that the settings inside look up their lines. */
static void
group_open(struct config_out *o, const char *name)
{
	char	where[32];
	size_t	len = strlen(o->path);

	emit(o, source_of(o, name, where, sizeof where), "%s = {", name);
	snprintf(o->path + len, sizeof o->path - len, "%s%s",
	    len > 0 ? "." : "", name);
	o->depth++;
}

static void
group_close(struct config_out *o)
{
	char	*dot = strrchr(o->path, '.');

	if (dot != NULL)
		*dot = '\0';
	else
		o->path[0] = '\0';
	o->depth--;
	emit(o, NULL, "};");
}

static void
emit_conninfo(struct config_out *o, const char *name, const char *conninfo)
{
	char	*masked = hd_conninfo_mask(conninfo);
	char	 where[64];

	if (masked != NULL) {
		emit_string(o, name, masked);
		free(masked);
		return;
	}
	source_of(o, name, where, sizeof where);
	strncat(where, ": not a valid connection string, not shown",
	    sizeof where - strlen(where) - 1);
	emit(o, where, "%s = \"\";", name);
}

/*
 * Open the group of a queue, task or periodic entry, with its name
 * setting when the herald name is not the setting's own.
 */
static void
named_open(struct config_out *o, const char *setting, const char *name)
{
	group_open(o, setting);
	if (strcmp(setting, name) != 0)
		emit_string(o, "name", name);
}

static void
emit_queue(struct config_out *o, const struct hd_queue_config *q)
{
	char	text[48], where[32];

	named_open(o, q->setting, q->name);
	emit_int(o, "workers", q->workers);
	emit_int(o, "concurrency", q->concurrency);
	emit_duration(o, "poll_interval", q->poll_interval_ms);
	emit_int(o, "max_jobs", q->max_jobs);
	format_size(q->max_rss, text, sizeof text);
	emit(o, source_of(o, "max_rss", where, sizeof where),
	    "max_rss = %s;", text);
	/* Neither has a value that means "no limit", so unset ones stay out. */
	if (q->global_limit > 0)
		emit_int(o, "limit", q->global_limit);
	else
		emit(o, NULL, "# limit is not set, so no limit across hosts");
	if (q->rate > 0)
		emit_float(o, "rate", q->rate);
	else
		emit(o, NULL, "# rate is not set, so no rate limit");
	group_close(o);
}

/*
 * Print a task's user, group or limit: from the task's own setting, else
 * from the top level's (both looked up with libconfig), else unset.
 */
static void
emit_inherited(struct config_out *o, const char *name, const char *text)
{
	const config_setting_t	*top;
	const char		*source;
	char			 where[64];

	source = source_of(o, name, where, sizeof where);
	if (source != where) {
		/* name is a path from the root, such as "limits.cpu_time". */
		snprintf(where, sizeof where, "%s", source);
		top = config_lookup(&o->cfg, name);
		if (top != NULL)
			snprintf(where, sizeof where, "line %u, top level",
			    config_setting_source_line(top));
	}
	emit(o, where, "%s = %s;", strrchr(name, '.') != NULL ?
	    strrchr(name, '.') + 1 : name, text);
}

/* Print the user, group and limits that a task's exec handler gets. */
static void
emit_isolation(struct config_out *o, const struct hd_isolation *iso)
{
	char	text[64], *name;

	if (iso->user != NULL) {
		name = quote(iso->user);
		emit_inherited(o, "user", name);
		free(name);
	}
	if (iso->group != NULL) {
		name = quote(iso->group);
		emit_inherited(o, "group", name);
		free(name);
	}
	if (iso->address_space == 0 && iso->open_files == 0 &&
	    iso->cpu_time_s == 0)
		return;
	emit(o, NULL, "limits = {");
	o->depth++;
	if (iso->address_space > 0) {
		format_size(iso->address_space, text, sizeof text);
		emit_inherited(o, "limits.address_space", text);
	}
	if (iso->open_files > 0) {
		snprintf(text, sizeof text, "%lld", (long long)iso->open_files);
		emit_inherited(o, "limits.open_files", text);
	}
	if (iso->cpu_time_s > 0) {
		format_duration(iso->cpu_time_s * 1000, text, sizeof text);
		emit_inherited(o, "limits.cpu_time", text);
	}
	o->depth--;
	emit(o, NULL, "};");
}

static void
emit_task(struct config_out *o, const struct hd_task_config *t)
{
	named_open(o, t->setting, t->name);
	emit_string(o, "queue", t->queue);
	if (t->argv != NULL)
		emit_list(o, "exec", t->argv, t->argc);
	else {
		group_open(o, "module");
		emit_string(o, "path", t->module_path);
		emit_string(o, "symbol", t->module_symbol);
		group_close(o);
	}
	emit_duration(o, "timeout", t->timeout_ms);
	group_open(o, "retry");
	emit_int(o, "max_attempts", t->retry.max_attempts);
	emit_duration(o, "base_delay", t->retry.base_delay_ms);
	emit_float(o, "factor", t->retry.factor);
	emit_duration(o, "max_delay", t->retry.max_delay_ms);
	emit_float(o, "jitter", t->retry.jitter);
	group_close(o);
	if (t->nenv > 0)
		emit_list(o, "env", t->env, t->nenv);
	emit_isolation(o, &t->isolation);
	group_close(o);
}

static void
emit_periodic(struct config_out *o, const struct hd_periodic_config *p)
{
	named_open(o, p->setting, p->name);
	emit_string(o, "schedule", p->schedule);
	emit_string(o, "timezone", p->timezone);
	emit_string(o, "task", p->task);
	emit_string(o, "payload", p->payload);
	emit_int(o, "priority", p->priority);
	emit_string(o, "catch_up", p->catch_up_latest ? "latest" : "none");
	group_close(o);
}

/* Print an event's tasks as a list, or as a group with its type. */
static void
emit_event(struct config_out *o, const struct hd_event_route *e)
{
	if (!e->group) {
		emit_list(o, e->setting, e->tasks, e->ntasks);
		return;
	}
	group_open(o, e->setting);
	emit_string(o, "type", e->type);
	emit_list(o, "tasks", e->tasks, e->ntasks);
	group_close(o);
}

static void
emit_config(struct config_out *o, const struct hd_config *c)
{
	char	where[32];
	size_t	i;

	emit_conninfo(o, "job_db", c->job_db);
	if (c->app_db != NULL)
		emit_conninfo(o, "app_db", c->app_db);
	else
		emit(o, NULL, "# app_db is not set, so no relay runs");
	emit_string(o, "log_level", hd_log_level_name(c->log_level));
	emit_duration(o, "grace_period", c->grace_period_ms);
	emit_duration(o, "lease", c->lease_ms);
	emit_int(o, "payload_max", (int64_t)c->payload_max);
	emit_int(o, "confirm_over", c->confirm_over);
	emit(o, source_of(o, "allow_root_handlers", where, sizeof where),
	    "allow_root_handlers = %s;", c->allow_root_handlers ? "true" :
	    "false");
	if (config_lookup(&o->cfg, "user") != NULL ||
	    config_lookup(&o->cfg, "group") != NULL ||
	    config_lookup(&o->cfg, "limits") != NULL)
		emit(o, NULL, "# user, group and limits of the top level are "
		    "shown in each task");

	group_open(o, "retention");
	emit_duration(o, "counters", c->keep_counters_ms);
	emit_duration(o, "hourly_counters", c->keep_hourly_ms);
	emit_duration(o, "dead", c->keep_dead_ms);
	emit_int(o, "dead_rows", c->keep_dead_rows);
	emit_duration(o, "processes", c->keep_processes_ms);
	group_close(o);
	group_open(o, "restart_limit");
	emit_int(o, "failures", c->restart_failures);
	emit_duration(o, "window", c->restart_window_ms);
	emit_duration(o, "cool_down", c->restart_cool_down_ms);
	group_close(o);

	group_open(o, "queues");
	for (i = 0; i < c->nqueues; i++)
		emit_queue(o, &c->queues[i]);
	group_close(o);
	group_open(o, "tasks");
	for (i = 0; i < c->ntasks; i++)
		emit_task(o, &c->tasks[i]);
	group_close(o);
	group_open(o, "events");
	for (i = 0; i < c->nevents; i++)
		emit_event(o, &c->events[i]);
	group_close(o);
	group_open(o, "periodic");
	for (i = 0; i < c->nperiodic; i++)
		emit_periodic(o, &c->periodic[i]);
	group_close(o);
}

/* The connection parameters worth showing, in the order libpq uses them. */
static const char *const shown_keywords[] = {
	"service", "host", "hostaddr", "port", "dbname", "user", "password",
	"passfile", "sslmode", "connect_timeout", NULL
};

/* Store the value and the source of keyword in the connection. */
static void
resolve_keyword(const char *keyword, const PQconninfoOption *given,
    const PQconninfoOption *defaults, const char **value, char *source,
    size_t size)
{
	const PQconninfoOption	*o;
	const char		*env;

	*value = NULL;
	for (o = given; o != NULL && o->keyword != NULL; o++)
		if (strcmp(o->keyword, keyword) == 0 && o->val != NULL) {
			*value = o->val;
			snprintf(source, size, "connection string");
			return;
		}
	for (o = defaults; o != NULL && o->keyword != NULL; o++) {
		if (strcmp(o->keyword, keyword) != 0)
			continue;
		if (o->envvar != NULL && (env = getenv(o->envvar)) != NULL &&
		    env[0] != '\0') {
			*value = env;
			snprintf(source, size, "environment %s", o->envvar);
		} else if (o->val != NULL) {
			*value = o->val;
			snprintf(source, size, "libpq default");
		}
		return;
	}
}

/*
 * Print, as comments, the job database connection that herald opens:
 * -d, else job_db, else the PG* variables alone.
 */
static void
emit_connection(const struct hd_cli *cli, const struct hd_config *config)
{
	PQconninfoOption	*given, *defaults;
	const char		*conninfo, *from, *value;
	const char *const	*k;
	char			 source[64];

	if (cli->conninfo != NULL) {
		conninfo = cli->conninfo;
		from = "the -d option";
	} else if (config != NULL) {
		conninfo = config->job_db;
		from = "job_db";
	} else {
		conninfo = "";
		from = "no connection string, only the environment";
	}

	printf("\n# The job database connection of herald, from %s:\n", from);
	given = PQconninfoParse(conninfo, NULL);
	if (given == NULL) {
		printf("#   (not a valid connection string)\n");
		return;
	}
	defaults = PQconndefaults();
	for (k = shown_keywords; *k != NULL; k++) {
		resolve_keyword(*k, given, defaults, &value, source,
		    sizeof source);
		if (value == NULL)
			continue;
		if (strcmp(*k, "password") == 0)
			value = HD_CONNINFO_MASK;
		printf("#   %-16s %-24s %s\n", *k, value, source);
	}
	printf("# Keywords not listed come from the service file when a "
	    "service is named,\n# and a missing password from the "
	    "password file (passfile, ~/.pgpass).\n");
	PQconninfoFree(defaults);
	PQconninfoFree(given);
}

static int
print_names(const struct hd_config *config, const char *kind)
{
	size_t	i;

	if (config == NULL)
		return HD_EXIT_OK;
	if (strcmp(kind, "queues") == 0)
		for (i = 0; i < config->nqueues; i++)
			printf("%s\n", config->queues[i].name);
	else if (strcmp(kind, "tasks") == 0)
		for (i = 0; i < config->ntasks; i++)
			printf("%s\n", config->tasks[i].name);
	else
		for (i = 0; i < config->nevents; i++)
			printf("%s\n", config->events[i].type);
	return HD_EXIT_OK;
}

/* Describe how the file was chosen: -c, HERALD_CONFIG or the default. */
static const char *
file_origin(const struct hd_cli *cli)
{
	const char	*env = getenv("HERALD_CONFIG");

	if (cli->config_path != NULL)
		return "the -c option";
	if (env != NULL && env[0] != '\0')
		return "environment HERALD_CONFIG";
	return "the default path";
}

int
hd_cmd_config(struct hd_cli *cli, int argc, char **argv)
{
	static const struct option	 options[] = {
		{ "names", required_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const struct hd_config		*config = NULL;
	struct config_out		 out = { .depth = 0 };
	const char			*names = NULL, *path;
	int				 c, status;

	while ((c = getopt_long(argc, argv, ":n:h", options, NULL)) != -1) {
		switch (c) {
		case 'n':
			if (strcmp(optarg, "queues") != 0 &&
			    strcmp(optarg, "tasks") != 0 &&
			    strcmp(optarg, "events") != 0)
				return hd_cli_usage_error("config", usage,
				    "invalid value \"%s\" for --names: use "
				    "queues, tasks or events", optarg);
			names = optarg;
			break;
		case 'h':
			print_help();
			return HD_EXIT_OK;
		default:
			return hd_cli_bad_option("config", usage, options, argv, c);
		}
	}
	if (optind < argc)
		return hd_cli_usage_error("config", usage,
		    "unexpected argument \"%s\"", argv[optind]);

	if ((status = hd_cli_config(cli, &config)) != HD_EXIT_OK)
		return status;
	if (names != NULL)
		return print_names(config, names);

	path = hd_config_default_path(cli->config_path);
	if (config == NULL) {
		printf("# No configuration file: %s (%s) does not exist.\n",
		    path, file_origin(cli));
		emit_connection(cli, NULL);
		return HD_EXIT_OK;
	}

	printf("# Configuration file %s, from %s.\n", config->path,
	    file_origin(cli));
	config_init(&out.cfg);
	if (config_read_file(&out.cfg, config->path) == CONFIG_FALSE) {
		/* The file changed since it was loaded: no lines to show. */
		config_destroy(&out.cfg);
		config_init(&out.cfg);
	}
	emit_config(&out, config);
	config_destroy(&out.cfg);
	emit_connection(cli, config);
	return HD_EXIT_OK;
}
