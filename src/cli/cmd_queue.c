/*
 * cmd_queue.c: herald queue, pausing and resuming queues.
 *
 * Workers claim nothing from a paused queue; jobs keep arriving and wait.
 * Jobs already running finish as usual.  Each change is recorded in
 * herald.audit.
 */

#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "db.h"
#include "store.h"

static const char usage[] = "herald queue pause|resume QUEUE...";

static void
print_help(void)
{
	printf("herald queue pauses and resumes queues.\n\n"
	    "Usage: %s\n\n"
	    "Commands:\n"
	    "  pause   stop workers from claiming jobs of each QUEUE; running "
	    "jobs finish\n"
	    "  resume  let workers claim jobs of each QUEUE again\n\n"
	    "Options:\n"
	    "  -h, --help  print this help and exit\n\n"
	    "\"herald status\" shows which queues are paused.\n", usage);
}

static int
queue_set(struct hd_cli *cli, const char *queue, bool paused)
{
	struct herald_error	error;
	int			changed;

	changed = hd_queue_pause(cli->conn, queue, paused, &error);
	if (changed == -1) {
		hd_cli_action_error(&error);
		switch (error.code) {
		case HERALD_ECONNECT:
			return EX_UNAVAILABLE;
		case HERALD_EINVAL:
			return EX_DATAERR;
		default:
			return HD_EXIT_FAILURE;
		}
	}
	if (changed)
		printf("%s queue \"%s\"\n", paused ? "paused" : "resumed",
		    queue);
	else
		printf("queue \"%s\" was already %s\n", queue,
		    paused ? "paused" : "running");
	return HD_EXIT_OK;
}

/*
 * Fail unless queue exists for herald: in the configuration, or named by
 * a job, a dead job, a counter, a queue setting or a running worker.  A
 * queue found only in the database may be served by another host, or
 * left over from a queue removed from the configuration, so it is
 * accepted with a note when a configuration is read.  A typo must not
 * pause a queue that does not exist while the real one keeps running.  It fails with EX_DATAERR
 * when a configuration is read, as an unknown task does, and with 1
 * when none is, as a job not found does.
 */
static int
queue_check_known(struct hd_cli *cli, const struct hd_config *config,
    const char *queue)
{
	struct herald_error	 error;
	const char		*params[1] = { queue };
	PGresult		*res;
	bool			 known;

	if (config != NULL && hd_config_queue(config, queue) != NULL)
		return HD_EXIT_OK;
	res = PQexecParams(cli->conn, "SELECT"
	    " EXISTS (SELECT FROM herald.queues WHERE name = $1)"
	    " OR EXISTS (SELECT FROM herald.jobs WHERE queue = $1)"
	    " OR EXISTS (SELECT FROM herald.inbox WHERE queue = $1)"
	    " OR EXISTS (SELECT FROM herald.dead_jobs WHERE queue = $1)"
	    " OR EXISTS (SELECT FROM herald.counters WHERE queue = $1)"
	    " OR EXISTS (SELECT FROM herald.processes"
	    "  WHERE kind = 'worker' AND queue = $1)",
	    1, NULL, params, NULL, NULL, 0);
	if (!hd_db_ok(res)) {
		hd_error_from_pg(&error, cli->conn, res,
		    "could not look up the queue");
		hd_cli_action_error(&error);
		PQclear(res);
		return error.code == HERALD_ECONNECT ? EX_UNAVAILABLE :
		    HD_EXIT_FAILURE;
	}
	known = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	PQclear(res);
	if (known && config != NULL)
		fprintf(stderr, "herald: note: queue \"%s\" is not in \"%s\","
		    " so no worker of this configuration serves it\n", queue,
		    config->path);
	if (known)
		return HD_EXIT_OK;
	if (config != NULL) {
		hd_cli_error("unknown queue \"%s\": not in \"%s\", and no "
		    "job, dead job, setting or worker names it", queue,
		    config->path);
		return EX_DATAERR;
	}
	hd_cli_error("queue \"%s\" not found: no job, dead job, setting or "
	    "worker names it", queue);
	return HD_EXIT_FAILURE;
}

int
hd_cmd_queue(struct hd_cli *cli, int argc, char **argv)
{
	static const struct option	 options[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const struct hd_config		*config = NULL;
	struct herald_error		 error;
	const char			*action;
	bool				 paused;
	int				 c, i, status;

	while ((c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
		if (c == 'h') {
			print_help();
			return HD_EXIT_OK;
		}
		return hd_cli_bad_option("queue", usage, options, argv, c);
	}
	if (optind >= argc)
		return hd_cli_usage_error("queue", usage,
		    "no action given: use pause or resume");
	action = argv[optind++];
	if (strcmp(action, "pause") != 0 && strcmp(action, "resume") != 0)
		return hd_cli_usage_error("queue", usage,
		    "unrecognized action \"%s\": use pause or resume", action);
	paused = strcmp(action, "pause") == 0;
	if (optind >= argc)
		return hd_cli_usage_error("queue", usage, "no queue given");
	for (i = optind; i < argc; i++)
		if (herald_check_name("queue", argv[i], &error) == -1) {
			hd_cli_action_error(&error);
			return EX_DATAERR;
		}

	if ((status = hd_cli_config(cli, &config)) != HD_EXIT_OK ||
	    (status = hd_cli_connect(cli, true)) != HD_EXIT_OK)
		return status;
	for (i = optind; i < argc; i++)
		if ((status = queue_check_known(cli, config, argv[i])) !=
		    HD_EXIT_OK)
			return status;
	for (i = optind; i < argc; i++)
		if ((status = queue_set(cli, argv[i], paused)) != HD_EXIT_OK)
			return status;
	return HD_EXIT_OK;
}
