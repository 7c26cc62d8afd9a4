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
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gateway.h"

/*
 * The access log is a file descriptor written with one write(2) per line:
 * appends of whole lines need no lock between the worker threads.  -1 when
 * the log is off.  A reopen replaces the file behind the same descriptor
 * (dup2), so a thread writing at that moment writes to the old or the new
 * file, never to a closed descriptor.
 */
static int	access_fd = -1;
static bool access_owned;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

/* Opens a log file for appending, created like fopen(path, "a") would. */
static int
open_append(const char *path)
{
	return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0666);
}

/* Opens the access log: a path (appended to), "-" for stdout, "off". */
bool
gw_access_log_open(const char *target)
{
	if (target == NULL || strcmp(target, "off") == 0)
		return true;
	if (strcmp(target, "-") == 0)
	{
		access_fd = STDOUT_FILENO;
		return true;
	}
	access_fd = open_append(target);
	if (access_fd < 0)
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
	int			fd;

	if (!access_owned || target == NULL)
		return;
	fd = open_append(target);
	if (fd < 0 || dup2(fd, access_fd) < 0)
	{
		if (fd >= 0)
			close(fd);
		gw_log("warning", "cannot reopen the access log; still writing the old file");
		return;
	}
	close(fd);
}

/* Closes the access log at shutdown. */
void
gw_access_log_close(void)
{
	if (access_owned && access_fd >= 0)
		close(access_fd);
	access_fd = -1;
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
	char		line[1024];
	int			n;

	if (access_fd < 0)
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

	n = snprintf(line, sizeof(line),
				 "{\"ts\":\"%s\",\"method\":\"%s\",\"path\":\"%s\",\"status\":%d,"
				 "\"latency_ms\":%.3f,\"client_id\":%s,\"error\":%s,\"remote\":\"%s\",\"tls\":%s}\n",
				 ts, method, path, req->status, seconds * 1000.0, client, error,
				 req->ri->remote_addr, req->ri->is_ssl ? "true" : "false");
	if (n <= 0)
		return;
	if ((size_t) n >= sizeof(line))
		n = (int) sizeof(line) - 1;
	for (size_t off = 0; off < (size_t) n;)
	{
		ssize_t		w = write(access_fd, line + off, (size_t) n - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		off += (size_t) w;
	}
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
