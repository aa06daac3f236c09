/*
 * metrics.c - shared-memory scoreboard and Prometheus text (see metrics.h).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "serve/metrics.h"

#define MAGIC "CSSCORE1"
#define LAYOUT_VERSION 4
#define N_CLASSES 4 /* 2xx 3xx 4xx 5xx (1xx never sent) */

/* Upper bounds of the latency buckets, in seconds. */
static const double bucket_le[CS_METRICS_BUCKETS] = {
	0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
	1, 2.5, 5, 10, 30,
};

static const char *const endpoint_name[CS_EP_COUNT] = {
	"call", "api", "v2_infer", "metadata", "health", "metrics", "other",
};

typedef struct hist {
	uint64_t bucket[CS_METRICS_BUCKETS + 1]; /* not cumulative; last: +Inf */
	uint64_t sum_ns;
} hist;

typedef struct slot {
	int32_t pid;              /* 0: free; CAS to claim */
	int32_t pad;
	uint64_t start_ticks;     /* the owner's start time (/proc/pid/stat) */
	uint64_t requests[CS_EP_COUNT][N_CLASSES];
	hist request, queue, infer;
	int64_t inflight;
	uint64_t rss_bytes;
	uint64_t rss_at;          /* CLOCK_MONOTONIC seconds of the last update */
	/* layout 2: the status page */
	int32_t threads;          /* serving threads of the process */
	int32_t conns;            /* open FastCGI connections of the process; -1:
				     it does not serve (a master, gone) */
	uint64_t slow;            /* requests over limits.slow_request_ms */
	uint64_t busy_since_ns[CS_METRICS_THREADS]; /* per thread, CLOCK_MONOTONIC; 0: idle */
	/* layout 4: batches */
	uint64_t batches;         /* inferences the batching ran */
	uint64_t batched;         /* requests they served */
	uint64_t batch_rows;      /* rows they ran */
} slot;

typedef struct board {
	char magic[8];
	uint32_t version;
	uint32_t n_slots;
	uint32_t slot_size;
	int32_t claim_lock;       /* pid holding the claim lock, 0 when free */
	char model[72];
	double load_seconds;
	/* layout 2: the status page */
	int64_t started_unix;     /* when the board was made */
	int64_t max_active;       /* most requests in flight at once */
	uint64_t max_children_reached; /* times the pool wanted more than its max */
	/* layout 3: the latest failure, written under a sequence lock */
	uint32_t error_seq;       /* odd while a writer copies */
	int32_t last_error_status;
	int64_t last_error_ms;    /* wall clock */
	char last_error[CS_METRICS_ERROR_LEN];
	slot slots[CS_METRICS_SLOTS];
} board;

struct cs_metrics {
	board *b;
	int fd;            /* -1 for an anonymous board */
	char path[256];
	pid_t pid;         /* the process whose slot `mine` is */
	slot *mine;
};

static char pool_label[64]; /* escaped; "" for none */
static _Thread_local int thread_idx; /* this thread's busy_since_ns entry */

/* ------------------------------------------------------------ helpers */

