/*
 * spec.c: the child specification that heraldd writes and heraldd-child
 * reads (format in child.h).
 */

#include <sys/mman.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "child.h"
#include "herald.h"
#include "util.h"

/* The largest specification read: the configuration and its overhead. */
#define SPEC_MAX	(HD_CONFIG_TEXT_MAX + (1 << 20))

const char *
hd_child_build(void)
{
	static char	build[64];

	if (build[0] == '\0')
		snprintf(build, sizeof build, "%s schema %s", HERALD_VERSION,
		    hd_schema_versions);
	return build;
}

static void
spec_line(FILE *fp, const char *key, const char *value)
{
	if (value != NULL)
		fprintf(fp, "%s %s\n", key, value);
}

static void
spec_blob(FILE *fp, const char *key, const char *data, size_t len)
{
	fprintf(fp, "%s %zu\n", key, len);
	fwrite(data, 1, len, fp);
	fputc('\n', fp);
}

int
hd_child_spec_write(const struct hd_child_spec *spec)
{
	const struct hd_started_ids	*lost = &spec->lost_started;
	FILE				*fp = NULL;
	int				 fd, copy, i, saved;

	if ((fd = memfd_create("herald-child", MFD_CLOEXEC)) == -1)
		return -1;
	/* fclose() closes the copy, and fd stays open for the child. */
	if ((copy = fcntl(fd, F_DUPFD_CLOEXEC, 0)) == -1 ||
	    (fp = fdopen(copy, "w")) == NULL) {
		saved = errno;
		if (copy != -1)
			close(copy);
		close(fd);
		errno = saved;
		return -1;
	}
	spec_line(fp, "version", hd_child_build());
	spec_line(fp, "role", spec->role);
	spec_line(fp, "queue", spec->queue);
	spec_line(fp, "supervisor", spec->supervisor_id);
	spec_line(fp, "worker", spec->worker_id);
	if (spec->lost_id != NULL && spec->lost_id[0] != '\0')
		spec_line(fp, "lost", spec->lost_id);
	if (spec->worker_id != NULL) {
		if (!lost->known)
			fputs("started unknown\n", fp);
		else {
			fprintf(fp, "started known %d", lost->n);
			for (i = 0; i < lost->n; i++)
				fprintf(fp, " %" PRId64, lost->ids[i]);
			fputc('\n', fp);
		}
		for (i = 0; i < lost->ncrashed; i++)
			fprintf(fp, "crashed %" PRId64 " %d\n",
			    lost->crashed[i], lost->crash_signals[i]);
	}
	if (spec->verbose)
		spec_line(fp, "verbose", "1");
	if (spec->check_schema)
		spec_line(fp, "schema", "1");
	if (spec->load_modules)
		spec_line(fp, "modules", "1");
	spec_blob(fp, "path", spec->config_path, strlen(spec->config_path));
	spec_blob(fp, "config", spec->config_text, spec->config_len);
	/* A failed write leaves the stream's error set, or fails the flush. */
	if (ferror(fp)) {
		fclose(fp);
		close(fd);
		errno = EIO;
		return -1;
	}
	if (fclose(fp) == EOF || lseek(fd, 0, SEEK_SET) == -1) {
		saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

static int __attribute__((format(printf, 3, 4)))
spec_fail(char *error, size_t size, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(error, size, fmt, ap);
	va_end(ap);
	return -1;
}

/* Read all of fd into a new NUL-terminated string. */
static char *
spec_slurp(int fd, size_t *len, char *error, size_t size)
{
	char	*data = NULL;
	size_t	 n = 0, cap = 0;
	ssize_t	 got;

	for (;;) {
		if (n + 1 >= cap) {
			if (cap >= SPEC_MAX) {
				spec_fail(error, size, "child specification "
				    "is larger than %d bytes", SPEC_MAX);
				free(data);
				return NULL;
			}
			cap = cap == 0 ? 16384 : cap * 2;
			data = hd_xrealloc(data, cap, 1);
		}
		got = read(fd, data + n, cap - n - 1);
		if (got == -1 && errno == EINTR)
			continue;
		if (got == -1) {
			spec_fail(error, size, "could not read the child "
			    "specification: %s", strerror(errno));
			free(data);
			return NULL;
		}
		if (got == 0)
			break;
		n += (size_t)got;
	}
	data[n] = '\0';
	*len = n;
	return data;
}

/* Parse "started known N ID..." or "started unknown" into ids. */
/*
 * Parse "ID SIGNAL", a job whose handler crashed the dead worker, and add
 * it to the crashes of ids.
 */
static int
spec_crashed(const char *value, struct hd_started_ids *ids)
{
	char		*end;
	long long	 id;
	long		 signo;

	errno = 0;
	id = strtoll(value, &end, 10);
	if (errno != 0 || end == value || id < 1 || *end != ' ')
		return -1;
	value = end + 1;
	signo = strtol(value, &end, 10);
	if (errno != 0 || end == value || signo < 1 ||
	    (signo > 64 && signo != HD_STARTED_EXIT) || *end != '\0')
		return -1;
	return hd_started_ids_add_crash(ids, id, (int)signo);
}

static int
spec_started(const char *value, struct hd_started_ids *ids)
{
	char		*end;
	long long	 n, i;

	hd_started_ids_clear(ids);
	if (strcmp(value, "unknown") == 0)
		return 0;
	if (strncmp(value, "known ", 6) != 0)
		return -1;
	errno = 0;
	n = strtoll(value + 6, &end, 10);
	/* Each id takes at least two characters: a space and a digit. */
	if (errno != 0 || end == value + 6 || n < 0 ||
	    n > (long long)strlen(end) / 2)
		return -1;
	ids->ids = n > 0 ? hd_xcalloc((size_t)n, sizeof *ids->ids) : NULL;
	for (i = 0; i < n; i++) {
		value = end;
		if (*value != ' ')
			return -1;
		errno = 0;
		ids->ids[i] = strtoll(value + 1, &end, 10);
		if (errno != 0 || end == value + 1)
			return -1;
	}
	if (*end != '\0')
		return -1;
	ids->known = true;
	ids->n = (int)n;
	return 0;
}

/*
 * Copy the value bytes at *pos that follow a "path" or "config" line,
 * whose value is their count, and move *pos past them.
 */
static char *
spec_take_blob(const char *data, size_t len, size_t *pos, const char *value,
    size_t *blob_len)
{
	char			*blob, *end;
	unsigned long long	 n;

	errno = 0;
	n = strtoull(value, &end, 10);
	if (errno != 0 || end == value || *end != '\0' || n > len - *pos)
		return NULL;
	blob = hd_xmalloc((size_t)n + 1);
	memcpy(blob, data + *pos, (size_t)n);
	blob[n] = '\0';
	*pos += (size_t)n;
	if (*pos < len && data[*pos] == '\n')
		(*pos)++;
	*blob_len = (size_t)n;
	return blob;
}

static int
spec_set(struct hd_child_spec *spec, const char *key, const char *value)
{
	char	**field = NULL;

	if (strcmp(key, "role") == 0)
		field = &spec->role;
	else if (strcmp(key, "queue") == 0)
		field = &spec->queue;
	else if (strcmp(key, "supervisor") == 0)
		field = &spec->supervisor_id;
	else if (strcmp(key, "worker") == 0)
		field = &spec->worker_id;
	else if (strcmp(key, "lost") == 0)
		field = &spec->lost_id;
	else if (strcmp(key, "started") == 0)
		return spec_started(value, &spec->lost_started);
	else if (strcmp(key, "crashed") == 0)
		return spec_crashed(value, &spec->lost_started);
	else if (strcmp(key, "verbose") == 0)
		spec->verbose = strcmp(value, "1") == 0;
	else if (strcmp(key, "schema") == 0)
		spec->check_schema = strcmp(value, "1") == 0;
	else if (strcmp(key, "modules") == 0)
		spec->load_modules = strcmp(value, "1") == 0;
	else
		return -1;
	if (field != NULL) {
		free(*field);
		*field = hd_xstrdup(value);
	}
	return 0;
}

int
hd_child_spec_read(int fd, struct hd_child_spec *spec, char *error,
    size_t size)
{
	char	*data, *line, *value, *newline;
	size_t	 len, pos = 0, blob_len;
	int	 lineno = 0;
	bool	 versioned = false;

	memset(spec, 0, sizeof *spec);
	if ((data = spec_slurp(fd, &len, error, size)) == NULL)
		return -1;
	while (pos < len) {
		line = data + pos;
		lineno++;
		if ((newline = memchr(line, '\n', len - pos)) == NULL)
			goto bad;
		*newline = '\0';
		pos = (size_t)(newline - data) + 1;
		if ((value = strchr(line, ' ')) == NULL)
			goto bad;
		*value++ = '\0';
		if (strcmp(line, "version") == 0) {
			if (strcmp(value, hd_child_build()) != 0) {
				spec_fail(error, size, "heraldd %s started "
				    "heraldd-child %s: restart heraldd after "
				    "an upgrade", value, hd_child_build());
				goto fail;
			}
			versioned = true;
		} else if (strcmp(line, "path") == 0) {
			free(spec->config_path);
			spec->config_path = spec_take_blob(data, len, &pos,
			    value, &blob_len);
			if (spec->config_path == NULL)
				goto bad;
		} else if (strcmp(line, "config") == 0) {
			free(spec->config_text);
			spec->config_text = spec_take_blob(data, len, &pos,
			    value, &spec->config_len);
			if (spec->config_text == NULL)
				goto bad;
		} else if (spec_set(spec, line, value) == -1)
			goto bad;
	}
	if (!versioned || spec->role == NULL || spec->config_path == NULL ||
	    spec->config_text == NULL) {
		spec_fail(error, size, "child specification is incomplete");
		goto fail;
	}
	free(data);
	return 0;

bad:
	spec_fail(error, size, "invalid child specification at line %d",
	    lineno);
fail:
	free(data);
	hd_child_spec_clear(spec);
	return -1;
}

void
hd_child_spec_clear(struct hd_child_spec *spec)
{
	free(spec->role);
	free(spec->queue);
	free(spec->supervisor_id);
	free(spec->worker_id);
	free(spec->lost_id);
	hd_started_ids_clear(&spec->lost_started);
	free(spec->config_path);
	free(spec->config_text);
	memset(spec, 0, sizeof *spec);
}
