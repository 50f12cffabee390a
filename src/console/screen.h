/*
 * screen.h: drawing helpers the views share: named attributes, clipped
 * text, and a cursor over a list of rows.
 *
 * Colours are used when the terminal has them and NO_COLOR is unset;
 * otherwise each attribute falls back to bold, reverse, underline or
 * nothing, so every state stays visible on a monochrome terminal.
 */

#ifndef HD_SCREEN_H
#define HD_SCREEN_H

#include <stdbool.h>

#include <curses.h>

#include "console.h"

enum hd_attr {
	HD_ATTR_NORMAL = 0,
	HD_ATTR_TITLE,		/* the tab bar */
	HD_ATTR_TAB_ACTIVE,	/* the current screen's tab */
	HD_ATTR_HEADER,		/* column headings */
	HD_ATTR_SELECTED,	/* the row under the cursor */
	HD_ATTR_STALE,		/* data from before the connection broke */
	HD_ATTR_ERROR,
	HD_ATTR_GOOD,
	HD_ATTR_WARN,
	HD_ATTR_DIM,
	HD_ATTR_MARK,		/* marked rows */
	HD_ATTR_STATUS,		/* the status line */
	HD_ATTR_COUNT
};

/* Set up the attributes; color false forces the monochrome ones. */
void	hd_screen_init(bool color);
int	hd_attr(enum hd_attr attr);

/*
 * Write text at y, x, clipped to width columns and to the right edge of
 * the screen, with "~" as the last column of clipped text.  Invalid UTF-8
 * and control characters are shown as "?", so stored handler output
 * cannot send escape sequences to the terminal.
 * Return the columns written.
 */
int	hd_put(int y, int x, int width, int attr, const char *text);
/* As hd_put, then fill the rest of width with blanks in attr. */
void	hd_put_fill(int y, int x, int width, int attr, const char *text);
int	hd_putf(int y, int x, int width, int attr, const char *fmt, ...)
	    __attribute__((format(printf, 5, 6)));

/*
 * Write the next piece of a line at y, *x, up to column end, and move *x
 * past it.  A piece with no room left marks the line as cut: the last
 * column becomes "~", as when a piece itself is clipped.
 */
void	hd_put_next(int y, int *x, int end, int attr, const char *text);
void	hd_putf_next(int y, int *x, int end, int attr, const char *fmt, ...)
	    __attribute__((format(printf, 5, 6)));

/*
 * A cursor over count rows, of which lines are visible from top.  key
 * is the value that names the row under the cursor, for hd_list_follow.
 */
struct hd_list {
	int	cursor;
	int	top;
	bool	moved;		/* by a key since the last follow */
	int64_t	fetched_ms;	/* the snapshot of the last follow */
	char	key[128];
};

/*
 * Move the cursor for a movement command and keep it visible; return
 * true when command was a movement.
 */
bool	hd_list_move(struct hd_list *list, enum hd_command command,
	    int count, int lines);
/* Keep the cursor within count rows and visible in lines. */
void	hd_list_clamp(struct hd_list *list, int count, int lines);
/*
 * Keep the cursor on the row it was on, which column of snap names, when
 * snap arrived after the last call and no key moved the cursor since.
 * A row that is gone leaves the cursor where it was.  Then clamp as
 * hd_list_clamp does.
 */
void	hd_list_follow(struct hd_list *list, const struct hd_snapshot *snap,
	    int column, int lines);

/* Milliseconds since the snapshot arrived, to age its durations. */
int64_t	hd_snapshot_age(const struct hd_snapshot *snap);

/* A column of res as a number; 0 when NULL. */
long long hd_value_ll(const PGresult *res, int row, int column);

/*
 * The width of a text column: its longest value or heading plus a space,
 * between min and max (min wins), so that a wide terminal does not
 * spread a few short names over half the screen.
 */
int	hd_text_width(const PGresult *res, int column, const char *heading,
	    int min, int max);

#endif /* HD_SCREEN_H */
