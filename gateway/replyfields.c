/*-------------------------------------------------------------------------
 *
 * replyfields.c
 *		Finds the members of an API reply that the HTTP status and headers
 *		depend on ("error", "retry_after") with PostgreSQL's own JSON parser
 *		(common/jsonapi.h, from libpgcommon).
 *
 * The database returns each reply as the function's jsonb and nothing
 * else.  Pulling the two members out in SQL made every call a function
 * scan with three output columns: about 22 k more instructions per call
 * in the backend, the shared resource, against about 5.5 k here for a
 * reply without an error (one pass) and 13 k for a refusal (two).
 *
 * This file is built as PostgreSQL frontend code (postgres_fe.h), apart
 * from the rest of the gateway, whose headers it does not include.
 *
 *-------------------------------------------------------------------------
 */
/* memmem */
#define _GNU_SOURCE

#include "postgres_fe.h"

#include "common/jsonapi.h"
#include "mb/pg_wchar.h"

#include "replyfields.h"

/* What the parse callbacks track. */
typedef struct FieldState
{
	int			depth;			/* nesting: 1 inside the reply object */
	char	   *target;			/* where the pending top-level value goes */
	size_t		target_size;
	GwReplyFields *out;
} FieldState;

/* Enters an object or an array. */
static void
enter(void *state)
{
	((FieldState *) state)->depth++;
}

/* Leaves an object or an array. */
static void
leave(void *state)
{
	((FieldState *) state)->depth--;
}

/* Notes whether a top-level member is one we want; the parser hands us fname. */
static void
field_start(void *state, char *fname, bool isnull)
{
	FieldState *st = state;

	if (st->depth == 1)
	{
		st->target = NULL;
		if (strcmp(fname, "error") == 0)
		{
			st->target = st->out->error;
			st->target_size = sizeof(st->out->error);
		}
		else if (strcmp(fname, "retry_after") == 0)
		{
			st->target = st->out->retry_after;
			st->target_size = sizeof(st->out->retry_after);
		}
	}
	pfree(fname);
}

/*
 * Keeps a wanted top-level scalar (a string's unescaped text, a number's
 * digits; null is no value); the parser hands us token.
 */
static void
scalar(void *state, char *token, JsonTokenType type)
{
	FieldState *st = state;

	if (st->depth == 1 && st->target != NULL && type != JSON_TOKEN_NULL)
		strlcpy(st->target, token, st->target_size);
	st->target = NULL;
	pfree(token);
}

/*
 * Makes a lexer over json, de-escaping strings for callbacks if escapes;
 * free_lexer frees it.
 */
static JsonLexContext *
make_lexer(const char *json, size_t len, bool escapes)
{
	/* The lexer only reads the input, whatever its prototype says. */
	return makeJsonLexContextCstringLen(unconstify(char *, json), (int) len, PG_UTF8,
										escapes);
}

/* PostgreSQL 15 has no freeJsonLexContext: frees what make_lexer made. */
static void
free_lexer(JsonLexContext *lex)
{
	if (lex->strval != NULL)
	{
		pfree(lex->strval->data);
		pfree(lex->strval);
	}
	pfree(lex);
}

/* True if the len bytes at s contain the bytes of word. */
static bool
contains(const char *s, size_t len, const char *word)
{
	return memmem(s, len, word, strlen(word)) != NULL;
}

/*
 * gw_reply_fields parses the reply json (len bytes, UTF-8) and fills out
 * with its top-level "error" and "retry_after" values, each empty when
 * absent or null.  Returns false if json is not a JSON object.
 */
bool
gw_reply_fields(const char *json, size_t len, GwReplyFields *out)
{
	JsonLexContext *lex;
	JsonSemAction sem = {0};
	FieldState	st = {0};
	JsonParseErrorType result;
	bool		escapes;

	out->error[0] = '\0';
	out->retry_after[0] = '\0';
	if (len == 0 || json[0] != '{' || len > PG_INT32_MAX)
		return false;

	/*
	 * Validate first, without callbacks: on malformed input, PostgreSQL 15's
	 * parser drops member names it copied for them, and the gateway lives
	 * long.  A reply from the database is always valid.  Without a
	 * backslash there is nothing to de-escape, so the lexer need not copy
	 * strings to check them; with one, escapes are checked as the second
	 * pass will read them (\u0000 is refused only when de-escaping).
	 */
	escapes = memchr(json, '\\', len) != NULL;
	lex = make_lexer(json, len, escapes);
	result = pg_parse_json(lex, &nullSemAction);
	free_lexer(lex);
	if (result != JSON_SUCCESS)
		return false;

	/*
	 * Unescaped, a member name is its own bytes between quotes: most replies
	 * (every success) have neither name, and need no second pass.
	 */
	if (!escapes && !contains(json, len, "\"error\"") &&
		!contains(json, len, "\"retry_after\""))
		return true;

	st.out = out;
	sem.semstate = &st;
	sem.object_start = enter;
	sem.object_end = leave;
	sem.array_start = enter;
	sem.array_end = leave;
	sem.object_field_start = field_start;
	sem.scalar = scalar;
	lex = make_lexer(json, len, true);
	result = pg_parse_json(lex, &sem);
	free_lexer(lex);
	return result == JSON_SUCCESS;
}
