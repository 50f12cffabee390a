/*
 * wire.c: one-dimensional arrays in PostgreSQL's binary format, for
 * herald_enqueue_many and the relay.
 */

#include <stdlib.h>
#include <string.h>

#include "wire.h"

/* The jsonb binary format: a version byte, then the JSON text. */
#define JSONB_VERSION		1

/* Unix microseconds of 2000-01-01, PostgreSQL's epoch for timestamps. */
#define PG_EPOCH_US		INT64_C(946684800000000)

void
hd_wire_buf_release(struct hd_wire_buf *buf)
{
	free(buf->data);
	memset(buf, 0, sizeof *buf);
}

static void
wire_append(struct hd_wire_buf *buf, const void *bytes, size_t len)
{
	size_t	 cap;
	char	*data;

	if (buf->failed)
		return;
	if (buf->len + len > buf->cap) {
		cap = buf->cap > 0 ? buf->cap : 4096;
		while (buf->len + len > cap)
			cap *= 2;
		if ((data = realloc(buf->data, cap)) == NULL) {
			buf->failed = true;
			return;
		}
		buf->data = data;
		buf->cap = cap;
	}
	memcpy(buf->data + buf->len, bytes, len);
	buf->len += len;
}

/* Append v in network byte order. */
static void
wire_append_u32(struct hd_wire_buf *buf, uint32_t v)
{
	unsigned char	b[4];

	b[0] = (unsigned char)(v >> 24);
	b[1] = (unsigned char)(v >> 16);
	b[2] = (unsigned char)(v >> 8);
	b[3] = (unsigned char)v;
	wire_append(buf, b, sizeof b);
}

static void
wire_append_u64(struct hd_wire_buf *buf, uint64_t v)
{
	wire_append_u32(buf, (uint32_t)(v >> 32));
	wire_append_u32(buf, (uint32_t)v);
}

/*
 * The NULL flag of the header is set, because the server finds NULL
 * elements by their length of -1 whatever the flag.
 */
void
hd_wire_array_begin(struct hd_wire_buf *buf, uint32_t oid, size_t n)
{
	wire_append_u32(buf, 1);		/* dimensions */
	wire_append_u32(buf, 1);		/* may hold NULLs */
	wire_append_u32(buf, oid);
	wire_append_u32(buf, (uint32_t)n);
	wire_append_u32(buf, 1);		/* lower bound */
}

void
hd_wire_null(struct hd_wire_buf *buf)
{
	wire_append_u32(buf, UINT32_MAX);	/* length -1 */
}

void
hd_wire_text(struct hd_wire_buf *buf, const char *text)
{
	size_t	len = strlen(text);

	wire_append_u32(buf, (uint32_t)len);
	wire_append(buf, text, len);
}

void
hd_wire_jsonb(struct hd_wire_buf *buf, const char *json)
{
	static const char	version = JSONB_VERSION;
	size_t			len = strlen(json);

	wire_append_u32(buf, (uint32_t)len + 1);
	wire_append(buf, &version, 1);
	wire_append(buf, json, len);
}

void
hd_wire_int2(struct hd_wire_buf *buf, int16_t v)
{
	unsigned char	b[2];

	b[0] = (unsigned char)((uint16_t)v >> 8);
	b[1] = (unsigned char)v;
	wire_append_u32(buf, 2);
	wire_append(buf, b, sizeof b);
}

void
hd_wire_int4(struct hd_wire_buf *buf, int32_t v)
{
	wire_append_u32(buf, 4);
	wire_append_u32(buf, (uint32_t)v);
}

void
hd_wire_int8(struct hd_wire_buf *buf, int64_t v)
{
	wire_append_u32(buf, 8);
	wire_append_u64(buf, (uint64_t)v);
}

void
hd_wire_timestamptz(struct hd_wire_buf *buf, int64_t unix_us)
{
	hd_wire_int8(buf, unix_us - PG_EPOCH_US);
}
