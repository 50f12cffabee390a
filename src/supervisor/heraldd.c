/*
 * heraldd.c: the herald daemon, which runs the workers, the relay and the
 * janitor of one configuration file.
 */

#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "child.h"
#include "config.h"
#include "herald.h"
#include "log.h"
#include "spawn.h"
#include "supervisor.h"
#include "util.h"

/* Exit status of a bad command line, as for herald. */
#define HERALDD_EXIT_USAGE	2

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
	    "      --check        check the configuration file for the current\n"
	    "                     user and exit\n"
	    "  -v, --verbose      log at level debug\n"
	    "  -h, --help         show this help and exit\n"
	    "  -V, --version      show the version and exit\n",
	    SYSCONFDIR "/herald.conf");
}

static int __attribute__((format(printf, 1, 2)))
usage_error(const char *fmt, ...)
{
	va_list	ap;

	fputs("heraldd: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\nTry \"heraldd --help\" for more information.\n", stderr);
	return HERALDD_EXIT_USAGE;
}

/* Warn on standard error about each handler that cannot run here. */
static void
warn_programs(const struct hd_config *config)
{
	char	error[HD_CONFIG_ERROR_MAX];
	size_t	next = 0;

	while (hd_config_check_programs(config, &next, error,
	    sizeof error) == -1)
		fprintf(stderr, "heraldd: warning: %s\n", error);
}

/*
 * Load the file at path, or write each of its errors to standard error
 * and return NULL.
 */
static struct hd_config *
load_config(const char *path)
{
	struct hd_config	*config;
	char			 error[HD_CONFIG_ERROR_MAX], *more = NULL,
				*line, *end;
	size_t			 size = 0;
	FILE			*stream;

	stream = open_memstream(&more, &size);
	config = hd_config_load_each(path, error, sizeof error, stream);
	if (stream != NULL)
		fclose(stream);
	if (config == NULL) {
		fprintf(stderr, "heraldd: %s\n", error);
		for (line = more; line != NULL && *line != '\0'; line = end) {
			end = strchr(line, '\n');
			end = end != NULL ? end + 1 : line + strlen(line);
			fprintf(stderr, "heraldd: %.*s", (int)(end - line),
			    line);
		}
	}
	free(more);
	return config;
}

/*
 * Explain a --check run as root that failed on the rules for root.  They
 * hold only for a heraldd started as root, and heraldd.service starts it
 * as user herald, so the same file may be valid for the service.
 */
static void
hint_check_as_service_user(const char *path)
{
	fprintf(stderr, "heraldd: hint: --check applies the rules for the user "
	    "that runs it, root here.  To check the file for heraldd.service, "
	    "which runs as user herald, run \"sudo -u herald heraldd --check "
	    "-c %s\"\n", path);
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
	char			 name[64], message[512];
	bool			 check = false, verbose = false;
	int			 c;

	hd_open_standard_fds();
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":c:hvV", options, NULL)) != -1) {
		switch (c) {
		case 'c':
			if (optarg[0] == '\0')
				return usage_error("option \"-c\" needs a file "
				    "name, not an empty one");
			explicit_path = optarg;
			break;
		case 'v':
			verbose = true;
			break;
		case OPT_CHECK:
			check = true;
			break;
		case 'h':
		case OPT_HELP:
			usage(stdout);
			return 0;
		case 'V':
		case OPT_VERSION:
			printf("heraldd %s\n", hd_child_build());
			return 0;
		default:
			(void)hd_option_error(options, argv, c, name,
			    sizeof name, message, sizeof message);
			return usage_error("%s", message);
		}
	}
	if (optind < argc)
		return usage_error("unexpected argument \"%s\"", argv[optind]);

	path = hd_config_default_path(explicit_path);
	if ((config = load_config(path)) == NULL)
		return EX_CONFIG;
	if (hd_config_check_root(config, geteuid(), error,
	    sizeof error) == -1) {
		fprintf(stderr, "heraldd: %s\n", error);
		if (check && geteuid() == 0)
			hint_check_as_service_user(path);
		hd_config_free(config);
		return EX_CONFIG;
	}
	/*
	 * heraldd-child checks what needs libpq: the connection strings
	 * and, unless only the file is checked, the schemas.
	 */
	if (hd_spawn_init(error, sizeof error) == -1) {
		fprintf(stderr, "heraldd: %s\n", error);
		hd_config_free(config);
		return EX_OSFILE;
	}
	if (hd_spawn_check(config, !check, check, verbose, error,
	    sizeof error) == -1) {
		fprintf(stderr, "heraldd: %s\n", error);
		hd_config_free(config);
		return EX_CONFIG;
	}
	if (check) {
		warn_programs(config);
		printf("%s: configuration is valid\n", path);
		hd_config_free(config);
		return 0;
	}

	/*
	 * A stray SIGUSR1 or SIGUSR2 would end heraldd and every child
	 * without a log line; heraldd gives them no meaning, so ignore them.
	 * Handlers start with every disposition at its default.
	 */
	signal(SIGUSR1, SIG_IGN);
	signal(SIGUSR2, SIG_IGN);

	hd_log_init("heraldd", verbose ? HD_LOG_DEBUG : config->log_level);
	hd_supervisor_warn_handlers(config);
	return hd_supervisor_run(config, verbose);
}
