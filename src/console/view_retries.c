/*
 * view_retries.c: screen 3, jobs waiting for their next attempt, soonest
 * first, with the rest of their backoff schedule.
 *
 * The schedule comes from hd_backoff_schedule(), the code the workers use,
 * with the task's retry policy from the configuration (-c) or the
 * defaults, and the job's own max_attempts.  Delays are the jitter-free
 * ones, so "dead at about" is an estimate that ignores run times.
 */

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backoff.h"
#include "console.h"
#include "format.h"
#include "screen.h"
#include "util.h"

/* Rows fetched: the soonest ones; the total is counted separately. */
#define RETRIES_LIMIT	"1000"

static const struct hd_key retries_keys[] = {
	{ { '\r', '\n', KEY_ENTER }, "Enter",
	    "show the job's payload and attempts", HD_CMD_OPEN, false },
	{ { 's' }, "s", "also show every other queued job (ready, scheduled)",
	    HD_CMD_TOGGLE, false },
	{ { 'c' }, "c", "cancel the job under the cursor (delete it; asks)",
	    HD_CMD_CANCEL, true },
	{ { 'n' }, "n", "run the job under the cursor now, without waiting",
	    HD_CMD_RETRY_NOW, true },
	{ { 0 }, NULL, NULL, HD_CMD_NONE, false }
};

static struct hd_list	retries_list;
static bool		with_scheduled;

static void
retries_refresh(struct hd_console *console)
{
	const char	*values[2];

	values[0] = with_scheduled ? "t" : "f";
	values[1] = RETRIES_LIMIT;
	hd_model_fetch(console->model, HD_Q_RETRIES, 2, values, 0, NULL,
	    NULL);
}

/*
 * Format the schedule of row after its next attempt into buf, at most
 * width columns.  max_attempts comes from the job, the rest of the policy
 * from its task.
 */
static void
retries_schedule(struct hd_console *console, const PGresult *res, int row,
    bool compact, size_t width, char *buf, size_t size)
{
	struct hd_retry_policy	policy;
	int64_t			delays[HERALD_ATTEMPTS_MAX], total = 0;
	int			attempt, n, i;
	time_t			next_at, now = time(NULL);

	hd_console_policy(console, PQgetvalue(res, row, HD_RETRIES_TASK),
	    &policy);
	policy.max_attempts = (int)hd_value_ll(res, row,
	    HD_RETRIES_MAX_ATTEMPTS);
	attempt = (int)hd_value_ll(res, row, HD_RETRIES_ATTEMPT);

	/* The next attempt is attempt + 1; the delays follow its failure. */
	n = hd_backoff_schedule(&policy, attempt + 1, delays,
	    HERALD_ATTEMPTS_MAX);
	for (i = 0; i < n; i++)
		total += delays[i];

	/*
	 * An overdue job, such as one in a paused queue, runs now at the
	 * earliest, so its schedule starts now.
	 */
	next_at = (time_t)hd_value_ll(res, row, HD_RETRIES_RUN_AT_S);
	if (next_at < now)
		next_at = now;
	hd_fmt_schedule(delays, n, next_at + (time_t)(total / 1000), now,
	    compact, width, buf, size);
}

#define ID_W	8
#define QUEUE_W	10
#define ATT_W	9
#define NEXT_W	12
/* The width of a short schedule: "then ..., dead ~14:23". */
#define SCHEDULE_MIN_W	21
/* The header of the schedule, and the one for a column narrower than it. */
#define SCHEDULE_HEADER		"then, if every attempt fails"
#define SCHEDULE_HEADER_SHORT	"if all attempts fail"

/* Widths of the columns that depend on the screen width; 0 hides one. */
struct retries_layout {
	int	task_w;
	int	queue_w;
	int	schedule_w;
};

/*
 * Lay out cols columns.  The task gets a third of what the fixed columns
 * leave, from 10 to 24.  The queue column shows only where it fits
 * whole, so that at 40 columns the time of the next attempt still does,
 * and the task takes its place.  The schedule gets the rest of the line,
 * when that is enough to show one.
 */
static void
retries_layout(int cols, struct retries_layout *layout)
{
	int	room = cols - 1 - ID_W - ATT_W - NEXT_W;

	layout->queue_w = QUEUE_W;
	layout->task_w = (room - QUEUE_W) / 3;
	if (layout->task_w < 10)
		layout->task_w = 10;
	if (layout->task_w > 24)
		layout->task_w = 24;
	if (layout->task_w + layout->queue_w > room) {
		layout->queue_w = 0;
		layout->task_w = room < 24 ? room : 24;
	}
	layout->schedule_w = room - layout->task_w - layout->queue_w - 1;
	if (layout->schedule_w < SCHEDULE_MIN_W)
		layout->schedule_w = 0;
}

