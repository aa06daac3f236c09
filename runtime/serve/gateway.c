/*
 * gateway.c - the key check against a shared-memory snapshot of the keys
 * (see gateway.h and docs/security.md).
 *
 * The table: a header (auth mode, access, pepper, counters) and an
 * open-addressed array of key slots indexed by the first bytes of the
 * key's keyed hash, which is uniformly random to anyone without the
 * pepper, so probing reveals nothing about a presented key; the full
 * 32-byte hash is then compared with sodium_memcmp (constant time). A key
 * is never looked up or compared by its text or prefix.
 *
 * Writers (one at a time, by a lease in the header) change the snapshot
 * fields inside a sequence lock; readers copy what they need and retry
 * when the sequence moved. Per-key counters (the rate bucket, calls
 * pending for the quota, meters) are atomics that survive refreshes: a
 * key keeps its slot while it exists; a removed key's slot becomes a
 * tombstone, reused only after its counters were flushed.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "core/forksafe.h"
#include "core/log.h"
#include "core/status.h"
#include "registry/auth.h"
#include "serve/gateway.h"

#define GW_MAGIC 0x43534757u
#define GW_VERSION 1u
#define GW_SLOTS 1024u /* a power of two */
#define GW_SPIN 1024           /* reads of an odd sequence before a yield */
#define GW_WAIT_MS 250         /* then a writer is taken for dead */

enum { ST_EMPTY = 0, ST_LIVE = 1, ST_TOMB = 2 };

enum {
	OUT_ALLOWED, OUT_PUBLIC, OUT_NO_KEY, OUT_BAD_KEY, OUT_FORBIDDEN,
	OUT_RATE, OUT_QUOTA, OUT_STALE, N_OUT
};
static const char *const out_name[N_OUT] = {
	"allowed", "public", "no_key", "bad_key", "forbidden", "rate_limited",
	"quota_exceeded", "stale"
};

typedef struct gw_key {
	/* snapshot fields: written under the sequence lock */
	unsigned char hash[32];
	char id[16];
	uint32_t state;
	uint32_t granted;
	double rate;      /* per second, 0: none */
	int64_t quota;    /* per UTC day, 0: none */
	int64_t expires;  /* Unix seconds, 0: never */
	/* counters: atomics */
	int64_t quota_base; /* the day's calls over all gateways at the last flush */
	int32_t day;        /* the day quota_base counts */
	int32_t pad;
	uint64_t tat_ns;    /* GCRA: theoretical arrival time (CLOCK_REALTIME ns) */
	uint64_t pending;   /* calls let through, not yet added to the quota in Redis */
	uint64_t ok, err;   /* calls answered, not yet metered */
} gw_key;

typedef struct gw_table {
	uint32_t magic, version, slots, size;
	uint32_t seq;
	int32_t auth_on, is_public, loaded;
	int64_t refreshed_ms; /* the last successful refresh */
	int64_t lease_ms;     /* the refresher's lease ends then */
	unsigned char pepper[32];
	uint64_t counts[N_OUT];
	gw_key slot[GW_SLOTS];
} gw_table;

struct cs_gateway {
	gw_table *t;
	char path[512];
	int is_shm;
	char *url, *prefix, *model;
	int refresh_ms, stale_s;
	cs_registry *reg;
	pthread_t thread;
	int running;
	pid_t owner;    /* the process whose thread it is (a forked child has none) */
	int stop_pipe[2];
	int redis_down; /* logged once */
	pthread_mutex_t busy; /* held by the thread while it works */
	int parked;           /* the thread is in its loop (cs_forksafe_parked) */
};

/*
 * The prefork master forks (children, respawns) while the refresh thread
 * runs. A fork while the thread is inside a Redis call or the allocator
 * would copy the lock it holds then into the child, which hangs on it the
 * first time it allocates. The thread holds g->busy whenever it is not
 * waiting, and fork() takes it first (as the heartbeat does).
 */
static cs_gateway *fork_gw;
static pthread_once_t fork_once = PTHREAD_ONCE_INIT;

