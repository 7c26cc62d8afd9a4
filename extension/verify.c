/*-------------------------------------------------------------------------
 *
 * verify.c
 *		justauth_verify_otp: check a code against the number's current
 *		session, count wrong guesses, approve at most once.
 *
 * The session row is judged as the statement's snapshot sees it, and the
 * verdict is written only if that version is still the newest, as an
 * UPDATE ... WHERE would; otherwise the row is read again, locked (FOR
 * UPDATE), and judged again.  So of many concurrent verifies of the right
 * code exactly one is approved, every wrong guess is counted even when
 * guesses race, and a verify that only reads (a used, expired or exhausted
 * code) neither locks nor writes.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "common/sha2.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "justauth.h"

PG_FUNCTION_INFO_V1(justauth_verify_otp);

#define MAX_OTP_DIGITS 20

static const char *const number_columns[] = {"current_session_id", "sends"};
static JaTable numbers_table = {"numbers", lengthof(number_columns), number_columns};

/* Columns of justauth.sessions a verify judges, and those it sets. */
enum
{
	SC_CODE_HASH,
	SC_STATUS,
	SC_ATTEMPTS,
	SC_MAX_ATTEMPTS,
	SC_EXPIRES_AT,
	SC_VERIFIED_AT,
	SC_LAST_ATTEMPT_AT,
	SC_NCOLUMNS
};
static const char *const session_columns[SC_NCOLUMNS] = {
	"code_hash", "status", "attempts", "max_attempts", "expires_at", "verified_at",
	"last_attempt_at"
};
static JaTable sessions_table = {"sessions", SC_NCOLUMNS, session_columns};

static SPIPlanPtr approve_plan = NULL;
static SPIPlanPtr wrong_plan = NULL;
static SPIPlanPtr superseded_plan = NULL;

/*
 * read_current_session finds the number's current session and reads the
 * columns a verify judges into v/n and its location into tid, locking it
 * (FOR UPDATE) if lock, and into *sends how many codes the number was sent.
 * Returns false when no code was sent to the number.  Direct reads
 * (direct.c): this is most of what every verify does.
 */
static bool
read_current_session(Datum client_id, Datum number, bool lock, pg_uuid_t *session,
					 Datum *v, bool *n, ItemPointer tid, int64 *sends)
{
	Datum		keys[2] = {client_id, number};
	Datum		nv[2];
	bool		nn[2];

	if (!ja_row_fetch(&numbers_table, keys, false, nv, nn, NULL) || nn[0])
		return false;
	memcpy(session, DatumGetUUIDP(nv[0]), sizeof(pg_uuid_t));
	*sends = DatumGetInt64(nv[1]);
	return ja_row_fetch(&sessions_table, &nv[0], lock, v, n, tid);
}

/*
 * update_session writes the verdict on the judged session version at tid:
 * approved, or one more wrong guess.  Returns false, having written
 * nothing, when the version was read without a lock and is no longer the
 * newest, or when the table needs SQL (a DBA's trigger or CHECK): the
 * caller then reads it again with the lock and judges again.  On a locked
 * row it writes directly when the table allows (direct.c), else through
 * SQL.
 */
static bool
update_session(ItemPointer tid, pg_uuid_t *session, bool approve, int attempts, TimestampTz now,
			   bool locked, bool *direct)
{
	Oid			argtypes[2] = {UUIDOID, TIMESTAMPTZOID};
	Datum		args[2] = {UUIDPGetDatum(session), TimestampTzGetDatum(now)};
	static const int approve_cols[3] = {SC_STATUS, SC_VERIFIED_AT, SC_LAST_ATTEMPT_AT};
	static const int wrong_cols[2] = {SC_ATTEMPTS, SC_LAST_ATTEMPT_AT};
	Datum		vals[3];
	JaUpdate	done;

	if (approve)
	{
		vals[0] = CStringGetTextDatum("approved");
		vals[1] = vals[2] = args[1];
		done = ja_update_row_version(&sessions_table, tid, 3, approve_cols, vals, NULL);
	}
	else
	{
		vals[0] = Int32GetDatum(attempts + 1);
		vals[1] = args[1];
		done = ja_update_row_version(&sessions_table, tid, 2, wrong_cols, vals, NULL);
	}
	*direct = done == JA_UPDATED;
	if (done == JA_UPDATED)
		return true;
	if (!locked)
		return false;
	if (done != JA_NOT_DIRECT)
		elog(ERROR, "locked session row changed");

	if (approve)
	{
		ja_keep_plan(&approve_plan,
					 "UPDATE justauth.sessions"
					 "   SET status = 'approved', verified_at = $2, last_attempt_at = $2"
					 " WHERE session_id = $1",
					 2, argtypes);
		ja_exec(approve_plan, args, NULL, 0);
	}
	else
	{
		ja_keep_plan(&wrong_plan,
					 "UPDATE justauth.sessions SET attempts = attempts + 1, last_attempt_at = $2"
					 " WHERE session_id = $1",
					 2, argtypes);
		ja_exec(wrong_plan, args, NULL, 0);
	}
	return true;
}

