/*-------------------------------------------------------------------------
 *
 * accesslog.c
 *		JSON-lines access log and diagnostics.  The access log never holds
 *		a query string, a body or a header value: only method, path,
 *		status, latency, the client id (when it has the shape of one) and
 *		the reply's error code, so API keys, codes and tokens cannot leak.
 *
 *-------------------------------------------------------------------------
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "gateway.h"

static FILE *access_out;
static bool access_owned;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

/* Opens the access log: a path (appended to), "-" for stdout, "off". */
bool
gw_access_log_open(const char *target)
{
	if (target == NULL || strcmp(target, "off") == 0)
		return true;
	if (strcmp(target, "-") == 0)
	{
		access_out = stdout;
		return true;
	}
	access_out = fopen(target, "a");
	if (access_out == NULL)
		return false;
	access_owned = true;
	return true;
}

/*
 * Reopens an access log file (on SIGHUP, after logrotate moved it).
 * On failure the old file stays in use.
 */
void
gw_access_log_reopen(const char *target)
{
	FILE	   *f;

	if (!access_owned || target == NULL)
		return;
	f = fopen(target, "a");
	if (f == NULL)
	{
		gw_log("warning", "cannot reopen the access log; still writing the old file");
		return;
	}
	pthread_mutex_lock(&log_lock);
	fclose(access_out);
	access_out = f;
	pthread_mutex_unlock(&log_lock);
}

/* Closes the access log at shutdown. */
void
gw_access_log_close(void)
{
	if (access_owned && access_out != NULL)
		fclose(access_out);
	access_out = NULL;
	access_owned = false;
}

/* Formats the current UTC time as ISO 8601 with milliseconds. */
static void
timestamp(char *out, size_t outlen)
{
	struct timespec ts;
	struct tm	tm;
	char		base[32];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out, outlen, "%.24s.%03dZ", base, (int) (ts.tv_nsec / 1000000) % 1000);
}

/* Writes one access-log line for a finished request. */
void
gw_access_log(const GwRequest *req, double seconds)
{
	char		ts[40];
	char		method[40];
	char		path[300];
	char		client[80];
	char		error[60];
	const char *uri = req->ri->local_uri ? req->ri->local_uri : "";
	const char *m = req->ri->request_method ? req->ri->request_method : "";

	if (access_out == NULL)
		return;
	timestamp(ts, sizeof(ts));
	gw_json_escape(method, sizeof(method), m, strnlen(m, 16));
	gw_json_escape(path, sizeof(path), uri, strnlen(uri, 200));
	if (req->client_id[0])
		snprintf(client, sizeof(client), "\"%s\"", req->client_id);
	else
		strcpy(client, "null");
	if (req->error[0])
	{
		char		esc[48];

		gw_json_escape(esc, sizeof(esc), req->error, strlen(req->error));
		snprintf(error, sizeof(error), "\"%s\"", esc);
	}
	else
		strcpy(error, "null");

	pthread_mutex_lock(&log_lock);
	fprintf(access_out,
			"{\"ts\":\"%s\",\"method\":\"%s\",\"path\":\"%s\",\"status\":%d,"
			"\"latency_ms\":%.3f,\"client_id\":%s,\"error\":%s,\"remote\":\"%s\",\"tls\":%s}\n",
			ts, method, path, req->status, seconds * 1000.0, client, error,
			req->ri->remote_addr, req->ri->is_ssl ? "true" : "false");
	fflush(access_out);
	pthread_mutex_unlock(&log_lock);
}

/* Writes a diagnostic line to stderr as JSON. */
void
gw_log(const char *level, const char *fmt,...)
{
	char		msg[600];
	char		esc[1200];
	char		ts[40];
	va_list		ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	gw_json_escape(esc, sizeof(esc), msg, strlen(msg));
	timestamp(ts, sizeof(ts));
	pthread_mutex_lock(&log_lock);
	fprintf(stderr, "{\"ts\":\"%s\",\"level\":\"%s\",\"msg\":\"%s\"}\n", ts, level, esc);
	fflush(stderr);
	pthread_mutex_unlock(&log_lock);
}
