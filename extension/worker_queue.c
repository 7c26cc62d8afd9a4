/*-------------------------------------------------------------------------
 *
 * worker_queue.c
 *		The worker's SQL on justauth.outbox.  Every function runs one short
 *		transaction of its own: the worker never keeps a transaction (or a
 *		row lock) open while it talks HTTP.
 *
 *	claim:	expire due messages whose code ran out (refunded), then take a
 *			bounded batch with FOR UPDATE SKIP LOCKED, marking it 'sending'
 *			with attempts + 1 and next_attempt_at = visibility deadline;
 *	record: write every outcome of a batch with one UPDATE, then refund the
 *			failed and expired sends in the same transaction; retried at
 *			once (the outcomes are still in memory) if it loses a deadlock
 *			or a lock wait, so that delivered messages are not sent again.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/interrupt.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "delivery.h"

#define JA_EXPIRE_BATCH 1000

/* Tries of the record transaction when it fails on a lock (see below). */
#define JA_RECORD_TRIES 3

static SPIPlanPtr expire_plan = NULL;
static SPIPlanPtr claim_plan = NULL;
static SPIPlanPtr record_plan = NULL;
static SPIPlanPtr refund_plan = NULL;
static SPIPlanPtr lock_sessions_plan = NULL;
static TimestampTz last_expiry_sweep = 0;
static long expiry_sweep_interval_ms = 1000;

/* The caller's memory context, restored after each commit. */
static MemoryContext round_context = NULL;

/* Start a short transaction with SPI and a snapshot. */
static void
ja_begin(const char *activity)
{
	round_context = CurrentMemoryContext;
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, activity);
}

/* Commit it. */
static void
ja_commit(void)
{
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_stat(false);

	/*
	 * CommitTransactionCommand leaves TopMemoryContext current; go back to
	 * the round's context so that what the round allocates next is freed
	 * with it instead of accumulating for the life of the worker.
	 */
	MemoryContextSwitchTo(round_context);
}

/* Prepare and keep a plan once per worker process. */
static SPIPlanPtr
ja_plan(SPIPlanPtr *cache, const char *sql, int nargs, Oid *argtypes)
{
	if (*cache == NULL)
	{
		SPIPlanPtr	plan = SPI_prepare(sql, nargs, argtypes);

		if (plan == NULL)
			elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
		if (SPI_keepplan(plan) != 0)
			elog(ERROR, "SPI_keepplan failed");
		*cache = plan;
	}
	return *cache;
}

/*
 * Lock the sessions about to be refunded, all of them and in session_id
 * order, before any refund touches a wallet.  refund_session locks its
 * session and then a wallet sub-balance, holding both to commit, and so
 * does a send (it locks the number's previous session to supersede it,
 * then debits).  Refunding a batch one session at a time would hold the
 * sub-balance taken for the first session while waiting for the next
 * one, which a resend to that number may hold while it waits for that
 * very sub-balance: a deadlock that could abort the record transaction.
 * With every session locked first, the worker only waits for sessions
 * while it holds no sub-balance, like everyone else; the fixed order
 * keeps it from deadlocking on sessions alone with any other session that
 * locks several in the same order.
 * refund_session's own FOR UPDATE is then a no-op.
 */
