/*
 * thread-kill.c: send a signal to one thread of another process, for
 * test_module_signal.sh.
 *
 *	thread-kill PID TID SIGNAL
 *
 * kill(1) signals a whole process, which the kernel hands to any of its
 * threads.  This sends SIGNAL with tgkill(2) to thread TID of process
 * PID, so that it lands in that thread.
 */

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static long
number(const char *what, const char *text)
{
	char	*end;
	long	 value;

	errno = 0;
	value = strtol(text, &end, 10);
	if (errno != 0 || end == text || *end != '\0' || value < 1 ||
	    value > INT_MAX) {
		fprintf(stderr, "thread-kill: %s \"%s\" is not a positive "
		    "number\n", what, text);
		exit(2);
	}
	return value;
}

int
main(int argc, char **argv)
{
	long	pid, tid, signo;

	if (argc != 4) {
		fprintf(stderr, "usage: thread-kill PID TID SIGNAL\n");
		return 2;
	}
	pid = number("process id", argv[1]);
	tid = number("thread id", argv[2]);
	signo = number("signal", argv[3]);
	if (syscall(SYS_tgkill, pid, tid, signo) == -1) {
		fprintf(stderr, "thread-kill: signal to thread %ld of process %ld "
		    "failed: %s\n",
		    tid, pid, strerror(errno));
		return 1;
	}
	return 0;
}
