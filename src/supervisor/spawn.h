/*
 * spawn.h: how heraldd starts heraldd-child.
 */

#ifndef HD_SPAWN_H
#define HD_SPAWN_H

#include <stdbool.h>
#include <stddef.h>

#include "child.h"
#include "config.h"

/*
 * Find heraldd-child: beside heraldd's own executable (a build tree), else
 * in pkglibexecdir under the directory that heraldd was installed into.
 * On failure return -1 with a message in error.
 */
int	hd_spawn_init(char *error, size_t error_size);

/* Return the path found by hd_spawn_init(). */
const char *hd_spawn_path(void);

/*
 * In a child just forked by heraldd, with every signal blocked, move the
 * descriptors to the numbers of child.h (up_fd and extra_fd may be -1)
 * and execute heraldd-child with argv.
 * Never returns: on failure log and exit.
 */
void	hd_spawn_exec(char *const argv[], int spec_fd, int up_fd,
	    int extra_fd) __attribute__((noreturn));

/*
 * Run heraldd-child to check what heraldd cannot without libpq: the
 * connection strings of config and, with schema, the schema of each
 * database.  With modules it also loads each task's module, and warns of
 * those that fail.  Return 0 when they are valid, or -1 with the message
 * in error.  Warnings go to standard error.
 */
int	hd_spawn_check(const struct hd_config *config, bool schema,
	    bool modules, bool verbose, char *error, size_t error_size);

#endif /* HD_SPAWN_H */