static void
ja_lock_sessions(Datum *sessions, int n)
{
	Oid			types[1] = {UUIDARRAYOID};
	Datum		values[1];
	SPIPlanPtr	plan;

	if (n == 0)
		return;
	plan = ja_plan(&lock_sessions_plan,
				   "SELECT 1 FROM justauth.sessions WHERE session_id = ANY($1) "
				   "ORDER BY session_id FOR UPDATE",
				   1, types);
	values[0] = PointerGetDatum(construct_array(sessions, n, UUIDOID, UUID_LEN, false,
												TYPALIGN_CHAR));
	if (SPI_execute_plan(plan, values, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "locking the sessions to refund failed");
}

/*
 * Refund the sends of the given sessions (refund_session refunds each at
 * most once and marks the session failed).  Runs inside the caller's
 * transaction, so the refund commits together with the final status.
 */
static void
ja_refund(Datum *sessions, int n, const char *reason)
{
	Oid			types[2] = {UUIDARRAYOID, TEXTOID};
	Datum		values[2];
	SPIPlanPtr	plan;

	if (n == 0)
		return;
	plan = ja_plan(&refund_plan,
				   "SELECT justauth.refund_session(s, $2) FROM unnest($1) AS s",
				   2, types);
	values[0] = PointerGetDatum(construct_array(sessions, n, UUIDOID, UUID_LEN, false,
												TYPALIGN_CHAR));
	values[1] = CStringGetTextDatum(reason);
	if (SPI_execute_plan(plan, values, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "refunding undelivered sends failed");
}

/*
 * ja_queue_extension_ready: is justauth installed in this database?
 */
bool
ja_queue_extension_ready(void)
{
	bool		ready;

	ja_begin("justauth: checking for the extension");
	if (SPI_execute("SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'justauth'",
					true, 1) != SPI_OK_SELECT)
		elog(ERROR, "looking up the justauth extension failed");
	ready = SPI_processed == 1;
	ja_commit();
	return ready;
}

/*
 * ja_queue_reclaim runs at worker start, and after a round failed: messages
 * still 'sending' were claimed by a worker that died (crash, kill -9,
 * PostgreSQL restart) or by the failed round.  There is only ever one
 * worker, so they can be retaken at once instead of after their visibility
 * timeout.  Their request may or may not have reached WhatsApp: this is the
 * at-least-once window.
 */
int64
ja_queue_reclaim(void)
{
	int64		n;

	ja_begin("justauth: reclaiming messages left in flight");
	if (SPI_execute("UPDATE justauth.outbox SET status = 'queued', "
					"next_attempt_at = least(clock_timestamp(), expires_at) "
					"WHERE status = 'sending'", false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "reclaiming in-flight messages failed");
	n = SPI_processed;
	ja_commit();
	return n;
}

/*
 * ja_queue_claim expires due messages whose code has run out (refunding
 * them), then claims up to limit due messages into msgs (limit 0: expire
 * only, while the worker cannot send).  Returns the number claimed;
 * *expired gets the number expired.
 */
int
ja_queue_claim(JaMessage *msgs, int limit, int visibility_ms, int *expired)
{
	Oid			sweep_types[2] = {INT4OID, TIMESTAMPTZOID};
	Oid			claim_types[3] = {INT4OID, INT4OID, TIMESTAMPTZOID};
	Datum		values[3];
	SPIPlanPtr	plan;
	Datum	   *sessions;
	uint64		i;
	int			n;
	TimestampTz now;

	ja_begin("justauth: claiming messages");

	/*
	 * The claim's commit need not reach disk before its requests start
	 * (SET LOCAL synchronous_commit = off): a claim lost in a crash leaves
	 * its messages queued, and they are sent again after the restart, just
	 * as messages claimed and sent but not yet recorded are (reclaimed at
	 * start-up).  The expiries and refunds made here commit or vanish
	 * together, so every wallet still equals its ledger.  This takes a WAL
	 * flush out of the way from a send's commit to its request.
	 */
	(void) set_config_option("synchronous_commit", "off", PGC_SUSET, PGC_S_SESSION,
							 GUC_ACTION_LOCAL, true, 0, false);

	/*
	 * The expiry sweep walks the due queue, so with a large backlog it is
	 * not free: run it at most once a second, and at most every 50 times
	 * its last duration, so that it never takes more than ~2% of the
	 * worker's time, but at least every 10 s.  Claimed messages whose code
	 * ran out in between are still caught before their request starts.
	 * The time is a parameter, not clock_timestamp(), so that both bounds
	 * are index conditions on outbox_due (next_attempt_at, expires_at): the
	 * walk reads index pages only, never the heap of codes not yet expired
	 * (a 1.25M backlog took 374 ms and 1.24M heap page visits before).
	 */
	now = GetCurrentTimestamp();
	if (limit > 0 && !TimestampDifferenceExceeds(last_expiry_sweep, now, (int) expiry_sweep_interval_ms))
	{
		*expired = 0;
		goto claim;
	}
	last_expiry_sweep = now;

	plan = ja_plan(&expire_plan,
				   "UPDATE justauth.outbox o "
				   "   SET status = 'expired', code = NULL, finished_at = clock_timestamp() "
				   " WHERE o.session_id IN ("
				   "       SELECT d.session_id FROM justauth.outbox d "
				   "        WHERE d.status IN ('queued', 'sending') "
				   "          AND d.next_attempt_at <= $2 "
				   "          AND d.expires_at <= $2 "
				   "        ORDER BY d.next_attempt_at LIMIT $1 "
				   "          FOR UPDATE SKIP LOCKED) "
				   "RETURNING o.session_id",
				   2, sweep_types);
	values[0] = Int32GetDatum(JA_EXPIRE_BATCH);
	values[1] = TimestampTzGetDatum(now);
	if (SPI_execute_plan(plan, values, NULL, false, 0) != SPI_OK_UPDATE_RETURNING)
		elog(ERROR, "expiring outbox messages failed");
	*expired = (int) SPI_processed;
	/* a full batch means more expired ones wait: come back in a second */
	if (SPI_processed >= JA_EXPIRE_BATCH)
		expiry_sweep_interval_ms = 1000;
	else
		expiry_sweep_interval_ms = Min(Max(1000, (GetCurrentTimestamp() - now) / 1000 * 50), 10000);
	if (SPI_processed > 0)
	{
		SPITupleTable *tt = SPI_tuptable;

		sessions = palloc(sizeof(Datum) * SPI_processed);
		for (i = 0; i < SPI_processed; i++)
		{
			bool		isnull;

			sessions[i] = SPI_getbinval(tt->vals[i], tt->tupdesc, 1, &isnull);
		}
		ja_lock_sessions(sessions, (int) i);
		ja_refund(sessions, (int) i, "expired");
	}
	if (limit == 0)
	{
		ja_commit();
		return 0;
	}

claim:

	/*
	 * In the order of outbox_due alone, so that the walk stops after the
	 * first $1 due messages.  A tie-breaker the index lacks (session_id)
	 * made every claim sort the whole due queue: 470 ms with 1M queued, and
	 * its snapshot held back pruning for every session meanwhile.
	 */
	plan = ja_plan(&claim_plan,
				   "WITH due AS ("
				   "  SELECT d.session_id FROM justauth.outbox d "
				   "   WHERE d.status IN ('queued', 'sending') "
				   "     AND d.next_attempt_at <= $3 "
				   "   ORDER BY d.next_attempt_at LIMIT $1 "
				   "     FOR UPDATE SKIP LOCKED) "
				   "UPDATE justauth.outbox o "
				   "   SET status = 'sending', attempts = o.attempts + 1, "
				   "       claimed_at = clock_timestamp(), "
				   "       next_attempt_at = clock_timestamp() + $2 * interval '1 millisecond' "
				   "  FROM due WHERE o.session_id = due.session_id "
				   "RETURNING o.session_id, o.to_number, o.code, o.expires_at, o.attempts",
				   3, claim_types);
	values[0] = Int32GetDatum(limit);
	values[1] = Int32GetDatum(visibility_ms);
	values[2] = TimestampTzGetDatum(GetCurrentTimestamp());
	if (SPI_execute_plan(plan, values, NULL, false, 0) != SPI_OK_UPDATE_RETURNING)
		elog(ERROR, "claiming outbox messages failed");

	n = 0;
	for (i = 0; i < SPI_processed && n < limit; i++)
	{
		SPITupleTable *tt = SPI_tuptable;
		JaMessage  *m = &msgs[n++];
		bool		isnull;
		Datum		d;
		char	   *s;

		memset(m, 0, sizeof(*m));
		d = SPI_getbinval(tt->vals[i], tt->tupdesc, 1, &isnull);
		memcpy(&m->session_id, DatumGetUUIDP(d), sizeof(pg_uuid_t));
		s = SPI_getvalue(tt->vals[i], tt->tupdesc, 1);
		strlcpy(m->request_id, s, sizeof(m->request_id));
		s = SPI_getvalue(tt->vals[i], tt->tupdesc, 2);
		strlcpy(m->to_number, s ? s : "", sizeof(m->to_number));
		s = SPI_getvalue(tt->vals[i], tt->tupdesc, 3);
		if (s != NULL)
		{
			strlcpy(m->code, s, sizeof(m->code));
			explicit_bzero(s, strlen(s));
		}
		m->expires_at = DatumGetTimestampTz(SPI_getbinval(tt->vals[i], tt->tupdesc, 4, &isnull));
		m->attempts = DatumGetInt32(SPI_getbinval(tt->vals[i], tt->tupdesc, 5, &isnull));

		/* A message without its code or a sane number can never be sent. */
		if (m->code[0] == '\0' || m->to_number[0] == '\0' ||
			strspn(m->to_number, "0123456789") != strlen(m->to_number) ||
			strspn(m->code, "0123456789") != strlen(m->code))
		{
			m->outcome = JA_OUT_FAILED;
			strlcpy(m->error_text, "outbox row has no valid number or code",
					sizeof(m->error_text));
		}
	}
	ja_commit();
	return n;
}

/* Array of int4, uuid or text with NULLs, for the record statement. */
static Datum
ja_array(Datum *values, bool *nulls, int n, Oid type)
{
	int			dims[1] = {n};
	int			lbs[1] = {1};

	if (type == INT4OID)
		return PointerGetDatum(construct_md_array(values, nulls, 1, dims, lbs,
												  INT4OID, 4, true, TYPALIGN_INT));
	if (type == UUIDOID)
		return PointerGetDatum(construct_md_array(values, nulls, 1, dims, lbs,
												  UUIDOID, UUID_LEN, false, TYPALIGN_CHAR));
	return PointerGetDatum(construct_md_array(values, nulls, 1, dims, lbs,
											  TEXTOID, -1, false, TYPALIGN_INT));
}

/* Outbox status written for an outcome. */
static const char *
ja_outcome_status(JaOutcome outcome)
{
	switch (outcome)
	{
		case JA_OUT_SENT:
			return "sent";
		case JA_OUT_FAILED:
			return "failed";
		case JA_OUT_EXPIRED:
			return "expired";
		case JA_OUT_PENDING:
		case JA_OUT_RETRY:
		case JA_OUT_REQUEUE:
			break;
	}
	return "queued";
}

/*
 * ja_record_once writes the outcome of every message of a batch in one
 * statement, and refunds failed and expired sends in the same transaction.
 * Only rows still 'sending' are touched: a status webhook that already
 * settled a row wins.
 */
static void
ja_record_once(JaMessage *msgs, int n)
{
	Oid			types[8] = {UUIDARRAYOID, TEXTARRAYOID, TEXTARRAYOID, INT4ARRAYOID,
	INT4ARRAYOID, TEXTARRAYOID, INT4ARRAYOID, INT4ARRAYOID};
	Datum		values[8];
	Datum	   *cols[8];
	bool	   *nulls[8];
	Datum	   *failed_sessions;
	Datum	   *expired_sessions;
	Datum	   *refund_sessions;
	int			nfailed = 0;
	int			nexpired = 0;
	SPIPlanPtr	plan;
	uint64		i;
	int			c;

	ja_begin("justauth: recording delivery results");

	for (c = 0; c < 8; c++)
	{
		cols[c] = palloc(sizeof(Datum) * n);
		nulls[c] = palloc0(sizeof(bool) * n);
	}
	for (i = 0; i < n; i++)
	{
		JaMessage  *m = &msgs[i];

		cols[0][i] = UUIDPGetDatum(&m->session_id);
		cols[1][i] = CStringGetTextDatum(ja_outcome_status(m->outcome));
		if (m->outcome == JA_OUT_SENT)
			cols[2][i] = CStringGetTextDatum(m->wamid);
		else
			nulls[2][i] = true;
		if (m->http_status > 0)
			cols[3][i] = Int32GetDatum(m->http_status);
		else
			nulls[3][i] = true;
		if (m->has_error_code)
			cols[4][i] = Int32GetDatum(m->error_code);
		else
			nulls[4][i] = true;
		if (m->error_text[0] != '\0')
			cols[5][i] = CStringGetTextDatum(m->error_text);
		else
			nulls[5][i] = true;
		cols[6][i] = Int32GetDatum(m->retry_ms);
		/* a message put back or expired without a request gives its attempt back */
		cols[7][i] = Int32GetDatum(m->outcome == JA_OUT_REQUEUE ||
								   m->outcome == JA_OUT_EXPIRED ? -1 : 0);
	}
	values[0] = ja_array(cols[0], nulls[0], n, UUIDOID);
	values[1] = ja_array(cols[1], nulls[1], n, TEXTOID);
	values[2] = ja_array(cols[2], nulls[2], n, TEXTOID);
	values[3] = ja_array(cols[3], nulls[3], n, INT4OID);
	values[4] = ja_array(cols[4], nulls[4], n, INT4OID);
	values[5] = ja_array(cols[5], nulls[5], n, TEXTOID);
	values[6] = ja_array(cols[6], nulls[6], n, INT4OID);
	values[7] = ja_array(cols[7], nulls[7], n, INT4OID);

	plan = ja_plan(&record_plan,
				   "UPDATE justauth.outbox o "
				   "   SET status = r.status, "
				   "       code = CASE WHEN r.status = 'queued' THEN o.code END, "
				   "       attempts = o.attempts + r.attempts_delta, "
				   "       next_attempt_at = CASE WHEN r.status = 'queued' "
				   "            THEN least(clock_timestamp() + r.retry_ms * interval '1 millisecond', o.expires_at) "
				   "            ELSE o.next_attempt_at END, "
				   "       provider_message_id = coalesce(r.wamid, o.provider_message_id), "
				   "       http_status = CASE WHEN r.status = 'sent' OR r.error_text IS NOT NULL "
				   "            THEN r.http_status ELSE o.http_status END, "
				   "       error_code = CASE WHEN r.status = 'sent' OR r.error_text IS NOT NULL "
				   "            THEN r.error_code ELSE o.error_code END, "
				   "       error_text = CASE WHEN r.status = 'sent' OR r.error_text IS NOT NULL "
				   "            THEN r.error_text ELSE o.error_text END, "
				   "       sent_at = CASE WHEN r.status = 'sent' THEN clock_timestamp() ELSE o.sent_at END, "
				   "       finished_at = CASE WHEN r.status IN ('sent', 'failed', 'expired') "
				   "            THEN clock_timestamp() ELSE o.finished_at END "
				   "  FROM unnest($1, $2, $3, $4, $5, $6, $7, $8) "
				   "       AS r(session_id, status, wamid, http_status, error_code, error_text, retry_ms, attempts_delta) "
				   " WHERE o.session_id = r.session_id AND o.status = 'sending' "
				   "RETURNING o.session_id, o.status",
				   8, types);
	if (SPI_execute_plan(plan, values, NULL, false, 0) != SPI_OK_UPDATE_RETURNING)
		elog(ERROR, "recording delivery results failed");

	failed_sessions = palloc(sizeof(Datum) * (SPI_processed + 1));
	expired_sessions = palloc(sizeof(Datum) * (SPI_processed + 1));
	for (i = 0; i < SPI_processed; i++)
	{
		SPITupleTable *tt = SPI_tuptable;
		bool		isnull;
		Datum		session = SPI_getbinval(tt->vals[i], tt->tupdesc, 1, &isnull);
		char	   *status = SPI_getvalue(tt->vals[i], tt->tupdesc, 2);

		if (strcmp(status, "failed") == 0)
			failed_sessions[nfailed++] = session;
		else if (strcmp(status, "expired") == 0)
			expired_sessions[nexpired++] = session;
	}

	/* both kinds at once: no session is waited for after the first refund */
	refund_sessions = palloc(sizeof(Datum) * (nfailed + nexpired + 1));
	memcpy(refund_sessions, failed_sessions, sizeof(Datum) * nfailed);
	memcpy(refund_sessions + nfailed, expired_sessions, sizeof(Datum) * nexpired);
	ja_lock_sessions(refund_sessions, nfailed + nexpired);
	ja_refund(failed_sessions, nfailed, "failed");
	ja_refund(expired_sessions, nexpired, "expired");
	ja_commit();
}

/* What a retryable failure of the record transaction was, for the log. */
static const char *
ja_record_retryable(int sqlerrcode)
{
	switch (sqlerrcode)
	{
		case ERRCODE_T_R_DEADLOCK_DETECTED:
			return "a deadlock";
		case ERRCODE_T_R_SERIALIZATION_FAILURE:
			return "a serialization failure";
		case ERRCODE_LOCK_NOT_AVAILABLE:
			return "a lock wait";
	}
	return NULL;
}

/*
 * ja_queue_record records a batch's outcomes (ja_record_once).  Those are
 * the results of requests WhatsApp has already seen: if the transaction is
 * lost, the messages stay 'sending' and are sent again once retaken.  So a
 * transaction that fails only because of a concurrent session (deadlock
 * victim, serialization failure, lock timeout) is rolled back and run again
 * at once from the outcomes in memory, up to JA_RECORD_TRIES times; any
 * other error, the last try's, or one during shutdown goes to the caller
 * (worker.c logs it and retakes the batch).  msgs lives outside the
 * transaction, and the caller's memory context is restored after the abort.
 */
void
ja_queue_record(JaMessage *msgs, int n)
{
	MemoryContext caller = CurrentMemoryContext;
	volatile int attempt;

	if (n == 0)
		return;
	for (attempt = 1;; attempt++)
	{
		volatile int sqlerrcode = 0;

		PG_TRY();
		{
			ja_record_once(msgs, n);
		}
		PG_CATCH();
		{
			ErrorData  *edata;

			MemoryContextSwitchTo(caller);
			edata = CopyErrorData();
			sqlerrcode = edata->sqlerrcode;
			FreeErrorData(edata);
			if (ja_record_retryable(sqlerrcode) == NULL ||
				attempt >= JA_RECORD_TRIES || ShutdownRequestPending)
				PG_RE_THROW();
			HOLD_INTERRUPTS();
			FlushErrorState();
			AbortCurrentTransaction();
			RESUME_INTERRUPTS();
		}
		PG_END_TRY();

		if (sqlerrcode == 0)
			return;

		/* the abort left TopMemoryContext current */
		MemoryContextSwitchTo(caller);

		/* the SQLSTATE only: the error's detail may show other sessions' SQL */
		ereport(LOG,
				(errmsg("justauth: recording delivery results failed on %s (SQLSTATE %s); retrying, attempt %d of %d",
						ja_record_retryable(sqlerrcode), unpack_sql_state(sqlerrcode),
						attempt + 1, JA_RECORD_TRIES),
				 errdetail("The outcomes of the batch's %d message(s) are recorded again, so that none is sent twice.",
						   n)));
		CHECK_FOR_INTERRUPTS();
	}
}

/*
 * ja_queue_next_ms: milliseconds until the next queued message is due
 * (expiry = false) or until the first queued code expires (expiry = true);
 * 0 if that is now, -1 when nothing is waiting.
 */
int64
ja_queue_next_ms(bool expiry)
{
	int64		ms = -1;

	ja_begin("justauth: looking for due messages");
	if (SPI_execute(expiry ?
					"SELECT ceil(extract(epoch FROM min(expires_at) - clock_timestamp()) * 1000)::bigint "
					"FROM justauth.outbox WHERE status IN ('queued', 'sending')" :
					"SELECT ceil(extract(epoch FROM min(next_attempt_at) - clock_timestamp()) * 1000)::bigint "
					"FROM justauth.outbox WHERE status IN ('queued', 'sending')",
					true, 1) != SPI_OK_SELECT)
		elog(ERROR, "looking for due messages failed");
	if (SPI_processed == 1)
	{
		bool		isnull;
		Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

		if (!isnull)
			ms = Max(0, DatumGetInt64(d));
	}
	ja_commit();
	return ms;
}
