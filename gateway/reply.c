/*-------------------------------------------------------------------------
 *
 * reply.c
 *		Writing HTTP replies, and the mapping from the SQL API's error codes
 *		to HTTP statuses (the same table as justauth.error_codes, which the
 *		gateway's role may not read).
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway.h"

static const struct
{
	const char *error;
	int			status;
}			error_status[] = {
	{"invalid_request", 400},
	{"invalid_number", 400},
	{"invalid_credentials", 401},
	{"client_suspended", 403},
	{"wallet_not_funded", 402},
	{"insufficient_balance", 402},
	{"idempotency_conflict", 409},
	{"rate_limited", 429},
	{"invalid_otp", 400},
	{"otp_expired", 410},
	{"max_attempts", 429},
	{"otp_superseded", 410},
	{"otp_not_found", 404},
	{"delivery_not_configured", 503},
};

/*
 * HTTP status for a refusal's "error" code.  A code this gateway does not
 * know yet is still the caller's problem, never a server fault: 400.
 */
int
gw_status_for_error(const char *error)
{
	for (size_t i = 0; i < sizeof(error_status) / sizeof(error_status[0]); i++)
	{
		if (strcmp(error_status[i].error, error) == 0)
			return error_status[i].status;
	}
	return 400;
}

/*
 * Puts the status line and headers of a reply into l; false if they did
 * not fit.
 */
static bool
format_head(GwLine *l, const GwRequest *req, int status, const char *content_type,
			size_t len, const char *extra_headers)
{
	const char *text;

	gw_line_puts(l, "HTTP/1.1 ");
	gw_line_uint(l, (unsigned) status, 1);
	gw_line_put(l, " ", 1);
	text = mg_get_response_code_text(req->conn, status);
	gw_line_puts(l, text ? text : "");
	gw_line_puts(l, "\r\nContent-Type: ");
	gw_line_puts(l, content_type);
	gw_line_puts(l, "\r\nContent-Length: ");
	gw_line_uint(l, len, 1);
	gw_line_puts(l, "\r\nCache-Control: no-store\r\n"
				 "X-Content-Type-Options: nosniff\r\n");
	if (extra_headers)
		gw_line_puts(l, extra_headers);
	if (req->close)
		gw_line_puts(l, "Connection: close\r\n");
	gw_line_puts(l, "\r\n");
	return !l->cut;
}

/*
 * Sends a complete response with an exact Content-Length.  extra_headers,
 * if given, is a block of "Name: value\r\n" lines.  Replies are never
 * cached: they carry one-time codes and per-call outcomes.  A small reply
 * (every API reply) goes out in one write: one system call and, with
 * TCP_NODELAY, one segment for the client to wake up for.
 */
void
gw_reply(GwRequest *req, int status, const char *content_type,
		 const char *body, size_t len, const char *extra_headers)
{
	char		buf[4096];
	size_t		blen = (!req->head && len > 0) ? len : 0;
	GwLine		l;
	size_t		hlen;

	req->status = status;
	gw_line_init(&l, buf, sizeof(buf));
	if (format_head(&l, req, status, content_type, len, extra_headers))
	{
		hlen = (size_t) (l.p - buf);
		if (blen <= sizeof(buf) - hlen)
		{
			if (blen > 0)
				memcpy(buf + hlen, body, blen);
			mg_write(req->conn, buf, hlen + blen);
			return;
		}
		mg_write(req->conn, buf, hlen);
	}
	else
	{
		/* Headers this long are never ours, but still go out whole. */
		size_t		size = strlen(content_type) +
			(extra_headers ? strlen(extra_headers) : 0) + 512;
		char	   *head = malloc(size);

		if (head == NULL)
			return;
		gw_line_init(&l, head, size);
		if (!format_head(&l, req, status, content_type, len, extra_headers))
		{
			free(head);
			return;
		}
		mg_write(req->conn, head, (size_t) (l.p - head));
		free(head);
	}
	if (blen > 0)
		mg_write(req->conn, body, blen);
}

/* Sends a JSON body (already serialized) with the given status. */
void
gw_reply_json(GwRequest *req, int status, const char *body, const char *extra_headers)
{
	gw_reply(req, status, "application/json; charset=utf-8", body, strlen(body),
			 extra_headers);
}

/*
 * Sends {"success": false, "error": ..., "message": ...}, the shape of
 * every refusal, whether it comes from the SQL API or from the gateway.
 */
void
gw_reply_error(GwRequest *req, int status, const char *error, const char *message,
			   const char *extra_headers)
{
	char		msg[512];
	char		body[700];

	gw_json_escape(msg, sizeof(msg), message, strlen(message));
	snprintf(body, sizeof(body),
			 "{\"success\": false, \"error\": \"%s\", \"message\": \"%s\"}",
			 error, msg);
	snprintf(req->error, sizeof(req->error), "%s", error);
	gw_reply_json(req, status, body, extra_headers);
}
