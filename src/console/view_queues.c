/*
 * view_queues.c: screen 1, one row per queue with its jobs by state, its
 * rates and whether it is paused, and a totals row.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "console.h"
#include "format.h"
#include "screen.h"
#include "util.h"

static const struct hd_key queues_keys[] = {
	{ { 'p' }, "p", "pause or resume the queue under the cursor",
	    HD_CMD_PAUSE, true },
	{ { 0 }, NULL, NULL, HD_CMD_NONE, false }
};

static struct hd_list	queues_list;
static char		*configured;	/* text[] literal of config queues */

/* The queue names of the configuration, so idle queues show too. */
static const char *
queues_configured(const struct hd_config *config)
{
	size_t	i, len = 3;

	if (configured != NULL)
		return configured;
	for (i = 0; config != NULL && i < config->nqueues; i++)
		len += strlen(config->queues[i].name) + 3;
	configured = hd_xmalloc(len);
	strcpy(configured, "{");
	for (i = 0; config != NULL && i < config->nqueues; i++) {
		/* Queue names are [A-Za-z0-9_.:-], so need no escaping. */
		strcat(configured, i > 0 ? ",\"" : "\"");
		strcat(configured, config->queues[i].name);
		strcat(configured, "\"");
	}
	strcat(configured, "}");
	return configured;
}

static void
queues_refresh(struct hd_console *console)
{
	const char	*values[1];

	values[0] = queues_configured(console->config);
	hd_model_fetch(console->model, HD_Q_QUEUES, 1, values, 0, NULL, NULL);
}

/* Columns after the name: heading and width. */
static const struct {
	const char	*heading;
	int		 width;
	int		 column;
} counts[] = {
	{ "ready", 7, HD_QUEUES_READY },
	{ "sched", 7, HD_QUEUES_SCHEDULED },
	{ "run", 5, HD_QUEUES_RUNNING },
	{ "retry", 6, HD_QUEUES_RETRYING },
	{ "dead", 6, HD_QUEUES_DEAD },
	{ "done/m", 7, HD_QUEUES_DONE_RATE },
	{ "fail/m", 7, HD_QUEUES_FAIL_RATE },
};
#define NCOUNTS	((int)(sizeof(counts) / sizeof(counts[0])))
/* The oldest wait and the paused column after the counts. */
#define WAIT_WIDTH	9
#define STATE_WIDTH	8

/* Draw one row: name, the counts, the oldest wait, the state. */
static void
queues_row(int y, int cols, int name_width, int attr, const char *name,
    const long long *values, const char *wait, const char *state,
    int state_attr)
{
	int	i, x;

	hd_put_fill(y, 0, cols, attr, "");
	hd_put(y, 1, name_width, attr, name);
	x = 1 + name_width;
	for (i = 0; i < NCOUNTS; i++) {
		hd_putf(y, x, counts[i].width, attr == hd_attr(HD_ATTR_NORMAL) &&
		    counts[i].column == HD_QUEUES_DEAD && values[i] > 0 ?
		    hd_attr(HD_ATTR_WARN) : attr, "%*lld", counts[i].width,
		    values[i]);
		x += counts[i].width;
	}
	hd_putf(y, x, WAIT_WIDTH, attr, "%*s", WAIT_WIDTH, wait);
	x += WAIT_WIDTH + 2;
	hd_put(y, x, cols - x, attr == hd_attr(HD_ATTR_NORMAL) ? state_attr :
	    attr, state);
}

