/*
 * cmd_metrics.c: herald metrics, the state of the job database in the
 * Prometheus text exposition format (version 0.0.4).
 *
 * The output suits node_exporter's textfile collector, or any scraper
 * that runs a command.  Every family has HELP and TYPE lines, even when
 * it has no samples, and its samples follow them without a break.
 *
 * NOTE: heraldd serves no HTTP endpoint for these metrics.  Only one
 * janitor is active among all heraldd of a job database, so an endpoint
 * there would move between hosts, and a listener would add a network
 * service to a daemon that otherwise speaks only to PostgreSQL.  A timer
 * that writes this output for node_exporter gives the same numbers from
 * every host (doc/metrics.md).
 */

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "db.h"
#include "util.h"

static const char usage[] = "herald metrics";

/*
 * Jobs per queue and task.  The pairs are those with live jobs, dead
 * jobs or counters, and those of the configuration ($1 queues, $2 tasks,
 * element by element), so a configured task shows zeros before its first
 * job.  The job counts come from herald.queue_counts(), kept up to date
 * by triggers, so no job is read.  The totals add the pruned counters
 * (counter_totals) to the remaining ones.  One statement reads both in
 * one snapshot, and pruning moves rows from one table to the other in
 * one statement, so the totals never go down.
 */
static const char jobs_sql[] =
    "WITH counts AS MATERIALIZED ("
    "  SELECT queue, task, sum(queued) AS queued,"
    "    sum(scheduled) AS scheduled, sum(running) AS running,"
    "    sum(retrying) AS retrying, sum(dead) AS dead"
    "  FROM herald.queue_counts() GROUP BY queue, task"
    "), pairs AS ("
    "  SELECT queue, task FROM counts"
    "  UNION SELECT queue, task FROM herald.counters"
    "  UNION SELECT queue, task FROM herald.counter_totals"
    "  UNION SELECT q, t FROM unnest($1::text[], $2::text[]) AS u(q, t)"
    "), sums AS ("
    "  SELECT queue, task, sum(completed) AS completed,"
    "    sum(failed) AS failed, sum(retried) AS retried, sum(dead) AS died"
    "  FROM (SELECT queue, task, completed, failed, retried, dead"
    "      FROM herald.counters"
    "    UNION ALL SELECT queue, task, completed, failed, retried, dead"
    "      FROM herald.counter_totals) c"
    "  GROUP BY queue, task"
    ")"
    "SELECT p.queue, p.task, coalesce(c.queued, 0)::bigint,"
    "  coalesce(c.scheduled, 0)::bigint, coalesce(c.running, 0)::bigint,"
    "  coalesce(c.retrying, 0)::bigint, coalesce(c.dead, 0)::bigint,"
    "  coalesce(s.completed, 0), coalesce(s.failed, 0),"
    "  coalesce(s.retried, 0), coalesce(s.died, 0)"
    " FROM pairs p"
    " LEFT JOIN counts c USING (queue, task)"
    " LEFT JOIN sums s USING (queue, task)"
    " ORDER BY p.queue, p.task";

/* Queues: the oldest ready job's wait, paused, registered workers. */
static const char queues_sql[] =
    "WITH names AS ("
    "  SELECT queue FROM herald.queue_counts()"
    "    WHERE queued + scheduled + running + retrying > 0"
    "  UNION SELECT name FROM herald.queues"
    "  UNION SELECT queue FROM herald.processes"
    "    WHERE kind = 'worker' AND queue IS NOT NULL"
    "  UNION SELECT unnest($1::text[])"
    ")"
    "SELECT n.queue,"
    "  coalesce(extract(epoch FROM now() - o.oldest), 0),"
    "  coalesce(p.paused, false),"
    "  (SELECT count(*) FROM herald.processes w"
    "    WHERE w.kind = 'worker' AND w.queue = n.queue)"
    " FROM names n LEFT JOIN herald.queues p ON p.name = n.queue"
    " LEFT JOIN herald.oldest_ready() o ON o.queue = n.queue"
    " ORDER BY n.queue";

