/*-------------------------------------------------------------------------
 *
 * params.c
 *		Collecting the API parameters of a request from its query string,
 *		its body (form or JSON) and its headers.  Every source is decoded
 *		strictly; a parameter given twice, in one source or across sources,
 *		is refused rather than guessed at.
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gateway.h"

const char *gw_param_names[PARAM_COUNT] = {
	"client-id", "api-key", "number", "otp", "Idempotency-Key"
};

/* Parameters that may come from the query string or the body. */
#define PARAM_BODY_COUNT	(PARAM_OTP + 1)

/* Records one value; refuses duplicates.  Replies and returns false on error. */
static bool
set_param(GwRequest *req, GwParams *params, int which, const char *value,
		  size_t len, const char *where)
{
	char		msg[200];

	if (params->present[which])
	{
		snprintf(msg, sizeof(msg), "Parameter \"%s\" is given more than once.",
				 gw_param_names[which]);
		gw_reply_error(req, 400, "invalid_request", msg, NULL);
		return false;
	}
	if (len > GW_MAX_PARAM_LEN)
	{
		snprintf(msg, sizeof(msg), "Parameter \"%s\" (%s) is too long.",
				 gw_param_names[which], where);
		gw_reply_error(req, 400, "invalid_request", msg, NULL);
		return false;
	}
	memcpy(params->value[which], value, len);
	params->value[which][len] = '\0';
	params->present[which] = true;
	return true;
}

/* Index of a query/body parameter name, or -1 for a name we ignore. */
static int
param_index(const char *name)
{
	for (int i = 0; i < PARAM_BODY_COUNT; i++)
	{
		if (strcmp(name, gw_param_names[i]) == 0)
			return i;
	}
	return -1;
}

/*
 * Parses application/x-www-form-urlencoded data (query string or body).
 * Unknown names are skipped; known ones must decode cleanly.
 */
static bool
parse_urlencoded(GwRequest *req, GwParams *params, const char *data, size_t len,
				 const char *where)
{
	const char *p = data;
	const char *end = data + len;

	while (p < end)
	{
		const char *amp = memchr(p, '&', end - p);
		const char *pair_end = amp ? amp : end;
		const char *eq = memchr(p, '=', pair_end - p);
		const char *key_end = eq ? eq : pair_end;
		char		name[64];
		char		value[GW_MAX_PARAM_LEN + 1];
		size_t		nlen,
					vlen;
		const char *why;
		int			which;
		char		msg[200];

		if (pair_end == p)
		{
			p = pair_end + 1;
			continue;
		}
		/* Names we know are short; anything longer is a name we ignore. */
		if (!gw_url_decode(p, key_end - p, name, sizeof(name), &nlen, &why) ||
			(which = param_index(name)) < 0)
		{
			p = pair_end + 1;
			continue;
		}
		if (!gw_url_decode(eq ? eq + 1 : pair_end, eq ? pair_end - eq - 1 : 0,
						   value, sizeof(value), &vlen, &why))
		{
			snprintf(msg, sizeof(msg), "Parameter \"%s\" (%s) %s.",
					 gw_param_names[which], where, why);
			gw_reply_error(req, 400, "invalid_request", msg, NULL);
			return false;
		}
		if (!set_param(req, params, which, value, vlen, where))
			return false;
		p = pair_end + 1;
	}
	return true;
}

/* State passed through the JSON member callback. */
typedef struct JsonParamsArg
{
	GwRequest  *req;
	GwParams   *params;
	bool		replied;
} JsonParamsArg;

/* gw_json_flat_object callback: records known members. */
static bool
json_member(const char *key, const char *value, size_t len, void *arg, const char **why)
{
	JsonParamsArg *a = arg;
	int			which = param_index(key);

	if (which < 0)
		return true;
	for (size_t i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) value[i];

		if (c < 0x20 || c == 0x7F)
		{
			*why = "a JSON value contains a control character";
			return false;
		}
	}
	if (!set_param(a->req, a->params, which, value, len, "JSON body"))
	{
		a->replied = true;
		*why = "";
		return false;
	}
	return true;
}

/*
 * Reads the whole request body into a malloc'd, NUL-terminated buffer.
 * Returns 0, or the HTTP status to refuse with (413 too large, 400 cut
 * short); *body is NULL unless 0 is returned.
 */
int
gw_read_body(GwRequest *req, char **body, size_t *len, size_t limit)
{
	long long	declared = req->ri->content_length;
	char	   *buf;
	size_t		got = 0;

	*body = NULL;
	*len = 0;
	if (declared > (long long) limit)
		return 413;
	/* No Content-Length and not chunked: a request without a body. */
	if (declared < 0 && mg_get_header(req->conn, "Transfer-Encoding") == NULL)
		return 0;
	if (declared == 0)
		return 0;
	buf = malloc(limit + 2);
	if (buf == NULL)
		return 503;
	for (;;)
	{
		int			n = mg_read(req->conn, buf + got, limit + 1 - got);

		if (n < 0)
		{
			free(buf);
			return 400;
		}
		if (n == 0)
			break;
		got += (size_t) n;
		if (got > limit)
		{
			free(buf);
			return 413;
		}
	}
	if (declared > 0 && got != (size_t) declared)
	{
		free(buf);
		return 400;
	}
	buf[got] = '\0';
	*body = buf;
	*len = got;
	return 0;
}

