/*-------------------------------------------------------------------------
 *
 * main.c
 *		justauth-gateway: start-up, request dispatch and graceful shutdown.
 *
 *		One CivetWeb request handler takes every path and dispatches on an
 *		exact route table, so that unknown paths and wrong methods get JSON
 *		replies, and so that metrics and the access log see every request.
 *
 *-------------------------------------------------------------------------
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/ssl.h>

#include "gateway.h"

typedef struct Route
{
	const char *path;
	GwRoute		route;
	const char *allow;			/* value of the Allow header */
	bool		post;			/* POST allowed */
	bool		get;			/* GET and HEAD allowed */
} Route;

/* Set on SIGTERM: requests that start from then on are refused. */
static atomic_bool draining;

static const Route routes[] = {
	{"/api/v1/send-otp", ROUTE_SEND_OTP, "POST", true, false},
	{"/api/v1/verify-otp", ROUTE_VERIFY_OTP, "POST", true, false},
	{"/playground/send-otp", ROUTE_PLAYGROUND_SEND, "POST", true, false},
	{"/playground/verify-otp", ROUTE_PLAYGROUND_VERIFY, "POST", true, false},
	{"/webhooks/whatsapp", ROUTE_WEBHOOK, "GET, POST", true, true},
	{"/healthz", ROUTE_HEALTHZ, "GET, HEAD", false, true},
	{"/metrics", ROUTE_METRICS, "GET, HEAD", false, true},
	{"/openapi.json", ROUTE_OPENAPI, "GET, HEAD", false, true},
	{"/", ROUTE_INDEX, "GET, HEAD", false, true},
};

/* Seconds elapsed since start. */
static double
elapsed(const struct timespec *start)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double) (now.tv_sec - start->tv_sec) +
		(double) (now.tv_nsec - start->tv_nsec) / 1e9;
}

/* Accounts for a finished request in the metrics and the access log. */
static void
finish_request(GwRequest *req, const struct timespec *start)
{
	double		secs = elapsed(start);

	gw_metrics_observe(req->route, req->status, secs);
	gw_access_log(req, secs);
}

/* Runs the handler of a matched route. */
static void
run_route(GwRequest *req, const Route *r)
{
	GwDb	   *db = mg_get_thread_pointer(req->conn);

	switch (r->route)
	{
		case ROUTE_SEND_OTP:
		case ROUTE_VERIFY_OTP:
		case ROUTE_PLAYGROUND_SEND:
		case ROUTE_PLAYGROUND_VERIFY:
		case ROUTE_WEBHOOK:
		case ROUTE_HEALTHZ:
			if (db == NULL)
			{
				gw_reply_error(req, 503, "service_unavailable",
							   "No database slot for this thread.", NULL);
				return;
			}
			if (r->route == ROUTE_WEBHOOK)
				gw_handle_webhook(req, db);
			else if (r->route == ROUTE_HEALTHZ)
				gw_handle_healthz(req, db);
			else
				gw_handle_api(req, db);
			break;
		case ROUTE_METRICS:
			gw_handle_metrics(req);
			break;
		case ROUTE_OPENAPI:
			gw_handle_openapi(req);
			break;
		case ROUTE_INDEX:
			gw_handle_index(req);
			break;
		case ROUTE_OTHER:
		case ROUTE_COUNT:
			break;
	}
}

/* Starts the bookkeeping of one request: its clock and an unrouted GwRequest. */
static void
request_begin(GwRequest *req, struct mg_connection *conn, struct timespec *start)
{
	clock_gettime(CLOCK_MONOTONIC, start);
	memset(req, 0, sizeof(*req));
	req->conn = conn;
	req->ri = mg_get_request_info(conn);
	req->route = ROUTE_OTHER;
}

