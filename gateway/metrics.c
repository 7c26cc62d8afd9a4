/*-------------------------------------------------------------------------
 *
 * metrics.c
 *		Counters behind GET /metrics (Prometheus text format 0.0.4):
 *		requests by route and status, a latency histogram per route, and
 *		the state of the per-thread database connections.
 *
 *-------------------------------------------------------------------------
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway.h"

const char *gw_route_names[ROUTE_COUNT] = {
	"send_otp", "verify_otp", "playground_send_otp", "playground_verify_otp",
	"webhook_whatsapp", "healthz", "metrics", "openapi", "index", "other"
};

static const double buckets[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
0.25, 0.5, 1, 2.5, 5, 10};
#define NBUCKETS (sizeof(buckets) / sizeof(buckets[0]))

/*
 * The per-request counters are atomics updated without a lock, so that the
 * worker threads never wait for each other to count.  hist holds one
 * count per bucket, the last one for latencies above every bound; the
 * exposition sums them up into Prometheus' cumulative buckets, so a scrape
 * always sees a histogram whose +Inf bucket equals its count.
 */
static _Atomic uint64_t by_status[ROUTE_COUNT][600];
static _Atomic uint64_t hist[ROUTE_COUNT][NBUCKETS + 1];
static _Atomic uint64_t hist_sum_ns[ROUTE_COUNT];

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static long threads;
static long db_open;
static atomic_long in_flight;	/* changed twice per request: no lock */
static uint64_t db_connects;
static uint64_t db_connect_failures;
static uint64_t db_unavailable;
static uint64_t webhook_applied;

/* Records one finished request. */
void
gw_metrics_observe(GwRoute route, int status, double seconds)
{
	size_t		i = 0;

	if (status >= 100 && status < 600)
		atomic_fetch_add_explicit(&by_status[route][status], 1, memory_order_relaxed);
	while (i < NBUCKETS && seconds > buckets[i])
		i++;
	atomic_fetch_add_explicit(&hist[route][i], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&hist_sum_ns[route],
							  seconds > 0 ? (uint64_t) (seconds * 1e9) : 0,
							  memory_order_relaxed);
}

/* Records the configured number of worker threads (the pool size). */
void
gw_metrics_set_threads(int n)
{
	pthread_mutex_lock(&lock);
	threads = n;
	pthread_mutex_unlock(&lock);
}

/* Counts a connection attempt to the database. */
void
gw_metrics_db_connect(bool ok)
{
	pthread_mutex_lock(&lock);
	db_connects++;
	if (!ok)
		db_connect_failures++;
	pthread_mutex_unlock(&lock);
}

/* Tracks how many worker threads hold an open database connection. */
void
gw_metrics_db_open_delta(int delta)
{
	pthread_mutex_lock(&lock);
	db_open += delta;
	pthread_mutex_unlock(&lock);
}

/* Tracks requests being handled right now. */
void
gw_metrics_in_flight(int delta)
{
	atomic_fetch_add(&in_flight, delta);
}

/* Requests being handled right now (for the shutdown drain). */
long
gw_metrics_in_flight_now(void)
{
	return atomic_load(&in_flight);
}

/* Counts requests answered 503 because the database was unavailable. */
void
gw_metrics_db_unavailable(void)
{
	pthread_mutex_lock(&lock);
	db_unavailable++;
	pthread_mutex_unlock(&lock);
}

/* Counts webhook statuses newly applied to the outbox. */
void
gw_metrics_webhook_applied(long n)
{
	pthread_mutex_lock(&lock);
	if (n > 0)
		webhook_applied += (uint64_t) n;
	pthread_mutex_unlock(&lock);
}

/* Growable text buffer for the exposition. */
typedef struct Buf
{
	char	   *data;
	size_t		len;
	size_t		cap;
} Buf;

/* printf into a Buf; on allocation failure the output is just cut short. */
static void
bprintf(Buf *b, const char *fmt,...)
{
	va_list		ap;
	int			n;

	for (;;)
	{
		va_start(ap, fmt);
		n = vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
		if (n < 0)
			return;
		if (b->len + (size_t) n < b->cap)
		{
			b->len += (size_t) n;
			return;
		}
		{
			size_t		ncap = (b->cap + (size_t) n + 1) * 2;
			char	   *nd = realloc(b->data, ncap);

			if (nd == NULL)
				return;
			b->data = nd;
			b->cap = ncap;
		}
	}
}