static const char processes_sql[] =
    "SELECT k.kind, count(p.id)"
    " FROM unnest(ARRAY['supervisor', 'worker', 'janitor', 'relay'])"
    "   AS k(kind)"
    " LEFT JOIN herald.processes p ON p.kind = k.kind"
    " GROUP BY k.kind ORDER BY k.kind";

static const char relay_sql[] =
    "SELECT database, origin, backlog,"
    "  coalesce(extract(epoch FROM now() - oldest_at), 0),"
    "  relayed_total, dropped_total,"
    "  extract(epoch FROM now() - updated_at)"
    " FROM herald.relay_status ORDER BY database, origin";

static const char failed_sql[] =
    "SELECT count(*) FROM herald.failed_children";

/* A metric family: its name, type and help text. */
struct family {
	const char	*name;
	const char	*type;
	const char	*help;
};

static void
print_help(void)
{
	printf("herald metrics prints the job counts, totals, queue waits, "
	    "workers and relay\nlag of the job database in the Prometheus "
	    "text exposition format, for\nnode_exporter's textfile collector "
	    "or any scraper.\n\n"
	    "Usage: %s\n\n"
	    "Options:\n"
	    "  -h, --help  print this help and exit\n\n"
	    "Every metric name starts with \"herald_\"; labels are queue, "
	    "task, state, kind,\ndatabase and origin.\n", usage);
}

static void
print_family(const struct family *f)
{
	printf("# HELP %s %s\n# TYPE %s %s\n", f->name, f->help, f->name,
	    f->type);
}

/* Print a label value escaped as the exposition format requires. */
static void
print_label_value(const char *value)
{
	const char	*p;

	putchar('"');
	for (p = value; *p != '\0'; p++) {
		if (*p == '\\' || *p == '"')
			printf("\\%c", *p);
		else if (*p == '\n')
			fputs("\\n", stdout);
		else
			putchar(*p);
	}
	putchar('"');
}

/*
 * Print one sample: name, labels given as nlabels name/value pairs, and
 * the value as the database returned it.
 */
static void
print_sample(const char *name, const char *const *labels, int nlabels,
    const char *value)
{
	int	i;

	fputs(name, stdout);
	for (i = 0; i < nlabels; i++) {
		printf("%s%s=", i == 0 ? "{" : ",", labels[2 * i]);
		print_label_value(labels[2 * i + 1]);
	}
	printf("%s %s\n", nlabels > 0 ? "}" : "", value);
}

/*
 * Run sql with nparams parameters and return its result.  On failure
 * print the error, store the exit status in *status and return NULL.
 */
static PGresult *
query(struct hd_cli *cli, const char *sql, int nparams,
    const char *const *params, int *status)
{
	struct herald_error	 error;
	PGresult		*res;

	res = PQexecParams(cli->conn, sql, nparams, NULL, params, NULL, NULL,
	    0);
	if (hd_db_ok(res))
		return res;
	hd_error_from_pg(&error, cli->conn, res, "could not read metrics");
	hd_cli_error("%s", error.message);
	PQclear(res);
	*status = error.code == HERALD_ECONNECT ? EX_UNAVAILABLE :
	    HD_EXIT_FAILURE;
	return NULL;
}

