/*-------------------------------------------------------------------------
 *
 * send.c
 *		justauth_send_otp: authenticate, check the number and the limits,
 *		debit one credit, create the session and queue the message, all in
 *		the caller's transaction.
 *
 * Every refusal is decided before anything is written (or, for a claimed
 * idempotency key, the claim is withdrawn), so a refused send costs and
 * changes nothing.  Concurrent sends to one number serialize on that
 * number's row in justauth.numbers; sends to different numbers only meet
 * in the wallet, which is split (see wallet.c).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/table.h"
#include "catalog/pg_type.h"
#include "common/sha2.h"
#include "executor/spi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "justauth.h"

PG_FUNCTION_INFO_V1(justauth_send_otp);

#define IDEMPOTENCY_WINDOW "24 hours"

static SPIPlanPtr insert_number_plan = NULL;
static SPIPlanPtr client_rate_plan = NULL;
static SPIPlanPtr client_lock_plan = NULL;
static SPIPlanPtr record_accepted_send_plan = NULL;
static SPIPlanPtr wallet_balance_plan = NULL;
static SPIPlanPtr idem_claim_plan = NULL;
static SPIPlanPtr idem_get_plan = NULL;
static SPIPlanPtr idem_set_plan = NULL;
static SPIPlanPtr idem_release_plan = NULL;

/* What the per-number row tells a send. */
typedef struct NumberState
{
	ItemPointerData tid;		/* the number's row, locked */
	bool		fresh;			/* ... inserted by this send, as it leaves it */
	bool		has_session;
	pg_uuid_t	session;		/* current (maybe pending) session */
	ItemPointerData session_tid;	/* ... locked, when has_session */
	bool		session_pending;
	int64		sends;
	bool		has_first_sent;
	int			nrecent;
	TimestampTz recent[1000];	/* send times, oldest first */
} NumberState;

/*
 * seconds_until rounds a positive remaining time up to whole seconds.
 */
static int64
seconds_until(TimestampTz when, TimestampTz now)
{
	int64		usecs = when - now;

	if (usecs <= 0)
		return 1;
	return (usecs + USECS_PER_SEC - 1) / USECS_PER_SEC;
}

static const char *const test_number_columns[] = {"code"};
static JaTable test_numbers_table = {"test_numbers", lengthof(test_number_columns), test_number_columns};

/*
 * test_number_code returns the fixed code of a registered test number, or
 * NULL.
 */
static char *
test_number_code(Datum client_id, Datum number)
{
	Datum		keys[2] = {client_id, number};
	Datum		code;
	bool		isnull;

	if (!ja_row_fetch(&test_numbers_table, keys, false, &code, &isnull, NULL) || isnull)
		return NULL;
	return TextDatumGetCString(code);
}

/* Columns of justauth.numbers a send reads and sets. */
enum
{
	NC_SESSION,
	NC_RECENT,
	NC_SENDS,
	NC_FIRST_SENT,
	NC_LAST_SENT,
	NC_NCOLUMNS
};
static const char *const number_columns[NC_NCOLUMNS] = {
	"current_session_id", "recent_sends", "sends", "first_sent_at", "last_sent_at"
};
static JaTable numbers_table = {"numbers", NC_NCOLUMNS, number_columns};

/* A number's row as its first send creates it, every column given. */
static const char *const new_number_columns[] = {
	"client_id", "number", "current_session_id", "recent_sends", "sends", "first_sent_at",
	"last_sent_at"
};
static JaTable new_numbers_table = {"numbers", lengthof(new_number_columns), new_number_columns};

/*
 * insert_number creates the number's row for its first send, returning
 * false when a concurrent first send created it first (the caller then
 * locks theirs; we waited for it to commit).  v/n receive the state before
 * this send (no session, no sends).  The new row is ours until we commit,
 * which is as good as locking it.  As INSERT ... ON CONFLICT DO NOTHING:
 * directly when the table allows (ja_insert_row_if_absent), else through
 * SQL.  Neither holds a lock per number to commit, so a transaction may
 * send to any number of new numbers.
 *
 * The direct insert writes the row as this send will leave it (session,
 * one send at now) and sets *fresh, which spares the send an update of
 * it; a send refused after that deletes it (forget_number).
 */
