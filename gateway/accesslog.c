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

/*
 * Appends at most maxlen bytes of s JSON-escaped between quotes; null
 * instead of an empty string if empty_is_null.
 */
static void
put_json_string(GwLine *b, const char *s, size_t maxlen, bool empty_is_null)
{
	char		esc[300];

	if (s[0] == '\0' && empty_is_null)
	{
		gw_line_puts(b, "null");
		return;
	}
	gw_json_escape(esc, sizeof(esc), s, strnlen(s, maxlen));
	gw_line_put(b, "\"", 1);
	gw_line_puts(b, esc);
	gw_line_put(b, "\"", 1);
}

/*
 * Appends the current UTC time as ISO 8601 with milliseconds.  Each thread
 * keeps the formatted second, so strftime runs once a second per thread.
 */
static void
put_timestamp(GwLine *b)
{
	static __thread time_t second = -1;
	static __thread char base[32];
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	if (ts.tv_sec != second)
	{
		struct tm	tm;

		gmtime_r(&ts.tv_sec, &tm);
		strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
		second = ts.tv_sec;
	}
	gw_line_puts(b, base);
	gw_line_put(b, ".", 1);
	gw_line_uint(b, (unsigned long long) (ts.tv_nsec / 1000000) % 1000, 3);
	gw_line_put(b, "Z", 1);
}

/* Formats the current UTC time as put_timestamp does, NUL-terminated. */
static void
timestamp(char *out, size_t outlen)
{
	GwLine		l;

	gw_line_init(&l, out, outlen - 1);
	put_timestamp(&l);
	*l.p = '\0';
}

/* Writes one access-log line for a finished request. */
void
gw_access_log(const GwRequest *req, double seconds)
{
	const char *uri = req->ri->local_uri ? req->ri->local_uri : "";
	const char *m = req->ri->request_method ? req->ri->request_method : "";
	char		line[1024];
	GwLine		b;
	unsigned long long usecs = seconds > 0 ? (unsigned long long) (seconds * 1e6 + 0.5) : 0;
	size_t		n;

	if (access_fd < 0)
		return;
	gw_line_init(&b, line, sizeof(line));
	gw_line_puts(&b, "{\"ts\":\"");
	put_timestamp(&b);
	gw_line_puts(&b, "\",\"method\":");
	put_json_string(&b, m, 16, false);
	gw_line_puts(&b, ",\"path\":");
	put_json_string(&b, uri, 200, false);
	gw_line_puts(&b, ",\"status\":");
	gw_line_uint(&b, (unsigned) req->status, 1);
	gw_line_puts(&b, ",\"latency_ms\":");
	gw_line_uint(&b, usecs / 1000, 1);
	gw_line_put(&b, ".", 1);
	gw_line_uint(&b, usecs % 1000, 3);
	gw_line_puts(&b, ",\"client_id\":");
	put_json_string(&b, req->client_id, sizeof(req->client_id), true);
	gw_line_puts(&b, ",\"error\":");
	put_json_string(&b, req->error, sizeof(req->error), true);
	gw_line_puts(&b, ",\"remote\":\"");
	gw_line_puts(&b, req->ri->remote_addr);
	gw_line_puts(&b, "\",\"tls\":");
	gw_line_puts(&b, req->ri->is_ssl ? "true" : "false");
	gw_line_puts(&b, "}\n");
	n = (size_t) (b.p - line);
	for (size_t off = 0; off < n;)
	{
		ssize_t		w = write(access_fd, line + off, n - off);

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
