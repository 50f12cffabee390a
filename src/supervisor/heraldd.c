/*
 * heraldd.c: the herald daemon, which runs the workers, the relay and the
 * janitor of one configuration file.
 */

#include <fcntl.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sysexits.h>
#include <unistd.h>

#include "config.h"
#include "herald.h"
#include "log.h"
#include "supervisor.h"

static void
usage(FILE *out)
{
	fprintf(out,
	    "usage: heraldd [-v] [-c FILE] [--check]\n"
	    "\n"
	    "Run the herald workers, relay and janitor of a configuration file.\n"
	    "\n"
	    "  -c, --config FILE  configuration file (default: $HERALD_CONFIG,\n"
	    "                     else %s)\n"
	    "      --check        check the configuration file and exit\n"
	    "  -v, --verbose      log at level debug\n"
	    "      --help         show this help and exit\n"
	    "      --version      show the version and exit\n",
	    hd_config_default_path(NULL));
}

/*
 * Open /dev/null on any of descriptors 0 to 2 that is closed, so a pipe
 * or socket opened later never takes their place.
 */
static void
open_standard_fds(void)
{
	int	fd;

	while ((fd = open("/dev/null", O_RDWR)) != -1 && fd <= 2)
		continue;
	if (fd > 2)
		close(fd);
}

int
main(int argc, char **argv)
{
	enum { OPT_CHECK = 256, OPT_HELP, OPT_VERSION };
	static const struct option options[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check", no_argument, NULL, OPT_CHECK },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, OPT_HELP },
		{ "version", no_argument, NULL, OPT_VERSION },
		{ NULL, 0, NULL, 0 }
	};
	struct hd_config	*config;
	const char		*explicit_path = NULL, *path;
	char			 error[HD_CONFIG_ERROR_MAX];
	bool			 check = false, verbose = false;
	int			 c;

	open_standard_fds();
	while ((c = getopt_long(argc, argv, "c:v", options, NULL)) != -1) {
		switch (c) {
		case 'c':
			explicit_path = optarg;
			break;
		case 'v':
			verbose = true;
			break;
		case OPT_CHECK:
			check = true;
			break;
		case OPT_HELP:
			usage(stdout);
			return 0;
		case OPT_VERSION:
			printf("heraldd %s\n", HERALD_VERSION);
			return 0;
		default:
			fprintf(stderr, "Try \"heraldd --help\" for more "
			    "information.\n");
			return EX_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "heraldd: unexpected argument \"%s\"\n",
		    argv[optind]);
		fprintf(stderr, "Try \"heraldd --help\" for more "
		    "information.\n");
		return EX_USAGE;
	}

	path = hd_config_default_path(explicit_path);
	config = hd_config_load(path, error, sizeof error);
	if (config == NULL) {
		fprintf(stderr, "heraldd: %s\n", error);
		return EX_CONFIG;
	}
	if (check) {
		printf("%s: configuration is valid\n", path);
		hd_config_free(config);
		return 0;
	}

	hd_log_init("heraldd", verbose ? HD_LOG_DEBUG : config->log_level);
	return hd_supervisor_run(config, verbose);
}
