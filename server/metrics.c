/* metrics.c - counters, histograms and the text exposition. See metrics.h. */
#include "metrics.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "rpc.h"
#include "status.h"

#define MAX_METHODS 128 /* methods flowd serves; more are counted as "unknown" */
#define N_CODES (FLOW_CODE_MAX + 1)
#define MAX_BUCKETS 16

/* ---- histograms ---- */

struct buckets {
	int n;
	const int64_t *le_us;	   /* upper bounds, microseconds, ascending */
	const char *const *le_txt; /* the same in seconds, as printed */
};

/* Buckets 0..n-1, then the overflow (+Inf only). */
struct hist {
	_Atomic uint64_t b[MAX_BUCKETS + 1];
	_Atomic uint64_t sum_us;
};

static const int64_t rpc_le_us[] = { 1000,   2500,   5000,    10000,   25000,	50000,	 100000,
				     250000, 500000, 1000000, 2500000, 5000000, 10000000 };
static const char *const rpc_le_txt[] = { "0.001", "0.0025", "0.005", "0.01", "0.025",
					  "0.05",  "0.1",    "0.25",  "0.5",  "1",
					  "2.5",   "5",	     "10" };
static const struct buckets rpc_buckets = { 13, rpc_le_us, rpc_le_txt };

static const int64_t wait_le_us[] = { 100,   250,   500,    1000,   2500,   5000,    10000,
				      25000, 50000, 100000, 250000, 500000, 1000000, 5000000 };
static const char *const wait_le_txt[] = { "0.0001", "0.00025", "0.0005", "0.001", "0.0025",
					   "0.005",  "0.01",	"0.025",  "0.05",  "0.1",
					   "0.25",   "0.5",	"1",	  "5" };
static const struct buckets wait_buckets = { 14, wait_le_us, wait_le_txt };

static void hist_add(struct hist *h, const struct buckets *d, int64_t us)
{
	int i = 0;

	if (us < 0)
		us = 0;
	while (i < d->n && us > d->le_us[i])
		i++;
	atomic_fetch_add_explicit(&h->b[i], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&h->sum_us, (uint64_t)us, memory_order_relaxed);
}

/* ---- state ---- */

static pthread_once_t once = PTHREAD_ONCE_INIT;
static char method_path[MAX_METHODS + 1][RPC_MAX_METHOD_LEN];
static int n_methods;		 /* ids 1..n_methods; 0 is "unknown" */
static int by_path[MAX_METHODS]; /* ids sorted by path */
static double start_time_s;

static _Atomic uint64_t rpc_count[MAX_METHODS + 1][N_CODES];
static struct hist rpc_time[MAX_METHODS + 1];
static struct hist pool_wait;
static _Atomic int64_t pool_open, pool_busy, parked;
static _Atomic uint64_t leases_expired;

static int cmp_path(const void *a, const void *b)
{
	return strcmp(method_path[*(const int *)a], method_path[*(const int *)b]);
}

static void init_once(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	start_time_s = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
	snprintf(method_path[0], sizeof(method_path[0]), "unknown");
	for (size_t s = 0; rpc_services[s] != NULL; s++) {
		const ProtobufCServiceDescriptor *d = rpc_services[s];

		for (unsigned i = 0; i < d->n_methods; i++) {
			if (n_methods == MAX_METHODS) {
				log_warn("metrics.methods",
					 "more than %d RPC methods: the rest "
					 "are counted as \"unknown\"",
					 MAX_METHODS);
				goto sort;
			}
			if (rpc_method_path(d, &d->methods[i], method_path[n_methods + 1],
					    sizeof(method_path[0])) != 0)
				continue;
			by_path[n_methods] = n_methods + 1;
			n_methods++;
		}
	}
sort:
	qsort(by_path, (size_t)n_methods, sizeof(by_path[0]), cmp_path);
}

void metrics_init(void)
{
	pthread_once(&once, init_once);
}

int metrics_method(const char *path)
{
	int lo = 0, hi;

	metrics_init();
	if (path == NULL)
		return METRICS_METHOD_UNKNOWN;
	hi = n_methods - 1;
	while (lo <= hi) {
		int mid = lo + (hi - lo) / 2;
		int c = strcmp(path, method_path[by_path[mid]]);

		if (c == 0)
			return by_path[mid];
		if (c < 0)
			hi = mid - 1;
		else
			lo = mid + 1;
	}
	return METRICS_METHOD_UNKNOWN;
}

void metrics_rpc(int method, int code, int64_t duration_us)
{
	if (method < 0 || method > n_methods)
		method = METRICS_METHOD_UNKNOWN;
	if (code < 0 || code >= N_CODES)
		code = FLOW_UNKNOWN;
	atomic_fetch_add_explicit(&rpc_count[method][code], 1, memory_order_relaxed);
	hist_add(&rpc_time[method], &rpc_buckets, duration_us);
}

void metrics_pool_wait(int64_t wait_us)
{
	hist_add(&pool_wait, &wait_buckets, wait_us);
}

