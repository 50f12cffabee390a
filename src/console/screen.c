/*
 * screen.c: drawing helpers the views share.
 */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include "format.h"
#include "screen.h"
#include "util.h"

static int	attrs[HD_ATTR_COUNT];

void
hd_screen_init(bool color)
{
	static const struct {
		enum hd_attr	attr;
		short		fg, bg;
		int		extra;
		int		mono;
	} table[] = {
		{ HD_ATTR_TITLE, COLOR_WHITE, COLOR_BLUE, 0, A_REVERSE },
		{ HD_ATTR_TAB_ACTIVE, COLOR_BLACK, COLOR_CYAN, A_BOLD,
		    A_BOLD | A_UNDERLINE },
		{ HD_ATTR_HEADER, COLOR_CYAN, -1, A_BOLD, A_UNDERLINE },
		{ HD_ATTR_SELECTED, COLOR_BLACK, COLOR_CYAN, 0, A_REVERSE },
		{ HD_ATTR_STALE, COLOR_WHITE, COLOR_RED, A_BOLD,
		    A_REVERSE | A_BOLD },
		{ HD_ATTR_ERROR, COLOR_RED, -1, A_BOLD, A_BOLD },
		{ HD_ATTR_GOOD, COLOR_GREEN, -1, 0, 0 },
		{ HD_ATTR_WARN, COLOR_YELLOW, -1, A_BOLD, A_BOLD },
		{ HD_ATTR_DIM, COLOR_WHITE, -1, A_DIM, A_DIM },
		{ HD_ATTR_MARK, COLOR_MAGENTA, -1, A_BOLD, A_BOLD },
		{ HD_ATTR_STATUS, COLOR_WHITE, COLOR_BLUE, 0, A_REVERSE },
	};
	size_t	i;
	short	pair;

	memset(attrs, 0, sizeof(attrs));
	if (color && has_colors()) {
		start_color();
		use_default_colors();
	} else
		color = false;
	for (i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		if (!color) {
			attrs[table[i].attr] = table[i].mono;
			continue;
		}
		pair = (short)(i + 1);
		init_pair(pair, table[i].fg, table[i].bg);
		attrs[table[i].attr] = COLOR_PAIR(pair) | table[i].extra;
	}
}

int
hd_attr(enum hd_attr attr)
{
	return attrs[attr];
}

int
hd_put(int y, int x, int width, int attr, const char *text)
{
	wchar_t		 buf[512];
	size_t		 used, len;
	int		 cols;
	bool		 cut;

	/* curses would wrap what passes the right edge onto the next line. */
	if (width > COLS - x)
		width = COLS - x;
	if (width <= 0 || text == NULL)
		return 0;
	len = strlen(text);
	cut = hd_text_fit(text, len, width) < len;
	used = hd_text_sanitize(text, cut ? width - 1 : width, buf,
	    sizeof(buf) / sizeof(buf[0]) - 1, &cols);
	/* Cut text ends in "~", so that it never reads as other text. */
	if (cut) {
		buf[used++] = L'~';
		buf[used] = L'\0';
		cols++;
	}
	attrset(attr);
	mvaddnwstr(y, x, buf, (int)used);
	attrset(A_NORMAL);
	return cols;
}

void
hd_put_fill(int y, int x, int width, int attr, const char *text)
{
	int	cols;

	cols = hd_put(y, x, width, attr, text);
	if (cols < width) {
		attrset(attr);
		mvhline(y, x + cols, ' ', width - cols);
		attrset(A_NORMAL);
	}
}

int
hd_putf(int y, int x, int width, int attr, const char *fmt, ...)
{
	va_list	ap;
	char	buf[1024];

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	return hd_put(y, x, width, attr, buf);
}

void
hd_put_next(int y, int *x, int end, int attr, const char *text)
{
	if (end > COLS)
		end = COLS;
	if (text == NULL || text[0] == '\0' || end < 1)
		return;
	if (*x < end) {
		*x += hd_put(y, *x, end - *x, attr, text);
		return;
	}
	/* The piece before ended at the edge: it now reads as cut. */
	attrset(attr);
	mvaddch(y, end - 1, '~');
	attrset(A_NORMAL);
}

void
hd_putf_next(int y, int *x, int end, int attr, const char *fmt, ...)
{
	va_list	ap;
	char	buf[1024];

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	hd_put_next(y, x, end, attr, buf);
}

void
hd_list_clamp(struct hd_list *list, int count, int lines)
{
	if (lines < 1)
		lines = 1;
	if (list->cursor >= count)
		list->cursor = count - 1;
	if (list->cursor < 0)
		list->cursor = 0;
	if (list->top > list->cursor)
		list->top = list->cursor;
	if (list->cursor >= list->top + lines)
		list->top = list->cursor - lines + 1;
	if (list->top > count - lines)
		list->top = count - lines;
	if (list->top < 0)
		list->top = 0;
}

bool
hd_list_move(struct hd_list *list, enum hd_command command, int count,
    int lines)
{
	int	page = lines > 1 ? lines - 1 : 1;

	switch (command) {
	case HD_CMD_UP:
		list->cursor--;
		break;
	case HD_CMD_DOWN:
		list->cursor++;
		break;
	case HD_CMD_PAGE_UP:
		list->cursor -= page;
		list->top -= page;
		break;
	case HD_CMD_PAGE_DOWN:
		list->cursor += page;
		list->top += page;
		break;
	case HD_CMD_HOME:
		list->cursor = 0;
		break;
	case HD_CMD_END:
		list->cursor = count - 1;
		break;
	default:
		return false;
	}
	list->moved = true;
	hd_list_clamp(list, count, lines);
	return true;
}

void
hd_list_follow(struct hd_list *list, const struct hd_snapshot *snap,
    int column, int lines)
{
	int	count = snap->res != NULL ? PQntuples(snap->res) : 0, i;

	if (!list->moved && list->key[0] != '\0' &&
	    snap->fetched_ms != list->fetched_ms)
		for (i = 0; i < count; i++)
			if (strcmp(PQgetvalue(snap->res, i, column),
			    list->key) == 0) {
				list->top += i - list->cursor;
				list->cursor = i;
				break;
			}
	hd_list_clamp(list, count, lines);
	list->moved = false;
	list->fetched_ms = snap->fetched_ms;
	snprintf(list->key, sizeof list->key, "%s", count > 0 ?
	    PQgetvalue(snap->res, list->cursor, column) : "");
}

int64_t
hd_snapshot_age(const struct hd_snapshot *snap)
{
	return snap->res == NULL ? 0 : hd_monotonic_ms() - snap->fetched_ms;
}

long long
hd_value_ll(const PGresult *res, int row, int column)
{
	if (PQgetisnull(res, row, column))
		return 0;
	return strtoll(PQgetvalue(res, row, column), NULL, 10);
}

int
hd_text_width(const PGresult *res, int column, const char *heading,
    int min, int max)
{
	int	width = (int)strlen(heading), row, len;

	for (row = 0; res != NULL && row < PQntuples(res); row++) {
		len = PQgetlength(res, row, column);
		if (len > width)
			width = len;
	}
	width++;
	if (width > max)
		width = max;
	if (width < min)
		width = min;
	return width;
}
