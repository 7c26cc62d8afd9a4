/*-------------------------------------------------------------------------
 *
 * params_fuzz.c
 *		libFuzzer target for the gateway's parameter parsing: query string,
 *		form body, JSON body and credential headers (gw_collect_params in
 *		gateway/params.c with text.c and reply.c, unchanged).
 *
 * Flags (input byte 0): bit 0 also read the credential headers, bit 1
 * declare Content-Length (else the body counts only with a
 * Transfer-Encoding header, as for chunked requests).
 *
 * Beyond memory safety it checks the contract: a request either yields
 * parameters and no reply, or exactly one JSON refusal with a 4xx/503
 * status; accepted values are at most 256 bytes of valid UTF-8 without
 * control characters.
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fake_civetweb.h"
#include "gateway.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Stops the run with a message: the fuzzer records the input as a crash. */
static void
fail(const char *what, const struct mg_connection *conn)
{
	fprintf(stderr, "params_fuzz: %s\nreply: %s\n", what, conn->out);
	abort();
}

/* Checks the refusal the gateway wrote. */
static void
check_refusal(const struct mg_connection *conn)
{
	const char *body;

	if (conn->replies != 1)
		fail("a refused request must get exactly one reply", conn);
	if (conn->status != 400 && conn->status != 401 && conn->status != 413 &&
		conn->status != 414 && conn->status != 415 && conn->status != 503)
		fail("unexpected status for a refused request", conn);
	body = strstr(conn->out, "\r\n\r\n");
	if (body == NULL || strncmp(body + 4, "{\"success\": false, \"error\": \"", 29) != 0)
		fail("a refusal must be a JSON error object", conn);
	if (!gw_valid_utf8(conn->out, conn->out_len) || memchr(conn->out, '\0', conn->out_len))
		fail("a reply must be valid UTF-8 without NUL", conn);
}

/* Checks one accepted value. */
static void
check_value(const struct mg_connection *conn, const char *v)
{
	size_t		len = strlen(v);

	if (len > GW_MAX_PARAM_LEN)
		fail("an accepted value is longer than 256 bytes", conn);
	if (!gw_valid_utf8(v, len))
		fail("an accepted value is not valid UTF-8", conn);
	for (size_t i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) v[i];

		if (c < 0x20 || c == 0x7F)
			fail("an accepted value contains a control character", conn);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mg_connection conn;
	GwRequest	req;
	GwParams	params;
	int			flags;
	bool		ok;

	if (!fake_request(&conn, data, size, "POST", true, &flags))
		return 0;
	if ((flags & 2) == 0)
		conn.ri.content_length = -1;
	memset(&req, 0, sizeof(req));
	req.conn = &conn;
	req.ri = &conn.ri;
	req.route = ROUTE_SEND_OTP;

	ok = gw_collect_params(&req, &params, (flags & 1) != 0);
	if (ok)
	{
		if (conn.replies != 0)
			fail("accepted parameters but also replied", &conn);
		for (int i = 0; i < PARAM_COUNT; i++)
		{
			if (params.present[i])
				check_value(&conn, params.value[i]);
		}
	}
	else
	{
		check_refusal(&conn);
		if (req.status != conn.status)
			fail("GwRequest.status differs from the status sent", &conn);
	}
	fake_request_free(&conn);
	return 0;
}
