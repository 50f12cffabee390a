/*
 * console.c: herald console, the main loop.
 *
 * One poll() waits on the terminal, a self-pipe for signals and the
 * database socket, with a timeout for the next refresh.  Keys are read
 * without blocking, queries are sent and read without blocking, so a
 * slow or vanished database never freezes the screen.  curses is ended
 * on every way out: a normal quit, SIGTERM, SIGINT or SIGHUP, a failed
 * start, and a crash (the fatal-signal handler ends it, then re-raises).
 */

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <locale.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cli.h"
#include "console.h"
#include "db.h"
#include "format.h"
#include "screen.h"
#include "util.h"

static const char usage[] = "herald console [-i SECONDS] [--read-only]";

#define CONSOLE_MIN_INTERVAL_MS	100
#define CONSOLE_MAX_INTERVAL_MS	3600000
/* Redraw at least this often, so ages and countdowns move. */
#define CONSOLE_REDRAW_MS	1000
/* Below this size the console shows only a request to enlarge it. */
#define CONSOLE_MIN_COLS	40
#define CONSOLE_MIN_LINES	10

static const struct hd_view *const screens[] = {
	&hd_view_queues, &hd_view_workers, &hd_view_retries, &hd_view_dead,
	&hd_view_events
};
#define NSCREENS	((int)(sizeof(screens) / sizeof(screens[0])))

static int		signal_pipe[2] = { -1, -1 };
static volatile sig_atomic_t curses_active;

static void
print_help(void)
{
	printf("herald console shows the queues, workers, retries, dead jobs "
	    "and events of\nthe job database, refreshed on a timer, and "
	    "retries, purges, pauses and\ncancels from the keyboard.\n\n"
	    "Usage: %s\n\n"
	    "Options:\n"
	    "  -i, --interval=SECONDS  refresh every SECONDS (default: 1; "
	    "fractions allowed)\n"
	    "  -r, --read-only         hide and reject every action that "
	    "changes the\n"
	    "                          database\n"
	    "  -h, --help              print this help and exit\n\n"
	    "Keys: press ? in the console.  With -c FILE, the retry "
	    "schedules use the\ntasks' retry policies of FILE; without it, "
	    "the defaults.  NO_COLOR turns\ncolours off.\n", usage);
}

static void
on_signal(int signo)
{
	unsigned char	byte = (unsigned char)signo;
	int		saved = errno;

	(void)write(signal_pipe[1], &byte, 1);
	errno = saved;
}

/* End curses, then die of the same signal with its default action. */
static void
on_fatal_signal(int signo)
{
	if (curses_active)
		endwin();
	signal(signo, SIG_DFL);
	raise(signo);
}

static void
console_end_curses(void)
{
	if (curses_active) {
		endwin();
		curses_active = 0;
	}
}

