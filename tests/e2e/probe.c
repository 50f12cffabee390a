/*
 * probe.c: the handler of the crash drills, which records each execution.
 *
 *	probe FILE [SLEEP_MS [ignore-term]]
 *
 * It appends "start JOB_ID PID ATTEMPT" to FILE, sleeps SLEEP_MS
 * milliseconds (default 0), appends "end JOB_ID PID ATTEMPT" and exits 0.
 * Each line leaves in one write(2) to a file opened with O_APPEND, so
 * lines of concurrent probes never mix.  With "ignore-term" it ignores
 * SIGTERM, as a handler that will not stop does.
 */

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void
probe_record(int fd, const char *what)
{
	const char	*id = getenv("HERALD_JOB_ID");
	const char	*attempt = getenv("HERALD_ATTEMPT");
	char		 line[128];
	int		 len;

	len = snprintf(line, sizeof line, "%s %s %ld %s\n", what,
	    id != NULL ? id : "0", (long)getpid(),
	    attempt != NULL ? attempt : "0");
	if (len < 0 || write(fd, line, (size_t)len) != len) {
		perror("probe: write");
		exit(1);
	}
}

int
main(int argc, char **argv)
{
	struct timespec	ts;
	long		sleep_ms = 0;
	int		fd;

	if (argc < 2 || argc > 4) {
		fprintf(stderr, "usage: probe FILE [SLEEP_MS [ignore-term]]\n");
		return 2;
	}
	if (argc >= 3)
		sleep_ms = strtol(argv[2], NULL, 10);
	if (argc == 4 && strcmp(argv[3], "ignore-term") == 0)
		signal(SIGTERM, SIG_IGN);

	fd = open(argv[1], O_WRONLY | O_APPEND | O_CREAT, 0644);
	if (fd == -1) {
		perror("probe: open");
		return 1;
	}
	probe_record(fd, "start");
	ts.tv_sec = sleep_ms / 1000;
	ts.tv_nsec = sleep_ms % 1000 * 1000000;
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		continue;
	probe_record(fd, "end");
	close(fd);
	return 0;
}