static uint64_t ld(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

static void add(uint64_t *p, uint64_t v)
{
	__atomic_fetch_add(p, v, __ATOMIC_RELAXED);
}

/* Start time of a process in clock ticks since boot; 0 when it is gone. */
static uint64_t start_ticks(pid_t pid)
{
	char path[64], buf[1024];
	unsigned long long t = 0;
	const char *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	p = strrchr(buf, ')'); /* the command may hold spaces */
	if (!p)
		return 0;
	/* after ")": state is field 3; starttime is field 22 */
	for (int field = 2; field < 22 && p; field++)
		p = strchr(p + 1, ' ');
	if (p)
		t = strtoull(p + 1, NULL, 10);
	return t ? t : 1;
}

static int slot_live(const slot *s)
{
	int32_t pid = __atomic_load_n(&s->pid, __ATOMIC_ACQUIRE);

	if (pid <= 0)
		return 0;
	if (kill(pid, 0) != 0 && errno == ESRCH)
		return 0;
	return start_ticks(pid) == ld(&s->start_ticks);
}

static uint64_t rss_bytes(void)
{
	char buf[128];
	unsigned long long size = 0, res = 0;
	ssize_t n;
	int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	if (sscanf(buf, "%llu %llu", &size, &res) != 2)
		return 0;
	return (uint64_t)res * (uint64_t)sysconf(_SC_PAGESIZE);
}


/* Claims a slot for this process: a free one, else a dead process's. */
static slot *claim(board *b)
{
	pid_t me = getpid();
	uint64_t ticks = start_ticks(me);
	slot *got = NULL;
	int32_t unlocked = 0;

	/* claims are rare (start, fork): one at a time keeps them simple */
	while (!__atomic_compare_exchange_n(&b->claim_lock, &unlocked, (int32_t)me, 0,
					    __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) {
		/* a holder killed mid-claim must not wedge the pool */
		if (kill(unlocked, 0) == 0 || errno != ESRCH)
			unlocked = 0;
		usleep(100);
	}
	for (int pass = 0; pass < 2 && !got; pass++) {
		for (uint32_t i = 0; i < CS_METRICS_SLOTS; i++) {
			slot *s = &b->slots[i];
			int32_t seen = __atomic_load_n(&s->pid, __ATOMIC_ACQUIRE);

			if (seen == (int32_t)me && ld(&s->start_ticks) == ticks) {
				got = s;
				break;
			}
			if (pass == 0 ? seen != 0 : (seen == 0 || slot_live(s)))
				continue;
			/* a dead owner's requests stay counted; its in-flight do not */
			__atomic_store_n(&s->inflight, 0, __ATOMIC_RELAXED);
			for (int t = 0; t < CS_METRICS_THREADS; t++)
				__atomic_store_n(&s->busy_since_ns[t], 0, __ATOMIC_RELAXED);
			__atomic_store_n(&s->threads, 1, __ATOMIC_RELAXED);
			__atomic_store_n(&s->conns, -1, __ATOMIC_RELAXED);
			__atomic_store_n(&s->start_ticks, ticks, __ATOMIC_RELAXED);
			__atomic_store_n(&s->rss_bytes, rss_bytes(), __ATOMIC_RELAXED);
			__atomic_store_n(&s->pid, (int32_t)me, __ATOMIC_RELEASE);
			got = s;
			break;
		}
	}
	__atomic_store_n(&b->claim_lock, 0, __ATOMIC_RELEASE);
	return got; /* NULL past CS_METRICS_SLOTS processes: not counted */
}

/* This process's slot, claimed on first use after open or a fork. */
static slot *mine(cs_metrics *m)
{
	pid_t me = getpid();

	if (m->pid != me) {
		m->pid = me;
		m->mine = claim(m->b);
	}
	return m->mine;
}

static void board_init(board *b, const char *model, double load_seconds)
{
	memcpy(b->magic, MAGIC, 8);
	b->version = LAYOUT_VERSION;
	b->n_slots = CS_METRICS_SLOTS;
	b->slot_size = (uint32_t)sizeof(slot);
	snprintf(b->model, sizeof b->model, "%s", model);
	b->load_seconds = load_seconds;
	b->started_unix = (int64_t)time(NULL);
}

static uint64_t fnv1a(const char *s)
{
	uint64_t h = 1469598103934665603ULL;

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ULL;
	}
	return h;
}

/* ------------------------------------------------------------ open/close */

/*
 * Removes default boards in /dev/shm that no live process uses (left by
 * pools that were killed): a board is only removed under its flock, with
 * no live slot, so a pool in use is never touched.
 */
static void sweep_stale(const char *keep)
{
	DIR *d = opendir("/dev/shm");
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d))) {
		char p[512];
		size_t n = strlen(e->d_name);
		int fd, live = 0;
		board *b;

		if (strncmp(e->d_name, "cubeserve-", 10) != 0 || n < 12 ||
		    strcmp(e->d_name + n - 11, ".scoreboard") != 0)
			continue;
		snprintf(p, sizeof p, "/dev/shm/%s", e->d_name);
		if (strcmp(p, keep) == 0)
			continue;
		fd = open(p, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
		if (fd < 0)
			continue;
		if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
			close(fd);
			continue;
		}
		b = mmap(NULL, sizeof(board), PROT_READ, MAP_SHARED, fd, 0);
		if (b != MAP_FAILED) {
			struct stat st;

			if (fstat(fd, &st) == 0 && st.st_size == (off_t)sizeof(board) &&
			    memcmp(b->magic, MAGIC, 8) == 0) {
				for (uint32_t i = 0; i < CS_METRICS_SLOTS && !live; i++)
					live = slot_live(&b->slots[i]);
				if (!live)
					unlink(p);
			}
			munmap(b, sizeof(board));
		}
		flock(fd, LOCK_UN);
		close(fd);
	}
	closedir(d);
}