/* Print the families of jobs_sql: states, dead jobs and four totals. */
static void
print_jobs(const PGresult *res)
{
	static const struct family	jobs = { "herald_jobs", "gauge",
	    "Live jobs by state: queued (ready now), scheduled (first "
	    "attempt later), running, retrying (waiting for the backoff)." };
	static const struct family	totals[] = {
		{ "herald_dead_jobs", "gauge",
		    "Jobs in the dead-letter queue." },
		{ "herald_jobs_completed_total", "counter",
		    "Jobs completed." },
		{ "herald_jobs_failed_total", "counter",
		    "Failed attempts, whether retried or not." },
		{ "herald_jobs_retried_total", "counter",
		    "Failed attempts followed by a retry." },
		{ "herald_jobs_dead_total", "counter",
		    "Jobs moved to the dead-letter queue." },
	};
	static const char *const	states[] = {
		"queued", "scheduled", "running", "retrying"
	};
	const char			*labels[6];
	int				 row, i;

	print_family(&jobs);
	for (row = 0; row < PQntuples(res); row++)
		for (i = 0; i < 4; i++) {
			labels[0] = "queue";
			labels[1] = PQgetvalue(res, row, 0);
			labels[2] = "task";
			labels[3] = PQgetvalue(res, row, 1);
			labels[4] = "state";
			labels[5] = states[i];
			print_sample(jobs.name, labels, 3,
			    PQgetvalue(res, row, 2 + i));
		}

	for (i = 0; i < 5; i++) {
		print_family(&totals[i]);
		for (row = 0; row < PQntuples(res); row++) {
			labels[0] = "queue";
			labels[1] = PQgetvalue(res, row, 0);
			labels[2] = "task";
			labels[3] = PQgetvalue(res, row, 1);
			print_sample(totals[i].name, labels, 2,
			    PQgetvalue(res, row, 6 + i));
		}
	}
}

/* Print the families of queues_sql: oldest wait, paused, workers. */
static void
print_queues(const PGresult *res)
{
	static const struct family	families[] = {
		{ "herald_queue_oldest_job_age_seconds", "gauge",
		    "How long the oldest job ready to run has waited; 0 when "
		    "none is ready." },
		{ "herald_queue_paused", "gauge",
		    "1 when workers claim nothing from the queue." },
		{ "herald_workers", "gauge",
		    "Worker processes registered for the queue on every host." },
	};
	const char			*labels[2] = { "queue", NULL };
	int				 row, i;

	for (i = 0; i < 3; i++) {
		print_family(&families[i]);
		for (row = 0; row < PQntuples(res); row++) {
			const char	*value = PQgetvalue(res, row, 1 + i);

			labels[1] = PQgetvalue(res, row, 0);
			if (i == 1)
				value = strcmp(value, "t") == 0 ? "1" : "0";
			print_sample(families[i].name, labels, 1, value);
		}
	}
}

static void
print_processes(const PGresult *res)
{
	static const struct family	processes = { "herald_processes",
	    "gauge", "Registered heraldd processes of every host by kind." };
	const char			*labels[2] = { "kind", NULL };
	int				 row;

	print_family(&processes);
	for (row = 0; row < PQntuples(res); row++) {
		labels[1] = PQgetvalue(res, row, 0);
		print_sample(processes.name, labels, 1, PQgetvalue(res, row, 1));
	}
}

/* Print the families of relay_sql, one series per outbox. */
static void
print_relays(const PGresult *res)
{
	static const struct family	families[] = {
		{ "herald_relay_backlog", "gauge",
		    "Outbox rows not yet relayed, as the relay last saw them." },
		{ "herald_relay_lag_seconds", "gauge",
		    "Age of the oldest outbox row not yet relayed." },
		{ "herald_relay_relayed_total", "counter",
		    "Jobs the relay created from outbox rows." },
		{ "herald_relay_dropped_total", "counter",
		    "Events dropped because no task subscribes to their "
		    "type." },
		{ "herald_relay_report_age_seconds", "gauge",
		    "Time since the relay last reported; a large value means "
		    "it stopped." },
	};
	const char			*labels[4];
	int				 row, i;

	for (i = 0; i < 5; i++) {
		print_family(&families[i]);
		for (row = 0; row < PQntuples(res); row++) {
			labels[0] = "database";
			labels[1] = PQgetvalue(res, row, 0);
			labels[2] = "origin";
			labels[3] = PQgetvalue(res, row, 1);
			print_sample(families[i].name, labels, 2,
			    PQgetvalue(res, row, 2 + i));
		}
	}
}

/*
 * Build the parameters: text[] literals of the configured queues, and
 * of each task with its queue, element by element.
 */