/* The one CivetWeb request handler: route, run, account. */
static int
dispatch(struct mg_connection *conn, void *cbdata)
{
	GwRequest	req;
	struct timespec start;
	const Route *r = NULL;
	const char *method;
	const char *path;

	(void) cbdata;
	request_begin(&req, conn, &start);
	req.status = 500;
	method = req.ri->request_method ? req.ri->request_method : "";
	path = req.ri->local_uri ? req.ri->local_uri : "";
	gw_metrics_in_flight(1);

	if (atomic_load(&draining))
	{
		req.close = true;
		gw_reply_error(&req, 503, "service_unavailable", "The server is shutting down.",
					   "Retry-After: 1\r\n");
		gw_metrics_in_flight(-1);
		finish_request(&req, &start);
		return req.status;
	}

	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
	{
		if (strcmp(path, routes[i].path) == 0)
		{
			r = &routes[i];
			break;
		}
	}
	if (r == NULL)
	{
		req.close = (req.ri->content_length > 0 ||
					 mg_get_header(conn, "Transfer-Encoding") != NULL);
		gw_reply_error(&req, 404, "not_found", "No such endpoint.", NULL);
	}
	else
	{
		bool		is_post = strcmp(method, "POST") == 0;
		bool		is_get = strcmp(method, "GET") == 0;

		req.route = r->route;
		req.head = strcmp(method, "HEAD") == 0;
		if ((is_post && r->post) || ((is_get || req.head) && r->get))
			run_route(&req, r);
		else
		{
			char		allow[64];
			char		msg[80];

			req.head = false;
			req.close = (req.ri->content_length > 0 ||
					 mg_get_header(conn, "Transfer-Encoding") != NULL);
			snprintf(allow, sizeof(allow), "Allow: %s\r\n", r->allow);
			snprintf(msg, sizeof(msg), "Use %s.", r->allow);
			gw_reply_error(&req, 405, "method_not_allowed", msg, allow);
		}
	}
	gw_metrics_in_flight(-1);
	finish_request(&req, &start);
	return req.status;
}

/*
 * Errors CivetWeb detects itself (malformed request line, headers too
 * large, ...) are answered in the same JSON shape as ours.
 */
static int
http_error_cb(struct mg_connection *conn, int status, const char *errmsg)
{
	GwRequest	req;
	struct timespec start;
	const char *message;

	(void) errmsg;
	request_begin(&req, conn, &start);
	req.close = true;
	switch (status)
	{
		case 413:
			message = "The request is too large.";
			break;
		case 414:
			message = "The URL is too long.";
			break;
		case 431:
			message = "The request headers are too large.";
			break;
		case 408:
			message = "The request took too long to arrive.";
			break;
		default:
			message = status >= 500 ? "The server could not handle the request." :
				"Malformed HTTP request.";
			break;
	}
	gw_reply_error(&req, status, status >= 500 ? "internal_error" : "invalid_request",
				   message, NULL);
	if (req.ri != NULL)
		finish_request(&req, &start);
	else
		gw_metrics_observe(ROUTE_OTHER, status, elapsed(&start));
	return 0;
}

/*
 * Routes CivetWeb's own diagnostics to our JSON stderr log, cutting each
 * at the first '?' so that a query string (API keys, codes) never gets
 * there.  CivetWeb's access log is never enabled: it prints query strings.
 */
static int
log_message_cb(const struct mg_connection *conn, const char *message)
{
	(void) conn;
	gw_log("warning", "civetweb: %.*s%s", (int) strcspn(message, "?"), message,
		   strchr(message, '?') ? "?[redacted]" : "");
	return 1;
}

/*
 * Lets every request through CivetWeb's own authorization step: the API
 * authenticates callers itself.  Without this hook CivetWeb looks for a
 * ".htpasswd" file on every request (a failed stat of "/.htpasswd"), and
 * would start demanding HTTP digest authentication if one appeared there.
 */
static int
authorize_cb(struct mg_connection *conn, void *cbdata)
{
	(void) conn;
	(void) cbdata;
	return 1;
}

/* Gives every worker thread its own database slot. */
static void *
init_thread_cb(const struct mg_context *ctx, int thread_type)
{
	(void) ctx;
	return thread_type == 1 ? gw_db_thread_init() : NULL;
}

/* Closes a worker thread's database connection when the thread ends. */
static void
exit_thread_cb(const struct mg_context *ctx, int thread_type, void *thread_pointer)
{
	(void) ctx;
	if (thread_type == 1)
		gw_db_thread_exit(thread_pointer);
}

/* Loads the TLS certificate chain and the separate private key. */
static int
init_ssl_cb(void *ssl_ctx, void *user_data)
{
	SSL_CTX    *ctx = ssl_ctx;

	(void) user_data;
	if (SSL_CTX_use_certificate_chain_file(ctx, gw_config.tls_cert) != 1)
	{
		gw_log("error", "cannot load TLS certificate %s", gw_config.tls_cert);
		return -1;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, gw_config.tls_key, SSL_FILETYPE_PEM) != 1 ||
		SSL_CTX_check_private_key(ctx) != 1)
	{
		gw_log("error", "cannot load TLS key %s, or it does not match the certificate",
			   gw_config.tls_key);
		return -1;
	}
	return 1;
}

/*
 * Waits until the requests in flight have been answered.  This must happen
 * before mg_stop: once CivetWeb is stopping it discards what handlers
 * write.  A database call is bounded by the connect and statement
 * timeouts, so the wait is too.
 */