/* GET /metrics */
void
gw_handle_metrics(GwRequest *req)
{
	Buf			b = {malloc(8192), 0, 8192};

	if (b.data == NULL)
	{
		gw_reply_error(req, 503, "service_unavailable", "Out of memory.", NULL);
		return;
	}
	b.data[0] = '\0';
	pthread_mutex_lock(&lock);
	bprintf(&b, "# HELP justauth_gateway_requests_total HTTP requests by route and status.\n"
			"# TYPE justauth_gateway_requests_total counter\n");
	for (int r = 0; r < ROUTE_COUNT; r++)
		for (int s = 100; s < 600; s++)
		{
			uint64_t	n = atomic_load_explicit(&by_status[r][s], memory_order_relaxed);

			if (n > 0)
				bprintf(&b, "justauth_gateway_requests_total{route=\"%s\",status=\"%d\"} %llu\n",
						gw_route_names[r], s, (unsigned long long) n);
		}

	bprintf(&b, "# HELP justauth_gateway_request_duration_seconds Time to answer a request.\n"
			"# TYPE justauth_gateway_request_duration_seconds histogram\n");
	for (int r = 0; r < ROUTE_COUNT; r++)
	{
		uint64_t	counts[NBUCKETS + 1];
		uint64_t	total = 0;

		for (size_t i = 0; i <= NBUCKETS; i++)
		{
			counts[i] = atomic_load_explicit(&hist[r][i], memory_order_relaxed);
			total += counts[i];
		}
		if (total == 0)
			continue;
		total = 0;
		for (size_t i = 0; i < NBUCKETS; i++)
		{
			total += counts[i];
			bprintf(&b, "justauth_gateway_request_duration_seconds_bucket{route=\"%s\",le=\"%g\"} %llu\n",
					gw_route_names[r], buckets[i], (unsigned long long) total);
		}
		total += counts[NBUCKETS];
		bprintf(&b, "justauth_gateway_request_duration_seconds_bucket{route=\"%s\",le=\"+Inf\"} %llu\n"
				"justauth_gateway_request_duration_seconds_sum{route=\"%s\"} %.6f\n"
				"justauth_gateway_request_duration_seconds_count{route=\"%s\"} %llu\n",
				gw_route_names[r], (unsigned long long) total,
				gw_route_names[r],
				(double) atomic_load_explicit(&hist_sum_ns[r], memory_order_relaxed) / 1e9,
				gw_route_names[r], (unsigned long long) total);
	}

	bprintf(&b, "# HELP justauth_gateway_worker_threads Worker threads, each with at most one database connection.\n"
			"# TYPE justauth_gateway_worker_threads gauge\n"
			"justauth_gateway_worker_threads %ld\n"
			"# HELP justauth_gateway_requests_in_flight Requests being handled now.\n"
			"# TYPE justauth_gateway_requests_in_flight gauge\n"
			"justauth_gateway_requests_in_flight %ld\n"
			"# HELP justauth_gateway_db_connections Open database connections of the pool.\n"
			"# TYPE justauth_gateway_db_connections gauge\n"
			"justauth_gateway_db_connections %ld\n"
			"# HELP justauth_gateway_db_connects_total Database connection attempts.\n"
			"# TYPE justauth_gateway_db_connects_total counter\n"
			"justauth_gateway_db_connects_total %llu\n"
			"# HELP justauth_gateway_db_connect_failures_total Failed database connection attempts.\n"
			"# TYPE justauth_gateway_db_connect_failures_total counter\n"
			"justauth_gateway_db_connect_failures_total %llu\n"
			"# HELP justauth_gateway_db_unavailable_total Requests answered 503 because the database was unavailable.\n"
			"# TYPE justauth_gateway_db_unavailable_total counter\n"
			"justauth_gateway_db_unavailable_total %llu\n"
			"# HELP justauth_gateway_webhook_statuses_applied_total WhatsApp statuses newly applied.\n"
			"# TYPE justauth_gateway_webhook_statuses_applied_total counter\n"
			"justauth_gateway_webhook_statuses_applied_total %llu\n",
			threads, atomic_load(&in_flight), db_open,
			(unsigned long long) db_connects, (unsigned long long) db_connect_failures,
			(unsigned long long) db_unavailable, (unsigned long long) webhook_applied);
	pthread_mutex_unlock(&lock);

	gw_reply(req, 200, "text/plain; version=0.0.4; charset=utf-8", b.data, b.len, NULL);
	free(b.data);
}