static void
configured_names(const struct hd_config *config, char **queues_of_tasks,
    char **tasks, char **queues)
{
	size_t	 i, len = 3;
	char	*task_queues, *task_names, *queue_names;

	for (i = 0; config != NULL && i < config->ntasks; i++)
		len += strlen(config->tasks[i].name) +
		    strlen(config->tasks[i].queue) + 4;
	for (i = 0; config != NULL && i < config->nqueues; i++)
		len += strlen(config->queues[i].name) + 2;
	task_queues = hd_xmalloc(len);
	task_names = hd_xmalloc(len);
	queue_names = hd_xmalloc(len);
	strcpy(task_queues, "{");
	strcpy(task_names, "{");
	strcpy(queue_names, "{");

	/* Names are checked: no quotes, commas, braces or spaces. */
	for (i = 0; config != NULL && i < config->ntasks; i++) {
		if (i > 0) {
			strcat(task_queues, ",");
			strcat(task_names, ",");
		}
		strcat(task_queues, config->tasks[i].queue);
		strcat(task_names, config->tasks[i].name);
	}
	for (i = 0; config != NULL && i < config->nqueues; i++) {
		if (i > 0)
			strcat(queue_names, ",");
		strcat(queue_names, config->queues[i].name);
	}
	strcat(task_queues, "}");
	strcat(task_names, "}");
	strcat(queue_names, "}");
	*queues_of_tasks = task_queues;
	*tasks = task_names;
	*queues = queue_names;
}

int
hd_cmd_metrics(struct hd_cli *cli, int argc, char **argv)
{
	static const struct option	 options[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const struct hd_config		*config = NULL;
	const char			*params[2];
	char				*task_queues, *tasks, *queues;
	PGresult			*res[5] = { NULL };
	struct hd_health		 health = { NULL, NULL, NULL };
	struct herald_error		 error;
	int				 c, i, status = HD_EXIT_OK;

	while ((c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
		if (c == 'h') {
			print_help();
			return HD_EXIT_OK;
		}
		return hd_cli_bad_option("metrics", usage, options, argv, c);
	}
	if (optind < argc)
		return hd_cli_usage_error("metrics", usage,
		    "unexpected argument \"%s\"", argv[optind]);

	if ((status = hd_cli_config(cli, &config)) != HD_EXIT_OK ||
	    (status = hd_cli_connect(cli, true)) != HD_EXIT_OK ||
	    (status = hd_cli_begin_snapshot(cli)) != HD_EXIT_OK)
		return status;

	/*
	 * Every query runs before anything is printed, so a failure leaves
	 * no partial output for a collector to read.
	 */
	configured_names(config, &task_queues, &tasks, &queues);
	params[0] = task_queues;
	params[1] = tasks;
	if ((res[0] = query(cli, jobs_sql, 2, params, &status)) != NULL) {
		params[0] = queues;
		res[1] = query(cli, queues_sql, 1, params, &status);
	}
	if (res[1] != NULL)
		res[2] = query(cli, processes_sql, 0, NULL, &status);
	if (res[2] != NULL)
		res[3] = query(cli, relay_sql, 0, NULL, &status);
	if (res[3] != NULL)
		res[4] = query(cli, failed_sql, 0, NULL, &status);
	if (res[4] != NULL &&
	    hd_health_fetch(cli->conn, &health, &error) == -1) {
		hd_cli_error("%s", error.message);
		status = error.code == HERALD_ECONNECT ? EX_UNAVAILABLE :
		    HD_EXIT_FAILURE;
	}

	if (res[4] != NULL && health.database != NULL) {
		static const struct family	failed = {
		    "herald_failed_children", "gauge",
		    "Children that a heraldd stopped restarting after too "
		    "many failures." };

		print_jobs(res[0]);
		print_queues(res[1]);
		print_processes(res[2]);
		print_relays(res[3]);
		print_family(&failed);
		print_sample(failed.name, NULL, 0, PQgetvalue(res[4], 0, 0));
		hd_health_metrics(&health, config);
	}
	hd_health_release(&health);
	for (i = 0; i < 5; i++)
		PQclear(res[i]);
	free(task_queues);
	free(tasks);
	free(queues);
	return status;
}
