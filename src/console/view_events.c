/*
 * view_events.c: screen 5, the outbox of each application database as
 * its relay last reported it, and the jobs created from events per
 * minute and event type.
 */

#include <stdio.h>
#include <string.h>

#include "console.h"
#include "format.h"
#include "outbox.h"
#include "screen.h"

static const struct hd_key events_keys[] = {
	{ { 0 }, NULL, NULL, HD_CMD_NONE, false }
};

static struct hd_list	events_list;

static void
events_refresh(struct hd_console *console)
{
	hd_model_fetch(console->model, HD_Q_RELAY, 0, NULL, 0, NULL, NULL);
	hd_model_fetch(console->model, HD_Q_EVENT_RATES, 0, NULL, 0, NULL,
	    NULL);
}

/* The relay table; return the next free line. */
static int
events_draw_relays(struct hd_console *console, int y, int bottom, int cols)
{
	const struct hd_snapshot	*snap;
	const PGresult			*res;
	int				 row, attr, db_w = cols - 1 - 52;
	int64_t				 age;
	char				 lag[32], updated[32];

	snap = hd_model_snapshot(console->model, HD_SNAP_RELAY);
	res = snap->res;
	if (db_w < 10)
		db_w = 10;
	hd_put_fill(y, 0, cols, hd_attr(HD_ATTR_HEADER), "");
	hd_put(y, 1, db_w, hd_attr(HD_ATTR_HEADER), "application database");
	hd_putf(y, 1 + db_w, cols - 1 - db_w, hd_attr(HD_ATTR_HEADER),
	    "%9s %8s %12s %9s %9s", "backlog", "lag", "relayed", "dropped",
	    "report");
	y++;
	if (res == NULL) {
		hd_put(y, 1, cols - 1, hd_attr(HD_ATTR_DIM), "loading...");
		return y + 2;
	}
	if (PQntuples(res) == 0) {
		hd_put(y, 1, cols - 1, hd_attr(HD_ATTR_DIM),
		    "no relay has reported: no heraldd here has an app_db");
		return y + 2;
	}
	age = hd_snapshot_age(snap);
	for (row = 0; row < PQntuples(res) && y < bottom; row++, y++) {
		int64_t	updated_ms = hd_value_ll(res, row, HD_RELAY_UPDATED_MS) +
		    age;

		bool	stale = updated_ms > HD_RELAY_STALE_MS;

		/* An old report's backlog and lag are unknown, not zero. */
		if (stale)
			snprintf(lag, sizeof(lag), "?");
		else if (PQgetisnull(res, row, HD_RELAY_LAG_MS))
			snprintf(lag, sizeof(lag), "-");
		else
			hd_fmt_age(hd_value_ll(res, row, HD_RELAY_LAG_MS) +
			    age, lag, sizeof(lag));
		hd_fmt_age(updated_ms, updated, sizeof(updated));
		strcat(updated, " ago");
		attr = stale ? hd_attr(HD_ATTR_ERROR) : hd_attr(HD_ATTR_NORMAL);
		hd_put(y, 1, db_w - 1, attr,
		    PQgetvalue(res, row, HD_RELAY_DATABASE));
		hd_putf(y, 1 + db_w, cols - 1 - db_w, attr,
		    "%9s %8s %12s %9s %9s",
		    stale ? "?" : PQgetvalue(res, row, HD_RELAY_BACKLOG), lag,
		    PQgetvalue(res, row, HD_RELAY_RELAYED),
		    PQgetvalue(res, row, HD_RELAY_DROPPED), updated);
	}
	return y + 1;
}

static void
events_draw_rates(struct hd_console *console, int y, int bottom, int cols)
{
	const struct hd_snapshot	*snap;
	const PGresult			*res;
	int				 row, nrows, type_w = cols - 1 - 52;

	snap = hd_model_snapshot(console->model, HD_SNAP_EVENT_RATES);
	res = snap->res;
	if (type_w < 12)
		type_w = 12;
	hd_put_fill(y, 0, cols, hd_attr(HD_ATTR_HEADER), "");
	hd_put(y, 1, type_w, hd_attr(HD_ATTR_HEADER), "event type");
	hd_putf(y, 1 + type_w, cols - 1 - type_w, hd_attr(HD_ATTR_HEADER),
	    "%9s %9s %9s %11s %9s", "this min", "last min", "avg 15m",
	    "last hour", "waiting");
	y++;
	if (res == NULL) {
		hd_put(y, 1, cols - 1, hd_attr(HD_ATTR_DIM), "loading...");
		return;
	}
	nrows = PQntuples(res);
	if (nrows == 0) {
		hd_put(y, 1, cols - 1, hd_attr(HD_ATTR_DIM),
		    "no job was created from an event in the last hour");
		return;
	}
	hd_list_clamp(&events_list, nrows, bottom - y);
	for (row = events_list.top; row < nrows && y < bottom; row++, y++) {
		int	attr = row == events_list.cursor ?
		    hd_attr(HD_ATTR_SELECTED) : hd_attr(HD_ATTR_NORMAL);

		hd_put_fill(y, 0, cols, attr, "");
		hd_put(y, 1, type_w - 1, attr,
		    PQgetvalue(res, row, HD_RATES_TYPE));
		hd_putf(y, 1 + type_w, cols - 1 - type_w, attr,
		    "%9s %9s %9s %11s %9s",
		    PQgetvalue(res, row, HD_RATES_THIS_MINUTE),
		    PQgetvalue(res, row, HD_RATES_LAST_MINUTE),
		    PQgetvalue(res, row, HD_RATES_AVG_15),
		    PQgetvalue(res, row, HD_RATES_HOUR),
		    PQgetvalue(res, row, HD_RATES_WAITING));
	}
}

static void
events_draw(struct hd_console *console, int top, int lines, int cols)
{
	int	y;

	hd_put(top, 1, cols - 1, hd_attr(HD_ATTR_DIM), "outbox backlog and "
	    "relay lag per application database; jobs from events per minute");
	y = events_draw_relays(console, top + 1, top + lines / 2, cols);
	events_draw_rates(console, y, top + lines, cols);
}

static int
events_key(struct hd_console *console, enum hd_command command)
{
	const struct hd_snapshot	*snap;
	int				 count = 0;

	snap = hd_model_snapshot(console->model, HD_SNAP_EVENT_RATES);
	if (snap->res != NULL)
		count = PQntuples(snap->res);
	if (hd_list_move(&events_list, command, count, LINES / 2))
		return HD_REACT_REDRAW;
	return HD_REACT_UNHANDLED;
}

const struct hd_view hd_view_events = {
	.name = "Events",
	.keys = events_keys,
	.snapshot = HD_SNAP_EVENT_RATES,
	.fetch = events_refresh,
	.draw = events_draw,
	.key = events_key,
};