/*
 * otp_well_formed: a code is 1 to 20 ASCII digits.  Anything else cannot
 * be a guess at a code, so it is refused without using up an attempt.
 */
static bool
otp_well_formed(const char *otp)
{
	size_t		len = strlen(otp);

	return len >= 1 && len <= MAX_OTP_DIGITS && strspn(otp, "0123456789") == len;
}

/*
 * matches_superseded tells whether otp is the code of one of the number's
 * superseded sessions of the last day (expired or not: the user typed an
 * old code either way), to explain a wrong guess precisely.  No session of
 * the number can become superseded meanwhile: we hold the current session
 * (having just counted the guess on it), and superseding it is what a
 * resend does.
 */
static bool
matches_superseded(TimestampTz now, Datum client_id, Datum number, const char *otp)
{
	Oid			argtypes[3] = {TIMESTAMPTZOID, TEXTOID, TEXTOID};
	Datum		values[3] = {TimestampTzGetDatum(now), client_id, number};
	uint64		n;
	uint64		i;
	bool		found = false;

	ja_keep_plan(&superseded_plan,
				 "SELECT session_id, code_hash FROM justauth.sessions"
				 " WHERE client_id = $2 AND number = $3 AND status = 'superseded'"
				 "   AND created_at > $1 - interval '1 day'"
				 " ORDER BY created_at DESC LIMIT 20",
				 3, argtypes);
	n = ja_exec(superseded_plan, values, NULL, 0);
	for (i = 0; i < n; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		bool		isnull;
		pg_uuid_t  *sid = DatumGetUUIDP(SPI_getbinval(tup, SPI_tuptable->tupdesc, 1, &isnull));
		bytea	   *stored = DatumGetByteaPP(SPI_getbinval(tup, SPI_tuptable->tupdesc, 2, &isnull));
		uint8		hash[PG_SHA256_DIGEST_LENGTH];

		ja_code_hmac(sid, otp, hash);
		if (VARSIZE_ANY_EXHDR(stored) == sizeof(hash) &&
			ja_equal_ct(hash, (uint8 *) VARDATA_ANY(stored), sizeof(hash)))
			found = true;
	}
	return found;
}

/*
 * verify_otp answers justauth_verify_otp(client_id, number, otp, api_key)
 * with the jsonb reply of the seed's verify-otp endpoint.  The entry point
 * pins the search path around it (ja_call_pinned).
 */
