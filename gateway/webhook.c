/*-------------------------------------------------------------------------
 *
 * webhook.c
 *		WhatsApp Cloud API webhook: the GET verification handshake and the
 *		signed POST of message statuses, which is handed unchanged to
 *		justauth.justauth_apply_whatsapp_statuses (idempotent per message
 *		and status; a failed status refunds the send once).
 *
 *-------------------------------------------------------------------------
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "gateway.h"

/* Reads a query-string variable; false if missing, duplicated or malformed. */
static bool
query_var(const struct mg_request_info *ri, const char *name, char *out, size_t outlen)
{
	const char *qs = ri->query_string;
	size_t		nlen = strlen(name);
	const char *p;
	bool		found = false;

	if (qs == NULL || strlen(qs) > GW_MAX_QUERY_LEN)
		return false;
	for (p = qs; *p;)
	{
		size_t		plen = strcspn(p, "&");

		if (plen > nlen && strncmp(p, name, nlen) == 0 && p[nlen] == '=')
		{
			size_t		vlen;
			const char *why;

			if (found ||
				!gw_url_decode(p + nlen + 1, plen - nlen - 1, out, outlen, &vlen, &why))
				return false;
			found = true;
		}
		p += plen;
		if (*p == '&')
			p++;
	}
	return found;
}

/* Constant-time comparison of two strings of possibly different lengths. */
static bool
secret_equal(const char *a, const char *b)
{
	unsigned char da[32];
	unsigned char db[32];
	unsigned int len = 0;

	/* Compare digests so neither the content nor the length leaks by timing. */
	EVP_Digest(a, strlen(a), da, &len, EVP_sha256(), NULL);
	EVP_Digest(b, strlen(b), db, &len, EVP_sha256(), NULL);
	return CRYPTO_memcmp(da, db, sizeof(da)) == 0;
}

/* GET /webhooks/whatsapp: echo hub.challenge when the verify token matches. */
static void
webhook_handshake(GwRequest *req)
{
	char		mode[64];
	char		token[GW_MAX_PARAM_LEN + 1];
	char		challenge[GW_MAX_PARAM_LEN + 1];

	if (gw_config.webhook_verify_token == NULL ||
		!query_var(req->ri, "hub.mode", mode, sizeof(mode)) ||
		strcmp(mode, "subscribe") != 0 ||
		!query_var(req->ri, "hub.verify_token", token, sizeof(token)) ||
		!secret_equal(token, gw_config.webhook_verify_token) ||
		!query_var(req->ri, "hub.challenge", challenge, sizeof(challenge)))
	{
		gw_reply_error(req, 403, "forbidden", "Webhook verification failed.", NULL);
		return;
	}
	gw_reply(req, 200, "text/plain; charset=utf-8", challenge, strlen(challenge), NULL);
}

/*
 * Checks X-Hub-Signature-256: "sha256=" and the hex HMAC-SHA256 of the raw
 * body under the app secret, compared in constant time.
 */
static bool
signature_valid(GwRequest *req, const char *body, size_t len)
{
	const char *sig = mg_get_header(req->conn, "X-Hub-Signature-256");
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned char given[32];
	unsigned int maclen = 0;

	if (sig == NULL || strncasecmp(sig, "sha256=", 7) != 0 || strlen(sig + 7) != 64)
		return false;
	for (int i = 0; i < 32; i++)
	{
		unsigned int byte;

		if (sscanf(sig + 7 + 2 * i, "%2x", &byte) != 1 ||
			!isxdigit((unsigned char) sig[7 + 2 * i]) ||
			!isxdigit((unsigned char) sig[8 + 2 * i]))
			return false;
		given[i] = (unsigned char) byte;
	}
	if (HMAC(EVP_sha256(), gw_config.webhook_app_secret,
			 (int) strlen(gw_config.webhook_app_secret),
			 (const unsigned char *) body, len, mac, &maclen) == NULL || maclen != 32)
		return false;
	return CRYPTO_memcmp(mac, given, 32) == 0;
}

/* POST /webhooks/whatsapp: verify the signature, then apply the statuses. */
static void
webhook_statuses(GwRequest *req, GwDb *db)
{
	char	   *body;
	size_t		len;
	int			rc;
	PGconn	   *conn;
	PGresult   *res;
	const char *values[1];

	if (gw_config.webhook_app_secret == NULL)
	{
		req->close = true;
		gw_reply_error(req, 503, "webhook_not_configured",
					   "No WhatsApp app secret is configured on this server.", NULL);
		return;
	}
	rc = gw_read_body(req, &body, &len, GW_MAX_WEBHOOK_BODY);
	if (rc != 0)
	{
		req->close = true;
		gw_reply_error(req, rc == 413 ? 413 : 400, "invalid_request",
					   rc == 413 ? "The request body is too large." :
					   "The request body was cut short.", NULL);
		return;
	}
	if (!signature_valid(req, body ? body : "", len))
	{
		free(body);
		gw_reply_error(req, 401, "invalid_signature",
					   "X-Hub-Signature-256 is missing or does not match the body.", NULL);
		return;
	}
	if (body == NULL || memchr(body, '\0', len) != NULL || !gw_valid_utf8(body, len))
	{
		free(body);
		gw_reply_error(req, 400, "invalid_request", "The body is not valid JSON text.", NULL);
		return;
	}

	conn = gw_db_get(db);
	if (conn == NULL)
	{
		free(body);
		gw_metrics_db_unavailable();
		gw_reply_error(req, 503, "service_unavailable",
					   "The database is unavailable; try again shortly.", "Retry-After: 1\r\n");
		return;
	}
	values[0] = body;
	res = PQexecParams(conn, "SELECT justauth.justauth_apply_whatsapp_statuses($1::jsonb)",
					   1, NULL, values, NULL, NULL, 0);
	free(body);
	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
	{
		char		reply[80];
		long		applied = strtol(PQgetvalue(res, 0, 0), NULL, 10);

		gw_metrics_webhook_applied(applied);
		snprintf(reply, sizeof(reply), "{\"success\": true, \"applied\": %ld}", applied);
		gw_reply_json(req, 200, reply, NULL);
	}
	else
	{
		const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);

		if (state != NULL && (strncmp(state, "22", 2) == 0 || strcmp(state, "JA010") == 0))
			gw_reply_error(req, 400, "invalid_request", "The body is not a JSON object.", NULL);
		else if (gw_db_result_transient(db, res))
		{
			gw_metrics_db_unavailable();
			gw_reply_error(req, 503, "service_unavailable",
						   "The database is unavailable; try again shortly.", "Retry-After: 1\r\n");
		}
		else
		{
			gw_log("error", "webhook apply failed with SQLSTATE %s", state ? state : "?");
			gw_reply_error(req, 500, "internal_error", "The statuses could not be applied.", NULL);
		}
	}
	PQclear(res);
}

/* Entry point for /webhooks/whatsapp (GET handshake or POST statuses). */
void
gw_handle_webhook(GwRequest *req, GwDb *db)
{
	if (strcmp(req->ri->request_method, "POST") == 0)
		webhook_statuses(req, db);
	else
		webhook_handshake(req);
}
