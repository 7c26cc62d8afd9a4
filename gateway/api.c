/*-------------------------------------------------------------------------
 *
 * api.c
 *		The public API (send-otp, verify-otp), its playground twins that use
 *		the configured sandbox demo client, and the health check.  Each call
 *		is one parameterized SQL statement; the reply body is the function's
 *		jsonb, the status comes from its "error" code (replyfields.c).
 *
 *-------------------------------------------------------------------------
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway.h"

/* Answers 503 when the database cannot be reached or is overloaded. */
static void
reply_unavailable(GwRequest *req, const char *message)
{
	gw_metrics_db_unavailable();
	gw_reply_error(req, 503, "service_unavailable", message, "Retry-After: 1\r\n");
}

/*
 * Keeps the client id for the access log only if it has the shape of one,
 * so a secret pasted into the wrong field never reaches the log.
 */
static void
note_client_id(GwRequest *req, const char *client_id)
{
	size_t		len = strlen(client_id);

	if (len < 4 || len >= sizeof(req->client_id) || strncmp(client_id, "cl_", 3) != 0)
		return;
	for (size_t i = 3; i < len; i++)
	{
		if (!isalnum((unsigned char) client_id[i]) && client_id[i] != '_' &&
			client_id[i] != '-')
			return;
	}
	memcpy(req->client_id, client_id, len + 1);
}

/*
 * Runs one API function and relays its reply.  Serialization failures and
 * deadlocks were rolled back, so they are retried once; every other
 * failure is answered without retrying, since a send must not run twice.
 */
static void
call_api(GwRequest *req, GwDb *db, GwStmt stmt, const char *const *values)
{
	for (int attempt = 0; attempt < 2; attempt++)
	{
		PGconn	   *conn = gw_db_get(db);
		PGresult   *res;
		const char *state;

		if (conn == NULL)
		{
			reply_unavailable(req, "The database is unavailable; try again shortly.");
			return;
		}
		res = gw_db_exec(db, stmt, values);
		if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 &&
			!PQgetisnull(res, 0, 0))
		{
			const char *body = PQgetvalue(res, 0, 0);
			GwReplyFields fields;
			int			status = 200;
			char		extra[64] = "";

			if (!gw_reply_fields(body, (size_t) PQgetlength(res, 0, 0), &fields))
			{
				gw_log("error", "the API function returned a reply that is not a JSON object");
				gw_reply_error(req, 500, "internal_error",
							   "The gateway could not read the database function's reply.", NULL);
				PQclear(res);
				return;
			}
			if (fields.error[0] != '\0')
			{
				snprintf(req->error, sizeof(req->error), "%s", fields.error);
				status = gw_status_for_error(req->error);
			}
			if (status == 429 && fields.retry_after[0] != '\0')
			{
				long		secs = strtol(fields.retry_after, NULL, 10);

				snprintf(extra, sizeof(extra), "Retry-After: %ld\r\n", secs > 0 ? secs : 1);
			}
			gw_reply_json(req, status, body, extra);
			PQclear(res);
			return;
		}

		state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
		if (state != NULL && (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0) &&
			attempt == 0)
		{
			PQclear(res);
			continue;
		}
		if (gw_db_result_transient(db, res))
		{
			if (state != NULL && strcmp(state, "57014") == 0)
				reply_unavailable(req, "The database did not answer in time; try again shortly.");
			else
				reply_unavailable(req, "The database is unavailable; try again shortly.");
		}
		else if (state != NULL && strncmp(state, "22", 2) == 0)
			gw_reply_error(req, 400, "invalid_request", "A parameter has an invalid value.", NULL);
		else
		{
			gw_log("error", "API call failed with SQLSTATE %s", state ? state : "?");
			gw_reply_error(req, 500, "internal_error",
						   "The gateway could not call the database function.", NULL);
		}
		PQclear(res);
		return;
	}
}

/* Replies 400 naming the first required parameter that is missing or empty. */
static bool
require(GwRequest *req, const GwParams *params, const int *which, int n)
{
	for (int i = 0; i < n; i++)
	{
		if (!params->present[which[i]] || params->value[which[i]][0] == '\0')
		{
			char		msg[160];

			snprintf(msg, sizeof(msg), "Parameter \"%s\" is required.",
					 gw_param_names[which[i]]);
			gw_reply_error(req, 400, "invalid_request", msg, NULL);
			return false;
		}
	}
	return true;
}

