/*
 * started.c: the ids of the jobs a worker started, shared with heraldd.
 */

#include <sys/mman.h>
#include <sys/stat.h>

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "started.h"
#include "util.h"

#define STARTED_MAGIC	0x68647374u	/* "hdst" */
/*
 * Room beyond the concurrency: two claims of 1000 jobs (worker.c), the
 * finished jobs waiting to be recorded and the abandoned ones.  A worker
 * that starts more sets overflow, and its replacement counts every job.
 */
#define STARTED_EXTRA	4096

/*
 * The shared memory.  count is stored after the ids it covers.  The
 * crashes are written by signal handlers, so they are atomic and
 * lock-free, and take no lock.  A handler takes a slot by counting
 * ncrashes up, then stores the signal and the job's id, so a slot below
 * ncrashes whose id is still 0 belongs to a thread that died before its
 * store.
 */
struct started_crash {
	_Atomic int64_t		id;
	_Atomic uint32_t	signo;
};

struct started_region {
	uint32_t		magic;
	_Atomic uint32_t	count;
	_Atomic uint32_t	overflow;
	_Atomic uint32_t	ncrashes;
	struct started_crash	crashes[HD_STARTED_CRASHES];
	int64_t			ids[];
};

/*
 * A process's handle on a region.  heraldd creates the region as a memfd
 * and hands the descriptor to the worker, which maps it again.  The lock
 * orders the worker's writers: its main thread and its module threads.
 * heraldd has no threads and reads the region only after the worker is
 * gone.
 */
struct hd_started {
	pthread_mutex_t		 lock;
	struct started_region	*region;
	size_t			 size;
	uint32_t		 capacity;
	int			 fd;
};

static struct hd_started *
started_open(int fd, size_t size)
{
	struct hd_started	*s;
	void			*p;

	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		return NULL;
	s = hd_xcalloc(1, sizeof *s);
	pthread_mutex_init(&s->lock, NULL);
	s->region = p;
	s->size = size;
	s->capacity = (uint32_t)((size - sizeof(struct started_region)) /
	    sizeof(int64_t));
	s->fd = fd;
	return s;
}

struct hd_started *
hd_started_map(int concurrency)
{
	struct hd_started	*s;
	size_t			 size;
	int			 fd, saved;

	if (concurrency < 0)
		concurrency = 0;
	size = sizeof(struct started_region) +
	    ((size_t)concurrency + STARTED_EXTRA) * sizeof(int64_t);
	if ((fd = memfd_create("herald-started", MFD_CLOEXEC)) == -1)
		return NULL;
	if (ftruncate(fd, (off_t)size) == -1 ||
	    (s = started_open(fd, size)) == NULL) {
		saved = errno;
		close(fd);
		errno = saved;
		return NULL;
	}
	hd_started_reset(s);
	return s;
}

struct hd_started *
hd_started_attach(int fd)
{
	struct hd_started	*s;
	struct stat		 st;

	if (fstat(fd, &st) == -1)
		return NULL;
	if (st.st_size < (off_t)sizeof(struct started_region)) {
		errno = EINVAL;
		return NULL;
	}
	if ((s = started_open(fd, (size_t)st.st_size)) == NULL)
		return NULL;
	if (s->region->magic != STARTED_MAGIC) {
		hd_started_unmap(s);
		errno = EINVAL;
		return NULL;
	}
	return s;
}

int
hd_started_fd(const struct hd_started *s)
{
	return s != NULL ? s->fd : -1;
}

