/*
 * herald-bench-module.c: the module handler of the benchmark.
 *
 * bench_noop does nothing.  When HERALD_BENCH_LATENCY_FILE is set and the
 * payload carries "seq" and "t0_ns" (CLOCK_MONOTONIC of the enqueue), it
 * appends "seq latency_ns" to that file first: CLOCK_MONOTONIC is one
 * clock for every process of a Linux host.
 */

#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "herald_module.h"

HERALD_MODULE_DECLARE();

herald_module_handler_fn bench_noop;

/* Read the integer after "key": in payload; -1 when it is missing. */
static int64_t
payload_number(const char *payload, const char *key)
{
	const char	*p = strstr(payload, key);

	if (p == NULL || (p = strchr(p + strlen(key), ':')) == NULL)
		return -1;
	return strtoll(p + 1, NULL, 10);
}

static pthread_once_t	latency_once = PTHREAD_ONCE_INIT;
static int		latency_fd = -1;

static void
latency_open(void)
{
	const char	*path = getenv("HERALD_BENCH_LATENCY_FILE");

	if (path != NULL)
		latency_fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0644);
}

static void
record_latency(const struct herald_module_job *job, int64_t now_ns)
{
	char		 line[64];
	int64_t		 seq, t0;
	int		 len;

	pthread_once(&latency_once, latency_open);
	if (latency_fd < 0)
		return;
	seq = payload_number(job->payload, "\"seq\"");
	t0 = payload_number(job->payload, "\"t0_ns\"");
	if (seq < 0 || t0 <= 0)
		return;
	len = snprintf(line, sizeof line, "%" PRId64 " %" PRId64 "\n", seq,
	    now_ns - t0);
	/* One write with O_APPEND keeps lines of several threads whole. */
	if (write(latency_fd, line, (size_t)len) != len)
		return;
}

enum herald_module_result
bench_noop(const struct herald_module_job *job,
    struct herald_module_outcome *outcome)
{
	struct timespec	ts;

	if (job->payload[1] != '}') {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		record_latency(job, (int64_t)ts.tv_sec * 1000000000 +
		    ts.tv_nsec);
	}
	return HERALD_MODULE_DONE;
}