/*
 * POST /api/v1/send-otp, /api/v1/verify-otp and their /playground twins.
 * The playground ones take only number (and otp) and use the demo client.
 */
void
gw_handle_api(GwRequest *req, GwDb *db)
{
	GwParams	params;
	const char *values[4];
	bool		playground = (req->route == ROUTE_PLAYGROUND_SEND ||
							  req->route == ROUTE_PLAYGROUND_VERIFY);
	bool		is_send = (req->route == ROUTE_SEND_OTP ||
						   req->route == ROUTE_PLAYGROUND_SEND);

	if (playground && gw_config.demo_client_id == NULL)
	{
		req->close = true;
		gw_reply_error(req, 503, "playground_disabled",
					   "The playground is not configured on this server.", NULL);
		return;
	}
	if (!gw_collect_params(req, &params, !playground))
		return;

	if (playground)
	{
		static const int need_send[] = {PARAM_NUMBER};
		static const int need_verify[] = {PARAM_NUMBER, PARAM_OTP};

		if (!(is_send ? require(req, &params, need_send, 1)
			  : require(req, &params, need_verify, 2)))
			return;
		note_client_id(req, gw_config.demo_client_id);
		values[0] = gw_config.demo_client_id;
		if (is_send)
		{
			values[1] = gw_config.demo_api_key;
			values[2] = params.value[PARAM_NUMBER];
			values[3] = NULL;
		}
		else
		{
			values[1] = params.value[PARAM_NUMBER];
			values[2] = params.value[PARAM_OTP];
			values[3] = gw_config.demo_api_key;
		}
	}
	else if (is_send)
	{
		static const int need[] = {PARAM_CLIENT_ID, PARAM_API_KEY, PARAM_NUMBER};

		if (!require(req, &params, need, 3))
			return;
		note_client_id(req, params.value[PARAM_CLIENT_ID]);
		values[0] = params.value[PARAM_CLIENT_ID];
		values[1] = params.value[PARAM_API_KEY];
		values[2] = params.value[PARAM_NUMBER];
		values[3] = params.present[PARAM_IDEMPOTENCY_KEY] ?
			params.value[PARAM_IDEMPOTENCY_KEY] : NULL;
		if (values[3] != NULL && values[3][0] == '\0')
		{
			gw_reply_error(req, 400, "invalid_request", "Idempotency-Key is empty.", NULL);
			return;
		}
	}
	else
	{
		static const int need[] = {PARAM_CLIENT_ID, PARAM_NUMBER, PARAM_OTP};

		if (!require(req, &params, need, 3))
			return;
		note_client_id(req, params.value[PARAM_CLIENT_ID]);
		values[0] = params.value[PARAM_CLIENT_ID];
		values[1] = params.value[PARAM_NUMBER];
		values[2] = params.value[PARAM_OTP];
		values[3] = params.present[PARAM_API_KEY] ? params.value[PARAM_API_KEY] : NULL;
	}
	call_api(req, db, is_send ? STMT_SEND_OTP : STMT_VERIFY_OTP, values);
}

/*
 * GET /healthz: healthy when the database answers and this gateway's role
 * may call the API, i.e. when a send could succeed.
 */
void
gw_handle_healthz(GwRequest *req, GwDb *db)
{
	PGconn	   *conn = gw_db_get(db);
	PGresult   *res;

	if (conn == NULL)
	{
		reply_unavailable(req, "The database is unavailable.");
		return;
	}
	res = PQexec(conn,
				 "SELECT pg_catalog.has_function_privilege("
				 "'justauth.justauth_send_otp(text, text, text, text)', 'EXECUTE')");
	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
	{
		if (strcmp(PQgetvalue(res, 0, 0), "t") == 0)
			gw_reply_json(req, 200, "{\"status\": \"ok\", \"database\": \"ok\"}", NULL);
		else
			reply_unavailable(req, "The gateway's database role may not call the JustAuth API "
							  "(grant it justauth_gateway).");
	}
	else if (gw_db_result_transient(db, res))
		reply_unavailable(req, "The database is unavailable.");
	else
		reply_unavailable(req, "The justauth extension is not installed in the database.");
	PQclear(res);
}