static void
queues_draw(struct hd_console *console, int top, int lines, int cols)
{
	const struct hd_snapshot	*snap;
	const PGresult			*res;
	long long			 values[NCOUNTS], totals[NCOUNTS] = { 0 };
	long long			 oldest = -1, ms;
	int				 name_width, nrows, row, i, x, y;
	int				 npaused = 0;
	char				 wait[32];
	bool				 paused;

	snap = hd_model_snapshot(console->model, HD_SNAP_QUEUES);
	res = snap->res;
	name_width = cols - 1 - WAIT_WIDTH - 2 - STATE_WIDTH;
	for (i = 0; i < NCOUNTS; i++)
		name_width -= counts[i].width;
	if (name_width < 8)
		name_width = 8;

	/* The headings. */
	y = top + 1;
	hd_put_fill(y, 0, cols, hd_attr(HD_ATTR_HEADER), "");
	hd_put(y, 1, name_width, hd_attr(HD_ATTR_HEADER), "queue");
	x = 1 + name_width;
	for (i = 0; i < NCOUNTS; i++) {
		hd_putf(y, x, counts[i].width, hd_attr(HD_ATTR_HEADER),
		    "%*s", counts[i].width, counts[i].heading);
		x += counts[i].width;
	}
	hd_putf(y, x, WAIT_WIDTH, hd_attr(HD_ATTR_HEADER), "%*s", WAIT_WIDTH,
	    "oldest");
	hd_put(y, x + WAIT_WIDTH + 2, cols - x - WAIT_WIDTH - 2,
	    hd_attr(HD_ATTR_HEADER), "state");

	if (res == NULL) {
		hd_put(top + 2, 1, cols - 1, hd_attr(HD_ATTR_DIM), "loading...");
		return;
	}
	nrows = PQntuples(res);
	hd_list_clamp(&queues_list, nrows, lines - 4);

	y = top + 2;
	for (row = 0; row < nrows; row++) {
		for (i = 0; i < NCOUNTS; i++) {
			values[i] = hd_value_ll(res, row, counts[i].column);
			totals[i] += values[i];
		}
		ms = -1;
		if (!PQgetisnull(res, row, HD_QUEUES_OLDEST_MS))
			ms = hd_value_ll(res, row, HD_QUEUES_OLDEST_MS) +
			    hd_snapshot_age(snap);
		if (ms > oldest)
			oldest = ms;
		paused = strcmp(PQgetvalue(res, row, HD_QUEUES_PAUSED),
		    "t") == 0;
		npaused += paused;
		if (row < queues_list.top ||
		    row >= queues_list.top + lines - 4)
			continue;
		if (ms >= 0)
			hd_fmt_age(ms, wait, sizeof(wait));
		else
			snprintf(wait, sizeof(wait), "-");
		queues_row(y++, cols, name_width, row == queues_list.cursor ?
		    hd_attr(HD_ATTR_SELECTED) : hd_attr(HD_ATTR_NORMAL),
		    PQgetvalue(res, row, HD_QUEUES_NAME), values, wait,
		    paused ? "PAUSED" : "running", paused ?
		    hd_attr(HD_ATTR_WARN) : hd_attr(HD_ATTR_GOOD));
	}

	if (oldest >= 0)
		hd_fmt_age(oldest, wait, sizeof(wait));
	else
		snprintf(wait, sizeof(wait), "-");
	queues_row(y, cols, name_width, hd_attr(HD_ATTR_HEADER), "total",
	    totals, wait, "", hd_attr(HD_ATTR_HEADER));
	if (npaused > 0)
		hd_putf(y, cols - STATE_WIDTH, STATE_WIDTH,
		    hd_attr(HD_ATTR_HEADER), "%d paused", npaused);

	hd_putf(top, 1, cols - 1, hd_attr(HD_ATTR_DIM),
	    "%d queue%s; ready = due now, sched = first run later, retry = "
	    "waiting for backoff", nrows, nrows == 1 ? "" : "s");
}

static int
queues_key(struct hd_console *console, enum hd_command command)
{
	const struct hd_snapshot	*snap;
	struct hd_action		*action;
	struct herald_error		 error;
	int				 count = 0, lines = LINES - 6;
	bool				 paused;

	snap = hd_model_snapshot(console->model, HD_SNAP_QUEUES);
	if (snap->res != NULL)
		count = PQntuples(snap->res);
	if (hd_list_move(&queues_list, command, count, lines))
		return HD_REACT_REDRAW;
	if (command != HD_CMD_PAUSE)
		return HD_REACT_UNHANDLED;
	if (count == 0) {
		hd_console_message(console, true, "no queue to pause");
		return HD_REACT_REDRAW;
	}

	paused = strcmp(PQgetvalue(snap->res, queues_list.cursor,
	    HD_QUEUES_PAUSED), "t") == 0;
	action = hd_xmalloc(sizeof(*action));
	if (hd_action_queue(action, PQgetvalue(snap->res, queues_list.cursor,
	    HD_QUEUES_NAME), !paused, &error) == -1) {
		hd_console_message(console, true, "%s", error.message);
		hd_action_release(action);
		free(action);
		return HD_REACT_REDRAW;
	}
	hd_console_act(console, action);
	return HD_REACT_REDRAW;
}

const struct hd_view hd_view_queues = {
	.name = "Queues",
	.keys = queues_keys,
	.snapshot = HD_SNAP_QUEUES,
	.fetch = queues_refresh,
	.draw = queues_draw,
	.key = queues_key,
};