static void
retries_row(struct hd_console *console, const struct hd_snapshot *snap,
    int row, int y, int cols, const struct retries_layout *layout,
    bool selected)
{
	const PGresult	*res = snap->res;
	int		 attr = selected ? hd_attr(HD_ATTR_SELECTED) :
	    hd_attr(HD_ATTR_NORMAL);
	int		 x = 1;
	char		 text[512];
	int64_t		 due;

	hd_put_fill(y, 0, cols, attr, "");
	hd_putf(y, x, ID_W, attr, "%*s ", ID_W - 1,
	    PQgetvalue(res, row, HD_RETRIES_ID));
	x += ID_W;
	hd_put(y, x, layout->task_w - 1, attr,
	    PQgetvalue(res, row, HD_RETRIES_TASK));
	x += layout->task_w;
	hd_put(y, x, layout->queue_w - 1, attr,
	    PQgetvalue(res, row, HD_RETRIES_QUEUE));
	x += layout->queue_w;
	hd_putf(y, x, ATT_W, attr, "%lld of %s",
	    hd_value_ll(res, row, HD_RETRIES_ATTEMPT) + 1,
	    PQgetvalue(res, row, HD_RETRIES_MAX_ATTEMPTS));
	x += ATT_W;
	due = hd_value_ll(res, row, HD_RETRIES_DUE_MS) - hd_snapshot_age(snap);
	hd_fmt_relative(due > 0 ? due : 0, text, sizeof(text));
	hd_put(y, x, NEXT_W - 1, attr, text);
	x += NEXT_W;
	if (layout->schedule_w > 0) {
		retries_schedule(console, res, row, layout->schedule_w < 60,
		    (size_t)layout->schedule_w, text, sizeof(text));
		hd_put(y, x, layout->schedule_w, selected ? attr :
		    hd_attr(HD_ATTR_DIM), text);
	}
}

/* The job under the cursor in full sentences, on the last two lines. */
static void
retries_footer(struct hd_console *console, const struct hd_snapshot *snap,
    int y, int cols)
{
	const PGresult	*res = snap->res;
	int		 row = retries_list.cursor;
	char		 next[32], schedule[512];
	int64_t		 due;

	due = hd_value_ll(res, row, HD_RETRIES_DUE_MS) - hd_snapshot_age(snap);
	hd_fmt_relative(due > 0 ? due : 0, next, sizeof(next));
	retries_schedule(console, res, row, false, (size_t)(cols - 4),
	    schedule, sizeof(schedule));
	hd_put_fill(y, 0, cols, hd_attr(HD_ATTR_NORMAL), "");
	hd_putf(y, 1, cols - 2, hd_attr(HD_ATTR_NORMAL),
	    "job %s (%s): attempt %lld of %s %s; the last one ended: %s",
	    PQgetvalue(res, row, HD_RETRIES_ID),
	    PQgetvalue(res, row, HD_RETRIES_TASK),
	    hd_value_ll(res, row, HD_RETRIES_ATTEMPT) + 1,
	    PQgetvalue(res, row, HD_RETRIES_MAX_ATTEMPTS), next,
	    PQgetvalue(res, row, HD_RETRIES_LAST));
	hd_put_fill(y + 1, 0, cols, hd_attr(HD_ATTR_NORMAL), "");
	hd_put(y + 1, 3, cols - 4, hd_attr(HD_ATTR_NORMAL), schedule);
}

