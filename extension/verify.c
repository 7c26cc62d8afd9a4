/*-------------------------------------------------------------------------
 *
 * verify.c
 *		justauth_verify_otp: check a code against the number's current
 *		session, count wrong guesses, approve at most once.
 *
 * The session row is locked (FOR UPDATE) before it is judged, so of many
 * concurrent verifies of the right code exactly one is approved, and every
 * wrong guess is counted even when guesses race.
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

static const char *const number_columns[] = {"current_session_id"};
static JaTable numbers_table = {"numbers", lengthof(number_columns), number_columns};

/* Columns of justauth.sessions a verify judges. */
enum
{
	SC_CODE_HASH,
	SC_STATUS,
	SC_ATTEMPTS,
	SC_MAX_ATTEMPTS,
	SC_EXPIRES_AT,
	SC_NCOLUMNS
};
static const char *const session_columns[SC_NCOLUMNS] = {
	"code_hash", "status", "attempts", "max_attempts", "expires_at"
};
static JaTable sessions_table = {"sessions", SC_NCOLUMNS, session_columns};

/*
 * lock_current_session finds the number's current session and locks it
 * (FOR UPDATE), reading the columns a verify judges into v/n.  Returns
 * false when no code was sent to the number.  Direct reads (direct.c):
 * this is most of what every verify does.
 */
static bool
lock_current_session(Datum client_id, Datum number, pg_uuid_t *session, Datum *v, bool *n)
{
	Datum		keys[2] = {client_id, number};
	Datum		current;
	bool		none;

	if (!ja_row_fetch(&numbers_table, keys, false, &current, &none) || none)
		return false;
	memcpy(session, DatumGetUUIDP(current), sizeof(pg_uuid_t));
	return ja_row_fetch(&sessions_table, &current, true, v, n);
}
static SPIPlanPtr approve_plan = NULL;
static SPIPlanPtr wrong_plan = NULL;

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
 * count_wrong_guess counts a wrong guess against the session and tells
 * whether otp is the code of one of the number's superseded sessions of
 * the last day (expired or not: the user typed an old code either way), to explain the failure precisely.  Both happen in
 * one statement: a verify costs one round of executor start-up less, and
 * no session of the number can become superseded in between because the
 * current session is locked and superseding it is what a resend does.
 */
static bool
count_wrong_guess(Datum session, TimestampTz now, Datum client_id, Datum number, const char *otp)
{
	Oid			argtypes[4] = {UUIDOID, TIMESTAMPTZOID, TEXTOID, TEXTOID};
	Datum		values[4] = {session, TimestampTzGetDatum(now), client_id, number};
	uint64		n;
	uint64		i;
	bool		found = false;

	ja_keep_plan(&wrong_plan,
				 "WITH wrong AS (UPDATE justauth.sessions SET attempts = attempts + 1, last_attempt_at = $2"
				 "                WHERE session_id = $1)"
				 "SELECT session_id, code_hash FROM justauth.sessions"
				 " WHERE client_id = $3 AND number = $4 AND status = 'superseded'"
				 "   AND created_at > $2 - interval '1 day'"
				 " ORDER BY created_at DESC LIMIT 20",
				 4, argtypes);
	n = ja_exec(wrong_plan, values, NULL, 0);
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
 * justauth_verify_otp(client_id, number, otp, api_key) returns the jsonb
 * reply of the seed's verify-otp endpoint.
 */
Datum
justauth_verify_otp(PG_FUNCTION_ARGS)
{
	StringInfoData reply;
	char	   *client_id;
	char	   *number_in;
	char	   *otp;
	char	   *api_key = NULL;
	JaClient	client;
	char		number[16];
	Datum		values[2];
	Datum		sv[SC_NCOLUMNS];
	bool		sn[SC_NCOLUMNS];
	Oid			updtypes[2] = {UUIDOID, TIMESTAMPTZOID};
	Datum		updvalues[2];
	pg_uuid_t	session;
	bytea	   *stored;
	char	   *status;
	int			attempts;
	int			max_attempts;
	TimestampTz expires_at;
	TimestampTz now = GetCurrentTimestamp();
	uint8		hash[PG_SHA256_DIGEST_LENGTH];
	int			retries;

	initStringInfo(&reply);
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
	 * A resend that commits while we wait for the session lock supersedes the
	 * session we locked; read the number's pointer again (a new snapshot sees
	 * the resend) and judge the newer session instead.
	 */
	for (retries = 0;; retries++)
	{
		if (!lock_current_session(values[0], values[1], &session, sv, sn))
		{
			ja_reply_error(&reply, "otp_not_found", "No code was sent to this number");
			goto done;
		}
		status = TextDatumGetCString(sv[SC_STATUS]);
		if (strcmp(status, "superseded") != 0 || retries >= 3)
			break;
	}
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

	updvalues[0] = UUIDPGetDatum(&session);
	updvalues[1] = TimestampTzGetDatum(now);
	ja_code_hmac(&session, otp, hash);
	if (VARSIZE_ANY_EXHDR(stored) == sizeof(hash) &&
		ja_equal_ct(hash, (uint8 *) VARDATA_ANY(stored), sizeof(hash)))
	{
		char	   *request_id;

		ja_keep_plan(&approve_plan,
					 "UPDATE justauth.sessions"
					 "   SET status = 'approved', verified_at = $2, last_attempt_at = $2"
					 " WHERE session_id = $1",
					 2, updtypes);
		ja_exec(approve_plan, updvalues, NULL, 0);
		request_id = DatumGetCString(DirectFunctionCall1(uuid_out, UUIDPGetDatum(&session)));
		resetStringInfo(&reply);
		appendStringInfo(&reply,
						 "{\"success\": true, \"message\": \"OTP Verified\", \"status\": \"approved\","
						 " \"request_id\": \"%s\"}", request_id);
		goto done;
	}

	attempts++;
	if (count_wrong_guess(updvalues[0], now, values[0], values[1], otp))
		ja_reply_error(&reply, "otp_superseded",
					   "A newer code was sent to this number; use the latest code");
	else
		ja_reply_error_n(&reply, "invalid_otp", "Invalid OTP", "attempts_left",
						 max_attempts - attempts);

done:
	SPI_finish();
	PG_RETURN_DATUM(ja_reply_jsonb(&reply));
}