/* Number of request headers called name (case-insensitive). */
static int
header_count(const struct mg_request_info *ri, const char *name, const char **value)
{
	int			n = 0;

	*value = NULL;
	for (int i = 0; i < ri->num_headers; i++)
	{
		if (strcasecmp(ri->http_headers[i].name, name) == 0)
		{
			if (n++ == 0)
				*value = ri->http_headers[i].value;
		}
	}
	return n;
}

/* Takes one credential header into params; replies and fails on misuse. */
static bool
header_param(GwRequest *req, GwParams *params, int which, const char *header)
{
	const char *value;
	int			n = header_count(req->ri, header, &value);
	char		msg[200];
	size_t		len;

	if (n == 0)
		return true;
	if (n > 1)
	{
		snprintf(msg, sizeof(msg), "Header %s is given more than once.", header);
		gw_reply_error(req, 400, "invalid_request", msg, NULL);
		return false;
	}
	len = strlen(value);
	for (size_t i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) value[i];

		if (c < 0x20 || c == 0x7F)
		{
			snprintf(msg, sizeof(msg), "Header %s contains a control character.", header);
			gw_reply_error(req, 400, "invalid_request", msg, NULL);
			return false;
		}
	}
	if (!gw_valid_utf8(value, len))
	{
		snprintf(msg, sizeof(msg), "Header %s is not valid UTF-8.", header);
		gw_reply_error(req, 400, "invalid_request", msg, NULL);
		return false;
	}
	return set_param(req, params, which, value, len, header);
}

/*
 * Fills params from the query string, the body and (if from_headers) the
 * credential headers.  On any problem an error reply has been sent and
 * false is returned.
 */
bool
gw_collect_params(GwRequest *req, GwParams *params, bool from_headers)
{
	const char *qs = req->ri->query_string;
	char	   *body = NULL;
	size_t		blen = 0;
	int			rc;
	bool		ok = true;

	memset(params, 0, sizeof(*params));

	if (qs != NULL && strlen(qs) > GW_MAX_QUERY_LEN)
	{
		req->close = true;
		gw_reply_error(req, 414, "invalid_request", "The query string is too long.", NULL);
		return false;
	}

	rc = gw_read_body(req, &body, &blen, GW_MAX_API_BODY);
	if (rc != 0)
	{
		req->close = true;
		if (rc == 413)
			gw_reply_error(req, 413, "invalid_request", "The request body is too large.", NULL);
		else if (rc == 503)
			gw_reply_error(req, 503, "service_unavailable", "Out of memory.", "Retry-After: 1\r\n");
		else
			gw_reply_error(req, 400, "invalid_request", "The request body was cut short.", NULL);
		return false;
	}

	if (qs != NULL && !parse_urlencoded(req, params, qs, strlen(qs), "query string"))
	{
		free(body);
		return false;
	}

	if (blen > 0)
	{
		const char *ct = mg_get_header(req->conn, "Content-Type");
		size_t		ctlen = ct ? strcspn(ct, "; \t") : 0;

		if (memchr(body, '\0', blen) != NULL)
		{
			gw_reply_error(req, 400, "invalid_request", "The request body contains a NUL byte.", NULL);
			ok = false;
		}
		else if (ct != NULL && ctlen == 33 &&
				 strncasecmp(ct, "application/x-www-form-urlencoded", 33) == 0)
			ok = parse_urlencoded(req, params, body, blen, "form body");
		else if (ct != NULL && ctlen == 16 && strncasecmp(ct, "application/json", 16) == 0)
		{
			JsonParamsArg arg = {req, params, false};
			const char *why = NULL;

			if (!gw_valid_utf8(body, blen))
			{
				gw_reply_error(req, 400, "invalid_request", "The JSON body is not valid UTF-8.", NULL);
				ok = false;
			}
			else if (!gw_json_flat_object(body, blen, json_member, &arg, &why))
			{
				if (!arg.replied)
				{
					char		msg[200];

					snprintf(msg, sizeof(msg), "Invalid JSON body: %s.", why);
					gw_reply_error(req, 400, "invalid_request", msg, NULL);
				}
				ok = false;
			}
		}
		else
		{
			gw_reply_error(req, 415, "invalid_request",
						   "Send parameters in the query string, or as an "
						   "application/x-www-form-urlencoded or application/json body.",
						   NULL);
			ok = false;
		}
	}
	free(body);
	if (!ok)
		return false;

	if (from_headers)
	{
		const char *auth;
		int			n = header_count(req->ri, "Authorization", &auth);

		if (!header_param(req, params, PARAM_CLIENT_ID, "X-Client-Id") ||
			!header_param(req, params, PARAM_API_KEY, "X-Api-Key") ||
			!header_param(req, params, PARAM_IDEMPOTENCY_KEY, "Idempotency-Key"))
			return false;
		if (n > 1)
		{
			gw_reply_error(req, 400, "invalid_request",
						   "Header Authorization is given more than once.", NULL);
			return false;
		}
		if (n == 1)
		{
			const char *tok;

			if (strncasecmp(auth, "Bearer ", 7) != 0)
			{
				gw_reply_error(req, 401, "invalid_credentials",
							   "Authorization must be \"Bearer <api-key>\".",
							   "WWW-Authenticate: Bearer\r\n");
				return false;
			}
			tok = auth + 7;
			while (*tok == ' ')
				tok++;
			if (!gw_valid_utf8(tok, strlen(tok)))
			{
				gw_reply_error(req, 400, "invalid_request",
							   "Header Authorization is not valid UTF-8.", NULL);
				return false;
			}
			if (!set_param(req, params, PARAM_API_KEY, tok, strlen(tok), "Authorization"))
				return false;
		}
	}
	return true;
}
