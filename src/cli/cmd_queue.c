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
#include "store.h"

static const char usage[] = "herald queue pause|resume QUEUE...";

static void
print_help(void)
{
	printf("herald queue pauses and resumes queues.\n\n"
	    "Usage:\n  %s\n\n"
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
		hd_cli_error("%s", error.message);
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

int
hd_cmd_queue(struct hd_cli *cli, int argc, char **argv)
{
	static const struct option	 options[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct herald_error		 error;
	const char			*action;
	bool				 paused;
	int				 c, i, status;

	while ((c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
		if (c == 'h') {
			print_help();
			return HD_EXIT_OK;
		}
		return hd_cli_bad_option("queue", usage, argv, c);
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
			hd_cli_error("%s", error.message);
			return EX_DATAERR;
		}

	if ((status = hd_cli_connect(cli, true)) != HD_EXIT_OK)
		return status;
	for (i = optind; i < argc; i++)
		if ((status = queue_set(cli, argv[i], paused)) != HD_EXIT_OK)
			return status;
	return HD_EXIT_OK;
}
