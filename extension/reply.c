/*-------------------------------------------------------------------------
 *
 * reply.c
 *		The jsonb replies of justauth_send_otp and justauth_verify_otp.
 *
 * A reply is a flat object held as fields (strings copied into the
 * caller's memory context, so they survive SPI_finish) and built into
 * jsonb once with pushJsonbValue: printing JSON text for jsonb_in to parse
 * again cost a tenth of a verify's instructions.  An idempotent replay
 * extends the stored jsonb reply with fields of its own.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/numeric.h"

#include "justauth.h"

/*
 * ja_reply_init starts an empty reply whose strings live in the current
 * memory context.
 */
void
ja_reply_init(JaReply *reply)
{
	reply->cxt = CurrentMemoryContext;
	ja_reply_reset(reply);
}

/*
 * ja_reply_reset empties the reply (an earlier draft is replaced).
 */
void
ja_reply_reset(JaReply *reply)
{
	reply->base = NULL;
	reply->nfields = 0;
}

/*
 * reply_field appends a field with the given key and kind.
 */
static JaReplyField *
reply_field(JaReply *reply, const char *key, JaReplyKind kind)
{
	JaReplyField *f;

	if (reply->nfields >= JA_REPLY_MAX_FIELDS)
		elog(ERROR, "too many fields in a reply");
	f = &reply->fields[reply->nfields++];
	f->key = key;
	f->kind = kind;
	f->str = NULL;
	f->num = 0;
	return f;
}

/*
 * ja_reply_bool appends a boolean field.
 */
void
ja_reply_bool(JaReply *reply, const char *key, bool value)
{
	reply_field(reply, key, JA_REPLY_BOOL)->num = value ? 1 : 0;
}

/*
 * ja_reply_string appends a string field (value is copied).
 */
void
ja_reply_string(JaReply *reply, const char *key, const char *value)
{
	reply_field(reply, key, JA_REPLY_STRING)->str = MemoryContextStrdup(reply->cxt, value);
}

/*
 * ja_reply_int appends an integer field.
 */
void
ja_reply_int(JaReply *reply, const char *key, int64 value)
{
	reply_field(reply, key, JA_REPLY_INT)->num = value;
}

/*
 * ja_reply_extend makes a copy of a stored reply the start of this one:
 * fields appended afterwards are added to it.
 */
void
ja_reply_extend(JaReply *reply, Jsonb *stored)
{
	ja_reply_reset(reply);
	reply->base = MemoryContextAlloc(reply->cxt, VARSIZE(stored));
	memcpy(reply->base, stored, VARSIZE(stored));
}

/*
 * ja_reply_error writes {"success": false, "error": ..., "message": ...}.
 */
void
ja_reply_error(JaReply *reply, const char *error, const char *message)
{
	ja_reply_reset(reply);
	ja_reply_bool(reply, "success", false);
	ja_reply_string(reply, "error", error);
	ja_reply_string(reply, "message", message);
}

/*
 * ja_reply_error_n is ja_reply_error with one numeric field, such as
 * retry_after or attempts_left.
 */
void
ja_reply_error_n(JaReply *reply, const char *error, const char *message,
				 const char *key, int64 value)
{
	ja_reply_error(reply, error, message);
	ja_reply_int(reply, key, value);
}

/*
 * ja_reply_jsonb builds the reply as a jsonb datum in the current memory
 * context.  pushJsonbValue sorts the keys as jsonb_in would.
 */
Datum
ja_reply_jsonb(JaReply *reply)
{
	JsonbParseState *state = NULL;
	JsonbValue *res;
	int			i;

	if (reply->base != NULL)
	{
		JsonbIterator *it = JsonbIteratorInit(&reply->base->root);
		JsonbValue	v;
		JsonbIteratorToken tok;

		/* the stored object without its end: its fields, nested values whole */
		while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
			if (tok != WJB_END_OBJECT)
				pushJsonbValue(&state, tok, tok < WJB_BEGIN_ARRAY ? &v : NULL);
	}
	else
		pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);

	for (i = 0; i < reply->nfields; i++)
	{
		const JaReplyField *f = &reply->fields[i];
		JsonbValue	key;
		JsonbValue	val;

		key.type = jbvString;
		key.val.string.val = unconstify(char *, f->key);
		key.val.string.len = strlen(f->key);
		pushJsonbValue(&state, WJB_KEY, &key);
		switch (f->kind)
		{
			case JA_REPLY_BOOL:
				val.type = jbvBool;
				val.val.boolean = f->num != 0;
				break;
			case JA_REPLY_STRING:
				val.type = jbvString;
				val.val.string.val = unconstify(char *, f->str);
				val.val.string.len = strlen(f->str);
				break;
			case JA_REPLY_INT:
				val.type = jbvNumeric;
				val.val.numeric = int64_to_numeric(f->num);
				break;
		}
		pushJsonbValue(&state, WJB_VALUE, &val);
	}
	res = pushJsonbValue(&state, WJB_END_OBJECT, NULL);
	return JsonbPGetDatum(JsonbValueToJsonb(res));
}

/*
 * ja_reply_sandbox_message appends the seed's simulated message as
 * "message_simulated": "Your verification code is 582931. It will expire in
 * 2 minutes".  A lifetime that is not whole minutes is said in seconds
 * rather than rounded.  The working copy of the message, which holds the
 * code, is wiped.
 */
void
ja_reply_sandbox_message(JaReply *reply, const char *code, int ttl_seconds)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfo(&buf, "Your verification code is %s. It will expire in ", code);
	if (ttl_seconds % 60 == 0)
		appendStringInfo(&buf, "%d minute%s", ttl_seconds / 60,
						 ttl_seconds == 60 ? "" : "s");
	else
		appendStringInfo(&buf, "%d second%s", ttl_seconds,
						 ttl_seconds == 1 ? "" : "s");
	ja_reply_string(reply, "message_simulated", buf.data);
	explicit_bzero(buf.data, buf.len);
	pfree(buf.data);
}
