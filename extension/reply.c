/*-------------------------------------------------------------------------
 *
 * reply.c
 *		The jsonb replies of justauth_send_otp and justauth_verify_otp.
 *
 * Replies are composed as JSON text in a StringInfo owned by the caller's
 * memory context (so they survive SPI_finish) and parsed by jsonb_in once.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/fmgrprotos.h"
#include "utils/json.h"

#include "justauth.h"

/*
 * ja_reply_error writes {"success": false, "error": ..., "message": ...}.
 */
void
ja_reply_error(StringInfo reply, const char *error, const char *message)
{
	resetStringInfo(reply);
	appendStringInfoString(reply, "{\"success\": false, \"error\": ");
	escape_json(reply, error);
	appendStringInfoString(reply, ", \"message\": ");
	escape_json(reply, message);
	appendStringInfoChar(reply, '}');
}

/*
 * ja_reply_error_n is ja_reply_error with one numeric field, such as
 * retry_after or attempts_left.
 */
void
ja_reply_error_n(StringInfo reply, const char *error, const char *message,
				 const char *key, int64 value)
{
	ja_reply_error(reply, error, message);
	reply->data[--reply->len] = '\0';	/* reopen the object */
	appendStringInfoString(reply, ", ");
	escape_json(reply, key);
	appendStringInfo(reply, ": " INT64_FORMAT "}", value);
}

/*
 * ja_reply_jsonb turns the composed reply into a jsonb datum.
 */
Datum
ja_reply_jsonb(StringInfo reply)
{
	return DirectFunctionCall1(jsonb_in, CStringGetDatum(reply->data));
}

/*
 * ja_sandbox_message appends the seed's simulated message: "Your
 * verification code is 582931. It will expire in 2 minutes".  A lifetime
 * that is not whole minutes is said in seconds rather than rounded.
 */
void
ja_sandbox_message(StringInfo buf, const char *code, int ttl_seconds)
{
	appendStringInfo(buf, "Your verification code is %s. It will expire in ", code);
	if (ttl_seconds % 60 == 0)
		appendStringInfo(buf, "%d minute%s", ttl_seconds / 60,
						 ttl_seconds == 60 ? "" : "s");
	else
		appendStringInfo(buf, "%d second%s", ttl_seconds,
						 ttl_seconds == 1 ? "" : "s");
}
