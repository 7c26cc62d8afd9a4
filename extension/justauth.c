/*-------------------------------------------------------------------------
 *
 * justauth.c
 *		Module entry point of the justauth extension and argument handling
 *		shared by the SQL-callable functions.
 *
 * The SQL API lives in client.c (clients), wallet.c (deposits, debits,
 * refunds), send.c and verify.c; delivery to WhatsApp in the worker files.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_namespace_d.h"
#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/guc.h"

#include "justauth.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

/*
 * _PG_init defines the settings and, when preloaded, the delivery worker.
 * The SQL functions also work when the library is loaded on first use.
 */
void
_PG_init(void)
{
	if (IsBinaryUpgrade)
		return;
	ja_define_guess_settings();
	justauth_delivery_init();
	MarkGUCPrefixReserved("justauth");
}

/*
 * ja_text_arg returns argument argno as a C string.  A NULL where a value
 * is required can only be a programming error and raises 22004; an empty
 * or overlong value is a client mistake and becomes an invalid_request
 * reply (the function returns NULL and reply holds the answer).  An
 * optional NULL argument returns NULL with reply untouched.
 */
char *
ja_text_arg(FunctionCallInfo fcinfo, int argno, const char *name,
			bool required, JaReply *reply)
{
	text	   *t;
	size_t		len;

	if (PG_ARGISNULL(argno))
	{
		if (required)
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("argument \"%s\" must not be NULL", name),
					 errhint("Pass the value the end user or your configuration supplied; an absent value is a bug in the caller.")));
		return NULL;
	}
	t = PG_GETARG_TEXT_PP(argno);
	len = VARSIZE_ANY_EXHDR(t);
	/* the limit is in characters; count them only when bytes could exceed it */
	if (len > JA_MAX_PARAM_LEN)
		len = pg_mbstrlen_with_len(VARDATA_ANY(t), (int) Min(len, (size_t) JA_MAX_PARAM_LEN * MAX_MULTIBYTE_CHAR_LEN + 1));
	if (len == 0)
	{
		char	   *msg = psprintf("Missing required parameter: %s", name);

		ja_reply_error(reply, "invalid_request", msg);
		return NULL;
	}
	if (len > JA_MAX_PARAM_LEN)
	{
		char	   *msg = psprintf("Parameter %s is too long (at most %d characters)",
								   name, JA_MAX_PARAM_LEN);

		ja_reply_error(reply, "invalid_request", msg);
		return NULL;
	}
	return text_to_cstring(t);
}

/*
 * ja_call_pinned runs fn(fcinfo) with justauth, then pg_catalog, as the
 * only schemas searched, without the caller's temporary schema; an error
 * needs no unpinning (the transaction or subtransaction abort pops it).
 * It is what SET search_path on the function would do, at a fraction of
 * the cost: that clause parses the setting, checks both schemas and
 * restores the caller's path on every call, about 9 k instructions, a
 * tenth of a verify.
 *
 * Unlike SET, the pinned path also holds for what our statements call
 * (triggers, checks) even if it sets a search_path of its own: on our
 * tables that is only our code, which names everything with its schema.
 */
Datum
ja_call_pinned(Datum (*fn) (FunctionCallInfo fcinfo), FunctionCallInfo fcinfo)
{
	OverrideSearchPath path = {0};
	Datum		result;

	path.schemas = list_make2_oid(get_namespace_oid("justauth", false),
								  PG_CATALOG_NAMESPACE);
	PushOverrideSearchPath(&path);
	list_free(path.schemas);
	result = fn(fcinfo);
	PopOverrideSearchPath();
	return result;
}
