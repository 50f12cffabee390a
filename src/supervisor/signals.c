/*
 * signals.c: signal delivery through a self-pipe.
 */

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "signals.h"

#define SIGNALS_MAX	65

static int			 signals_pipe[2] = { -1, -1 };
static volatile sig_atomic_t	 signals_pending[SIGNALS_MAX];
static int			 signals_caught[SIGNALS_MAX];

static void
signals_handler(int signo)
{
	int	saved_errno = errno;
	char	byte = 0;

	if (signo > 0 && signo < SIGNALS_MAX)
		signals_pending[signo] = 1;
	/* A full pipe already wakes the reader, so a lost byte is harmless. */
	if (write(signals_pipe[1], &byte, 1) == -1) {
		/* nothing to do */
	}
	errno = saved_errno;
}

int
hd_signals_open(const int *signals)
{
	struct sigaction	sa;
	sigset_t		mask;
	int			i;

	hd_signals_close();
	if (pipe2(signals_pipe, O_CLOEXEC | O_NONBLOCK) == -1)
		return -1;

	memset(&sa, 0, sizeof sa);
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
	sa.sa_handler = signals_handler;
	for (i = 0; signals[i] != 0; i++) {
		if (signals[i] <= 0 || signals[i] >= SIGNALS_MAX)
			continue;
		signals_pending[signals[i]] = 0;
		if (sigaction(signals[i], &sa, NULL) == -1)
			return -1;
		signals_caught[signals[i]] = 1;
	}
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&mask);
	sigprocmask(SIG_SETMASK, &mask, NULL);
	return signals_pipe[0];
}

void
hd_signals_close(void)
{
	int	i;

	for (i = 1; i < SIGNALS_MAX; i++) {
		if (signals_caught[i]) {
			signal(i, SIG_DFL);
			signals_caught[i] = 0;
		}
		signals_pending[i] = 0;
	}
	for (i = 0; i < 2; i++) {
		if (signals_pipe[i] != -1)
			close(signals_pipe[i]);
		signals_pipe[i] = -1;
	}
}

void
hd_signals_drain(void)
{
	char	buf[64];

	while (read(signals_pipe[0], buf, sizeof buf) > 0)
		continue;
}

bool
hd_signals_take(int signo)
{
	if (signo <= 0 || signo >= SIGNALS_MAX || !signals_pending[signo])
		return false;
	signals_pending[signo] = 0;
	return true;
}
