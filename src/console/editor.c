/*
 * editor.c: editing text in the operator's editor from the console.
 *
 * Curses is ended while the editor runs and restored after it, so the
 * editor gets the terminal as it was before the console started, and the
 * console redraws everything when it comes back.
 */

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "console.h"
#include "util.h"

/* The editor's file: at most this many bytes are read back. */
#define EDITOR_MAX_BYTES	(64 * 1024 * 1024)

/* Write text to a new private file; return its descriptor, or -1. */
static int
editor_write(char *path, const char *text)
{
	size_t	len = strlen(text), done = 0;
	ssize_t	n;
	int	fd;

	if ((fd = mkstemps(path, 5)) == -1)
		return -1;
	while (done < len) {
		n = write(fd, text + done, len - done);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			n = errno;
			close(fd);
			unlink(path);
			errno = (int)n;
			return -1;
		}
		done += (size_t)n;
	}
	return fd;
}

/*
 * Read the file at path back by name, because an editor that saves by
 * renaming a new file over the old one leaves the old descriptor on the
 * old content.  Return NULL when it fails.
 */
static char *
editor_read(const char *path)
{
	char	*text;
	size_t	 len = 0, cap = 4096;
	ssize_t	 n;
	int	 fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return NULL;
	text = hd_xmalloc(cap);
	for (;;) {
		if (len + 1 == cap) {
			if (cap >= EDITOR_MAX_BYTES) {
				free(text);
				close(fd);
				errno = EFBIG;
				return NULL;
			}
			cap *= 2;
			text = hd_xrealloc(text, cap, 1);
		}
		n = read(fd, text + len, cap - len - 1);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			free(text);
			close(fd);
			return NULL;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	text[len] = '\0';
	return text;
}

/*
 * Run $EDITOR, or vi, on path through /bin/sh, so that EDITOR may carry
 * arguments ("emacs -nw").  Return its exit
 * status, or -1 when it could not run or was killed.
 */
static int
editor_run(const char *path)
{
	const char	*editor = getenv("EDITOR");
	pid_t		 pid;
	int		 status;

	if (editor == NULL || editor[0] == '\0')
		editor = "vi";
	pid = fork();
	if (pid == -1)
		return -1;
	if (pid == 0) {
		signal(SIGINT, SIG_DFL);
		signal(SIGQUIT, SIG_DFL);
		if (setenv("HERALD_EDITOR", editor, 1) == 0)
			execl("/bin/sh", "sh", "-c",
			    "exec $HERALD_EDITOR \"$1\"", "sh", path,
			    (char *)NULL);
		_exit(127);
	}
	while (waitpid(pid, &status, 0) == -1)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int
hd_console_edit(const char *text, char **edited, char *error, size_t size)
{
	const char	*tmpdir = getenv("TMPDIR");
	char		 path[4096];
	int		 fd, status;

	*edited = NULL;
	if (tmpdir == NULL || tmpdir[0] == '\0' ||
	    strlen(tmpdir) + sizeof("/herald-payload-XXXXXX.json") >
	    sizeof(path))
		tmpdir = "/tmp";
	snprintf(path, sizeof(path), "%s/herald-payload-XXXXXX.json", tmpdir);
	if ((fd = editor_write(path, text)) == -1) {
		snprintf(error, size, "could not create a file for the "
		    "editor: %s", strerror(errno));
		return -1;
	}
	close(fd);

	def_prog_mode();
	endwin();
	status = editor_run(path);
	reset_prog_mode();
	clearok(curscr, TRUE);
	refresh();

	if (status != 0)
		snprintf(error, size, "the editor exited with status %d; "
		    "nothing changed", status);
	else if ((*edited = editor_read(path)) == NULL)
		snprintf(error, size, "could not read the edited file: %s",
		    strerror(errno));
	unlink(path);
	return *edited == NULL ? -1 : 0;
}
