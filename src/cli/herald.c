/*
 * herald.c: the herald command, the operator's tool for the job database.
 *
 * Global options come before the command name; each command is a function
 * in its own cmd_NAME.c that parses its own options, so "herald COMMAND
 * --help" never needs a configuration or a database.
 */

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "util.h"

static const struct hd_cli_command commands[] = {
	{ "migrate", hd_cmd_migrate,
	    "create or update the job database schema" },
	{ "enqueue", hd_cmd_enqueue, "add a job" },
	{ "status", hd_cmd_status, "show the queues and their job counts" },
	{ "jobs", hd_cmd_jobs, "list live jobs" },
	{ "dead", hd_cmd_dead,
	    "list, show, retry or purge dead jobs" },
	{ "queue", hd_cmd_queue, "pause or resume queues" },
	{ "relay", hd_cmd_relay,
	    "forget the relay report of a retired application database" },
	{ "job", hd_cmd_job, "show, cancel or retry-now jobs" },
	{ "periodic", hd_cmd_periodic,
	    "list periodic jobs with their last and next runs" },
	{ "console", hd_cmd_console,
	    "watch and operate the queues in a terminal" },
	{ "metrics", hd_cmd_metrics,
	    "print metrics in the Prometheus text format" },
	{ "config", hd_cmd_config,
	    "print the effective configuration and its sources" },
	{ NULL, NULL, NULL }
};

static const char usage_line[] =
    "herald [-c FILE] [-d CONNINFO] COMMAND [ARGS]";

static void
print_help(void)
{
	const struct hd_cli_command	*cmd;

	printf("herald runs and inspects background jobs in a PostgreSQL "
	    "job database.\n\n");
	printf("Usage: %s\n\n", usage_line);
	printf("Commands:\n");
	for (cmd = commands; cmd->name != NULL; cmd++)
		printf("  %-9s %s\n", cmd->name, cmd->summary);
	printf("  %-9s %s\n", "help", "print this help, or that of a "
	    "command");
	printf("\nOptions:\n"
	    "  -c, --config=FILE      configuration file (default: "
	    "$HERALD_CONFIG,\n"
	    "                         else %s when it exists)\n"
	    "  -d, --dbname=CONNINFO  job database as a libpq connection "
	    "string; without\n"
	    "                         it, job_db of the configuration, else "
	    "the PG*\n"
	    "                         environment variables\n"
	    "  -V, --version          print the version and exit\n"
	    "  -h, --help             print this help and exit\n\n",
	    SYSCONFDIR "/herald.conf");
	printf("Run \"herald COMMAND --help\" for the options of a "
	    "command.\n");
}

static const struct hd_cli_command *
find_command(const char *name)
{
	const struct hd_cli_command	*cmd;

	for (cmd = commands; cmd->name != NULL; cmd++)
		if (strcmp(cmd->name, name) == 0)
			return cmd;
	return NULL;
}

int
main(int argc, char **argv)
{
	static const struct option	 options[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "dbname", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	const struct hd_cli_command	*cmd;
	struct hd_cli			 cli = { 0 };
	char				*help_argv[] = { NULL, "--help", NULL };
	int				 c, status, info = 0;

	hd_open_standard_fds();
	/* "+": stop at the command name, whose options are its own. */
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:c:d:hV", options,
	    NULL)) != -1) {
		switch (c) {
		case 'c':
			if (optarg[0] == '\0')
				return hd_cli_usage_error(NULL, usage_line,
				    "option \"-c\" needs a file name, not an "
				    "empty one");
			cli.config_path = optarg;
			break;
		case 'd':
			cli.conninfo = optarg;
			break;
		case 'V':
		case 'h':
			info = c;
			break;
		default:
			return hd_cli_bad_option(NULL, usage_line, options, argv, c);
		}
	}

	if (info != 0 && optind < argc)
		return hd_cli_usage_error(NULL, usage_line,
		    "unexpected argument \"%s\" after \"%s\"", argv[optind],
		    info == 'V' ? "--version" : "--help");
	if (info == 'V')
		printf("herald %s\n", HERALD_VERSION);
	if (info == 'h')
		print_help();
	if (info != 0)
		return HD_EXIT_OK;
	if (optind >= argc)
		return hd_cli_usage_error(NULL, usage_line,
		    "no command given");
	/* "herald help [COMMAND]" is "herald [COMMAND] --help". */
	if (strcmp(argv[optind], "help") == 0) {
		if (optind + 1 >= argc ||
		    strcmp(argv[optind + 1], "help") == 0) {
			print_help();
			return HD_EXIT_OK;
		}
		if (strcmp(argv[optind + 1], "-h") == 0 ||
		    strcmp(argv[optind + 1], "--help") == 0) {
			printf("herald help prints the commands and global "
			    "options, or the help of a command.\n\n"
			    "Usage: herald help [COMMAND]\n\n"
			    "Options:\n"
			    "  -h, --help  print this help and exit\n");
			return HD_EXIT_OK;
		}
		if (optind + 2 < argc)
			return hd_cli_usage_error(NULL, usage_line,
			    "unexpected argument \"%s\"", argv[optind + 2]);
		if ((cmd = find_command(argv[optind + 1])) == NULL)
			return hd_cli_usage_error(NULL, usage_line,
			    "unrecognized command \"%s\"", argv[optind + 1]);
		help_argv[0] = argv[optind + 1];
		optind = 0;
		return cmd->run(&cli, 2, help_argv);
	}
	cmd = find_command(argv[optind]);
	if (cmd == NULL)
		return hd_cli_usage_error(NULL, usage_line,
		    "unrecognized command \"%s\"", argv[optind]);

	argc -= optind;
	argv += optind;
	optind = 0;	/* glibc: start over on the command's arguments */
	status = cmd->run(&cli, argc, argv);

	hd_cli_release(&cli);
	/* A write that failed earlier, as jansson's may, left only ferror(). */
	if ((fflush(stdout) == EOF || ferror(stdout)) &&
	    status == HD_EXIT_OK) {
		hd_cli_error("could not write to standard output");
		status = HD_EXIT_FAILURE;
	}
	return status;
}
