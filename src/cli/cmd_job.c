/*
 * cmd_job.c: herald job cancel, deleting queued jobs before they run.
 *
 * Only queued jobs can be cancelled: due now, scheduled for later or
 * waiting to retry.  A running job belongs to its worker until it ends.
 * Each cancel is recorded in herald.audit with the ids it deleted.
 */

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "db.h"
#include "store.h"
#include "util.h"

static const char usage[] = "herald job cancel ID...";

/* Lock the listed jobs, so what is reported and what is deleted agree. */
static const char lock_sql[] =
    "SELECT id, state FROM herald.jobs WHERE id = ANY ($1::bigint[])"
    " ORDER BY id FOR UPDATE";

static void
print_help(void)
{
	printf("herald job cancels queued jobs.\n\n"
	    "Usage:\n  %s\n\n"
	    "Commands:\n"
	    "  cancel  delete each queued job ID (due now, scheduled or "
	    "waiting to retry);\n"
	    "          running jobs cannot be cancelled\n\n"
	    "Options:\n"
	    "  -h, --help  print this help and exit\n", usage);
}

static int
exit_status(const struct herald_error *error)
{
	return error->code == HERALD_ECONNECT ? EX_UNAVAILABLE :
	    HD_EXIT_FAILURE;
}

/* Report each id that is missing from res or not queued. */
static void
report_skipped(const PGresult *res, const int64_t *ids, size_t nids)
{
	size_t	i;
	int	row, found;

	for (i = 0; i < nids; i++) {
		found = -1;
		for (row = 0; row < PQntuples(res) && found == -1; row++)
			if (strtoll(PQgetvalue(res, row, 0), NULL, 10) == ids[i])
				found = row;
		if (found == -1)
			hd_cli_error("job %" PRId64 " not found", ids[i]);
		else if (strcmp(PQgetvalue(res, found, 1), "queued") != 0)
			hd_cli_error("job %" PRId64 " is %s; only queued jobs "
			    "can be cancelled", ids[i],
			    PQgetvalue(res, found, 1));
	}
}

static int
job_cancel(struct hd_cli *cli, const int64_t *ids, size_t nids)
{
	struct herald_error	 error;
	const char		*params[1];
	char			*array;
	PGresult		*res;
	int64_t			 count;
	size_t			 i;
	int			 status = HD_EXIT_OK;

	if (hd_db_exec(cli->conn, "BEGIN", &error) == -1) {
		hd_cli_error("%s", error.message);
		return exit_status(&error);
	}
	array = hd_xmalloc(nids * 22 + 3);
	strcpy(array, "{");
	for (i = 0; i < nids; i++)
		sprintf(array + strlen(array), "%s%" PRId64, i > 0 ? "," : "",
		    ids[i]);
	strcat(array, "}");
	params[0] = array;
	res = PQexecParams(cli->conn, lock_sql, 1, NULL, params, NULL, NULL,
	    0);
	free(array);
	if (!hd_db_ok(res)) {
		hd_error_from_pg(&error, cli->conn, res, "could not read jobs");
		hd_cli_error("%s", error.message);
		status = exit_status(&error);
		goto out;
	}
	report_skipped(res, ids, nids);

	count = hd_job_cancel(cli->conn, ids, nids, &error);
	if (count == -1 || hd_db_exec(cli->conn, "COMMIT", &error) == -1) {
		hd_cli_error("%s", error.message);
		status = exit_status(&error);
		goto out;
	}
	if (count == 0)
		status = HD_EXIT_FAILURE;
	else
		printf("cancelled %" PRId64 " job%s\n", count,
		    count == 1 ? "" : "s");

out:
	PQclear(res);
	if (status != HD_EXIT_OK)
		(void)hd_db_exec(cli->conn, "ROLLBACK", NULL);
	return status;
}

int
hd_cmd_job(struct hd_cli *cli, int argc, char **argv)
{
	static const struct option	 options[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	int64_t				*ids;
	size_t				 nids = 0;
	int				 c, i, status;

	while ((c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
		if (c == 'h') {
			print_help();
			return HD_EXIT_OK;
		}
		return hd_cli_bad_option("job", usage, argv, c);
	}
	if (optind >= argc)
		return hd_cli_usage_error("job", usage,
		    "no action given: use cancel");
	if (strcmp(argv[optind], "cancel") != 0)
		return hd_cli_usage_error("job", usage,
		    "unrecognized action \"%s\": use cancel", argv[optind]);
	optind++;
	if (optind >= argc)
		return hd_cli_usage_error("job", usage, "no job ids given");

	ids = hd_xcalloc((size_t)(argc - optind), sizeof(*ids));
	for (i = optind; i < argc; i++) {
		status = hd_cli_parse_id(argv[i], &ids[nids]);
		if (status != HD_EXIT_OK)
			goto out;
		nids++;
	}
	if ((status = hd_cli_connect(cli, true)) == HD_EXIT_OK)
		status = job_cancel(cli, ids, nids);
out:
	free(ids);
	return status;
}