int cs_metrics_open(const char *path, const char *listen_addr,
		    const char *model, double load_seconds, cs_metrics **out,
		    char *err, size_t errlen)
{
	cs_metrics *m;
	struct stat st;
	board *b;

	m = calloc(1, sizeof(*m));
	if (!m) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	m->fd = -1;
	if (path && strcmp(path, "anon") == 0) {
		b = mmap(NULL, sizeof(board), PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
		if (b == MAP_FAILED) {
			snprintf(err, errlen, "scoreboard: mmap: %s", strerror(errno));
			goto out_free;
		}
		board_init(b, model, load_seconds);
		m->b = b;
		goto out_done;
	}
	if (path) {
		snprintf(m->path, sizeof m->path, "%s", path);
	} else {
		snprintf(m->path, sizeof m->path, "/dev/shm/cubeserve-%s-%016" PRIx64 ".scoreboard",
			 model, fnv1a(listen_addr ? listen_addr : "fd0"));
		sweep_stale(m->path);
	}
	m->fd = open(m->path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (m->fd < 0) {
		if (!path) /* no /dev/shm: a board for this process and its children */
			return cs_metrics_open("anon", NULL, model, load_seconds, out, err, errlen) ?
			       (free(m), -1) : (free(m), 0);
		snprintf(err, errlen, "scoreboard %s: %s", m->path, strerror(errno));
		goto out_free;
	}
	if (flock(m->fd, LOCK_EX) != 0 || fstat(m->fd, &st) != 0) {
		snprintf(err, errlen, "scoreboard %s: %s", m->path, strerror(errno));
		goto out_close;
	}
	if (st.st_size != 0 && st.st_size != (off_t)sizeof(board)) {
		snprintf(err, errlen, "scoreboard %s: size %lld is not a cubeserve %s scoreboard of this version (%zu bytes)",
			 m->path, (long long)st.st_size, MAGIC, sizeof(board));
		goto out_close;
	}
	if (st.st_size == 0 && ftruncate(m->fd, (off_t)sizeof(board)) != 0) {
		snprintf(err, errlen, "scoreboard %s: %s", m->path, strerror(errno));
		goto out_close;
	}
	b = mmap(NULL, sizeof(board), PROT_READ | PROT_WRITE, MAP_SHARED, m->fd, 0);
	if (b == MAP_FAILED) {
		snprintf(err, errlen, "scoreboard %s: mmap: %s", m->path, strerror(errno));
		goto out_close;
	}
	if (st.st_size == 0) {
		board_init(b, model, load_seconds);
	} else if (memcmp(b->magic, MAGIC, 8) != 0 || b->version != LAYOUT_VERSION ||
		   b->n_slots != CS_METRICS_SLOTS || b->slot_size != sizeof(slot)) {
		snprintf(err, errlen, "scoreboard %s: not a cubeserve scoreboard of this version",
			 m->path);
		munmap(b, sizeof(board));
		goto out_close;
	} else if (strncmp(b->model, model, sizeof b->model) != 0) {
		snprintf(err, errlen, "scoreboard %s belongs to model '%.64s', not '%s'",
			 m->path, b->model, model);
		munmap(b, sizeof(board));
		goto out_close;
	} else {
		b->load_seconds = load_seconds;
	}
	m->b = b;
	flock(m->fd, LOCK_UN);
out_done:
	*out = m;
	return 0;

out_close:
	close(m->fd);
out_free:
	free(m);
	return -1;
}

void cs_metrics_close(cs_metrics *m)
{
	int others = 0;

	if (!m)
		return;
	if (m->fd >= 0)
		flock(m->fd, LOCK_EX);
	if (m->mine && m->pid == getpid()) {
		__atomic_store_n(&m->mine->inflight, 0, __ATOMIC_RELAXED);
		__atomic_store_n(&m->mine->conns, -1, __ATOMIC_RELAXED);
		/* the slot stays owned by this pid until another process finds
		 * it dead: its counts keep adding up to the pool's totals */
	}
	for (uint32_t i = 0; i < CS_METRICS_SLOTS; i++) {
		slot *s = &m->b->slots[i];

		if (s != m->mine && slot_live(s))
			others++;
	}
	if (m->fd >= 0) {
		if (!others && m->path[0])
			unlink(m->path);
		flock(m->fd, LOCK_UN);
		close(m->fd);
	}
	/* only the last user unmaps an anonymous board shared with children */
	munmap(m->b, sizeof(board));
	free(m);
}

const char *cs_metrics_path(const cs_metrics *m)
{
	return m ? m->path : "";
}

/* ------------------------------------------------------------ recording */

static void observe(hist *h, double seconds)
{
	int i = 0;

	if (!(seconds >= 0))
		seconds = 0;
	while (i < CS_METRICS_BUCKETS && seconds > bucket_le[i])
		i++;
	add(&h->bucket[i], 1);
	add(&h->sum_ns, (uint64_t)(seconds * 1e9));
}

void cs_metrics_attach(cs_metrics *m)
{
	if (m)
		mine(m);
}


void cs_metrics_set_thread(cs_metrics *m, int idx, int threads)
{
	slot *s;

	thread_idx = idx >= 0 && idx < CS_METRICS_THREADS ? idx : 0;
	if (m && threads > 0 && (s = mine(m)))
		__atomic_store_n(&s->threads, threads, __ATOMIC_RELAXED);
}

void cs_metrics_conns_add(cs_metrics *m, int delta)
{
	slot *s;
	int32_t not_serving = -1;

	if (!m || !(s = mine(m)))
		return;
	/* the first call marks the process as one that serves */
	__atomic_compare_exchange_n(&s->conns, &not_serving, 0, 0,
				    __ATOMIC_RELAXED, __ATOMIC_RELAXED);
	if (delta)
		__atomic_fetch_add(&s->conns, delta, __ATOMIC_RELAXED);
}

#define ACCEPT_BURST 64 /* connections accepted per wake-up, at most */

int cs_metrics_accept_more(cs_metrics *m, int taken)
{
	int slack = taken == 0 ? 2 : 0;
	slot *me;
	int32_t n;

	if (taken >= ACCEPT_BURST)
		return 0;
	if (!m || !(me = mine(m)))
		return 1;
	n = __atomic_load_n(&me->conns, __ATOMIC_RELAXED);
	for (uint32_t i = 0; i < CS_METRICS_SLOTS; i++) {
		slot *o = &m->b->slots[i];
		int32_t pid = __atomic_load_n(&o->pid, __ATOMIC_RELAXED), c;

		if (o == me || pid <= 0)
			continue;
		c = __atomic_load_n(&o->conns, __ATOMIC_RELAXED);
		if (c < 0 || c >= n - slack)
			continue;
		/* a killed process cannot say it is gone: look before yielding */
		if (kill(pid, 0) != 0 && errno == ESRCH) {
			__atomic_compare_exchange_n(&o->conns, &c, -1, 0,
						    __ATOMIC_RELAXED, __ATOMIC_RELAXED);
			continue;
		}
		return 0;
	}
	return 1;
}

void cs_metrics_begin(cs_metrics *m)
{
	int64_t active = 0, max;
	slot *s;

	if (!m || !(s = mine(m)))
		return;
	__atomic_fetch_add(&s->inflight, 1, __ATOMIC_RELAXED);
	__atomic_store_n(&s->busy_since_ns[thread_idx], (uint64_t)cs_clock_mono_ns(), __ATOMIC_RELAXED);
	/* the pool's in-flight high-water mark */
	for (uint32_t i = 0; i < CS_METRICS_SLOTS; i++) {
		const slot *o = &m->b->slots[i];

		if (__atomic_load_n(&o->pid, __ATOMIC_RELAXED) != 0) {
			int64_t f = __atomic_load_n(&o->inflight, __ATOMIC_RELAXED);

			active += f > 0 ? f : 0;
		}
	}
	max = __atomic_load_n(&m->b->max_active, __ATOMIC_RELAXED);
	while (active > max &&
	       !__atomic_compare_exchange_n(&m->b->max_active, &max, active, 0,
					    __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		;
}

void cs_metrics_slow(cs_metrics *m)
{
	slot *s;

	if (m && (s = mine(m)))
		add(&s->slow, 1);
}

void cs_metrics_max_children_reached(cs_metrics *m)
{
	if (m)
		add(&m->b->max_children_reached, 1);
}

void cs_metrics_end(cs_metrics *m, cs_metrics_endpoint ep, int status,
		    double seconds, double queue_seconds)
{
	int cls = status / 100 - 2;
	uint64_t now;
	slot *s;

	if (!m || !(s = mine(m)))
		return;
	if (cls < 0)
		cls = 0;
	if (cls >= N_CLASSES)
		cls = N_CLASSES - 1;
	if ((unsigned)ep >= CS_EP_COUNT)
		ep = CS_EP_OTHER;
	add(&s->requests[ep][cls], 1);
	observe(&s->request, seconds);
	if (queue_seconds >= 0)
		observe(&s->queue, queue_seconds);
	__atomic_store_n(&s->busy_since_ns[thread_idx], 0, __ATOMIC_RELAXED);
	__atomic_fetch_sub(&s->inflight, 1, __ATOMIC_RELAXED);
	now = (uint64_t)cs_clock_mono();
	if (now != ld(&s->rss_at)) { /* at most once a second */
		__atomic_store_n(&s->rss_at, now, __ATOMIC_RELAXED);
		__atomic_store_n(&s->rss_bytes, rss_bytes(), __ATOMIC_RELAXED);
	}
}

void cs_metrics_observe_infer(void *m, double seconds)
{
	cs_metrics_infer(m, seconds);
}

void cs_metrics_infer(cs_metrics *m, double seconds)
{
	slot *s;

	if (!m || !(s = mine(m)))
		return;
	observe(&s->infer, seconds);
}

void cs_metrics_batch(cs_metrics *m, uint64_t requests, uint64_t rows)
{
	slot *s;

	if (!m || !(s = mine(m)))
		return;
	add(&s->batches, 1);
	add(&s->batched, requests);
	add(&s->batch_rows, rows);
}

void cs_metrics_observe_batch(void *m, size_t requests, int64_t rows)
{
	cs_metrics_batch(m, (uint64_t)requests, rows > 0 ? (uint64_t)rows : 0);
}

int cs_metrics_processes(cs_metrics *m)
{
	int n = 0;

	for (uint32_t i = 0; m && i < CS_METRICS_SLOTS; i++)
		n += slot_live(&m->b->slots[i]);
	return n;
}

/* ------------------------------------------------------------ rendering */

typedef struct sbuf {
	char *p;
	size_t len, cap;
	int oom;
} sbuf;

static void sb_printf(sbuf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void sb_printf(sbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		if (b->oom)
			return;
		va_start(ap, fmt);
		n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->oom = 1;
			return;
		}
		if ((size_t)n < b->cap - b->len) {
			b->len += (size_t)n;
			return;
		}
		{
			size_t cap = (b->cap + (size_t)n + 1) * 2;
			char *p = realloc(b->p, cap);

			if (!p) {
				b->oom = 1;
				return;
			}
			b->p = p;
			b->cap = cap;
		}
	}
}

/* Writes a label value escaped per the exposition format. */
static void label_value(char *dst, size_t n, const char *s)
{
	size_t o = 0;

	for (; *s && o + 3 < n; s++) {
		if (*s == '\\' || *s == '"') {
			dst[o++] = '\\';
			dst[o++] = *s;
		} else if (*s == '\n') {
			dst[o++] = '\\';
			dst[o++] = 'n';
		} else {
			dst[o++] = *s;
		}
	}
	dst[o] = '\0';
}

static void render_hist(sbuf *b, const char *name, const char *help,
			const char *model, const hist *h)
{
	uint64_t cum = 0;

	sb_printf(b, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
	for (int i = 0; i <= CS_METRICS_BUCKETS; i++) {
		cum += h->bucket[i];
		if (i < CS_METRICS_BUCKETS)
			sb_printf(b, "%s_bucket{model=\"%s\",le=\"%g\"} %" PRIu64 "\n",
				  name, model, bucket_le[i], cum);
		else
			sb_printf(b, "%s_bucket{model=\"%s\",le=\"+Inf\"} %" PRIu64 "\n",
				  name, model, cum);
	}
	sb_printf(b, "%s_sum{model=\"%s\"} %.9f\n%s_count{model=\"%s\"} %" PRIu64 "\n",
		  name, model, (double)h->sum_ns / 1e9, name, model, cum);
}

static void sum_hist(hist *dst, const hist *src)
{
	for (int i = 0; i <= CS_METRICS_BUCKETS; i++)
		dst->bucket[i] += ld(&src->bucket[i]);
	dst->sum_ns += ld(&src->sum_ns);
}

char *cs_metrics_render(cs_metrics *m, const char *version,
			const char *plugin, size_t *len)
{
	static const char *const cls_name[N_CLASSES] = {"2xx", "3xx", "4xx", "5xx"};
	uint64_t req[CS_EP_COUNT][N_CLASSES] = {{0}};
	hist hr = {{0}, 0}, hq = {{0}, 0}, hi = {{0}, 0};
	int64_t inflight = 0;
	uint64_t rss = 0, batches = 0, batched = 0, batch_rows = 0;
	int procs = 0;
	char model[160], ver[160], plug[160];
	sbuf b = {0};
	slot *me;

	if (!m)
		return NULL;
	me = mine(m);
	if (me)
		__atomic_store_n(&me->rss_bytes, rss_bytes(), __ATOMIC_RELAXED);
	for (uint32_t i = 0; i < CS_METRICS_SLOTS; i++) {
		const slot *s = &m->b->slots[i];
		int live;

		if (__atomic_load_n(&s->pid, __ATOMIC_ACQUIRE) == 0)
			continue;
		live = slot_live(s);
		for (int e = 0; e < CS_EP_COUNT; e++)
			for (int c = 0; c < N_CLASSES; c++)
				req[e][c] += ld(&s->requests[e][c]);
		sum_hist(&hr, &s->request);
		sum_hist(&hq, &s->queue);
		sum_hist(&hi, &s->infer);
		batches += ld(&s->batches);
		batched += ld(&s->batched);
		batch_rows += ld(&s->batch_rows);
		if (live) {
			int64_t f = __atomic_load_n(&s->inflight, __ATOMIC_RELAXED);

			inflight += f > 0 ? f : 0;
			rss += ld(&s->rss_bytes);
			procs++;
		}
	}
	label_value(model, sizeof model, m->b->model);
	if (pool_label[0]) {
		/* every label set starts model="...": the pool label joins it */
		size_t ml = strlen(model);

		snprintf(model + ml, sizeof model - ml, "\",pool=\"%s", pool_label);
	}
	label_value(ver, sizeof ver, version ? version : "");
	label_value(plug, sizeof plug, plugin ? plugin : "");

	b.cap = 16384;
	b.p = malloc(b.cap);
	if (!b.p)
		return NULL;
	sb_printf(&b, "# HELP cubeserve_model_info The model this pool serves (always 1).\n"
		  "# TYPE cubeserve_model_info gauge\n"
		  "cubeserve_model_info{model=\"%s\",version=\"%s\",plugin=\"%s\"} 1\n",
		  model, ver, plug);
	sb_printf(&b, "# HELP cubeserve_requests_total Requests answered by the pool, by endpoint and HTTP status class.\n"
		  "# TYPE cubeserve_requests_total counter\n");
	for (int e = 0; e < CS_EP_COUNT; e++)
		for (int c = 0; c < N_CLASSES; c++)
			sb_printf(&b, "cubeserve_requests_total{model=\"%s\",endpoint=\"%s\",code=\"%s\"} %" PRIu64 "\n",
				  model, endpoint_name[e], cls_name[c], req[e][c]);
	render_hist(&b, "cubeserve_request_duration_seconds",
		    "Time from taking a request to writing its response, in seconds.",
		    model, &hr);
	render_hist(&b, "cubeserve_queue_duration_seconds",
		    "Time a request waited between nginx and the worker, in seconds (needs the CS_REQUEST_START FastCGI param).",
		    model, &hq);
	render_hist(&b, "cubeserve_inference_duration_seconds",
		    "Time of one inference in the model's backend, in seconds.",
		    model, &hi);
	sb_printf(&b, "# HELP cubeserve_batches_total Inferences run by batching (requests / batches is the mean batch).\n"
		  "# TYPE cubeserve_batches_total counter\n"
		  "cubeserve_batches_total{model=\"%s\"} %" PRIu64 "\n"
		  "# HELP cubeserve_batched_requests_total Requests served through those inferences.\n"
		  "# TYPE cubeserve_batched_requests_total counter\n"
		  "cubeserve_batched_requests_total{model=\"%s\"} %" PRIu64 "\n"
		  "# HELP cubeserve_batch_rows_total Rows (dimension 0) those inferences ran.\n"
		  "# TYPE cubeserve_batch_rows_total counter\n"
		  "cubeserve_batch_rows_total{model=\"%s\"} %" PRIu64 "\n",
		  model, batches, model, batched, model, batch_rows);
	sb_printf(&b, "# HELP cubeserve_requests_in_flight Requests being answered by the pool now.\n"
		  "# TYPE cubeserve_requests_in_flight gauge\n"
		  "cubeserve_requests_in_flight{model=\"%s\"} %" PRId64 "\n", model, inflight);
	sb_printf(&b, "# HELP cubeserve_model_load_seconds Time the model took to load, in seconds.\n"
		  "# TYPE cubeserve_model_load_seconds gauge\n"
		  "cubeserve_model_load_seconds{model=\"%s\"} %.6f\n", model, m->b->load_seconds);
	sb_printf(&b, "# HELP cubeserve_resident_memory_bytes Resident memory of the pool's processes, summed (shared pages count in each).\n"
		  "# TYPE cubeserve_resident_memory_bytes gauge\n"
		  "cubeserve_resident_memory_bytes{model=\"%s\"} %" PRIu64 "\n", model, rss);
	sb_printf(&b, "# HELP cubeserve_processes Live processes of the pool with a scoreboard slot.\n"
		  "# TYPE cubeserve_processes gauge\n"
		  "cubeserve_processes{model=\"%s\"} %d\n", model, procs);
	if (b.oom) {
		free(b.p);
		return NULL;
	}
	*len = b.len;
	return b.p;
}

/* ------------------------------------------------------------ status */

/* The q-quantile of a histogram, interpolated inside its bucket; 0 when empty. */
static double quantile(const hist *h, double q)
{
	uint64_t total = 0, seen = 0;

	for (int i = 0; i <= CS_METRICS_BUCKETS; i++)
		total += h->bucket[i];
	if (!total)
		return 0;
	for (int i = 0; i <= CS_METRICS_BUCKETS; i++) {
		double lo = i ? bucket_le[i - 1] : 0;
		double hi = i < CS_METRICS_BUCKETS ? bucket_le[i] : bucket_le[CS_METRICS_BUCKETS - 1] * 2;
		double want = q * (double)total;

		if ((double)(seen + h->bucket[i]) >= want && h->bucket[i]) {
			double frac = (want - (double)seen) / (double)h->bucket[i];

			return lo + (hi - lo) * (frac < 0 ? 0 : frac > 1 ? 1 : frac);
		}
		seen += h->bucket[i];
	}
	return bucket_le[CS_METRICS_BUCKETS - 1];
}

void cs_metrics_status(cs_metrics *m, cs_pool_status *out)
{
	uint64_t now = (uint64_t)cs_clock_mono_ns();
	hist hr = {{0}, 0};

	memset(out, 0, sizeof(*out));
	if (!m)
		return;
	snprintf(out->model, sizeof out->model, "%s", m->b->model);
	out->start_unix = m->b->started_unix;
	out->max_active = __atomic_load_n(&m->b->max_active, __ATOMIC_RELAXED);
	out->max_children_reached = ld(&m->b->max_children_reached);
	for (uint32_t i = 0; i < CS_METRICS_SLOTS; i++) {
		const slot *s = &m->b->slots[i];
		cs_metrics_proc *p;
		int threads;

		if (__atomic_load_n(&s->pid, __ATOMIC_ACQUIRE) == 0)
			continue;
		for (int e = 0; e < CS_EP_COUNT; e++)
			for (int c = 0; c < N_CLASSES; c++)
				out->accepted += ld(&s->requests[e][c]);
		out->slow += ld(&s->slow);
		sum_hist(&hr, &s->request);
		if (!slot_live(s) || out->n_procs >= CS_METRICS_SLOTS)
			continue;
		p = &out->procs[out->n_procs++];
		p->pid = __atomic_load_n(&s->pid, __ATOMIC_RELAXED);
		threads = __atomic_load_n(&s->threads, __ATOMIC_RELAXED);
		p->threads = threads > 0 ? threads : 1;
		for (int e = 0; e < CS_EP_COUNT; e++)
			for (int c = 0; c < N_CLASSES; c++)
				p->requests += ld(&s->requests[e][c]);
		p->rss_bytes = ld(&s->rss_bytes);
		p->connections = __atomic_load_n(&s->conns, __ATOMIC_RELAXED);
		if (p->connections < 0)
			p->connections = 0;
		for (int t = 0; t < CS_METRICS_THREADS; t++) {
			uint64_t since = __atomic_load_n(&s->busy_since_ns[t], __ATOMIC_RELAXED);
			double age;

			if (!since || since > now)
				continue;
			p->busy++;
			age = (double)(now - since) / 1e9;
			if (age > p->busy_for_s)
				p->busy_for_s = age;
		}
		out->processes++;
		out->active += p->busy;
		out->idle += p->threads > p->busy ? p->threads - p->busy : 0;
	}
	for (uint32_t i = 0; i < CS_METRICS_SLOTS; i++) {
		const slot *s = &m->b->slots[i];

		if (__atomic_load_n(&s->pid, __ATOMIC_ACQUIRE) == 0)
			continue;
		for (int e = 0; e < CS_EP_COUNT; e++) {
			out->errors_5xx += ld(&s->requests[e][3]);
			out->errors_4xx += ld(&s->requests[e][2]);
		}
	}
	for (int tries = 0; tries < 8; tries++) {
		uint32_t seq = __atomic_load_n(&m->b->error_seq, __ATOMIC_ACQUIRE);

		if (seq & 1)
			continue;
		memcpy(out->last_error, m->b->last_error, sizeof out->last_error);
		out->last_error_status = m->b->last_error_status;
		out->last_error_ms = m->b->last_error_ms;
		if (__atomic_load_n(&m->b->error_seq, __ATOMIC_ACQUIRE) == seq)
			break;
		out->last_error[0] = '\0';
	}
	out->last_error[sizeof out->last_error - 1] = '\0';
	out->busy_seconds = (double)hr.sum_ns / 1e9;
	out->p50_s = quantile(&hr, 0.50);
	out->p99_s = quantile(&hr, 0.99);
}

void cs_metrics_error(cs_metrics *m, int status, const char *text, size_t len)
{
	uint32_t seq;
	struct timespec ts;

	if (!m)
		return;
	seq = __atomic_load_n(&m->b->error_seq, __ATOMIC_RELAXED);
	/* one writer at a time; a failure while another writes is skipped */
	if ((seq & 1) || !__atomic_compare_exchange_n(&m->b->error_seq, &seq, seq + 1, 0,
						      __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
		return;
	if (len >= sizeof m->b->last_error)
		len = sizeof m->b->last_error - 1;
	memcpy(m->b->last_error, text ? text : "", text ? len : 0);
	m->b->last_error[text ? len : 0] = '\0';
	m->b->last_error_status = status;
	clock_gettime(CLOCK_REALTIME, &ts);
	m->b->last_error_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	__atomic_store_n(&m->b->error_seq, seq + 2, __ATOMIC_RELEASE);
}

void cs_metrics_set_pool(const char *id)
{
	label_value(pool_label, sizeof pool_label, id ? id : "");
}
