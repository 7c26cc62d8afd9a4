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

/* Formats the status line and headers of a reply, like snprintf. */
static int
format_head(char *out, size_t outlen, const GwRequest *req, int status,
			const char *content_type, size_t len, const char *extra_headers)
{
	return snprintf(out, outlen,
					"HTTP/1.1 %d %s\r\n"
					"Content-Type: %s\r\n"
					"Content-Length: %zu\r\n"
					"Cache-Control: no-store\r\n"
					"X-Content-Type-Options: nosniff\r\n"
					"%s%s\r\n",
					status, mg_get_response_code_text(req->conn, status),
					content_type, len,
					extra_headers ? extra_headers : "",
					req->close ? "Connection: close\r\n" : "");
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
	int			hlen;

	req->status = status;
	hlen = format_head(buf, sizeof(buf), req, status, content_type, len, extra_headers);
	if (hlen < 0)
		return;
	if ((size_t) hlen < sizeof(buf))
	{
		if (blen <= sizeof(buf) - (size_t) hlen)
		{
			if (blen > 0)
				memcpy(buf + hlen, body, blen);
			mg_write(req->conn, buf, (size_t) hlen + blen);
			return;
		}
		mg_write(req->conn, buf, (size_t) hlen);
	}
	else
	{
		char	   *head = malloc((size_t) hlen + 1);

		if (head == NULL)
			return;
		format_head(head, (size_t) hlen + 1, req, status, content_type, len, extra_headers);
		mg_write(req->conn, head, (size_t) hlen);
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