void
hd_started_unmap(struct hd_started *s)
{
	if (s == NULL)
		return;
	munmap(s->region, s->size);
	close(s->fd);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

void
hd_started_reset(struct hd_started *s)
{
	size_t	i;

	if (s == NULL)
		return;
	s->region->magic = STARTED_MAGIC;
	atomic_store(&s->region->overflow, 0);
	for (i = 0; i < HD_STARTED_CRASHES; i++) {
		atomic_store(&s->region->crashes[i].id, 0);
		atomic_store(&s->region->crashes[i].signo, 0);
	}
	atomic_store(&s->region->ncrashes, 0);
	atomic_store(&s->region->count, 0);
}

void
hd_started_crash(struct hd_started *s, int64_t id, int signo)
{
	uint32_t	slot;

	if (s == NULL)
		return;
	slot = atomic_fetch_add(&s->region->ncrashes, 1);
	if (slot >= HD_STARTED_CRASHES)
		return;
	atomic_store(&s->region->crashes[slot].signo, (uint32_t)signo);
	atomic_store(&s->region->crashes[slot].id, id);
}

void
hd_started_add(struct hd_started *s, int64_t id)
{
	uint32_t	n;

	if (s == NULL)
		return;
	pthread_mutex_lock(&s->lock);
	n = atomic_load_explicit(&s->region->count, memory_order_relaxed);
	if (n >= s->capacity)
		atomic_store(&s->region->overflow, 1);
	else {
		s->region->ids[n] = id;
		/* A worker killed before this store leaves the id out. */
		atomic_store_explicit(&s->region->count, n + 1,
		    memory_order_release);
	}
	pthread_mutex_unlock(&s->lock);
}

void
hd_started_remove(struct hd_started *s, int64_t id)
{
	uint32_t	n, i = 0;

	if (s == NULL)
		return;
	pthread_mutex_lock(&s->lock);
	n = atomic_load_explicit(&s->region->count, memory_order_relaxed);
	while (i < n) {
		if (s->region->ids[i] != id) {
			i++;
			continue;
		}
		/*
		 * Move the last id into the hole before shrinking the count:
		 * a worker killed in between leaves the last id twice, never
		 * out.
		 */
		s->region->ids[i] = s->region->ids[n - 1];
		n--;
		atomic_store_explicit(&s->region->count, n,
		    memory_order_release);
	}
	pthread_mutex_unlock(&s->lock);
}

static int
compare_id(const void *a, const void *b)
{
	int64_t	x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

void
hd_started_remove_many(struct hd_started *s, const int64_t *ids, size_t nids)
{
	int64_t		*sorted;
	uint32_t	 n, i, kept = 0;

	if (s == NULL || nids == 0)
		return;
	sorted = hd_xcalloc(nids, sizeof *sorted);
	memcpy(sorted, ids, nids * sizeof *sorted);
	qsort(sorted, nids, sizeof *sorted, compare_id);

	pthread_mutex_lock(&s->lock);
	n = atomic_load_explicit(&s->region->count, memory_order_relaxed);
	/*
	 * Move each id that stays down over one that goes.  Whatever slot
	 * a store overwrites held an id that goes or a copy stored lower, so
	 * a worker killed during the pass leaves every staying id listed.
	 */
	for (i = 0; i < n; i++) {
		if (bsearch(&s->region->ids[i], sorted, nids, sizeof *sorted,
		    compare_id) != NULL)
			continue;
		s->region->ids[kept++] = s->region->ids[i];
	}
	atomic_store_explicit(&s->region->count, kept, memory_order_release);
	pthread_mutex_unlock(&s->lock);
	free(sorted);
}

void
hd_started_read(const struct hd_started *s, struct hd_started_ids *ids)
{
	struct started_region	*r;
	uint32_t		 n, i;
	int64_t			 id;

	memset(ids, 0, sizeof *ids);
	if (s == NULL)
		return;
	r = s->region;
	if (r->magic != STARTED_MAGIC)
		return;
	/* A crash that was not stored whole leaves every job unknown. */
	n = atomic_load(&r->ncrashes);
	if (n > HD_STARTED_CRASHES)
		return;
	for (i = 0; i < n; i++) {
		id = atomic_load(&r->crashes[i].id);
		if (hd_started_ids_add_crash(ids, id,
		    (int)atomic_load(&r->crashes[i].signo)) == -1)
			return;
	}
	n = atomic_load_explicit(&r->count, memory_order_acquire);
	if (n > s->capacity || atomic_load(&r->overflow) != 0)
		return;
	ids->known = true;
	ids->n = (int)n;
	if (n > 0) {
		ids->ids = hd_xcalloc(n, sizeof *ids->ids);
		memcpy(ids->ids, r->ids, n * sizeof *ids->ids);
	}
}

int
hd_started_ids_add_crash(struct hd_started_ids *ids, int64_t id, int signo)
{
	if (ids->ncrashed >= HD_STARTED_CRASHES || id < 1 || signo < 1)
		return -1;
	ids->crashed[ids->ncrashed] = id;
	ids->crash_signals[ids->ncrashed] = signo;
	ids->ncrashed++;
	return 0;
}

int
hd_started_crash_signal(const struct hd_started_ids *ids, int64_t id)
{
	int	i, c;

	if (ids == NULL || !ids->known || id < 1)
		return 0;
	for (c = 0; c < ids->ncrashed; c++) {
		if (ids->crashed[c] != id)
			continue;
		for (i = 0; i < ids->n; i++)
			if (ids->ids[i] == id)
				return ids->crash_signals[c];
		return 0;
	}
	return 0;
}

int64_t
hd_started_crashed_job(const struct hd_started_ids *ids)
{
	int	c;

	if (ids == NULL)
		return 0;
	for (c = 0; c < ids->ncrashed; c++)
		if (hd_started_crash_signal(ids, ids->crashed[c]) > 0)
			return ids->crashed[c];
	return 0;
}

void
hd_started_ids_clear(struct hd_started_ids *ids)
{
	free(ids->ids);
	memset(ids, 0, sizeof *ids);
}