static Datum
verify_otp(FunctionCallInfo fcinfo)
{
	JaReply		reply;
	char	   *client_id;
	char	   *number_in;
	char	   *otp;
	char	   *api_key = NULL;
	JaClient	client;
	char		number[16];
	Datum		values[2];
	Datum		sv[SC_NCOLUMNS];
	bool		sn[SC_NCOLUMNS];
	pg_uuid_t	session;
	ItemPointerData tid;
	bytea	   *stored;
	char	   *status;
	int			attempts;
	int			max_attempts;
	TimestampTz expires_at;
	TimestampTz now = GetCurrentTimestamp();
	uint8		hash[PG_SHA256_DIGEST_LENGTH];
	int			retries;
	bool		locked = false;
	bool		direct = false;
	bool		may_skip_flush = ja_guess_may_skip_flush();
	int64		sends = 0;

	ja_reply_init(&reply);
	if ((client_id = ja_text_arg(fcinfo, 0, "client-id", true, &reply)) == NULL ||
		(number_in = ja_text_arg(fcinfo, 1, "number", true, &reply)) == NULL ||
		(otp = ja_text_arg(fcinfo, 2, "otp", true, &reply)) == NULL)
		PG_RETURN_DATUM(ja_reply_jsonb(&reply));
	if (!PG_ARGISNULL(3) &&
		(api_key = ja_text_arg(fcinfo, 3, "api-key", false, &reply)) == NULL)
		PG_RETURN_DATUM(ja_reply_jsonb(&reply));
	if (!otp_well_formed(otp))
	{
		ja_reply_error(&reply, "invalid_request", "otp must be the code's digits (0-9)");
		PG_RETURN_DATUM(ja_reply_jsonb(&reply));
	}

	SPI_connect();
	if (!ja_authenticate(client_id, api_key, true, number_in, &client,
						 number, sizeof(number), &reply))
		goto done;

	values[0] = CStringGetTextDatum(client_id);
	values[1] = CStringGetTextDatum(number);

	/*
	 * Judge the session as our snapshot sees it.  A verdict that cannot be
	 * written because a concurrent verify or resend changed the row sends us
	 * round again, reading it locked.  A resend that commits meanwhile
	 * supersedes the session we read; read the number's pointer again (a new
	 * snapshot sees the resend) and judge the newer session instead.
	 */
	for (retries = 0;; retries++)
	{
		bool		right;

		if (!read_current_session(values[0], values[1], locked, &session, sv, sn, &tid, &sends))
		{
			ja_reply_error(&reply, "otp_not_found", "No code was sent to this number");
			goto done;
		}
		status = TextDatumGetCString(sv[SC_STATUS]);
		if (strcmp(status, "superseded") == 0 && retries < 3)
			continue;
		stored = DatumGetByteaPP(sv[SC_CODE_HASH]);
		attempts = DatumGetInt32(sv[SC_ATTEMPTS]);
		max_attempts = DatumGetInt32(sv[SC_MAX_ATTEMPTS]);
		expires_at = DatumGetTimestampTz(sv[SC_EXPIRES_AT]);

		if (strcmp(status, "approved") == 0)
		{
			ja_reply_error(&reply, "otp_not_found", "This code was already used; request a new one");
			goto done;
		}
		if (strcmp(status, "superseded") == 0)
		{
			ja_reply_error(&reply, "otp_superseded",
						   "A newer code was sent to this number; use the latest code");
			goto done;
		}
		if (strcmp(status, "pending") != 0)
		{
			ja_reply_error(&reply, "otp_not_found", "The code could not be delivered; request a new one");
			goto done;
		}
		if (expires_at <= now)
		{
			ja_reply_error(&reply, "otp_expired", "OTP expired; request a new code");
			goto done;
		}
		if (attempts >= max_attempts)
		{
			ja_reply_error(&reply, "max_attempts", "Too many wrong attempts; request a new code");
			goto done;
		}

		ja_code_hmac(&session, otp, hash);
		right = VARSIZE_ANY_EXHDR(stored) == sizeof(hash) &&
			ja_equal_ct(hash, (uint8 *) VARDATA_ANY(stored), sizeof(hash));
		if (!update_session(&tid, &session, right, attempts, now, locked, &direct))
		{
			locked = true;
			continue;
		}
		if (right)
		{
			char	   *request_id = DatumGetCString(DirectFunctionCall1(uuid_out,
																		 UUIDPGetDatum(&session)));

			ja_reply_reset(&reply);
			ja_reply_bool(&reply, "success", true);
			ja_reply_string(&reply, "message", "OTP Verified");
			ja_reply_string(&reply, "status", "approved");
			ja_reply_string(&reply, "request_id", request_id);
			goto done;
		}
		break;
	}

	attempts++;
	/* a number sent one code has no superseded session to look through */
	if (sends > 1 && matches_superseded(now, values[0], values[1], otp))
		ja_reply_error(&reply, "otp_superseded",
					   "A newer code was sent to this number; use the latest code");
	else
		ja_reply_error_n(&reply, "invalid_otp", "Invalid OTP", "attempts_left",
						 max_attempts - attempts);
	/* a guess that leaves the code usable need not wait for its flush (guess_commit.c) */
	if (may_skip_flush && direct && attempts < max_attempts)
		ja_guess_written();

done:
	SPI_finish();
	PG_RETURN_DATUM(ja_reply_jsonb(&reply));
}

/* justauth_verify_otp(client_id, number, otp, api_key) */
Datum
justauth_verify_otp(PG_FUNCTION_ARGS)
{
	return ja_call_pinned(verify_otp, fcinfo);
}