void metrics_pool_open(int delta)
{
	atomic_fetch_add_explicit(&pool_open, delta, memory_order_relaxed);
}

void metrics_pool_busy(int delta)
{
	atomic_fetch_add_explicit(&pool_busy, delta, memory_order_relaxed);
}

void metrics_parked(int delta)
{
	atomic_fetch_add_explicit(&parked, delta, memory_order_relaxed);
}

void metrics_leases_expired(int64_t n)
{
	if (n > 0)
		atomic_fetch_add_explicit(&leases_expired, (uint64_t)n, memory_order_relaxed);
}

void metrics_reset(void)
{
	metrics_init();
	for (int m = 0; m <= MAX_METHODS; m++) {
		for (int c = 0; c < N_CODES; c++)
			atomic_store(&rpc_count[m][c], 0);
		for (int i = 0; i <= MAX_BUCKETS; i++)
			atomic_store(&rpc_time[m].b[i], 0);
		atomic_store(&rpc_time[m].sum_us, 0);
	}
	for (int i = 0; i <= MAX_BUCKETS; i++)
		atomic_store(&pool_wait.b[i], 0);
	atomic_store(&pool_wait.sum_us, 0);
	atomic_store(&pool_open, 0);
	atomic_store(&pool_busy, 0);
	atomic_store(&parked, 0);
	atomic_store(&leases_expired, 0);
}

/* ---- the text ---- */

struct sb {
	char *p;
	size_t len, cap;
	bool oom;
};

static void sb_printf(struct sb *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void sb_printf(struct sb *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->oom)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->oom = true;
			return;
		}
		if ((size_t)n < b->cap - b->len) {
			b->len += (size_t)n;
			return;
		}
		size_t cap = b->cap * 2 + (size_t)n;
		char *p = realloc(b->p, cap);

		if (p == NULL) {
			b->oom = true;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
}

/* A label value escaped for the text format: \ " and newline. */
static const char *esc(const char *in, char *out, size_t len)
{
	size_t o = 0;

	for (; in != NULL && *in != '\0' && o + 3 < len; in++) {
		char c = *in;

		if (c == '\\' || c == '"' || c == '\n') {
			out[o++] = '\\';
			c = c == '\n' ? 'n' : c;
		}
		out[o++] = c;
	}
	out[o] = '\0';
	return out;
}

