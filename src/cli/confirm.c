/*
 * confirm.c: the confirmation that bulk actions of the herald command
 * ask for.
 *
 * A bulk action over more jobs than confirm_over (herald.conf, default
 * 100) goes ahead only with --yes or, on a terminal, when the operator
 * types the number of jobs it will change.  A script that lost track of
 * how much it selects stops instead of changing every row.
 */

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

int64_t
hd_cli_confirm_over(const struct hd_cli *cli)
{
	if (cli->config != NULL)
		return cli->config->confirm_over;
	return HD_DEFAULT_CONFIRM_OVER;
}

int
hd_cli_confirm_bulk(const struct hd_cli *cli, const char *what,
    int64_t count, bool yes)
{
	int64_t	limit = hd_cli_confirm_over(cli);
	char	line[64], expected[32];

	if (yes || count <= limit)
		return HD_EXIT_OK;
	if (!isatty(STDIN_FILENO)) {
		hd_cli_error("%s would change %" PRId64 " job%s, more than "
		    "confirm_over (%" PRId64 "); nothing changed", what, count,
		    count == 1 ? "" : "s", limit);
		fprintf(stderr, "Add --yes to go ahead, or --dry-run to count "
		    "only.\n");
		return HD_EXIT_FAILURE;
	}

	fprintf(stderr, "%s would change %" PRId64 " job%s.  Type %" PRId64
	    " to go ahead: ", what, count, count == 1 ? "" : "s", count);
	fflush(stderr);
	snprintf(expected, sizeof expected, "%" PRId64, count);
	if (fgets(line, sizeof line, stdin) == NULL)
		line[0] = '\0';
	line[strcspn(line, "\r\n")] = '\0';
	if (strcmp(line, expected) != 0) {
		hd_cli_error("confirmation did not match; nothing changed");
		return HD_EXIT_FAILURE;
	}
	return HD_EXIT_OK;
}