static bool
insert_number(Datum client_id, Datum number, const pg_uuid_t *session, TimestampTz now,
			  Datum *v, bool *n, ItemPointer tid, bool *fresh)
{
	Oid			argtypes[2] = {TEXTOID, TEXTOID};
	Datum		keys[2] = {client_id, number};
	Datum		sent = TimestampTzGetDatum(now);
	Datum		row[7] = {client_id, number, UUIDPGetDatum(session), 0, Int64GetDatum(1), sent, sent};
	HeapTuple	tup;
	TupleDesc	desc;
	bool		isnull;
	int			i;

	*fresh = false;
	row[3] = PointerGetDatum(construct_array(&sent, 1, TIMESTAMPTZOID, sizeof(TimestampTz),
											 FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	/* lock_number has just looked for the row */
	switch (ja_insert_row_if_absent(&new_numbers_table, row, NULL, true, tid))
	{
		case JA_INSERTED:
			for (i = 0; i < NC_NCOLUMNS; i++)
				n[i] = true;
			v[NC_SENDS] = Int64GetDatum(0);
			n[NC_SENDS] = false;
			*fresh = true;
			return true;
		case JA_EXISTS:
			return false;
		case JA_INSERT_SQL:
			break;
	}

	ja_keep_plan(&insert_number_plan,
				 "INSERT INTO justauth.numbers (client_id, number) VALUES ($1, $2)"
				 " ON CONFLICT DO NOTHING"
				 " RETURNING current_session_id, recent_sends, sends, first_sent_at, ctid",
				 2, argtypes);
	if (ja_exec(insert_number_plan, keys, NULL, 0) != 1)
		return false;
	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	for (i = 0; i <= NC_FIRST_SENT; i++)
		v[i] = SPI_getbinval(tup, desc, i + 1, &n[i]);
	*tid = *(ItemPointer) DatumGetPointer(SPI_getbinval(tup, desc, 5, &isnull));
	return true;
}

/*
 * lock_number locks (creating if needed, for this send to session at now)
 * the client's row for number and reads its current session and recent
 * send times.
 */
static void
lock_number(Datum client_id, Datum number, const pg_uuid_t *session, TimestampTz now,
			NumberState *st)
{
	Datum		keys[2] = {client_id, number};
	Datum		v[NC_NCOLUMNS];
	bool		n[NC_NCOLUMNS];

	st->fresh = false;
	if (!ja_row_fetch(&numbers_table, keys, true, v, n, &st->tid) &&
		!insert_number(client_id, number, session, now, v, n, &st->tid, &st->fresh) &&
		!ja_row_fetch(&numbers_table, keys, true, v, n, &st->tid))
		elog(ERROR, "could not lock number state");
	st->has_session = !n[NC_SESSION];
	if (st->has_session)
		memcpy(&st->session, DatumGetUUIDP(v[NC_SESSION]), sizeof(pg_uuid_t));
	st->session_pending = false;
	st->sends = DatumGetInt64(v[NC_SENDS]);
	st->has_first_sent = !n[NC_FIRST_SENT];
	st->nrecent = 0;
	if (!n[NC_RECENT])
	{
		Datum	   *elems;
		bool	   *nulls;
		int			count;
		int			i;

		deconstruct_array(DatumGetArrayTypeP(v[NC_RECENT]), TIMESTAMPTZOID, sizeof(TimestampTz),
						  FLOAT8PASSBYVAL, TYPALIGN_DOUBLE, &elems, &nulls, &count);
		for (i = 0; i < count && st->nrecent < lengthof(st->recent); i++)
			if (!nulls[i])
				st->recent[st->nrecent++] = DatumGetTimestampTz(elems[i]);
	}
}

/*
 * forget_number deletes the row a refused first send inserted (st->fresh),
 * so the refusal leaves nothing behind.
 */
static void
forget_number(NumberState *st)
{
	Relation	rel = ja_table_open(&numbers_table, RowExclusiveLock);

	simple_heap_delete(rel, &st->tid);
	table_close(rel, NoLock);
	st->fresh = false;
}

/* Columns of justauth.sessions a send writes (and, for the previous one, reads). */
enum
{
	SC_SESSION_ID,
	SC_CLIENT_ID,
	SC_NUMBER,
	SC_CODE_HASH,
	SC_STATUS,
	SC_ATTEMPTS,
	SC_MAX_ATTEMPTS,
	SC_IS_TEST,
	SC_MODE,
	SC_CREATED_AT,
	SC_EXPIRES_AT,
	SC_NCOLUMNS
};
static const char *const session_columns[SC_NCOLUMNS] = {
	"session_id", "client_id", "number", "code_hash", "status", "attempts", "max_attempts",
	"is_test", "mode", "created_at", "expires_at"
};
static JaTable sessions_table = {"sessions", SC_NCOLUMNS, session_columns};

/* A debit's ledger entry; its CHECK is ensured by the values written. */
static const char *const ledger_columns[] = {
	"client_id", "kind", "amount", "balance_after", "shard", "session_id", "created_at"
};
static const char *const ledger_checks[] = {"ledger_entry_shape", NULL};
static JaTable ledger_table = {"ledger", lengthof(ledger_columns), ledger_columns, ledger_checks};

/* A queued message; the send wakes the worker itself (outbox_wake's work). */
static const char *const outbox_columns[] = {
	"session_id", "client_id", "to_number", "code", "status", "attempts", "next_attempt_at",
	"expires_at", "created_at"
};
static const char *const outbox_checks[] = {"outbox_code_only_while_queued", NULL};
static JaTable outbox_table = {"outbox", lengthof(outbox_columns), outbox_columns, outbox_checks,
"outbox_wake"};

/*
 * lock_session locks the number's previous session, which this send will
 * supersede, before the wallet is touched.  Refunds take the same order
 * (session, then wallet row), so a resend and a refund of the previous
 * message cannot deadlock.
 */
static void
lock_session(NumberState *st)
{
	Datum		key = UUIDPGetDatum(&st->session);
	Datum		v[SC_NCOLUMNS];
	bool		n[SC_NCOLUMNS];

	if (ja_row_fetch(&sessions_table, &key, true, v, n, &st->session_tid))
		st->session_pending = strcmp(TextDatumGetCString(v[SC_STATUS]), "pending") == 0;
}

/*
 * number_limits applies the resend cooldown and the sliding window to the
 * number's recent sends; on refusal it writes the reply and returns false.
 */
static bool
number_limits(const JaClient *client, const NumberState *st, TimestampTz now, JaReply *reply)
{
	TimestampTz window_start = now - (int64) client->window_seconds * USECS_PER_SEC;
	int			first = 0;

	if (st->nrecent > 0 && client->cooldown_seconds > 0)
	{
		TimestampTz until = st->recent[st->nrecent - 1] +
			(int64) client->cooldown_seconds * USECS_PER_SEC;

		if (until > now)
		{
			int64		wait = seconds_until(until, now);

			ja_reply_error_n(reply, "rate_limited",
							 psprintf("A code was just sent to this number; retry in " INT64_FORMAT " seconds", wait),
							 "retry_after", wait);
			return false;
		}
	}

	while (first < st->nrecent && st->recent[first] <= window_start)
		first++;
	if (st->nrecent - first >= client->window_max_sends)
	{
		/* the window frees up when the oldest send that fills it ages out */
		TimestampTz oldest = st->recent[st->nrecent - client->window_max_sends];
		int64		wait = seconds_until(oldest + (int64) client->window_seconds * USECS_PER_SEC, now);

		ja_reply_error_n(reply, "rate_limited",
						 psprintf("Too many codes sent to this number; retry in " INT64_FORMAT " seconds", wait),
						 "retry_after", wait);
		return false;
	}
	return true;
}

/*
 * recent_with_now returns the number's new recent-sends array: the newest
 * keep - 1 earlier sends (all the window can still need) plus now.
 */
static Datum
recent_with_now(const NumberState *st, TimestampTz now, int keep)
{
	int			first = Max(0, st->nrecent - (keep - 1));
	int			n = st->nrecent - first + 1;
	Datum	   *elems = palloc(sizeof(Datum) * n);
	int			i;

	for (i = first; i < st->nrecent; i++)
		elems[i - first] = TimestampTzGetDatum(st->recent[i]);
	elems[n - 1] = TimestampTzGetDatum(now);
	return PointerGetDatum(construct_array(elems, n, TIMESTAMPTZOID, sizeof(TimestampTz),
										   FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

/*
 * client_rate_limit enforces the optional per-client sends-per-minute cap.
 * Clients that set a cap serialize their sends on an advisory lock so the
 * count is exact; clients without one pay nothing.  The sends counted are
 * the client's debits: every send but a test number's debits one, with the
 * session's creation time, and the ledger's (client_id, created_at) index
 * serves the count, so sessions need no per-client time index of their own.
 */
static bool
client_rate_limit(const JaClient *client, Datum client_id, TimestampTz now, JaReply *reply)
{
	Oid			argtypes[3] = {TEXTOID, TIMESTAMPTZOID, INT4OID};
	Datum		values[3];
	bool		isnull;
	int64		count;

	if (client->per_minute_cap <= 0)
		return true;
	ja_keep_plan(&client_lock_plan,
				 "SELECT pg_advisory_xact_lock(1246975316, hashtext($1))",
				 1, argtypes);
	values[0] = client_id;
	values[1] = TimestampTzGetDatum(now - 60 * USECS_PER_SEC);
	values[2] = Int32GetDatum(client->per_minute_cap);
	ja_exec(client_lock_plan, values, NULL, 0);
	ja_keep_plan(&client_rate_plan,
				 "SELECT count(*), min(created_at) FROM"
				 " (SELECT created_at FROM justauth.ledger"
				 "   WHERE client_id = $1 AND created_at > $2 AND kind = 'debit'"
				 "   ORDER BY created_at LIMIT $3) recent",
				 3, argtypes);
	ja_exec(client_rate_plan, values, NULL, 0);
	count = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	if (count >= client->per_minute_cap)
	{
		TimestampTz oldest = DatumGetTimestampTz(SPI_getbinval(SPI_tuptable->vals[0],
															   SPI_tuptable->tupdesc, 2, &isnull));
		int64		wait = seconds_until(oldest + 60 * USECS_PER_SEC, now);

		ja_reply_error_n(reply, "rate_limited",
						 psprintf("This client's limit of %d codes per minute is reached; retry in " INT64_FORMAT " seconds",
								  client->per_minute_cap, wait),
						 "retry_after", wait);
		return false;
	}
	return true;
}

/* Outcome of looking up an idempotency key. */
typedef enum IdemResult
{
	IDEM_CLAIMED,				/* new (or expired) key: this call owns it */
	IDEM_REPLAYED,				/* reply holds the original reply */
	IDEM_CONFLICT				/* reply holds idempotency_conflict */
} IdemResult;

/*
 * idempotency_claim claims the key for this send, or fills reply with the
 * original reply of a send made with it in the last 24 hours.  A concurrent
 * send with the same key makes this wait until it commits or aborts.
 */
static IdemResult
idempotency_claim(Datum client_id, Datum key, const char *number, TimestampTz now, JaReply *reply)
{
	Oid			argtypes[4] = {TEXTOID, TEXTOID, TEXTOID, TIMESTAMPTZOID};
	Datum		values[4];
	HeapTuple	tup;
	TupleDesc	desc;
	bool		isnull;
	char	   *stored_number;
	Datum		stored_reply;
	bool		no_reply;
	Datum		sealed;

	values[0] = client_id;
	values[1] = key;
	values[2] = CStringGetTextDatum(number);
	values[3] = TimestampTzGetDatum(now);
	ja_keep_plan(&idem_claim_plan,
				 "INSERT INTO justauth.idempotency_keys AS k (client_id, idempotency_key, number, created_at)"
				 "     VALUES ($1, $2, $3, $4)"
				 " ON CONFLICT (client_id, idempotency_key) DO UPDATE"
				 "    SET number = excluded.number, session_id = NULL, reply = NULL,"
				 "        code_sealed = NULL, created_at = excluded.created_at"
				 "  WHERE k.created_at <= excluded.created_at - interval '" IDEMPOTENCY_WINDOW "'"
				 " RETURNING 1",
				 4, argtypes);
	if (ja_exec(idem_claim_plan, values, NULL, 0) == 1)
		return IDEM_CLAIMED;

	ja_keep_plan(&idem_get_plan,
				 "SELECT number, reply, session_id, code_sealed, (reply->>'expires_in')::int"
				 "  FROM justauth.idempotency_keys WHERE client_id = $1 AND idempotency_key = $2",
				 2, argtypes);
	if (ja_exec(idem_get_plan, values, NULL, 1) == 0)
		elog(ERROR, "idempotency key vanished");
	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	stored_number = SPI_getvalue(tup, desc, 1);
	stored_reply = SPI_getbinval(tup, desc, 2, &no_reply);
	if (strcmp(stored_number, number) != 0 || no_reply)
	{
		ja_reply_error(reply, "idempotency_conflict",
					   no_reply ?
					   "A send with this idempotency key is still in progress in this transaction" :
					   "This idempotency key was already used for another number");
		return IDEM_CONFLICT;
	}

	ja_reply_extend(reply, DatumGetJsonbP(stored_reply));
	sealed = SPI_getbinval(tup, desc, 4, &isnull);
	if (!isnull)
	{
		/* sandbox reply: unseal the code and restore message_simulated */
		bytea	   *b = DatumGetByteaPP(sealed);
		Datum		session = SPI_getbinval(tup, desc, 3, &isnull);
		int			ttl = DatumGetInt32(SPI_getbinval(tup, desc, 5, &isnull));
		char		code[16];
		size_t		len = Min(VARSIZE_ANY_EXHDR(b), sizeof(code) - 1);

		ja_seal_code(DatumGetUUIDP(session), VARDATA_ANY(b), (uint8 *) code, len);
		code[len] = '\0';
		if (len < 4 || strspn(code, "0123456789") != len)
		{
			/* sealed under another server key (restored elsewhere, key lost) */
			explicit_bzero(code, sizeof(code));
			ja_reply_error(reply, "idempotency_conflict",
						   "The original reply of this idempotency key can no longer be reproduced; use a new key");
			return IDEM_CONFLICT;
		}
		ja_reply_sandbox_message(reply, code, ttl);
		explicit_bzero(code, sizeof(code));
	}
	return IDEM_REPLAYED;
}

/*
 * idempotency_finish stores the reply of a successful send under its key,
 * or withdraws the claim of a refused one so the key can be retried.
 */
static void
idempotency_finish(Datum client_id, Datum key, bool success, Datum session,
				   Datum stored_reply, const char *code, bool sandbox)
{
	Oid			argtypes[5] = {TEXTOID, TEXTOID, UUIDOID, JSONBOID, BYTEAOID};
	Datum		values[5];
	char		nulls[5] = {' ', ' ', ' ', ' ', 'n'};

	values[0] = client_id;
	values[1] = key;
	if (!success)
	{
		ja_keep_plan(&idem_release_plan,
					 "DELETE FROM justauth.idempotency_keys"
					 " WHERE client_id = $1 AND idempotency_key = $2 AND reply IS NULL",
					 2, argtypes);
		ja_exec(idem_release_plan, values, NULL, 0);
		return;
	}
	values[2] = session;
	values[3] = stored_reply;
	if (sandbox)
	{
		uint8		sealed[16];
		size_t		len = strlen(code);

		ja_seal_code(DatumGetUUIDP(session), code, sealed, len);
		values[4] = ja_bytea_datum(sealed, len);
		nulls[4] = ' ';
	}
	ja_keep_plan(&idem_set_plan,
				 "UPDATE justauth.idempotency_keys"
				 "   SET session_id = $3, reply = $4, code_sealed = $5"
				 " WHERE client_id = $1 AND idempotency_key = $2",
				 5, argtypes);
	ja_exec(idem_set_plan, values, nulls, 0);
}

/*
 * wallet_balance is the client's wallet balance now, for the ledger entry
 * of a debit that came through SQL.
 */
static int64
wallet_balance(Datum client_id)
{
	Oid			argtypes[1] = {TEXTOID};
	bool		isnull;
	Datum		d;

	ja_keep_plan(&wallet_balance_plan,
				 "SELECT coalesce(sum(balance), 0)::bigint FROM justauth.wallet_shards WHERE client_id = $1",
				 1, argtypes);
	ja_exec(wallet_balance_plan, &client_id, NULL, 1);
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	return DatumGetInt64(d);
}

/*
 * record_accepted_send writes everything an accepted send leaves behind in one
 * statement: the session, the superseded previous session, the number's
 * state, the debit (unless a test number) and the outbox row (live only).
 */
static void
record_accepted_send(Datum *values, const char *nulls)
{
	Oid			argtypes[14] = {UUIDOID, TEXTOID, TEXTOID, BYTEAOID, INT4OID, BOOLOID, TEXTOID,
		TIMESTAMPTZOID, TIMESTAMPTZOID, UUIDOID, TIMESTAMPTZARRAYOID, INT2OID, TEXTOID, INT8OID};

	ja_keep_plan(&record_accepted_send_plan,
				 "WITH s AS (INSERT INTO justauth.sessions (session_id, client_id, number, code_hash,"
				 "                  max_attempts, is_test, mode, created_at, expires_at)"
				 "           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)),"
				 "     p AS (UPDATE justauth.sessions SET status = 'superseded'"
				 "            WHERE session_id = $10 AND status = 'pending'),"
				 "     n AS (UPDATE justauth.numbers SET current_session_id = $1, recent_sends = $11,"
				 "                  sends = $14, first_sent_at = coalesce(first_sent_at, $8),"
				 "                  last_sent_at = $8"
				 "            WHERE client_id = $2 AND number = $3),"
				 "     l AS (INSERT INTO justauth.ledger (client_id, kind, amount, balance_after, shard,"
				 "                  session_id, created_at)"
				 "           SELECT $2, 'debit', -1,"
				 "                  (SELECT sum(balance) FROM justauth.wallet_shards WHERE client_id = $2),"
				 "                  $12, $1, $8"
				 "            WHERE $12 IS NOT NULL),"
				 "     o AS (INSERT INTO justauth.outbox (session_id, client_id, to_number, code, expires_at,"
				 "                  created_at, next_attempt_at)"
				 "           SELECT $1, $2, $3, $13, $9, $8, $8 WHERE $13 IS NOT NULL)"
				 "SELECT 1",
				 14, argtypes);
	ja_exec(record_accepted_send_plan, values, nulls, 0);
}

/*
 * direct_writes_possible tells whether record_send_directly can write every
 * row of this send without the executor (see direct.c); if not, nothing is
 * written directly and record_accepted_send's statement does it all.
 */
static bool
direct_writes_possible(bool paid, bool queued)
{
	JaTable    *inserted[3] = {&sessions_table, &ledger_table, &outbox_table};
	bool		needed[3] = {true, paid, queued};
	bool		ok = true;
	Relation	rel;
	int			i;

	for (i = 0; i < 3 && ok; i++)
	{
		if (!needed[i])
			continue;
		rel = ja_table_open(inserted[i], RowExclusiveLock);
		ok = inserted[i]->insert_ok && (i != 0 || ja_can_update_directly(rel));
		table_close(rel, NoLock);
	}
	if (ok)
	{
		rel = ja_table_open(&numbers_table, RowExclusiveLock);
		ok = ja_can_update_directly(rel);
		table_close(rel, NoLock);
	}
	return ok;
}

/*
 * record_send_directly writes what record_accepted_send's statement writes
 * (values/nulls as there; balance_after is the wallet balance after the
 * debit), row by row without the executor: at this rate of sends the
 * statement's start-up was most of a send's cost.  The values written
 * satisfy the tables' constraints by construction (status 'pending' and
 * 'queued', a debit of -1 for a session, a balance that is never
 * negative), and the send wakes the worker itself.  Returns false, having
 * written nothing, when a table does not allow it (a trigger or constraint
 * added by a DBA): then the caller runs the statement.
 */
static bool
record_send_directly(Datum *values, const char *nulls, NumberState *st, int64 balance_after)
{
	bool		paid = nulls[11] != 'n';
	bool		queued = nulls[12] != 'n';
	Datum		v[SC_NCOLUMNS];
	TimestampTz now = DatumGetTimestampTz(values[7]);

	if (!direct_writes_possible(paid, queued))
		return false;

	v[SC_SESSION_ID] = values[0];
	v[SC_CLIENT_ID] = values[1];
	v[SC_NUMBER] = values[2];
	v[SC_CODE_HASH] = values[3];
	v[SC_STATUS] = CStringGetTextDatum("pending");
	v[SC_ATTEMPTS] = Int32GetDatum(0);
	v[SC_MAX_ATTEMPTS] = values[4];
	v[SC_IS_TEST] = values[5];
	v[SC_MODE] = values[6];
	v[SC_CREATED_AT] = values[7];
	v[SC_EXPIRES_AT] = values[8];
	if (!ja_insert_row(&sessions_table, v, NULL, NULL))
		elog(ERROR, "could not insert the session");

	if (st->has_session && st->session_pending)
	{
		static const int cols[1] = {SC_STATUS};
		Datum		status = CStringGetTextDatum("superseded");

		if (!ja_update_row(&sessions_table, &st->session_tid, 1, cols, &status, NULL))
			elog(ERROR, "could not supersede the previous session");
	}

	if (!st->fresh)
	{
		/* first_sent_at last: set only on the number's first send */
		static const int cols[5] = {NC_SESSION, NC_RECENT, NC_SENDS, NC_LAST_SENT, NC_FIRST_SENT};
		Datum		nv[5] = {values[0], values[10], values[13], values[7], values[7]};

		if (!ja_update_row(&numbers_table, &st->tid, st->has_first_sent ? 4 : 5, cols, nv, NULL))
			elog(ERROR, "could not update the number's state");
	}

	if (paid)
	{
		Datum		lv[7];

		Assert(balance_after >= 0);
		lv[0] = values[1];
		lv[1] = CStringGetTextDatum("debit");
		lv[2] = Int64GetDatum(-1);
		lv[3] = Int64GetDatum(balance_after);
		lv[4] = values[11];
		lv[5] = values[0];
		lv[6] = values[7];
		if (!ja_insert_row(&ledger_table, lv, NULL, NULL))
			elog(ERROR, "could not insert the debit");
	}

	if (queued)
	{
		Datum		ov[9];

		ov[0] = values[0];
		ov[1] = values[1];
		ov[2] = values[2];
		ov[3] = values[12];
		ov[4] = CStringGetTextDatum("queued");
		ov[5] = Int32GetDatum(0);
		ov[6] = TimestampTzGetDatum(now);
		ov[7] = values[8];
		ov[8] = values[7];
		if (!ja_insert_row(&outbox_table, ov, NULL, NULL))
			elog(ERROR, "could not queue the message");
	}
	return true;
}

/*
 * send_otp answers justauth_send_otp(client_id, api_key, number,
 * idempotency_key) with the jsonb reply of the seed's send-otp endpoint.
 * The entry point pins the search path around it (ja_call_pinned).
 */
static Datum
send_otp(FunctionCallInfo fcinfo)
{
	JaReply		reply;
	char	   *client_id;
	char	   *api_key;
	char	   *number_in;
	char	   *idem_key = NULL;
	JaClient	client;
	char		number[16];
	char		code[16];
	char	   *test_code = NULL;
	Datum		client_datum;
	Datum		number_datum;
	Datum		idem_datum = (Datum) 0;
	bool		idem_claimed = false;
	bool		success = false;
	TimestampTz now = GetCurrentTimestamp();
	NumberState *st = NULL;
	Datum		recent;
	int			shard = -1;
	int64		balance_after = -1;
	pg_uuid_t	session;
	uint8		code_hash[PG_SHA256_DIGEST_LENGTH];
	Datum		values[14];
	char		nulls[14];
	char	   *request_id;

	ja_reply_init(&reply);
	if ((client_id = ja_text_arg(fcinfo, 0, "client-id", true, &reply)) == NULL ||
		(api_key = ja_text_arg(fcinfo, 1, "api-key", true, &reply)) == NULL ||
		(number_in = ja_text_arg(fcinfo, 2, "number", true, &reply)) == NULL)
		PG_RETURN_DATUM(ja_reply_jsonb(&reply));
	if (!PG_ARGISNULL(3) &&
		(idem_key = ja_text_arg(fcinfo, 3, "idempotency-key", false, &reply)) == NULL)
		PG_RETURN_DATUM(ja_reply_jsonb(&reply));

	SPI_connect();
	if (!ja_authenticate(client_id, api_key, false, number_in, &client,
						 number, sizeof(number), &reply))
		goto done;

	client_datum = CStringGetTextDatum(client_id);
	number_datum = CStringGetTextDatum(number);
	if (idem_key != NULL)
	{
		idem_datum = CStringGetTextDatum(idem_key);
		switch (idempotency_claim(client_datum, idem_datum, number, now, &reply))
		{
			case IDEM_CLAIMED:
				idem_claimed = true;
				break;
			case IDEM_REPLAYED:
			case IDEM_CONFLICT:
				goto done;
		}
	}

	test_code = client.has_test_numbers ? test_number_code(client_datum, number_datum) : NULL;
	if (test_code == NULL)
	{
		if (client.live && !justauth_delivery_configured())
		{
			ja_reply_error(&reply, "delivery_not_configured",
						   "WhatsApp delivery is not configured on this server; nothing was charged");
			goto done;
		}
		if (!client.funded)
		{
			ja_reply_error(&reply, "wallet_not_funded",
						   "Wallet not funded: make a first deposit to activate this client");
			goto done;
		}
	}

	ja_session_uuid(&session, now);
	st = palloc(sizeof(NumberState));
	lock_number(client_datum, number_datum, &session, now, st);
	if (test_code == NULL)
	{
		if (!number_limits(&client, st, now, &reply) ||
			!client_rate_limit(&client, client_datum, now, &reply))
			goto done;
		if (st->has_session)
			lock_session(st);
		shard = ja_wallet_debit(client_id, &balance_after);
		if (shard < 0)
		{
			ja_reply_error(&reply, "insufficient_balance",
						   "Insufficient wallet balance: top up to keep sending codes");
			goto done;
		}
		ja_generate_code(client.code_length, code);
	}
	else
	{
		if (st->has_session)
			lock_session(st);
		strlcpy(code, test_code, sizeof(code)); /* no limits, no charge */
	}
	recent = recent_with_now(st, now, client.window_max_sends);

	ja_code_hmac(&session, code, code_hash);

	memset(nulls, ' ', sizeof(nulls));
	values[0] = UUIDPGetDatum(&session);
	values[1] = client_datum;
	values[2] = number_datum;
	values[3] = ja_bytea_datum(code_hash, sizeof(code_hash));
	values[4] = Int32GetDatum(client.max_attempts);
	values[5] = BoolGetDatum(test_code != NULL);
	values[6] = CStringGetTextDatum(client.live ? "live" : "sandbox");
	values[7] = TimestampTzGetDatum(now);
	values[8] = TimestampTzGetDatum(now + (int64) client.ttl_seconds * USECS_PER_SEC);
	values[9] = st->has_session ? UUIDPGetDatum(&st->session) : (Datum) 0;
	nulls[9] = st->has_session ? ' ' : 'n';
	values[10] = recent;
	values[11] = Int16GetDatum((int16) shard);
	nulls[11] = shard >= 0 ? ' ' : 'n';
	values[12] = CStringGetTextDatum(code);
	nulls[12] = (client.live && test_code == NULL) ? ' ' : 'n';
	values[13] = Int64GetDatum(st->sends + 1);
	if (shard >= 0 && balance_after < 0)
		balance_after = wallet_balance(client_datum);
	if (!record_send_directly(values, nulls, st, balance_after))
		record_accepted_send(values, nulls);
	if (client.live && test_code == NULL)
		justauth_delivery_wake_on_commit();

	/* The stored (replayable) reply never holds the code in clear. */
	request_id = DatumGetCString(DirectFunctionCall1(uuid_out, UUIDPGetDatum(&session)));
	ja_reply_reset(&reply);
	ja_reply_bool(&reply, "success", true);
	ja_reply_string(&reply, "request_id", request_id);
	ja_reply_int(&reply, "expires_in", client.ttl_seconds);
	if (client.live)
		ja_reply_string(&reply, "message", "OTP sent");
	if (idem_claimed)
		idempotency_finish(client_datum, idem_datum, true, UUIDPGetDatum(&session),
						   ja_reply_jsonb(&reply), code, !client.live);
	if (!client.live)
		ja_reply_sandbox_message(&reply, code, client.ttl_seconds);
	explicit_bzero(code, sizeof(code));
	success = true;

done:
	if (st != NULL && st->fresh && !success)
		forget_number(st);
	if (idem_claimed && !success)
		idempotency_finish(client_datum, idem_datum, false, (Datum) 0, (Datum) 0, NULL, false);
	SPI_finish();
	PG_RETURN_DATUM(ja_reply_jsonb(&reply));
}

/* justauth_send_otp(client_id, api_key, number, idempotency_key) */
Datum
justauth_send_otp(PG_FUNCTION_ARGS)
{
	return ja_call_pinned(send_otp, fcinfo);
}