static int
console_signals(void)
{
	static const int	stop[] = { SIGTERM, SIGINT, SIGHUP };
	static const int	fatal[] = { SIGSEGV, SIGBUS, SIGFPE, SIGABRT,
	    SIGILL };
	struct sigaction	sa;
	size_t			i;

	if (pipe(signal_pipe) == -1)
		return -1;
	for (i = 0; i < 2; i++) {
		fcntl(signal_pipe[i], F_SETFL, O_NONBLOCK);
		fcntl(signal_pipe[i], F_SETFD, FD_CLOEXEC);
	}
	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = on_signal;
	for (i = 0; i < sizeof(stop) / sizeof(stop[0]); i++)
		sigaction(stop[i], &sa, NULL);
	sa.sa_handler = on_fatal_signal;
	sa.sa_flags = SA_RESETHAND;
	for (i = 0; i < sizeof(fatal) / sizeof(fatal[0]); i++)
		sigaction(fatal[i], &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	return 0;
}

void
hd_console_message(struct hd_console *console, bool error,
    const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(console->message, sizeof(console->message), fmt, ap);
	va_end(ap);
	console->message_error = error;
	console->message_ms = hd_monotonic_ms();
	console->message_until_back = false;
	console->dirty = true;
}

void
hd_console_prompt(struct hd_console *console, hd_prompt_fn done,
    const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(console->prompt_label, sizeof(console->prompt_label), fmt,
	    ap);
	va_end(ap);
	console->prompt_active = true;
	console->prompt_text[0] = '\0';
	console->prompt_len = 0;
	console->prompt_done = done;
	console->dirty = true;
}

static int64_t	next_refresh_ms;

void
hd_console_show(struct hd_console *console, const struct hd_view *view)
{
	if (view == &hd_view_detail && console->view != &hd_view_detail)
		console->back = console->view;
	console->view = view;
	console->help_shown = false;
	console->dirty = true;
	next_refresh_ms = 0;
}

static void
console_action_done(void *arg, const struct hd_action *action,
    int64_t count, const struct herald_error *error)
{
	struct hd_console	*console = arg;
	const char		*queue = action->values[0];

	next_refresh_ms = 0;
	if (error != NULL && strcmp(error->sqlstate,
	    HD_SQLSTATE_DENIED) == 0) {
		hd_console_message(console, true, "this role may not act: "
		    "grant it herald_console, or use --read-only");
		return;
	}
	if (error != NULL) {
		hd_console_message(console, true, "%s", error->message);
		/* Whether it was applied stays unknown for the outage. */
		console->message_until_back = error->code == HERALD_ECONNECT;
		return;
	}
	switch (action->kind) {
	case HD_ACTION_QUEUE_PAUSE:
	case HD_ACTION_QUEUE_RESUME:
		if (count > 0)
			hd_console_message(console, false, "%s queue \"%s\"",
			    hd_action_done_word(action->kind), queue);
		else
			hd_console_message(console, false,
			    "queue \"%s\" was already %s", queue,
			    action->kind == HD_ACTION_QUEUE_PAUSE ? "paused" :
			    "running");
		break;
	case HD_ACTION_JOB_CANCEL:
		hd_console_message(console, false, "cancelled %lld job%s",
		    (long long)count, count == 1 ? "" : "s");
		break;
	case HD_ACTION_JOB_RETRY_NOW:
		if (count > 0)
			hd_console_message(console, false,
			    "moved %lld job%s to now", (long long)count,
			    count == 1 ? "" : "s");
		else
			hd_console_message(console, true, "the job is not "
			    "waiting to run; nothing changed");
		break;
	case HD_ACTION_DEAD_RETRY_EDITED:
		if (count > 0)
			hd_console_message(console, false,
			    "retried %s, payload edited", action->max_id);
		else
			hd_console_message(console, true, "dead job %s not "
			    "found; nothing changed", action->max_id);
		break;
	default:
		/* A retry leaves dead the jobs whose key another job holds. */
		if (action->kind == HD_ACTION_DEAD_RETRY &&
		    action->selected > count)
			hd_console_message(console, true, "retried %lld dead "
			    "job%s; %lld left dead, since other jobs hold their "
			    "unique keys", (long long)count, count == 1 ? "" :
			    "s", (long long)(action->selected - count));
		else
			hd_console_message(console, false, "%s %lld dead job%s",
			    hd_action_done_word(action->kind),
			    (long long)count, count == 1 ? "" : "s");
		break;
	}
}

bool
hd_console_can_act(struct hd_console *console)
{
	if (console->read_only) {
		hd_console_message(console, true,
		    "read-only console: actions are disabled");
		return false;
	}
	if (!hd_model_connected(console->model)) {
		hd_console_message(console, true,
		    "not connected to the job database; nothing was changed");
		return false;
	}
	return true;
}

void
hd_console_act(struct hd_console *console, struct hd_action *action)
{
	if (!hd_console_can_act(console)) {
		hd_action_release(action);
		free(action);
		return;
	}
	if (hd_model_act(console->model, action, console_action_done,
	    console) == -1)
		hd_console_message(console, true,
		    "not connected to the job database; nothing was changed");
	else
		hd_console_message(console, false, "sending...");
}

int
hd_console_submit(struct hd_console *console, struct hd_action *action,
    int prepared, const struct herald_error *error)
{
	if (prepared == -1) {
		hd_console_message(console, true, "%s", error->message);
		hd_action_release(action);
		free(action);
		return -1;
	}
	hd_console_act(console, action);
	return 0;
}

/* The action that waits for confirmation, and what to call after it. */
static struct hd_action	*confirm_action;
static void		(*confirm_then)(void);

static void
confirm_release(void)
{
	if (confirm_action == NULL)
		return;
	hd_action_release(confirm_action);
	free(confirm_action);
	confirm_action = NULL;
}

/* Send the action if the operator typed y or yes, else drop it. */
static void
confirm_answered(struct hd_console *console, const char *text)
{
	if (confirm_action == NULL)
		return;
	if (strcasecmp(text, "y") != 0 && strcasecmp(text, "yes") != 0) {
		hd_console_message(console, true,
		    "not confirmed: nothing changed");
		confirm_release();
		return;
	}
	hd_console_act(console, confirm_action);
	confirm_action = NULL;
	if (confirm_then != NULL)
		confirm_then();
}

int
hd_console_submit_asking(struct hd_console *console, struct hd_action *action,
    int prepared, const struct herald_error *error, void (*then)(void),
    const char *fmt, ...)
{
	char	question[128];
	va_list	ap;

	if (prepared == -1)
		return hd_console_submit(console, action, prepared, error);
	/* Open no prompt for an action that could not be sent anyway. */
	if (!hd_console_can_act(console)) {
		hd_action_release(action);
		free(action);
		return 0;
	}
	confirm_release();
	confirm_action = action;
	confirm_then = then;
	va_start(ap, fmt);
	vsnprintf(question, sizeof(question), fmt, ap);
	va_end(ap);
	hd_console_prompt(console, confirm_answered, "%s? Type y to confirm: ",
	    question);
	return 0;
}

void
hd_console_policy(const struct hd_console *console, const char *task,
    struct hd_retry_policy *policy)
{
	const struct hd_task_config	*config = NULL;

	if (console->config != NULL)
		config = hd_config_task(console->config, task);
	if (config != NULL)
		*policy = config->retry;
	else
		hd_retry_policy_init(policy);
}

/*
 * The tab bar: one tab per screen, the current one highlighted, after
 * the program's name when every tab fits beside it.
 */
static void
draw_tabs(struct hd_console *console)
{
	int	i, x, w, tabs_width = 0;
	char	tab[32];

	/* Each tab is " N name " and a space after it. */
	for (i = 0; i < NSCREENS; i++)
		tabs_width += (int)strlen(screens[i]->name) + 5;
	x = 8 + tabs_width - 1 <= COLS ? 8 : 0;
	hd_put_fill(0, 0, COLS, hd_attr(HD_ATTR_TITLE), x > 0 ? " herald" : "");
	for (i = 0; i < NSCREENS && x < COLS; i++) {
		snprintf(tab, sizeof(tab), " %d %s ", i + 1,
		    screens[i]->name);
		w = hd_put(0, x, COLS - x, screens[i] == console->view ||
		    (console->view == &hd_view_detail &&
		    screens[i] == console->back) ?
		    hd_attr(HD_ATTR_TAB_ACTIVE) : hd_attr(HD_ATTR_TITLE), tab);
		x += w + 1;
	}
	if (console->read_only && x + 11 <= COLS)
		hd_put(0, COLS - 11, 11, hd_attr(HD_ATTR_TITLE), "read-only ");
}

/* "updated 2s ago", "query running 3s", or the stale marker. */
static void
status_state(struct hd_console *console, char *buf, size_t size,
    bool *stale)
{
	const struct hd_snapshot	*snap;
	int64_t				 now = hd_monotonic_ms();
	int64_t				 down = hd_model_down_since(console->model);
	int64_t				 retry = hd_model_retry_at(console->model);
	int64_t				 sent = hd_model_sent_at(console->model);
	char				 age[32];

	snap = hd_model_snapshot(console->model, console->view->snapshot);
	*stale = down != 0;
	if (down != 0) {
		/* A screen not shown since before the outage is older. */
		if (snap->res != NULL && snap->fetched_ms < down)
			down = snap->fetched_ms;
		hd_fmt_age(now - down, age, sizeof(age));
		if (hd_model_connected(console->model))
			snprintf(buf, size, "STALE %s: connected, %s", age,
			    hd_model_error(console->model)[0] != '\0' ?
			    "query failed" : "reading");
		else if (retry != 0 && retry > now)
			snprintf(buf, size, "STALE %s: database unreachable, "
			    "reconnecting in %llds", age,
			    (long long)((retry - now + 999) / 1000));
		else
			snprintf(buf, size, "STALE %s: database unreachable, "
			    "reconnecting", age);
		return;
	}
	if (sent != 0 && now - sent >= 1000) {
		hd_fmt_age(now - sent, age, sizeof(age));
		snprintf(buf, size, "query running %s", age);
		return;
	}
	if (snap->res == NULL) {
		snprintf(buf, size, "loading");
		return;
	}
	hd_fmt_age(now - snap->fetched_ms, age, sizeof(age));
	snprintf(buf, size, "updated %s ago", age);
}

/* The count of lines above the status line a long message may take. */
#define STATUS_EXTRA_LINES	3

/* The lines a message is broken into at most before it is shortened. */
#define MESSAGE_LINES_MAX	16

/* The lines that libpq's reason for a failed connection may take. */
#define WAIT_REASON_LINES	6

/*
 * Break text into at most max lines of width columns, at spaces where a
 * line has one, and fill in where each starts and its length.  The last
 * line takes the rest unbroken.  Return the count of lines.
 */
static int
wrap_text(const char *text, int width, const char **starts, int *lens,
    int max)
{
	int	n = 0, cut;

	while (*text != '\0' && n < max) {
		cut = (int)strlen(text) < width ? (int)strlen(text) : width;
		if (cut == width && text[cut] != '\0' && n < max - 1) {
			while (cut > 0 && text[cut] != ' ')
				cut--;
			if (cut == 0)
				cut = width;
		}
		starts[n] = text;
		lens[n++] = cut;
		text += cut;
		while (*text == ' ')
			text++;
	}
	return n;
}

/*
 * Write a message too long to share the status line on up to
 * STATUS_EXTRA_LINES lines above it, broken at spaces.  The status line
 * keeps its target and state.  A message that needs more lines keeps its
 * first line, which names the subject, and its last lines, which often
 * name the outcome, and the first line ends in "~".
 */
static void
draw_message_above(struct hd_console *console)
{
	const char	*text = console->message;
	const char	*starts[MESSAGE_LINES_MAX];
	char		 part[sizeof(console->message)];
	int		 lens[MESSAGE_LINES_MAX], lines, n, i, row, cut, attr;

	attr = console->message_error ? hd_attr(HD_ATTR_STALE) :
	    hd_attr(HD_ATTR_STATUS);
	lines = LINES - 2 < STATUS_EXTRA_LINES ? LINES - 2 :
	    STATUS_EXTRA_LINES;
	if (lines < 1 || COLS < 2)
		return;
	n = wrap_text(text, COLS, starts, lens, MESSAGE_LINES_MAX);
	for (row = 0, i = 0; i < n && row < lines; i++) {
		/* Past the first line, skip to the last lines that fit. */
		if (i == 1 && n > lines)
			i = n - (lines - 1);
		snprintf(part, sizeof(part), "%.*s", lens[i], starts[i]);
		if (i == 0 && n > lines) {
			cut = lens[0] < COLS ? lens[0] : COLS - 1;
			part[cut] = '~';
			part[cut + 1] = '\0';
		}
		hd_put_fill(LINES - 1 - (n < lines ? n : lines) + row, 0, COLS,
		    attr, part);
		row++;
	}
}

static void
draw_status(struct hd_console *console)
{
	char		 state[128];
	const char	*error = hd_model_error(console->model);
	bool		 stale, above, error_shown;
	int		 y = LINES - 1, x, width, used;

	if (console->prompt_active) {
		char	line[320];
		int	len;

		len = snprintf(line, sizeof(line), "%s%s",
		    console->prompt_label, console->prompt_text);
		/*
		 * A prompt wider than the screen loses its start, marked
		 * "~", so that what to type and the typed text stay in view.
		 */
		if (len > COLS - 1 && COLS > 2) {
			hd_put_fill(y, 0, COLS, hd_attr(HD_ATTR_NORMAL), "~");
			hd_put(y, 1, COLS - 1, hd_attr(HD_ATTR_NORMAL),
			    line + len - (COLS - 2));
			move(y, COLS - 1);
			return;
		}
		hd_put_fill(y, 0, COLS, hd_attr(HD_ATTR_NORMAL), line);
		move(y, len < COLS ? len : COLS - 1);
		return;
	}

	status_state(console, state, sizeof(state), &stale);
	above = console->message[0] != '\0' && (int)(strlen(state) +
	    strlen(console->message) + 3 + COLS / 3 + 3) > COLS;
	if (above)
		draw_message_above(console);
	error_shown = error[0] != '\0' && (!stale ||
	    hd_model_connected(console->model));

	/*
	 * The target, which names the socket or host, takes what the state
	 * and a message leave, down to a third of the line beside a message
	 * and a quarter without.  hd_put() ends a cut target in "~", so
	 * that a cut path never reads as another.
	 */
	used = (int)strlen(state);
	if (console->message[0] != '\0' && !above)
		used += 3 + (int)strlen(console->message);
	else if (error_shown)
		used += 3 + (int)strlen(error);
	/* In steps of 8, so that the cut does not move as seconds pass. */
	width = COLS - 3 - (used + 7) / 8 * 8;
	if (console->message[0] != '\0' || error_shown) {
		if (width < COLS / 3)
			width = COLS / 3;
	} else if (width < COLS / 4)
		width = COLS / 4;
	hd_put_fill(y, 0, COLS, hd_attr(HD_ATTR_STATUS), "");
	x = hd_put(y, 0, width, hd_attr(HD_ATTR_STATUS),
	    hd_model_target(console->model));
	hd_put_next(y, &x, COLS, hd_attr(HD_ATTR_STATUS), " | ");
	hd_put_next(y, &x, COLS, stale ? hd_attr(HD_ATTR_STALE) :
	    hd_attr(HD_ATTR_STATUS), state);
	if (console->message[0] != '\0' && !above) {
		hd_put_next(y, &x, COLS, hd_attr(HD_ATTR_STATUS), " | ");
		hd_put_next(y, &x, COLS, console->message_error ?
		    hd_attr(HD_ATTR_STALE) : hd_attr(HD_ATTR_STATUS),
		    console->message);
	} else if (error_shown) {
		hd_put_next(y, &x, COLS, hd_attr(HD_ATTR_STATUS), " | ");
		hd_put_next(y, &x, COLS, hd_attr(HD_ATTR_STALE), error);
	}
}

/* Write one help row per key of table that the console offers. */
static int
draw_help_rows(struct hd_console *console, const struct hd_key *table,
    int y, int x, int width, int bottom, int *skip)
{
	const struct hd_key	*row;

	for (row = table; row != NULL && row->keys[0] != 0; row++) {
		if (row->action && console->read_only)
			continue;
		if (*skip > 0) {
			(*skip)--;
			continue;
		}
		if (y >= bottom)
			break;
		hd_put_fill(y, x, width, hd_attr(HD_ATTR_NORMAL), "");
		hd_put(y, x + 1, 10, hd_attr(HD_ATTR_HEADER), row->label);
		hd_put(y, x + 12, width - 13, hd_attr(HD_ATTR_NORMAL),
		    row->help);
		y++;
	}
	return y;
}

/* Return how many help rows table has for this console. */
static int
help_rows(const struct hd_console *console, const struct hd_key *table)
{
	const struct hd_key	*row;
	int			 n = 0;

	for (row = table; row != NULL && row->keys[0] != 0; row++)
		n += !(row->action && console->read_only);
	return n;
}

/*
 * The "?" window: the view's keys, then the global ones.  It scrolls no
 * further than its last row, and its last line marks rows below.
 */
static void
draw_help(struct hd_console *console)
{
	/* At 72 columns the title of every screen fits, read-only too. */
	int	width = COLS < 72 ? COLS : 72, x = (COLS - width) / 2;
	int	y = 1, bottom = LINES - 1, skip;
	int	total, shown = LINES - 3;
	char	title[96];

	total = help_rows(console, console->view->keys) + 1 +
	    help_rows(console, hd_global_keys);
	if (console->help_top > total - shown)
		console->help_top = total - shown > 0 ? total - shown : 0;
	skip = console->help_top;
	if (total - skip > shown)
		bottom--;

	snprintf(title, sizeof(title), " Keys of %s%s (q quits, other keys "
	    "close, j/k scroll) ", console->view->name,
	    console->read_only ? ", read-only" : "");
	hd_put_fill(y++, x, width, hd_attr(HD_ATTR_TITLE), title);
	y = draw_help_rows(console, console->view->keys, y, x, width, bottom,
	    &skip);
	if (skip > 0)
		skip--;
	else if (y < bottom)
		hd_put_fill(y++, x, width, hd_attr(HD_ATTR_DIM),
		    " on every screen:");
	y = draw_help_rows(console, hd_global_keys, y, x, width, bottom,
	    &skip);
	if (total - console->help_top > shown)
		hd_put_fill(y++, x, width, hd_attr(HD_ATTR_DIM),
		    " more below: j scrolls");
	if (y < LINES - 1)
		hd_put_fill(y, x, width, hd_attr(HD_ATTR_NORMAL), "");
}

/*
 * Draw, in place of the screen, that the job database is unreachable and
 * libpq's reason, while no data has arrived yet.  The status line has no
 * room for the reason.  Return whether it was drawn.
 */
static bool
draw_unreached(struct hd_console *console)
{
	const struct hd_snapshot	*snap;
	const char			*starts[WAIT_REASON_LINES];
	int				 lens[WAIT_REASON_LINES], n, i, y = 2;

	snap = hd_model_snapshot(console->model, console->view->snapshot);
	if (snap->res != NULL || hd_model_down_since(console->model) == 0 ||
	    hd_model_error(console->model)[0] == '\0')
		return false;
	n = wrap_text("The job database is unreachable; the console connects "
	    "once it responds.", COLS - 2, starts, lens, WAIT_REASON_LINES);
	for (i = 0; i < n && y < LINES - 1; i++)
		hd_putf(y++, 1, COLS - 1, hd_attr(HD_ATTR_STALE), "%.*s",
		    lens[i], starts[i]);
	y++;
	n = wrap_text(hd_model_error(console->model), COLS - 2, starts, lens,
	    WAIT_REASON_LINES);
	for (i = 0; i < n && y < LINES - 1; i++)
		hd_putf(y++, 1, COLS - 1, hd_attr(HD_ATTR_NORMAL), "%.*s",
		    lens[i], starts[i]);
	return true;
}

static void
console_draw(struct hd_console *console)
{
	erase();
	if (COLS < CONSOLE_MIN_COLS || LINES < CONSOLE_MIN_LINES) {
		/* Two short lines, so that a narrow terminal shows both. */
		hd_put(0, 0, COLS, A_BOLD, "terminal too small");
		hd_putf(1, 0, COLS, A_BOLD, "%dx%d, need %dx%d", COLS, LINES,
		    CONSOLE_MIN_COLS, CONSOLE_MIN_LINES);
		hd_put(2, 0, COLS, A_NORMAL, "keys off; q quits");
		refresh();
		return;
	}
	draw_tabs(console);
	/* The help hides the screen, whose rows would show beside it. */
	if (console->help_shown)
		draw_help(console);
	else if (!draw_unreached(console))
		console->view->draw(console, 1, LINES - 2, COLS);
	draw_status(console);
	curs_set(console->prompt_active ? 1 : 0);
	refresh();
	console->dirty = false;
}

static void
prompt_key(struct hd_console *console, int key)
{
	hd_prompt_fn	done = console->prompt_done;

	console->dirty = true;
	if (key == 27 || key == ('C' & 0x1f)) {
		console->prompt_active = false;
		hd_console_message(console, false, "cancelled");
	} else if (key == '\n' || key == '\r' || key == KEY_ENTER) {
		console->prompt_active = false;
		console->message[0] = '\0';
		done(console, console->prompt_text);
	} else if (key == KEY_BACKSPACE || key == 127 || key == 8) {
		if (console->prompt_len > 0)
			console->prompt_text[--console->prompt_len] = '\0';
	} else if (key == ('U' & 0x1f)) {
		console->prompt_len = 0;
		console->prompt_text[0] = '\0';
	} else if (key >= 0x20 && key < 0x7f &&
	    console->prompt_len + 1 < sizeof(console->prompt_text)) {
		console->prompt_text[console->prompt_len++] = (char)key;
		console->prompt_text[console->prompt_len] = '\0';
	}
}

/* Run a command that every screen shares; false when it is not one. */
static bool
global_command(struct hd_console *console, enum hd_command command,
    bool *quit)
{
	int	i, current = 0;

	for (i = 0; i < NSCREENS; i++)
		if (screens[i] == console->view ||
		    (console->view == &hd_view_detail &&
		    screens[i] == console->back))
			current = i;
	switch (command) {
	case HD_CMD_SCREEN_1:
	case HD_CMD_SCREEN_2:
	case HD_CMD_SCREEN_3:
	case HD_CMD_SCREEN_4:
	case HD_CMD_SCREEN_5:
		hd_console_show(console, screens[command - HD_CMD_SCREEN_1]);
		return true;
	case HD_CMD_NEXT_SCREEN:
		hd_console_show(console, screens[(current + 1) % NSCREENS]);
		return true;
	case HD_CMD_PREV_SCREEN:
		hd_console_show(console,
		    screens[(current + NSCREENS - 1) % NSCREENS]);
		return true;
	case HD_CMD_HELP:
		console->help_shown = true;
		console->help_top = 0;
		console->dirty = true;
		return true;
	case HD_CMD_QUIT:
		*quit = true;
		return true;
	case HD_CMD_REFRESH:
		next_refresh_ms = 0;
		clearok(curscr, TRUE);
		console->dirty = true;
		return true;
	default:
		return false;
	}
}

static void
console_key(struct hd_console *console, int key, bool *quit)
{
	const struct hd_key	*row;
	int			 react;

	if (key == KEY_RESIZE) {
		console->dirty = true;
		return;
	}
	/*
	 * Nothing shows what a key would do on a screen too small to draw,
	 * so keys other than q do nothing there.  q quits even from a
	 * prompt, whose action is then dropped unsent.
	 */
	if (COLS < CONSOLE_MIN_COLS || LINES < CONSOLE_MIN_LINES) {
		if (key == 'q')
			*quit = true;
		return;
	}
	if (console->prompt_active) {
		prompt_key(console, key);
		return;
	}
	if (console->help_shown) {
		if (key == 'q')
			*quit = true;
		else if (key == 'j' || key == KEY_DOWN)
			console->help_top++;
		else if ((key == 'k' || key == KEY_UP) &&
		    console->help_top > 0)
			console->help_top--;
		else
			console->help_shown = false;
		console->dirty = true;
		return;
	}

	row = hd_key_find(console->view, key);
	if (row == NULL) {
		if (key != ERR && key < KEY_MIN)
			hd_console_message(console, true,
			    "no action on this key; press ? for the keys");
		return;
	}
	if (row->action && console->read_only) {
		hd_console_message(console, true,
		    "read-only console: \"%s\" (%s) is disabled", row->label,
		    row->help);
		return;
	}
	react = console->view->key(console, row->command);
	if (react & HD_REACT_UNHANDLED)
		(void)global_command(console, row->command, quit);
	if (react & HD_REACT_REFETCH)
		next_refresh_ms = 0;
	if (react & HD_REACT_REDRAW)
		console->dirty = true;
}

/* Read every key waiting; return true to quit. */
static bool
console_read_keys(struct hd_console *console)
{
	bool	quit = false;
	int	key;

	while (!quit && (key = getch()) != ERR)
		console_key(console, key, &quit);
	return quit;
}

static bool
console_read_signals(struct hd_console *console)
{
	unsigned char	byte;
	bool		stop = false;

	/* ^C at a prompt cancels the prompt as Escape does, else it quits. */
	while (read(signal_pipe[0], &byte, 1) == 1) {
		if (byte == SIGINT && console->prompt_active)
			prompt_key(console, 'C' & 0x1f);
		else
			stop = true;
	}
	return stop;
}

/* The interval between looks at the configuration's files. */
#define CONSOLE_CONFIG_CHECK_MS	2000

/*
 * Read the configuration file again when it or a file it includes
 * changed, so that a task or queue added and reloaded into heraldd gets
 * its own retry policy and name here too, not the defaults.  A file that
 * does not load leaves the last one in use, and the status line shows
 * why.
 */
static void
console_config_check(struct hd_console *console, int64_t now)
{
	struct hd_config	*config;
	uint64_t		 fingerprint;
	char			 error[HD_CONFIG_ERROR_MAX];

	if (console->config == NULL ||
	    now - console->config_checked_ms < CONSOLE_CONFIG_CHECK_MS)
		return;
	console->config_checked_ms = now;
	if ((fingerprint = hd_config_fingerprint(console->config->path)) ==
	    console->config_fingerprint)
		return;
	console->config_fingerprint = fingerprint;
	if ((config = hd_config_load(console->config->path, error,
	    sizeof error)) == NULL) {
		hd_console_message(console, true, "could not read the "
		    "changed configuration, so the previous one stays in use: "
		    "%s", error);
		console->config_failed = true;
		return;
	}
	/* The error on the status line would read as still true. */
	if (console->config_failed)
		hd_console_message(console, false, "read the changed "
		    "configuration, which is now in use");
	console->config_failed = false;
	hd_config_free(console->reread);
	console->reread = config;
	console->config = config;
	console->config_reads++;
	next_refresh_ms = 0;
}

static void
console_loop(struct hd_console *console)
{
	struct pollfd	fds[3];
	int64_t		now, timeout, next_redraw_ms = 0;

	for (;;) {
		now = hd_monotonic_ms();
		console_config_check(console, now);
		if (now >= next_refresh_ms && !hd_model_busy(console->model)) {
			console->view->fetch(console);
			next_refresh_ms = now + console->interval_ms;
		}
		/*
		 * An old message would read as news of the current state.
		 * "sending..." stays while its action runs.  Fetches do not
		 * hold it, since they wait in the queue during an outage.
		 */
		if (console->message[0] != '\0' &&
		    !hd_model_acting(console->model) &&
		    (!console->message_until_back ||
		    hd_model_connected(console->model)) &&
		    now - console->message_ms >= HD_CONSOLE_MESSAGE_MS) {
			console->message[0] = '\0';
			console->dirty = true;
		}
		if (console->dirty || now >= next_redraw_ms) {
			console_draw(console);
			next_redraw_ms = now + CONSOLE_REDRAW_MS;
		}

		/*
		 * No refresh goes out while requests wait, so its time, which
		 * passes during an outage, must not shorten the wait to zero.
		 */
		timeout = next_redraw_ms - now;
		if (!hd_model_busy(console->model) &&
		    next_refresh_ms - now < timeout)
			timeout = next_refresh_ms - now;
		if (timeout < 0)
			timeout = 0;
		fds[0].fd = STDIN_FILENO;
		fds[0].events = POLLIN;
		fds[1].fd = signal_pipe[0];
		fds[1].events = POLLIN;
		hd_model_pollfd(console->model, &fds[2], now, &timeout);
		if (poll(fds, 3, (int)timeout) == -1 && errno != EINTR)
			break;

		if ((fds[1].revents & POLLIN) && console_read_signals(console))
			break;
		/* KEY_RESIZE waits in curses after SIGWINCH interrupts poll. */
		if (console_read_keys(console))
			break;
		hd_model_io(console->model, fds[2].fd >= 0 ? fds[2].revents :
		    0, hd_monotonic_ms());
		if (hd_model_failure(console->model) != NULL)
			break;
		if (hd_model_busy(console->model) || fds[2].revents != 0)
			console->dirty = true;
	}
}

static int
parse_interval(const char *text, int64_t *interval_ms)
{
	char	*end;
	double	 seconds;

	errno = 0;
	seconds = strtod(text, &end);
	if (end == text || *end != '\0' || errno != 0 || !isfinite(seconds) ||
	    seconds * 1000 < CONSOLE_MIN_INTERVAL_MS ||
	    seconds * 1000 > CONSOLE_MAX_INTERVAL_MS) {
		hd_cli_error("invalid value \"%s\" for --interval: use seconds "
		    "from %.1f to %d", text, CONSOLE_MIN_INTERVAL_MS / 1000.0,
		    CONSOLE_MAX_INTERVAL_MS / 1000);
		return EX_DATAERR;
	}
	*interval_ms = (int64_t)(seconds * 1000);
	return HD_EXIT_OK;
}

static int
parse_args(int argc, char **argv, struct hd_console *console)
{
	static const struct option	options[] = {
		{ "interval", required_argument, NULL, 'i' },
		{ "read-only", no_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	int				c, status;

	while ((c = getopt_long(argc, argv, ":i:rh", options, NULL)) != -1) {
		switch (c) {
		case 'i':
			status = parse_interval(optarg, &console->interval_ms);
			if (status != HD_EXIT_OK)
				return status;
			break;
		case 'r':
			console->read_only = true;
			break;
		case 'h':
			print_help();
			return -1;
		default:
			return hd_cli_bad_option("console", usage, options, argv, c);
		}
	}
	if (optind < argc)
		return hd_cli_usage_error("console", usage,
		    "unexpected argument \"%s\"", argv[optind]);
	return HD_EXIT_OK;
}

static void
console_start_curses(void)
{
	initscr();
	curses_active = 1;
	cbreak();
	noecho();
	nonl();
	keypad(stdscr, TRUE);
	nodelay(stdscr, TRUE);
	set_escdelay(25);
	curs_set(0);
	hd_screen_init(getenv("NO_COLOR") == NULL ||
	    getenv("NO_COLOR")[0] == '\0');
}

int
hd_cmd_console(struct hd_cli *cli, int argc, char **argv)
{
	struct hd_console		 console = { .interval_ms = 1000 };
	const struct herald_error	*failure;
	const char			*conninfo = cli->conninfo;
	int				 status;
	bool				 down;

	status = parse_args(argc, argv, &console);
	if (status != HD_EXIT_OK)
		return status == -1 ? HD_EXIT_OK : status;
	if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
		hd_cli_error("the console needs a terminal on standard input "
		    "and output");
		return HD_EXIT_FAILURE;
	}
	/*
	 * A server that is down is waited for on screen, as during an
	 * outage, because the console is often opened when something broke.
	 */
	if ((status = hd_cli_config(cli, &console.config)) != HD_EXIT_OK)
		return status;
	if ((status = hd_cli_connect_or_down(cli, &down)) != HD_EXIT_OK &&
	    !down)
		return status;
	if (console.config != NULL)
		console.config_fingerprint =
		    hd_config_fingerprint(console.config->path);
	if (conninfo == NULL)
		conninfo = console.config != NULL ? console.config->job_db : "";
	if (console_signals() == -1) {
		hd_cli_error("could not create a pipe: %s", strerror(errno));
		return HD_EXIT_FAILURE;
	}

	/*
	 * Read-only also has the server reject writes, and a statement
	 * that runs for half a minute is cancelled by the server.  The first
	 * connection came from hd_cli_connect() under the name "herald".
	 */
	console.model = hd_model_new(cli->conn, conninfo, "herald console",
	    console.read_only ?
	    "SET application_name = 'herald console';"
	    " SET statement_timeout = '30s';"
	    " SET default_transaction_read_only = on" :
	    "SET application_name = 'herald console';"
	    " SET statement_timeout = '30s'");
	cli->conn = NULL;
	console.view = &hd_view_queues;

	setlocale(LC_ALL, "");
	atexit(console_end_curses);
	console_start_curses();
	console_loop(&console);
	console_end_curses();

	status = HD_EXIT_OK;
	if ((failure = hd_model_failure(console.model)) != NULL)
		status = hd_cli_connect_failed(failure);
	confirm_release();
	hd_model_free(console.model);
	hd_config_free(console.reread);
	return status;
}
