/*
 * signals.h: signal delivery through a self-pipe.
 *
 * The handlers installed here only set a flag and write one byte to a
 * non-blocking pipe, so a process waits for signals, sockets and pipes in
 * one poll() and acts on signals outside the handler.  Each process (the
 * supervisor and every child) opens its own pipe: a child calls
 * hd_signals_open() again right after fork(), which closes the pipe it
 * inherited.
 */

#ifndef HD_SIGNALS_H
#define HD_SIGNALS_H

#include <stdbool.h>

/*
 * Catch each signal of the 0-terminated list signals and return the read
 * end of the pipe to poll for POLLIN, or -1 with errno set.  Every other
 * signal keeps its disposition, except SIGPIPE, which is ignored.  Every
 * signal is unblocked at the end, so a process that blocked signals
 * across fork() receives those that arrived meanwhile.
 */
int	hd_signals_open(const int *signals);

/* Close the pipe and restore the default dispositions. */
void	hd_signals_close(void);

/* Empty the pipe; call it when poll() reports the read end readable. */
void	hd_signals_drain(void);

/* Return whether signo arrived since the last call, and clear it. */
bool	hd_signals_take(int signo);

#endif /* HD_SIGNALS_H */
