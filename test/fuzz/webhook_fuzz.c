/*-------------------------------------------------------------------------
 *
 * webhook_fuzz.c
 *		libFuzzer target for the WhatsApp webhook of the gateway
 *		(gw_handle_webhook in gateway/webhook.c, unchanged): the GET
 *		verification handshake and the POST with its X-Hub-Signature-256
 *		check and body validation.
 *
 * Flags (input byte 0): bit 0 POST (else GET), bit 1 the harness signs the
 * body with the configured app secret, bit 2 it then flips one bit of that
 * signature, bit 3 declare Content-Length.
 *
 * The database is replaced by one that is unavailable, so a POST that passes every
 * check is answered 503: reaching the database is observable.  Checked:
 * an unsigned or wrongly signed body never reaches the database; a
 * correctly signed, valid body always does; the handshake answers 200
 * only to the configured verify token; exactly one reply per request.
 *
 *-------------------------------------------------------------------------
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "fake_civetweb.h"
#include "gateway.h"

#define APP_SECRET "fuzz-app-secret"
#define VERIFY_TOKEN "fuzz-verify-token"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* What webhook.c needs from the rest of the gateway. */
GatewayConfig gw_config;
static int	db_calls;

PGconn *
gw_db_get(GwDb *db)
{
	db_calls++;
	return NULL;
}

bool
gw_db_result_transient(GwDb *db, PGresult *res)
{
	return true;
}

void
gw_metrics_db_unavailable(void)
{
}

void
gw_metrics_webhook_applied(long n)
{
}

void
gw_log(const char *level, const char *fmt,...)
{
}

/* Stops the run with a message: the fuzzer records the input as a crash. */
static void
fail(const char *what, const struct mg_connection *conn)
{
	fprintf(stderr, "webhook_fuzz: %s\nreply: %s\n", what, conn->out);
	abort();
}

/*
 * Decodes %XX and '+' of a whole query string (an independent oracle);
 * a decoded NUL becomes '?' so the result stays one C string.
 */
static void
decode_all(const char *in, char *out, size_t outlen)
{
	size_t		o = 0;

	for (size_t i = 0; in[i] != '\0' && o + 1 < outlen; i++)
	{
		char		c = in[i] == '+' ? ' ' : in[i];

		if (in[i] == '%' && isxdigit((unsigned char) in[i + 1]) &&
			isxdigit((unsigned char) in[i + 2]))
		{
			char		hex[3] = {in[i + 1], in[i + 2], '\0'};

			c = (char) strtol(hex, NULL, 16);
			i += 2;
		}
		out[o++] = c == '\0' ? '?' : c;
	}
	out[o] = '\0';
}

/* Writes "sha256=<hex HMAC of the body>" into sig (72 bytes). */
static void
sign_body(const struct mg_connection *conn, bool flip, char *sig)
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;

	if (HMAC(EVP_sha256(), APP_SECRET, (int) strlen(APP_SECRET),
			 (const unsigned char *) conn->body, conn->body_len, mac, &maclen) == NULL ||
		maclen != 32)
		abort();
	if (flip)
		mac[conn->body_len % 32] ^= (unsigned char) (1 << (conn->body_len % 8));
	memcpy(sig, "sha256=", 7);
	for (int i = 0; i < 32; i++)
		snprintf(sig + 7 + 2 * i, 3, "%02x", mac[i]);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mg_connection conn;
	GwRequest	req;
	GwDb		db = {NULL};
	int			flags;
	bool		post;
	bool		signed_ok;

	gw_config.webhook_app_secret = APP_SECRET;
	gw_config.webhook_verify_token = VERIFY_TOKEN;
	if (!fake_request(&conn, data, size, (size > 0 && (data[0] & 1)) ? "POST" : "GET",
					  true, &flags))
		return 0;
	post = (flags & 1) != 0;
	if ((flags & 8) == 0)
		conn.ri.content_length = -1;
	if (post && (flags & 2))
	{
		char		sig[80];

		sign_body(&conn, (flags & 4) != 0, sig);
		fake_set_header(&conn, "X-Hub-Signature-256", sig);
	}
	signed_ok = post && (flags & 2) && !(flags & 4);

	memset(&req, 0, sizeof(req));
	req.conn = &conn;
	req.ri = &conn.ri;
	req.route = ROUTE_WEBHOOK;
	db_calls = 0;

	gw_handle_webhook(&req, &db);

	if (conn.replies != 1)
		fail("a webhook request must get exactly one reply", &conn);
	if (post)
	{
		/* The body counts only when its length is known or it is chunked. */
		bool		body_read = (flags & 8) ||
			mg_get_header(&conn, "Transfer-Encoding") != NULL;
		bool		valid = body_read && conn.body_len > 0 &&
			memchr(conn.body, '\0', conn.body_len) == NULL &&
			gw_valid_utf8(conn.body, conn.body_len);

		if (db_calls > 0 && !signed_ok)
			fail("an unsigned or wrongly signed body reached the database", &conn);
		if (signed_ok && valid && db_calls != 1)
			fail("a correctly signed valid body did not reach the database", &conn);
		if (db_calls > 0 && conn.status != 503)
			fail("database unavailable must be answered 503", &conn);
		if (db_calls == 0 && conn.status != 400 && conn.status != 401 && conn.status != 413)
			fail("unexpected status for a refused webhook POST", &conn);
	}
	else
	{
		const char *qs = conn.ri.query_string ? conn.ri.query_string : "";
		size_t		dlen = strlen(qs) + 1;
		char	   *decoded = malloc(dlen);

		if (decoded == NULL)
			abort();
		if (db_calls > 0)
			fail("the handshake must not touch the database", &conn);
		if (conn.status != 200 && conn.status != 403)
			fail("the handshake answers 200 or 403", &conn);
		decode_all(qs, decoded, dlen);
		if (conn.status == 200 &&
			strstr(decoded, "hub.verify_token=" VERIFY_TOKEN) == NULL)
			fail("the handshake accepted a wrong verify token", &conn);
		free(decoded);
	}
	fake_request_free(&conn);
	return 0;
}
