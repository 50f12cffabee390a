/*
 * orphans.h: handlers left behind by a worker that died.
 *
 * heraldd is a child subreaper (PR_SET_CHILD_SUBREAPER), so a handler
 * whose worker died becomes heraldd's child instead of init's.  Such a
 * handler must not run on, since its job runs again elsewhere: the
 * supervisor kills every child that is not one of its workers, janitor
 * or relay, with its process group, and reaps it like any child.
 */

#ifndef HD_ORPHANS_H
#define HD_ORPHANS_H

#include <stddef.h>
#include <sys/types.h>

/*
 * Send SIGKILL to every child of this process whose pid is not in known
 * (nknown entries, 0 entries ignored), and to its process group when it
 * leads one other than ours.  The children are found in /proc, without
 * blocking on anything but the kernel.  Each is logged once, with the
 * job id that its environment holds.  A process already dead awaits its
 * reaping and is not logged.  Return how many were logged.
 */
int	hd_orphans_kill(const pid_t *known, size_t nknown);
/* Note that pid, a child that is not a worker, janitor or relay, ended. */
void	hd_orphans_reaped(pid_t pid);

#endif /* HD_ORPHANS_H */