static void
drain(void)
{
	long		limit_ms = gw_config.statement_timeout_ms +
		gw_config.connect_timeout_s * 1000L + 2000;
	struct timespec tick = {0, 10 * 1000 * 1000};

	atomic_store(&draining, true);
	for (long waited = 0; gw_metrics_in_flight_now() > 0 && waited < limit_ms; waited += 10)
		nanosleep(&tick, NULL);
}

/*
 * Starts CivetWeb, waits for SIGTERM or SIGINT, then stops: requests in
 * flight are finished and answered, new ones are refused with 503, then
 * the worker threads close their database connections.
 */
int
main(int argc, char **argv)
{
	struct mg_callbacks callbacks;
	struct mg_context *ctx;
	const char *options[40];
	int			n = 0;
	char		threads[16];
	char		request_timeout[16];
	char	   *ports;
	size_t		plen;
	sigset_t	sigs;
	int			sig = 0;
	int			rc;

	rc = gw_parse_config(argc, argv);
	if (rc >= 0)
		return rc;

	if (!gw_access_log_open(gw_config.access_log))
	{
		fprintf(stderr, "justauth-gateway: cannot open access log \"%s\"\n",
				gw_config.access_log);
		gw_free_config();
		return 1;
	}

	plen = (gw_config.listen ? strlen(gw_config.listen) : 0) +
		(gw_config.listen_tls ? strlen(gw_config.listen_tls) : 0) + 2;
	ports = malloc(plen);
	if (ports == NULL)
		return 1;
	snprintf(ports, plen, "%s%s%s",
			 gw_config.listen ? gw_config.listen : "",
			 (gw_config.listen && gw_config.listen_tls) ? "," : "",
			 gw_config.listen_tls ? gw_config.listen_tls : "");
	snprintf(threads, sizeof(threads), "%d", gw_config.threads);
	snprintf(request_timeout, sizeof(request_timeout), "%d", gw_config.request_timeout_ms);

	options[n++] = "listening_ports";
	options[n++] = ports;
	options[n++] = "num_threads";
	options[n++] = threads;
	options[n++] = "request_timeout_ms";
	options[n++] = request_timeout;
	options[n++] = "keep_alive_timeout_ms";
	options[n++] = "5000";
	options[n++] = "enable_keep_alive";
	options[n++] = "yes";
	/* replies are small: without this, keep-alive answers wait for delayed ACKs (40 ms) */
	options[n++] = "tcp_nodelay";
	options[n++] = "1";
	options[n++] = "max_request_size";
	options[n++] = "16384";
	options[n++] = "enable_auth_domain_check";
	options[n++] = "no";
	if (gw_config.listen_tls)
	{
		options[n++] = "ssl_certificate";
		options[n++] = gw_config.tls_cert;
		options[n++] = "ssl_protocol_version";
		options[n++] = "4";
	}
	options[n] = NULL;

	memset(&callbacks, 0, sizeof(callbacks));
	callbacks.log_message = log_message_cb;
	callbacks.http_error = http_error_cb;
	callbacks.init_thread = init_thread_cb;
	callbacks.exit_thread = exit_thread_cb;
	if (gw_config.listen_tls)
		callbacks.init_ssl = init_ssl_cb;

	/* Worker threads inherit this mask: only the main thread takes signals. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);

	mg_init_library(gw_config.listen_tls ? MG_FEATURES_TLS : 0);
	gw_metrics_set_threads(gw_config.threads);
	ctx = mg_start(&callbacks, NULL, options);
	if (ctx == NULL)
	{
		gw_log("error", "cannot start the HTTP server on %s", ports);
		free(ports);
		mg_exit_library();
		gw_access_log_close();
		gw_free_config();
		return 1;
	}
	mg_set_auth_handler(ctx, "/", authorize_cb, NULL);
	mg_set_request_handler(ctx, "/", dispatch, NULL);
	gw_log("info", "listening on %s with %d threads%s", ports, gw_config.threads,
		   gw_config.demo_client_id ? ", playground enabled" : "");

	for (;;)
	{
		if (sigwait(&sigs, &sig) != 0)
			continue;
		if (sig == SIGHUP)
		{
			gw_access_log_reopen(gw_config.access_log);
			continue;
		}
		break;
	}
	gw_log("info", "received signal %d, finishing requests in flight", sig);
	drain();
	mg_stop(ctx);
	mg_exit_library();
	gw_log("info", "stopped");
	free(ports);
	gw_access_log_close();
	gw_free_config();
	return 0;
}