static void
retries_draw(struct hd_console *console, int top, int lines, int cols)
{
	const struct hd_snapshot	*snap;
	struct retries_layout		 layout;
	int				 nrows, row, y, x;
	long long			 total = 0;

	snap = hd_model_snapshot(console->model, HD_SNAP_RETRIES);
	retries_layout(cols, &layout);

	y = top + 1;
	hd_put_fill(y, 0, cols, hd_attr(HD_ATTR_HEADER), "");
	x = 1;
	hd_putf(y, x, ID_W, hd_attr(HD_ATTR_HEADER), "%*s ", ID_W - 1, "id");
	x += ID_W;
	hd_put(y, x, layout.task_w, hd_attr(HD_ATTR_HEADER), "task");
	x += layout.task_w;
	hd_put(y, x, layout.queue_w, hd_attr(HD_ATTR_HEADER), "queue");
	x += layout.queue_w;
	hd_put(y, x, ATT_W, hd_attr(HD_ATTR_HEADER), "attempt");
	x += ATT_W;
	hd_put(y, x, NEXT_W, hd_attr(HD_ATTR_HEADER), "next");
	x += NEXT_W;
	if (layout.schedule_w >= (int)strlen(SCHEDULE_HEADER))
		hd_put(y, x, cols - x, hd_attr(HD_ATTR_HEADER),
		    SCHEDULE_HEADER);
	else if (layout.schedule_w > 0)
		hd_put(y, x, cols - x, hd_attr(HD_ATTR_HEADER),
		    SCHEDULE_HEADER_SHORT);

	if (snap->res == NULL) {
		hd_put(top + 2, 1, cols - 1, hd_attr(HD_ATTR_DIM), "loading...");
		return;
	}
	nrows = PQntuples(snap->res);
	if (nrows > 0)
		total = hd_value_ll(snap->res, 0, HD_RETRIES_TOTAL);
	hd_putf(top, 1, cols - 1, hd_attr(HD_ATTR_DIM), "%lld job%s waiting "
	    "%s%s, soonest first%s", total, total == 1 ? "" : "s",
	    with_scheduled ? "to run" : "to retry",
	    with_scheduled ? " (all queued jobs)" : "",
	    total > nrows ? " (showing the first " RETRIES_LIMIT ")" : "");
	if (nrows == 0) {
		hd_put(top + 2, 1, cols - 1, hd_attr(HD_ATTR_DIM),
		    with_scheduled ? "no job is queued" :
		    "no job waits to retry");
		return;
	}

	hd_list_follow(&retries_list, snap, HD_RETRIES_ID, lines - 5);
	y = top + 2;
	for (row = retries_list.top; row < nrows && y < top + lines - 3;
	    row++)
		retries_row(console, snap, row, y++, cols, &layout,
		    row == retries_list.cursor);
	retries_footer(console, snap, top + lines - 2, cols);
}

static int
retries_key(struct hd_console *console, enum hd_command command)
{
	const struct hd_snapshot	*snap;
	struct hd_action		*action;
	struct herald_error		 error;
	int64_t				 id;
	int				 count = 0, prepared;

	snap = hd_model_snapshot(console->model, HD_SNAP_RETRIES);
	if (snap->res != NULL)
		count = PQntuples(snap->res);
	/* A snapshot may have arrived since the screen was drawn. */
	hd_list_follow(&retries_list, snap, HD_RETRIES_ID, LINES - 7);
	if (hd_list_move(&retries_list, command, count, LINES - 7))
		return HD_REACT_REDRAW;

	switch (command) {
	case HD_CMD_TOGGLE:
		with_scheduled = !with_scheduled;
		retries_list.cursor = 0;
		retries_list.moved = true;
		return HD_REACT_REDRAW | HD_REACT_REFETCH;
	case HD_CMD_OPEN:
	case HD_CMD_CANCEL:
	case HD_CMD_RETRY_NOW:
		break;
	default:
		return HD_REACT_UNHANDLED;
	}
	if (count == 0) {
		hd_console_message(console, true, "no job under the cursor");
		return HD_REACT_REDRAW;
	}
	id = hd_value_ll(snap->res, retries_list.cursor, HD_RETRIES_ID);
	if (command == HD_CMD_OPEN) {
		hd_detail_open(console, id, false);
		return HD_REACT_REDRAW;
	}

	action = hd_xmalloc(sizeof(*action));
	if (command == HD_CMD_CANCEL) {
		/* A cancel deletes the job, so it needs a confirmation. */
		prepared = hd_action_cancel(action, &id, 1, &error);
		hd_console_submit_asking(console, action, prepared, &error,
		    NULL, "Cancel job %" PRId64, id);
	} else {
		prepared = hd_action_retry_now(action, &id, 1, &error);
		hd_console_submit(console, action, prepared, &error);
	}
	return HD_REACT_REDRAW;
}

const struct hd_view hd_view_retries = {
	.name = "Retries",
	.keys = retries_keys,
	.snapshot = HD_SNAP_RETRIES,
	.fetch = retries_refresh,
	.draw = retries_draw,
	.key = retries_key,
};
