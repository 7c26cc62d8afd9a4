/*-------------------------------------------------------------------------
 *
 * fake_civetweb.h
 *		A CivetWeb connection made from a fuzz input, so the gateway's own
 *		request handling (params.c, webhook.c, reply.c, text.c) runs
 *		unchanged without sockets or threads.
 *
 * Input layout (readable, so seeds can be written by hand):
 *   byte 0         flags, low 4 bits (seeds use '0'..'9', ':'..'?')
 *   up to '\n'     the query string
 *   "Name: value"  header lines, one per '\n', up to an empty line
 *   the rest       the request body
 *
 *-------------------------------------------------------------------------
 */
#ifndef FAKE_CIVETWEB_H
#define FAKE_CIVETWEB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <civetweb.h>

/* The connection: the request and everything written back. */
struct mg_connection
{
	struct mg_request_info ri;
	char	   *storage;		/* copy of the input the fields point into */
	const char *body;
	size_t		body_len;
	size_t		body_pos;
	int			replies;		/* status lines written */
	int			status;			/* status of the last reply */
	char	   *out;			/* everything written, NUL-terminated */
	size_t		out_len;
};

/*
 * Builds a request from data.  declare_length gives content_length the
 * body's length; otherwise it is -1 (as for a chunked body).  Returns
 * false if data is too short to hold the flags byte or has a header line
 * with a control character (CivetWeb answers those 400 itself, before
 * any handler runs).
 */
extern bool fake_request(struct mg_connection *conn, const uint8_t *data,
						 size_t size, const char *method, bool declare_length,
						 int *flags);

/* Frees what fake_request allocated. */
extern void fake_request_free(struct mg_connection *conn);

/* Adds or replaces a header (the value is copied). */
extern void fake_set_header(struct mg_connection *conn, const char *name,
							const char *value);

#endif							/* FAKE_CIVETWEB_H */