static void fork_prepare(void)
{
	if (fork_gw)
		pthread_mutex_lock(&fork_gw->busy);
}

static void fork_done(void)
{
	if (fork_gw)
		pthread_mutex_unlock(&fork_gw->busy);
}

static void fork_register(void)
{
	pthread_atfork(fork_prepare, fork_done, fork_done);
}

/* The key let through by the last check in this thread, for done(). */
static _Thread_local int pending_slot = -1;
static _Thread_local gw_table *pending_table;

static int64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint64_t wall_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

#define LD(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define ST(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define ADD(p, v) __atomic_fetch_add((p), (v), __ATOMIC_RELAXED)
#define XCHG(p, v) __atomic_exchange_n((p), (v), __ATOMIC_ACQ_REL)

static uint32_t index_of(const unsigned char h[32])
{
	uint32_t i;

	memcpy(&i, h, sizeof i);
	return i & (GW_SLOTS - 1);
}

/* ------------------------------------------------------------ the writer */

/*
 * Only the lease holder writes. A writer that died inside its write left
 * the sequence odd: the next one keeps it odd while it writes.
 */
static void write_begin(gw_table *t)
{
	if (!(LD(&t->seq) & 1u))
		ADD(&t->seq, 1);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

static void write_end(gw_table *t)
{
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	ADD(&t->seq, 1);
}

/* Flushes the meters and quota counts of every key slot to Redis. */
static void flush(cs_gateway *g)
{
	gw_table *t = g->t;
	int today = cs_auth_today();

	for (uint32_t i = 0; i < GW_SLOTS; i++) {
		gw_key *k = &t->slot[i];
		uint64_t ok, err, pend;
		char id[16];
		long long total;

		if (LD(&k->state) == ST_EMPTY)
			continue;
		memcpy(id, k->id, sizeof id);
		id[15] = '\0';
		ok = XCHG(&k->ok, 0);
		err = XCHG(&k->err, 0);
		if ((ok || err) && cs_auth_meter_add(g->reg, id, g->model, today,
						     (long long)ok, (long long)err) != CS_OK) {
			ADD(&k->ok, ok);
			ADD(&k->err, err);
		}
		pend = XCHG(&k->pending, 0);
		if (!pend && LD(&k->day) == today)
			continue;
		if (cs_auth_quota_add(g->reg, id, today, (long long)pend, &total) != CS_OK) {
			ADD(&k->pending, pend);
			continue;
		}
		ST(&k->quota_base, (int64_t)total);
		ST(&k->day, today);
	}
}

/* Finds the slot of hash (live or tombstone), or -1; *free_at: a reusable one. */
static int find(const gw_table *t, const unsigned char h[32], int *free_at)
{
	uint32_t i = index_of(h);

	if (free_at)
		*free_at = -1;
	for (uint32_t n = 0; n < GW_SLOTS; n++, i = (i + 1) & (GW_SLOTS - 1)) {
		const gw_key *k = &t->slot[i];

		if (k->state == ST_EMPTY) {
			if (free_at && *free_at < 0)
				*free_at = (int)i;
			return -1;
		}
		if (free_at && *free_at < 0 && k->state == ST_TOMB &&
		    LD(&k->pending) == 0 && LD(&k->ok) == 0 && LD(&k->err) == 0)
			*free_at = (int)i;
		if (sodium_memcmp(k->hash, h, 32) == 0)
			return (int)i;
	}
	return -1;
}

/* Writes the snapshot (JSON from cs_auth_snapshot) into the table. */
static int apply(cs_gateway *g, json_t *snap)
{
	gw_table *t = g->t;
	json_t *keys = json_object_get(snap, "keys"), *k;
	unsigned char pepper[32];
	unsigned char seen[GW_SLOTS];
	size_t i, n = 0;
	int today = (int)json_integer_value(json_object_get(snap, "day"));
	const char *ph = json_string_value(json_object_get(snap, "pepper"));

	if (!ph || sodium_hex2bin(pepper, 32, ph, strlen(ph), NULL, &n, NULL) != 0 || n != 32)
		return -1;
	memset(seen, 0, sizeof seen);
	write_begin(t);
	t->auth_on = json_is_true(json_object_get(snap, "auth"));
	t->is_public = json_is_true(json_object_get(snap, "public"));
	memcpy(t->pepper, pepper, 32);
	json_array_foreach(keys, i, k) {
		unsigned char h[32];
		const char *hex = json_string_value(json_object_get(k, "hash"));
		const char *id = json_string_value(json_object_get(k, "id"));
		gw_key *s;
		int at, free_at;

		if (!hex || !id || sodium_hex2bin(h, 32, hex, strlen(hex), NULL, &n, NULL) != 0 || n != 32)
			continue;
		at = find(t, h, &free_at);
		if (at < 0) {
			if (free_at < 0)
				continue; /* full: the key is unknown here until a slot frees */
			at = free_at;
			s = &t->slot[at];
			memcpy(s->hash, h, 32);
			ST(&s->tat_ns, 0);
			ST(&s->quota_base, (int64_t)json_integer_value(json_object_get(k, "used_today")));
			ST(&s->day, today);
		}
		s = &t->slot[at];
		snprintf(s->id, sizeof s->id, "%s", id);
		s->granted = json_is_true(json_object_get(k, "granted"));
		s->rate = json_number_value(json_object_get(k, "rate"));
		s->quota = (int64_t)json_integer_value(json_object_get(k, "quota"));
		s->expires = (int64_t)json_integer_value(json_object_get(k, "expires"));
		if (LD(&s->day) == today && LD(&s->pending) == 0)
			ST(&s->quota_base, (int64_t)json_integer_value(json_object_get(k, "used_today")));
		ST(&s->state, ST_LIVE);
		seen[at] = 1;
	}
	for (uint32_t j = 0; j < GW_SLOTS; j++)
		if (!seen[j] && t->slot[j].state == ST_LIVE)
			ST(&t->slot[j].state, ST_TOMB);
	t->loaded = 1;
	write_end(t);
	sodium_memzero(pepper, sizeof pepper);
	ST(&t->refreshed_ms, wall_ms());
	return 0;
}

/* One refresh (when this process holds the lease): flush, then reload. */
static void refresh(cs_gateway *g, int force)
{
	gw_table *t = g->t;
	int64_t now = wall_ms(), lease = LD(&t->lease_ms), mine;
	json_t *snap = NULL;
	char err[CS_ERROR_SIZE * 2];

	if (!force && now - LD(&t->refreshed_ms) < g->refresh_ms - 100)
		return;
	mine = now + 3000;
	if (lease > now || !__atomic_compare_exchange_n(&t->lease_ms, &lease, mine, 0,
						       __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		return;
	if (!g->reg && cs_registry_open(g->url, g->prefix, 1000, &g->reg, err, sizeof err) != CS_OK) {
		if (!g->redis_down)
			cs_log_warn("gateway: %s; the last key snapshot keeps deciding (for at most %d s)",
				    err, g->stale_s);
		g->redis_down = 1;
		goto out;
	}
	flush(g);
	if (cs_auth_snapshot(g->reg, g->model, &snap) != CS_OK) {
		if (!g->redis_down)
			cs_log_warn("gateway: key snapshot from Redis failed (%s); the last one keeps deciding (for at most %d s)",
				    g->reg->errstr, g->stale_s);
		g->redis_down = 1;
		if (g->reg->err == CS_EUNAVAILABLE) {
			cs_registry_close(g->reg);
			g->reg = NULL;
		}
		goto out;
	}
	if (g->redis_down)
		cs_log_info("gateway: key snapshots from Redis resumed");
	g->redis_down = 0;
	/* Redis may have been slow: write only while the lease is still ours */
	{
		int64_t renewed = wall_ms() + 3000;

		if (__atomic_compare_exchange_n(&t->lease_ms, &mine, renewed, 0,
						__ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
			apply(g, snap);
			mine = renewed;
		} else {
			cs_log_warn("gateway: the key refresh took over 3 s; another process refreshes instead");
			mine = -1; /* not ours: leave it */
		}
	}
	json_decref(snap);
out:
	/* give the lease back unless another process holds it by now */
	__atomic_compare_exchange_n(&t->lease_ms, &mine, 0, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
}

static void *refresh_main(void *arg)
{
	cs_gateway *g = arg;
	char c;

	cs_forksafe_parked(&g->parked);
	for (;;) {
		struct timespec ts = {g->refresh_ms / 1000, (long)(g->refresh_ms % 1000) * 1000000L};
		fd_set rd;
		struct timeval tv = {ts.tv_sec, ts.tv_nsec / 1000};

		FD_ZERO(&rd);
		FD_SET(g->stop_pipe[0], &rd);
		if (select(g->stop_pipe[0] + 1, &rd, NULL, NULL, &tv) > 0 &&
		    read(g->stop_pipe[0], &c, 1) >= 0)
			break;
		pthread_mutex_lock(&g->busy);
		refresh(g, 0);
		pthread_mutex_unlock(&g->busy);
	}
	/* a last flush of what this pool counted */
	pthread_mutex_lock(&g->busy);
	if (g->reg) {
		int64_t lease = 0;

		if (__atomic_compare_exchange_n(&g->t->lease_ms, &lease, wall_ms() + 3000, 0,
						__ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
			flush(g);
			ST(&g->t->lease_ms, 0);
		}
	}
	pthread_mutex_unlock(&g->busy);
	return NULL;
}

/* ------------------------------------------------------------ open/close */

static int table_path(const cs_gateway_config *cfg, char *out, size_t len,
		      int *is_shm)
{
	struct sockaddr_un un;
	socklen_t sl = sizeof un;
	unsigned char h[8];
	char hex[17], *slash;
	char what[1024];

	*is_shm = 0;
	if (cfg->path && *cfg->path) {
		snprintf(out, len, "%s", cfg->path);
		return 0;
	}
	memset(&un, 0, sizeof un);
	if (cfg->listen_fd >= 0 &&
	    getsockname(cfg->listen_fd, (struct sockaddr *)&un, &sl) == 0 &&
	    un.sun_family == AF_UNIX && un.sun_path[0] == '/' &&
	    (slash = strrchr(un.sun_path, '/')) != NULL) {
		snprintf(out, len, "%.*s/.%s.gateway", (int)(slash - un.sun_path),
			 un.sun_path, cfg->model);
		return 0;
	}
	snprintf(what, sizeof what, "%s\n%s\n%s", cfg->url, cfg->prefix ? cfg->prefix : "",
		 cfg->model);
	crypto_generichash(h, sizeof h, (const unsigned char *)what, strlen(what), NULL, 0);
	sodium_bin2hex(hex, sizeof hex, h, sizeof h);
	snprintf(out, len, "/cs-gw-%s", hex);
	*is_shm = 1;
	return 0;
}

int cs_gateway_open(const cs_gateway_config *cfg, cs_gateway **out,
		    char *err, size_t errlen)
{
	cs_gateway *g;
	struct stat st;
	int fd;

	*out = NULL;
	if (sodium_init() < 0) {
		snprintf(err, errlen, "gateway: libsodium could not be initialised");
		return CS_EBACKEND;
	}
	if (!(g = calloc(1, sizeof *g)))
		return CS_ENOMEM;
	g->stop_pipe[0] = g->stop_pipe[1] = -1;
	g->url = strdup(cfg->url);
	g->prefix = strdup(cfg->prefix ? cfg->prefix : CS_REGISTRY_PREFIX);
	g->model = strdup(cfg->model);
	g->refresh_ms = cfg->refresh_ms > 0 ? cfg->refresh_ms : 1000;
	g->stale_s = cfg->stale_s > 0 ? cfg->stale_s : CS_GATEWAY_STALE_S;
	if (!g->url || !g->prefix || !g->model)
		goto out_nomem;
	table_path(cfg, g->path, sizeof g->path, &g->is_shm);
	fd = g->is_shm ? shm_open(g->path, O_RDWR | O_CREAT, 0600)
		       : open(g->path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		snprintf(err, errlen, "gateway: cannot open the key table %s: %s", g->path, strerror(errno));
		goto out_free;
	}
	flock(fd, LOCK_EX);
	if (fstat(fd, &st) != 0 || (st.st_size != (off_t)sizeof(gw_table) &&
				    ftruncate(fd, sizeof(gw_table)) != 0)) {
		snprintf(err, errlen, "gateway: cannot size the key table %s: %s", g->path, strerror(errno));
		close(fd);
		goto out_free;
	}
	g->t = mmap(NULL, sizeof(gw_table), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (g->t == MAP_FAILED) {
		g->t = NULL;
		snprintf(err, errlen, "gateway: cannot map the key table %s: %s", g->path, strerror(errno));
		close(fd);
		goto out_free;
	}
	if (g->t->magic != GW_MAGIC || g->t->version != GW_VERSION ||
	    g->t->size != sizeof(gw_table)) {
		memset(g->t, 0, sizeof(gw_table));
		g->t->version = GW_VERSION;
		g->t->slots = GW_SLOTS;
		g->t->size = sizeof(gw_table);
		ST(&g->t->magic, GW_MAGIC);
	}
	flock(fd, LOCK_UN);
	close(fd);
	refresh(g, 1);
	*out = g;
	return CS_OK;
out_nomem:
	snprintf(err, errlen, "gateway: out of memory");
out_free:
	cs_gateway_close(g);
	return CS_EIO;
}

int cs_gateway_start(cs_gateway *g, char *err, size_t errlen)
{
	sigset_t all, old;
	int rc;

	if (pipe(g->stop_pipe) != 0) {
		snprintf(err, errlen, "gateway: pipe: %s", strerror(errno));
		return CS_EIO;
	}
	pthread_mutex_init(&g->busy, NULL);
	pthread_once(&fork_once, fork_register);
	fork_gw = g; /* the process's gateway: one (the worker's) */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&g->thread, NULL, refresh_main, g);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		fork_gw = NULL;
		pthread_mutex_destroy(&g->busy);
		snprintf(err, errlen, "gateway: cannot start the refresh thread: %s", strerror(rc));
		return CS_EIO;
	}
	g->running = 1;
	g->owner = getpid();
	/* the master forks soon after this: not while the thread starts */
	cs_forksafe_wait_parked(&g->parked);
	return CS_OK;
}

void cs_gateway_stop(cs_gateway *g)
{
	/* a child forked after the start has a copy of g, not the thread */
	if (!g || !g->running || g->owner != getpid())
		return;
	if (write(g->stop_pipe[1], "x", 1) < 0)
		cs_log_warn("gateway: cannot wake the refresh thread: %s", strerror(errno));
	pthread_join(g->thread, NULL);
	g->running = 0;
	if (fork_gw == g)
		fork_gw = NULL;
	pthread_mutex_destroy(&g->busy);
}

void cs_gateway_close(cs_gateway *g)
{
	if (!g)
		return;
	cs_gateway_stop(g);
	if (fork_gw == g) /* a child's copy: its thread stayed in the parent */
		fork_gw = NULL;
	if (g->t)
		munmap(g->t, sizeof(gw_table));
	for (int i = 0; i < 2; i++)
		if (g->stop_pipe[i] >= 0)
			close(g->stop_pipe[i]);
	cs_registry_close(g->reg);
	free(g->url);
	free(g->prefix);
	free(g->model);
	free(g);
}

/* ------------------------------------------------------------ the check */

int cs_gateway_guards(cs_route_kind kind)
{
	switch (kind) {
	case CS_ROUTE_CALL:
	case CS_ROUTE_V2_INFER:
	case CS_ROUTE_API_MODEL:
	case CS_ROUTE_API_STREAM:
	case CS_ROUTE_API_FILE:
		return 1;
	default:
		return 0;
	}
}

/* What the reader copies out of the table under the sequence lock. */
typedef struct view {
	int auth_on, is_public, loaded;
	unsigned char pepper[32];
	int slot; /* -1: not found */
	int tomb;
	uint32_t granted;
	double rate;
	int64_t quota, expires;
} view;

/*
 * Whether a reader should try again after `tries` failed reads: it spins a
 * little, then yields the CPU (the writer may have been preempted inside
 * its write on a busy machine), and gives up after GW_WAIT_MS (a writer
 * that died inside its write).
 */
static int read_again(int tries, double *since)
{
	struct timespec ts;

	if (tries % GW_SPIN != GW_SPIN - 1)
		return 1;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	if (*since == 0)
		*since = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
	else if ((double)ts.tv_sec + (double)ts.tv_nsec / 1e9 - *since > GW_WAIT_MS / 1000.0)
		return 0;
	sched_yield();
	return 1;
}

static int read_header(gw_table *t, view *v)
{
	double since = 0;

	for (int i = 0; read_again(i, &since); i++) {
		uint32_t s = LD(&t->seq);

		if (s & 1u)
			continue;
		v->auth_on = t->auth_on;
		v->is_public = t->is_public;
		v->loaded = t->loaded;
		memcpy(v->pepper, t->pepper, 32);
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		if (LD(&t->seq) == s)
			return 0;
	}
	return -1;
}

static int read_key(gw_table *t, const unsigned char h[32], view *v)
{
	double since = 0;

	for (int i = 0; read_again(i, &since); i++) {
		uint32_t s = LD(&t->seq);
		int at;

		if (s & 1u)
			continue;
		at = find(t, h, NULL);
		v->slot = at;
		if (at >= 0) {
			const gw_key *k = &t->slot[at];

			v->tomb = k->state != ST_LIVE;
			v->granted = k->granted;
			v->rate = k->rate;
			v->quota = k->quota;
			v->expires = k->expires;
		}
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		if (LD(&t->seq) == s)
			return 0;
	}
	return -1;
}

static int deny(gw_table *t, int outcome, cs_response *resp, cs_status st,
		const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static int deny(gw_table *t, int outcome, cs_response *resp, cs_status st,
		const char *fmt, ...)
{
	char msg[300];
	va_list ap;

	ADD(&t->counts[outcome], 1);
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	cs_response_fail(resp, st, "%s", msg);
	if (st == CS_EAUTH)
		cs_response_header(resp, "WWW-Authenticate: Bearer realm=\"cubeserve\"");
	return st;
}

/*
 * The key the request carries: 1 with key and len set, 0 when none, -1 when
 * the Authorization header is not "Bearer KEY".
 */
static int presented(const cs_request *req, const char **key, size_t *len)
{
	const char *a = cs_request_param(req, "HTTP_AUTHORIZATION");
	const char *x = cs_request_param(req, "HTTP_X_API_KEY");
	const char *s;

	if (a && *a) {
		if (strncasecmp(a, "Bearer ", 7) != 0)
			return -1;
		s = a + 7;
		while (*s == ' ')
			s++;
		if (!*s)
			return -1;
	} else if (x) {
		s = x;
		while (*s == ' ')
			s++;
		if (!*s)
			return -1;
	} else {
		return 0;
	}
	*key = s;
	*len = strlen(s);
	while (*len && s[*len - 1] == ' ')
		(*len)--;
	return 1;
}

static int key_chars_ok(const char *k, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)k[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '_' || c == '-'))
			return 0;
	}
	return 1;
}

/* GCRA: 0 when a call may go now, else the seconds until one may. */
static double rate_take(gw_key *k, double rate)
{
	uint64_t now = wall_ns(), t, nt;
	double burst = rate < 1 ? 1 : floor(rate);
	uint64_t interval = (uint64_t)(1e9 / rate);
	uint64_t tau = (uint64_t)((burst - 1) * (double)interval);

	t = LD(&k->tat_ns);
	for (;;) {
		uint64_t base = t > now ? t : now;

		if (base - now > tau)
			return (double)(base - now - tau) / 1e9;
		nt = base + interval;
		if (__atomic_compare_exchange_n(&k->tat_ns, &t, nt, 1, __ATOMIC_ACQ_REL,
						__ATOMIC_ACQUIRE))
			return 0;
	}
}

int cs_gateway_check(cs_gateway *g, const cs_request *req, cs_response *resp)
{
	gw_table *t;
	const char *key = NULL;
	size_t len = 0;
	unsigned char h[32];
	view v;
	int has, stale;
	int64_t age;

	pending_slot = -1;
	if (!g)
		return CS_OK;
	t = g->t;
	memset(&v, 0, sizeof v);
	if (read_header(t, &v) != 0)
		return deny(t, OUT_STALE, resp, CS_EUNAVAILABLE, "the key table is being rewritten; try again");
	age = wall_ms() - LD(&t->refreshed_ms);
	stale = !v.loaded || age > (int64_t)g->stale_s * 1000;
	if (v.loaded && !v.auth_on)
		return CS_OK;
	has = presented(req, &key, &len);
	if (stale && !(v.loaded && v.is_public && has == 0)) {
		sodium_memzero(v.pepper, sizeof v.pepper);
		return deny(t, OUT_STALE, resp, CS_EUNAVAILABLE,
			    "the gateway has no current key snapshot (Redis unreachable for longer than the allowed time); try again later");
	}
	if (has == 0) {
		sodium_memzero(v.pepper, sizeof v.pepper);
		if (v.is_public) {
			ADD(&t->counts[OUT_PUBLIC], 1);
			return CS_OK;
		}
		return deny(t, OUT_NO_KEY, resp, CS_EAUTH,
			    "model '%s' is private: an API key is required (Authorization: Bearer KEY, or X-API-Key: KEY)",
			    g->model);
	}
	if (has < 0) {
		sodium_memzero(v.pepper, sizeof v.pepper);
		return deny(t, OUT_BAD_KEY, resp, CS_EAUTH,
			    "malformed credentials: expected 'Authorization: Bearer KEY' or 'X-API-Key: KEY'");
	}
	if (len > CS_AUTH_KEY_MAX) {
		sodium_memzero(v.pepper, sizeof v.pepper);
		return deny(t, OUT_BAD_KEY, resp, CS_EAUTH, "the API key is longer than 128 characters");
	}
	if (!key_chars_ok(key, len)) {
		sodium_memzero(v.pepper, sizeof v.pepper);
		return deny(t, OUT_BAD_KEY, resp, CS_EAUTH,
			    "the API key has characters outside A-Z a-z 0-9 _ -");
	}
	crypto_generichash(h, sizeof h, (const unsigned char *)key, len, v.pepper, 32);
	sodium_memzero(v.pepper, sizeof v.pepper);
	if (read_key(t, h, &v) != 0)
		return deny(t, OUT_STALE, resp, CS_EUNAVAILABLE, "the key table is being rewritten; try again");
	if (v.slot < 0 || v.tomb)
		return deny(t, OUT_BAD_KEY, resp, CS_EAUTH, "unknown or revoked API key");
	if (v.expires && v.expires <= wall_ms() / 1000)
		return deny(t, OUT_BAD_KEY, resp, CS_EAUTH, "the API key has expired");
	if (!v.granted)
		return deny(t, OUT_FORBIDDEN, resp, CS_EFORBIDDEN,
			    "the API key does not grant model '%s'", g->model);
	{
		gw_key *k = &t->slot[v.slot];

		if (v.rate > 0) {
			double wait = rate_take(k, v.rate);

			if (wait > 0) {
				char msg[160];
				int after = (int)ceil(wait) < 1 ? 1 : (int)ceil(wait);
				json_t *o;

				ADD(&t->counts[OUT_RATE], 1);
				snprintf(msg, sizeof msg, "rate limit of %.6g calls per second for this API key exceeded",
					 v.rate);
				o = json_pack("{s:s,s:f,s:f}", "error", msg, "retry_after_seconds", wait,
					      "rate_per_second", v.rate);
				cs_response_json(resp, cs_status_http(CS_ERATE), o);
				json_decref(o);
				cs_response_header(resp, "Retry-After: %d", after);
				return CS_ERATE;
			}
		}
		if (v.quota > 0) {
			int today = cs_auth_today();
			int64_t base = LD(&k->day) == today ? LD(&k->quota_base) : 0;
			uint64_t before = ADD(&k->pending, 1);

			if ((int64_t)before + base >= v.quota) {
				time_t now = time(NULL), reset = now - now % 86400 + 86400;
				struct tm tm;
				char when[40] = "";
				json_t *o;

				__atomic_fetch_sub(&k->pending, 1, __ATOMIC_RELAXED);
				ADD(&t->counts[OUT_QUOTA], 1);
				gmtime_r(&reset, &tm);
				strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
				o = json_pack("{s:s,s:s,s:I}", "error",
					      "daily quota of this API key used up", "reset", when,
					      "quota", (json_int_t)v.quota);
				cs_response_json(resp, cs_status_http(CS_ERATE), o);
				json_decref(o);
				cs_response_header(resp, "Retry-After: %lld", (long long)(reset - now));
				return CS_ERATE;
			}
		} else {
			ADD(&k->pending, 1);
		}
	}
	ADD(&t->counts[OUT_ALLOWED], 1);
	pending_slot = v.slot;
	pending_table = t;
	return CS_OK;
}

int cs_gateway_hook(cs_gateway *g, const cs_request *req, cs_response *resp)
{
	const char *mode = cs_request_param(req, "CS_GATEWAY");

	if (mode && strcmp(mode, "off") == 0)
		return CS_GATEWAY_PASS;
	if (mode && strcmp(mode, "check") == 0) {
		if (cs_gateway_check(g, req, resp) == CS_OK)
			cs_response_take(resp, 204, "text/plain", NULL, 0);
		return CS_GATEWAY_ANSWERED;
	}
	return cs_gateway_check(g, req, resp) == CS_OK ? CS_GATEWAY_PASS : CS_GATEWAY_ANSWERED;
}

void cs_gateway_done(cs_gateway *g, int http_status)
{
	gw_key *k;

	if (!g || pending_slot < 0 || pending_table != g->t)
		return;
	k = &g->t->slot[pending_slot];
	if (http_status >= 400)
		ADD(&k->err, 1);
	else
		ADD(&k->ok, 1);
	pending_slot = -1;
}

void cs_gateway_pending_swap(cs_gateway_pending *p)
{
	int slot = pending_slot;
	gw_table *t = pending_table;

	pending_slot = p->slot;
	pending_table = p->table;
	p->slot = slot;
	p->table = t;
}

char *cs_gateway_metrics(cs_gateway *g, char *text, size_t *len)
{
	char buf[2048];
	size_t n = 0;
	char *out;

	if (!g)
		return text;
	n += (size_t)snprintf(buf + n, sizeof buf - n,
		"# HELP cubeserve_gateway_requests_total Model calls checked by the key gateway, by outcome.\n"
		"# TYPE cubeserve_gateway_requests_total counter\n");
	for (int i = 0; i < N_OUT && n < sizeof buf; i++)
		n += (size_t)snprintf(buf + n, sizeof buf - n,
			"cubeserve_gateway_requests_total{model=\"%s\",outcome=\"%s\"} %llu\n",
			g->model, out_name[i], (unsigned long long)LD(&g->t->counts[i]));
	if (n < sizeof buf)
		n += (size_t)snprintf(buf + n, sizeof buf - n,
			"# HELP cubeserve_gateway_snapshot_age_seconds Age of the key snapshot the gateway decides with.\n"
			"# TYPE cubeserve_gateway_snapshot_age_seconds gauge\n"
			"cubeserve_gateway_snapshot_age_seconds{model=\"%s\"} %.3f\n",
			g->model, (double)(wall_ms() - LD(&g->t->refreshed_ms)) / 1000.0);
	if (n >= sizeof buf)
		n = sizeof buf - 1;
	out = realloc(text, *len + n + 1);
	if (!out)
		return text;
	memcpy(out + *len, buf, n);
	*len += n;
	out[*len] = '\0';
	return out;
}
