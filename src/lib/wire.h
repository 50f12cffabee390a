/*
 * wire.h: one-dimensional arrays in PostgreSQL's binary format, built as
 * statement parameters, so that a batch travels as one array per column
 * and the server parses no text but its JSON.
 *
 * A struct hd_wire_buf owns its data, which the caller frees with
 * hd_wire_buf_release().  An allocation failure marks the buffer failed;
 * later appends do nothing, so a caller checks `failed` once, after the
 * last append.  Lengths and integers go out in network byte order.
 */

#ifndef HD_WIRE_H
#define HD_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The type oids of PostgreSQL's built-in types, fixed in pg_type.dat. */
#define HD_OID_INT8		20
#define HD_OID_INT2		21
#define HD_OID_INT4		23
#define HD_OID_TEXT		25
#define HD_OID_TIMESTAMPTZ	1184
#define HD_OID_JSONB		3802
#define HD_OID_INT2_ARRAY	1005
#define HD_OID_INT4_ARRAY	1007
#define HD_OID_TEXT_ARRAY	1009
#define HD_OID_INT8_ARRAY	1016
#define HD_OID_TIMESTAMPTZ_ARRAY 1185
#define HD_OID_JSONB_ARRAY	3807

struct hd_wire_buf {
	char	*data;
	size_t	 len;
	size_t	 cap;
	bool	 failed;
};

void	hd_wire_buf_release(struct hd_wire_buf *buf);

/*
 * Start an array of n elements of type oid; exactly n elements must
 * follow.  Any element may be NULL.
 */
void	hd_wire_array_begin(struct hd_wire_buf *buf, uint32_t oid, size_t n);

void	hd_wire_null(struct hd_wire_buf *buf);
void	hd_wire_text(struct hd_wire_buf *buf, const char *text);
/* json must be valid JSON text; the server parses it into jsonb. */
void	hd_wire_jsonb(struct hd_wire_buf *buf, const char *json);
void	hd_wire_int2(struct hd_wire_buf *buf, int16_t v);
void	hd_wire_int4(struct hd_wire_buf *buf, int32_t v);
void	hd_wire_int8(struct hd_wire_buf *buf, int64_t v);
/* A timestamptz given in Unix microseconds. */
void	hd_wire_timestamptz(struct hd_wire_buf *buf, int64_t unix_us);

#endif /* HD_WIRE_H */
