/*-------------------------------------------------------------------------
 *
 * delivery_json.c
 *		The JSON of the WhatsApp send endpoint: the authentication-template
 *		request body, and the fields we need from a reply (message id or
 *		error code and text), read with PostgreSQL's own JSON parser, which
 *		reports malformed input instead of throwing.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/jsonapi.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "utils/json.h"

#include "delivery.h"

/*
 * ja_build_request_body renders the template message for one code.  The
 * code goes both into the body parameter and into the copy-code button
 * (Meta stores it as a URL button, index "0"); "to" carries the '+' so Meta
 * does not prepend the sender's country code.  biz_opaque_callback_data is
 * the send's request id (the outbox row's key), echoed back in status
 * webhooks.
 */
char *
ja_build_request_body(const JaMessage *msg, int *len)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoString(&buf,
						   "{\"messaging_product\":\"whatsapp\",\"recipient_type\":\"individual\",\"to\":\"+");
	appendStringInfoString(&buf, msg->to_number);
	appendStringInfoString(&buf, "\",\"type\":\"template\",\"template\":{\"name\":");
	escape_json(&buf, ja_template);
	appendStringInfoString(&buf, ",\"language\":{\"code\":");
	escape_json(&buf, ja_template_language);
	appendStringInfoString(&buf,
						   "},\"components\":[{\"type\":\"body\",\"parameters\":[{\"type\":\"text\",\"text\":\"");
	appendStringInfoString(&buf, msg->code);
	appendStringInfoString(&buf,
						   "\"}]},{\"type\":\"button\",\"sub_type\":\"url\",\"index\":\"0\",\"parameters\":[{\"type\":\"text\",\"text\":\"");
	appendStringInfoString(&buf, msg->code);
	appendStringInfoString(&buf, "\"}]}]},\"biz_opaque_callback_data\":\"");
	appendStringInfoString(&buf, msg->request_id);
	appendStringInfoString(&buf, "\"}");
	*len = buf.len;
	return buf.data;
}

/*
 * Parser state: the path of the current value, as "/key/0/key", so that
 * scalars can be matched against the few paths we want.
 */
#define JA_PATH_MAX 256
#define JA_DEPTH_MAX 16

typedef struct JaReplyState
{
	JaApiReply *reply;
	char		path[JA_PATH_MAX];
	int			depth;
	int			mark[JA_DEPTH_MAX + 1];	/* path length per level */
	int			index[JA_DEPTH_MAX + 1];	/* next array index per level */
	int			overflow;		/* levels ignored beyond JA_DEPTH_MAX */
} JaReplyState;

/* Enter one path level named by name. */
static void
reply_push(JaReplyState *st, const char *name)
{
	int			len = strlen(st->path);

	if (st->depth >= JA_DEPTH_MAX || len + strlen(name) + 2 >= JA_PATH_MAX)
	{
		st->overflow++;
		return;
	}
	st->mark[st->depth++] = len;
	snprintf(st->path + len, JA_PATH_MAX - len, "/%s", name);
}

/* Leave the innermost path level. */
static void
reply_pop(JaReplyState *st)
{
	if (st->overflow > 0)
	{
		st->overflow--;
		return;
	}
	if (st->depth > 0)
		st->path[st->mark[--st->depth]] = '\0';
}

/* An object key starts a level. */
static void
reply_field_start(void *state, char *fname, bool isnull)
{
	reply_push((JaReplyState *) state, fname);
}

/* The key's value is done. */
static void
reply_field_end(void *state, char *fname, bool isnull)
{
	reply_pop((JaReplyState *) state);
}

/* Arrays number their elements from 0. */
static void
reply_array_start(void *state)
{
	JaReplyState *st = (JaReplyState *) state;

	if (st->depth <= JA_DEPTH_MAX)
		st->index[st->depth] = 0;
}

/* An array element starts a level named by its index. */
static void
reply_element_start(void *state, bool isnull)
{
	JaReplyState *st = (JaReplyState *) state;
	char		num[16];
	int			level = st->depth;

	snprintf(num, sizeof(num), "%d", level <= JA_DEPTH_MAX ? st->index[level]++ : 0);
	reply_push(st, num);
}

/* The element is done. */
static void
reply_element_end(void *state, bool isnull)
{
	reply_pop((JaReplyState *) state);
}

/* Keep the scalars we know. */
static void
reply_scalar(void *state, char *token, JsonTokenType tokentype)
{
	JaReplyState *st = (JaReplyState *) state;
	JaApiReply *reply = st->reply;

	if (st->overflow > 0)
		return;
	if (strcmp(st->path, "/messages/0/id") == 0 && tokentype == JSON_TOKEN_STRING &&
		token[0] != '\0')
	{
		strlcpy(reply->message_id, token, sizeof(reply->message_id));
		reply->has_message_id = true;
	}
	else if (strcmp(st->path, "/error/code") == 0 && tokentype == JSON_TOKEN_NUMBER)
	{
		char	   *end;
		long		v = strtol(token, &end, 10);

		if (*end == '\0' && v >= PG_INT32_MIN && v <= PG_INT32_MAX)
		{
			reply->error_code = (int) v;
			reply->has_error_code = true;
		}
	}
	else if (strcmp(st->path, "/error/message") == 0 && tokentype == JSON_TOKEN_STRING)
		strlcpy(reply->error_message, token, sizeof(reply->error_message));
}

/*
 * ja_parse_api_reply fills reply from a response body; reply->parsed is
 * false for anything that is not valid JSON (an HTML error page, a
 * truncated body, ...).
 */
void
ja_parse_api_reply(const char *body, int len, JaApiReply *reply)
{
	JaReplyState st;
	JsonSemAction sem;
	JsonLexContext *lex;
	char	   *copy;

	memset(reply, 0, sizeof(*reply));
	if (len <= 0)
		return;
	/* the lexer assumes valid UTF-8: anything else is not a reply */
	copy = pnstrdup(body, len);
	if (pg_verify_mbstr(PG_UTF8, copy, len, true) == false)
		return;

	memset(&st, 0, sizeof(st));
	st.reply = reply;
	memset(&sem, 0, sizeof(sem));
	sem.semstate = &st;
	sem.object_field_start = reply_field_start;
	sem.object_field_end = reply_field_end;
	sem.array_start = reply_array_start;
	sem.array_element_start = reply_element_start;
	sem.array_element_end = reply_element_end;
	sem.scalar = reply_scalar;

	lex = makeJsonLexContextCstringLen(copy, len, PG_UTF8, true);
	if (pg_parse_json(lex, &sem) != JSON_SUCCESS)
	{
		reply->has_message_id = false;
		reply->has_error_code = false;
		reply->error_message[0] = '\0';
		return;
	}
	reply->parsed = true;
}