static void family(struct sb *b, const char *name, const char *type, const char *help)
{
	sb_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static uint64_t get(_Atomic uint64_t *v)
{
	return atomic_load_explicit(v, memory_order_relaxed);
}

/* labels: `k="v",...` (escaped) or "". */
static void hist_render(struct sb *b, const char *name, const char *labels, const struct buckets *d,
			struct hist *h)
{
	const char *sep = labels[0] ? "," : "";
	uint64_t cum = 0;

	for (int i = 0; i < d->n; i++) {
		cum += get(&h->b[i]);
		sb_printf(b, "%s_bucket{%s%sle=\"%s\"} %" PRIu64 "\n", name, labels, sep,
			  d->le_txt[i], cum);
	}
	cum += get(&h->b[d->n]);
	sb_printf(b, "%s_bucket{%s%sle=\"+Inf\"} %" PRIu64 "\n", name, labels, sep, cum);
	if (labels[0]) {
		sb_printf(b, "%s_sum{%s} %.6f\n", name, labels, (double)get(&h->sum_us) / 1e6);
		sb_printf(b, "%s_count{%s} %" PRIu64 "\n", name, labels, cum);
	} else {
		sb_printf(b, "%s_sum %.6f\n", name, (double)get(&h->sum_us) / 1e6);
		sb_printf(b, "%s_count %" PRIu64 "\n", name, cum);
	}
}

static uint64_t hist_count(struct hist *h, const struct buckets *d)
{
	uint64_t n = 0;

	for (int i = 0; i <= d->n; i++)
		n += get(&h->b[i]);
	return n;
}

static void render_process(struct sb *b, const struct metrics_info *in)
{
	char v[256];

	family(b, "flowd_build_info", "gauge",
	       "flowd's version and the schema version it expects; always 1.");
	sb_printf(b, "flowd_build_info{version=\"%s\",schema=\"%d\"} 1\n",
		  esc(in->version, v, sizeof(v)), in->schema);
	family(b, "flowd_start_time_seconds", "gauge", "When this flowd started, Unix time.");
	sb_printf(b, "flowd_start_time_seconds %.3f\n", start_time_s);
	family(b, "flowd_up", "gauge",
	       "Whether a component flowd depends on answered this scrape (1) or not (0).");
	sb_printf(b, "flowd_up{component=\"database\"} %d\n", in->db != NULL);
}

static void render_rpc(struct sb *b)
{
	char m[RPC_MAX_METHOD_LEN * 2], labels[RPC_MAX_METHOD_LEN * 2 + 16];

	family(b, "flowd_rpc_requests_total", "counter",
	       "RPC requests answered by this flowd, by method and gRPC status code.");
	for (int i = 0; i <= n_methods; i++)
		for (int c = 0; c < N_CODES; c++) {
			uint64_t n = get(&rpc_count[i][c]);

			if (n > 0)
				sb_printf(
				    b,
				    "flowd_rpc_requests_total{method=\"%s\",code=\"%s\"} %" PRIu64
				    "\n",
				    esc(method_path[i], m, sizeof(m)), status_name(c), n);
		}
	family(b, "flowd_rpc_duration_seconds", "histogram",
	       "Time from a request's arrival to its reply, waiting for a service thread "
	       "included, time parked in a long-poll Claim excluded.");
	for (int i = 0; i <= n_methods; i++) {
		if (hist_count(&rpc_time[i], &rpc_buckets) == 0)
			continue;
		snprintf(labels, sizeof(labels), "method=\"%s\"",
			 esc(method_path[i], m, sizeof(m)));
		hist_render(b, "flowd_rpc_duration_seconds", labels, &rpc_buckets, &rpc_time[i]);
	}
}

static void render_pool(struct sb *b, const struct metrics_info *in)
{
	int64_t open = atomic_load(&pool_open), busy = atomic_load(&pool_busy);
	int64_t idle = open - busy;

	family(b, "flowd_db_pool_connections", "gauge",
	       "Database connections of the service threads: in_use while handling a request, "
	       "idle otherwise.");
	sb_printf(b, "flowd_db_pool_connections{state=\"in_use\"} %" PRId64 "\n",
		  busy > 0 ? busy : 0);
	sb_printf(b, "flowd_db_pool_connections{state=\"idle\"} %" PRId64 "\n",
		  idle > 0 ? idle : 0);
	family(b, "flowd_db_pool_max_connections", "gauge",
	       "Service threads (--threads): at most one database connection each.");
	sb_printf(b, "flowd_db_pool_max_connections %d\n", in->pool_size);
	family(b, "flowd_db_pool_wait_seconds", "histogram",
	       "Time a request waited in the queue for a free service thread.");
	hist_render(b, "flowd_db_pool_wait_seconds", "", &wait_buckets, &pool_wait);
	family(b, "flowd_parked_requests", "gauge",
	       "Long-poll Claim requests parked, waiting for work (they hold no thread).");
	sb_printf(b, "flowd_parked_requests %" PRId64 "\n",
		  atomic_load(&parked) > 0 ? atomic_load(&parked) : 0);
	family(b, "flowd_leases_expired_total", "counter",
	       "Expired leases this flowd's rescuer found (items queued again or dead).");
	sb_printf(b, "flowd_leases_expired_total %" PRIu64 "\n", get(&leases_expired));
}

static void render_db(struct sb *b, const struct store_metrics_snapshot *db)
{
	static const struct {
		const char *name, *help;
		enum store_item_status st;
	} totals[] = {
		{ "flowd_items_completed_total", "Queue items completed, all queues.",
		  STORE_ITEM_COMPLETED },
		{ "flowd_items_failed_total", "Queue items failed for good, all queues.",
		  STORE_ITEM_FAILED },
		{ "flowd_items_dead_total", "Queue items dead (attempts used up), all queues.",
		  STORE_ITEM_DEAD },
	};

	family(b, "flowd_queue_items", "gauge",
	       "Queue items by queue and status (finished ones include pruned history).");
	for (size_t i = 0; i < db->n_queues; i++)
		for (int s = 0; s < STORE_ITEM_N_STATUS; s++)
			sb_printf(b,
				  "flowd_queue_items{project=\"%" PRId64 "\",queue=\"%" PRId64
				  "\",status=\"%s\"} %" PRId64 "\n",
				  db->queues[i].project_id, db->queues[i].queue_id,
				  store_item_status_names[s], db->queues[i].n[s]);
	for (size_t t = 0; t < sizeof(totals) / sizeof(totals[0]); t++) {
		int64_t sum = 0;

		for (size_t i = 0; i < db->n_queues; i++)
			sum += db->queues[i].n[totals[t].st];
		family(b, totals[t].name, "counter", totals[t].help);
		sb_printf(b, "%s %" PRId64 "\n", totals[t].name, sum);
	}
	sb_printf(b,
		  "# HELP flowd_workers_connected Workers seen (claim or heartbeat) within "
		  "the last %d seconds.\n# TYPE flowd_workers_connected gauge\n",
		  METRICS_WORKERS_WINDOW_S);
	sb_printf(b, "flowd_workers_connected %" PRId64 "\n", db->workers);
	family(b, "flowd_db_schema_version", "gauge", "The database's schema version.");
	sb_printf(b, "flowd_db_schema_version %d\n", db->schema);
}

int metrics_render(const struct metrics_info *in, char **out, size_t *len)
{
	struct sb b = { malloc(16384), 0, 16384, false };

	metrics_init();
	*out = NULL;
	*len = 0;
	if (b.p == NULL)
		return -1;
	render_process(&b, in);
	render_rpc(&b);
	render_pool(&b, in);
	if (in->db != NULL)
		render_db(&b, in->db);
	if (b.oom) {
		free(b.p);
		return -1;
	}
	*out = b.p;
	*len = b.len;
	return 0;
}
