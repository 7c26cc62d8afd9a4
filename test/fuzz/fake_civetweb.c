/*-------------------------------------------------------------------------
 *
 * fake_civetweb.c
 *		The few CivetWeb functions the gateway's request code calls,
 *		served from a fuzz input instead of a socket (see fake_civetweb.h).
 *
 *-------------------------------------------------------------------------
 */
#define _GNU_SOURCE				/* vasprintf */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fake_civetweb.h"

/* Header names and values set by fake_set_header, freed with the request. */
#define FAKE_MAX_OWNED 8

static char *owned[FAKE_MAX_OWNED];

/* Headers from the input; the rest of MG_MAX_HEADERS is for the harness. */
#define FAKE_MAX_HEADERS (MG_MAX_HEADERS - 4)
static int	n_owned;

/*
 * Splits the input into flags, query string, headers and body.  The copy
 * is allocated to its exact size so ASan sees any read past a field.
 */
bool
fake_request(struct mg_connection *conn, const uint8_t *data, size_t size,
			 const char *method, bool declare_length, int *flags)
{
	char	   *p;
	char	   *end;
	char	   *nl;

	memset(conn, 0, sizeof(*conn));
	if (size < 1)
		return false;
	*flags = data[0] & 0x0F;
	conn->storage = malloc(size);
	if (conn->storage == NULL)
		abort();
	memcpy(conn->storage, data + 1, size - 1);
	conn->storage[size - 1] = '\0';
	p = conn->storage;
	end = conn->storage + size - 1;

	conn->ri.request_method = method;
	conn->ri.request_uri = "/fuzz";
	conn->ri.local_uri = "/fuzz";
	conn->ri.local_uri_raw = "/fuzz";
	conn->ri.http_version = "1.1";
	strcpy(conn->ri.remote_addr, "127.0.0.1");

	/* query string: the first line (absent if the input has no newline) */
	nl = memchr(p, '\n', (size_t) (end - p));
	if (nl != NULL)
	{
		*nl = '\0';
		conn->ri.query_string = p;
		p = nl + 1;

		/* headers: "Name: value" lines up to an empty line */
		while (p < end && *p != '\n' && conn->ri.num_headers < FAKE_MAX_HEADERS)
		{
			char	   *colon;

			nl = memchr(p, '\n', (size_t) (end - p));
			if (nl == NULL)
				break;
			*nl = '\0';
			/* CivetWeb refuses the whole request (400) for these. */
			for (const char *c = p; c < nl; c++)
				if ((unsigned char) *c < 0x20 || *c == 0x7F)
				{
					free(conn->storage);
					conn->storage = NULL;
					return false;
				}
			colon = strchr(p, ':');
			if (colon != NULL)
			{
				char	   *v = colon + 1;

				*colon = '\0';
				while (*v == ' ')
					v++;
				conn->ri.http_headers[conn->ri.num_headers].name = p;
				conn->ri.http_headers[conn->ri.num_headers].value = v;
				conn->ri.num_headers++;
			}
			p = nl + 1;
		}
		if (p < end && *p == '\n')
			p++;
	}
	else
		p = end;

	conn->body = p;
	conn->body_len = (size_t) (end - p);
	conn->ri.content_length = declare_length ? (long long) conn->body_len : -1;
	conn->out = calloc(1, 1);
	if (conn->out == NULL)
		abort();
	return true;
}

/* Frees the request copy, the output and any headers set by the harness. */
void
fake_request_free(struct mg_connection *conn)
{
	free(conn->storage);
	free(conn->out);
	for (int i = 0; i < n_owned; i++)
		free(owned[i]);
	n_owned = 0;
	memset(conn, 0, sizeof(*conn));
}

/* Copies s into memory freed with the request. */
static char *
own(const char *s)
{
	char	   *c = strdup(s);

	if (c == NULL || n_owned >= FAKE_MAX_OWNED)
		abort();
	owned[n_owned++] = c;
	return c;
}

/* Replaces the value of every header called name, or appends it. */
void
fake_set_header(struct mg_connection *conn, const char *name, const char *value)
{
	bool		found = false;
	char	   *v = own(value);

	for (int i = 0; i < conn->ri.num_headers; i++)
	{
		if (strcasecmp(conn->ri.http_headers[i].name, name) == 0)
		{
			conn->ri.http_headers[i].value = v;
			found = true;
		}
	}
	if (!found && conn->ri.num_headers < MG_MAX_HEADERS)
	{
		conn->ri.http_headers[conn->ri.num_headers].name = own(name);
		conn->ri.http_headers[conn->ri.num_headers].value = v;
		conn->ri.num_headers++;
	}
}

/* Appends bytes to the connection's output. */
static void
out_append(struct mg_connection *conn, const char *buf, size_t len)
{
	char	   *n = realloc(conn->out, conn->out_len + len + 1);

	if (n == NULL)
		abort();
	memcpy(n + conn->out_len, buf, len);
	conn->out = n;
	conn->out_len += len;
	conn->out[conn->out_len] = '\0';
}

const struct mg_request_info *
mg_get_request_info(const struct mg_connection *conn)
{
	return &conn->ri;
}

/* First header called name (case-insensitive), as CivetWeb answers. */
const char *
mg_get_header(const struct mg_connection *conn, const char *name)
{
	for (int i = 0; i < conn->ri.num_headers; i++)
	{
		if (strcasecmp(conn->ri.http_headers[i].name, name) == 0)
			return conn->ri.http_headers[i].value;
	}
	return NULL;
}

/* Serves the body in pieces of at most 7 bytes, like a slow client. */
int
mg_read(struct mg_connection *conn, void *buf, size_t len)
{
	size_t		n = conn->body_len - conn->body_pos;

	if (n > len)
		n = len;
	if (n > 7)
		n = 7;
	memcpy(buf, conn->body + conn->body_pos, n);
	conn->body_pos += n;
	return (int) n;
}

/*
 * Records output; a write that starts with a status line starts a new
 * reply (the gateway writes a reply's head with mg_printf, or head and body
 * in one mg_write).
 */
static void
record(struct mg_connection *conn, const char *s, size_t len)
{
	if (len >= 9 && strncmp(s, "HTTP/1.1 ", 9) == 0)
	{
		conn->replies++;
		conn->status = atoi(s + 9);
	}
	out_append(conn, s, len);
}

int
mg_printf(struct mg_connection *conn, const char *fmt,...)
{
	va_list		ap;
	char	   *s = NULL;
	int			n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		abort();
	record(conn, s, (size_t) n);
	free(s);
	return n;
}

int
mg_write(struct mg_connection *conn, const void *buf, size_t len)
{
	record(conn, buf, len);
	return (int) len;
}

const char *
mg_get_response_code_text(const struct mg_connection *conn, int status)
{
	return "Fuzz";
}
