/*-------------------------------------------------------------------------
 *
 * checks.c
 *		Row checks behind the CHECK constraints of the hot tables.
 *
 * PostgreSQL reads back and plans a table's CHECK expressions on every
 * statement that writes to the table, at a cost that grows with the size
 * of the expression.  A send writes to the ledger and the outbox each time,
 * so their multi-column rules are one small function call each; single
 * column rules are domains (see the SQL script), whose checks are planned
 * once per session.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/builtins.h"

PG_FUNCTION_INFO_V1(justauth_ledger_entry_is_valid);
PG_FUNCTION_INFO_V1(justauth_outbox_code_is_allowed);

/*
 * justauth_ledger_entry_is_valid(kind, amount, reference, session_id) is the
 * CHECK constraint of justauth.ledger: a debit takes credits for a session,
 * a deposit brings them with a payment reference, a refund gives a
 * session's credit back.  Not STRICT: a NULL must fail, not pass.
 */
Datum
justauth_ledger_entry_is_valid(PG_FUNCTION_ARGS)
{
	char	   *kind;
	int64		amount;
	bool		has_reference = !PG_ARGISNULL(2);
	bool		has_session = !PG_ARGISNULL(3);

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		PG_RETURN_BOOL(false);
	kind = text_to_cstring(PG_GETARG_TEXT_PP(0));
	amount = PG_GETARG_INT64(1);
	if (strcmp(kind, "debit") == 0)
		PG_RETURN_BOOL(amount < 0 && !has_reference && has_session);
	if (strcmp(kind, "deposit") == 0)
		PG_RETURN_BOOL(amount > 0 && has_reference && !has_session);
	if (strcmp(kind, "refund") == 0)
		PG_RETURN_BOOL(amount > 0 && !has_reference && has_session);
	PG_RETURN_BOOL(false);
}

/*
 * justauth_outbox_code_is_allowed(status, code) is the CHECK constraint of
 * justauth.outbox: the plaintext code may only sit in a message that is
 * still to be sent (queued) or being sent (sending).
 */
Datum
justauth_outbox_code_is_allowed(PG_FUNCTION_ARGS)
{
	char	   *status;

	if (PG_ARGISNULL(1))
		PG_RETURN_BOOL(true);
	if (PG_ARGISNULL(0))
		PG_RETURN_BOOL(false);
	status = text_to_cstring(PG_GETARG_TEXT_PP(0));
	PG_RETURN_BOOL(strcmp(status, "queued") == 0 || strcmp(status, "sending") == 0);
}
