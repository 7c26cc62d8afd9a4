/*-------------------------------------------------------------------------
 *
 * worker_status.c
 *		SQL-callable view of the delivery worker's shared state
 *		(justauth.worker_state(), behind the justauth.worker_status view),
 *		and the outbox trigger that wakes the worker at commit.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <curl/curl.h>

#include "access/htup_details.h"
#include "commands/trigger.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "justauth.h"
#include "delivery.h"

PG_FUNCTION_INFO_V1(justauth_worker_state);
PG_FUNCTION_INFO_V1(justauth_outbox_wake);

#define WORKER_STATE_COLS 19

/* Name of a worker state in the status view. */
static const char *
ja_state_name(JaWorkerState state)
{
	switch (state)
	{
		case JA_WS_STOPPED:
			return "stopped";
		case JA_WS_STARTING:
			return "starting";
		case JA_WS_IDLE:
			return "idle";
		case JA_WS_SENDING:
			return "sending";
		case JA_WS_THROTTLED:
			return "throttled";
		case JA_WS_PAUSED:
			return "paused: configuration error";
		case JA_WS_NOT_CONFIGURED:
			return "not configured";
		case JA_WS_NO_EXTENSION:
			return "extension not installed";
		case JA_WS_RECOVERY:
			return "in recovery";
	}
	return "unknown";
}

/*
 * Text of the last error, rebuilt from the codes kept in shared memory
 * (which holds no strings).
 */
static char *
ja_last_error_text(JaErrorKind kind, int code, int http_status)
{
	switch (kind)
	{
		case JA_EK_NONE:
			return NULL;
		case JA_EK_META:
			return psprintf("WhatsApp error %d (HTTP %d): %s", code, http_status,
							ja_meta_error_meaning(code));
		case JA_EK_HTTP:
			return psprintf("HTTP %d from the WhatsApp API without a usable reply", http_status);
		case JA_EK_TRANSPORT:
			return psprintf("request failed: %s (check justauth.whatsapp_api_url)",
							curl_easy_strerror((CURLcode) code));
		case JA_EK_DATABASE:
			return pstrdup("the worker's SQL failed; see the server log");
		case JA_EK_SETTINGS:
			return pstrdup("no access token (justauth.whatsapp_access_token or justauth.whatsapp_access_token_file) or no justauth.whatsapp_phone_number_id");
		case JA_EK_TOKEN_FILE:
			return ja_token_problem_text(code, http_status);
	}
	return NULL;
}

/* A TimestampTz kept in an atomic, NULL when 0. */
static void
ja_put_time(Datum *values, bool *nulls, int col, uint64 v)
{
	if (v == 0)
		nulls[col] = true;
	else
		values[col] = TimestampTzGetDatum((TimestampTz) v);
}

/*
 * justauth_worker_state returns one row describing the delivery worker:
 * pid, state, counters since the server started, current rate and the last
 * error.  Without the library in shared_preload_libraries there is no
 * worker and the state says so.
 */
Datum
justauth_worker_state(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Datum		values[WORKER_STATE_COLS];
	bool		nulls[WORKER_STATE_COLS];
	uint32		pid;
	JaErrorKind kind;
	char	   *errtext;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("function returning record called in context that cannot accept type record")));
	tupdesc = BlessTupleDesc(tupdesc);
	if (tupdesc->natts != WORKER_STATE_COLS)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("justauth.worker_state() is declared with %d columns, the library returns %d",
						tupdesc->natts, WORKER_STATE_COLS),
				 errhint("Update the extension to match the installed library.")));

	memset(nulls, 0, sizeof(nulls));
	if (ja_database != NULL)
		values[2] = CStringGetTextDatum(ja_database);
	else
		nulls[2] = true;
	values[6] = Int32GetDatum(ja_max_messages_per_second);

	if (ja_shared == NULL)
	{
		int			i;

		for (i = 0; i < WORKER_STATE_COLS; i++)
			if (i != 6)
				nulls[i] = true;
		values[1] = CStringGetTextDatum("not running: justauth is not in shared_preload_libraries");
		nulls[1] = false;
		values[18] = BoolGetDatum(false);
		nulls[18] = false;
		PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
	}

	pid = pg_atomic_read_u32(&ja_shared->worker_pid);
	if (pid == 0)
		nulls[0] = true;
	else
		values[0] = Int32GetDatum((int32) pid);
	values[1] = CStringGetTextDatum(ja_state_name((JaWorkerState) pg_atomic_read_u32(&ja_shared->state)));
	ja_put_time(values, nulls, 3, pg_atomic_read_u64(&ja_shared->started_at));
	ja_put_time(values, nulls, 4, pg_atomic_read_u64(&ja_shared->paused_until));
	values[5] = Float8GetDatum(ja_current_rate());
	values[7] = Int64GetDatum((int64) pg_atomic_read_u64(&ja_shared->requests));
	values[8] = Int64GetDatum((int64) pg_atomic_read_u64(&ja_shared->sent));
	values[9] = Int64GetDatum((int64) pg_atomic_read_u64(&ja_shared->retried));
	values[10] = Int64GetDatum((int64) pg_atomic_read_u64(&ja_shared->requeued));
	values[11] = Int64GetDatum((int64) pg_atomic_read_u64(&ja_shared->failed));
	values[12] = Int64GetDatum((int64) pg_atomic_read_u64(&ja_shared->expired));
	values[13] = Int64GetDatum((int64) pg_atomic_read_u64(&ja_shared->reclaimed));

	kind = (JaErrorKind) pg_atomic_read_u32(&ja_shared->last_error_kind);
	ja_put_time(values, nulls, 14, pg_atomic_read_u64(&ja_shared->last_error_at));
	if (kind == JA_EK_META || kind == JA_EK_HTTP)
		values[15] = Int32GetDatum((int32) pg_atomic_read_u32(&ja_shared->last_error_http));
	else
		nulls[15] = true;
	if (kind == JA_EK_META)
		values[16] = Int32GetDatum((int32) pg_atomic_read_u32(&ja_shared->last_error_code));
	else
		nulls[16] = true;
	errtext = ja_last_error_text(kind,
								 (int32) pg_atomic_read_u32(&ja_shared->last_error_code),
								 (int32) pg_atomic_read_u32(&ja_shared->last_error_http));
	if (errtext)
		values[17] = CStringGetTextDatum(errtext);
	else
		nulls[17] = true;
	values[18] = BoolGetDatum(justauth_delivery_configured());

	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

/*
 * justauth_outbox_wake: statement trigger on justauth.outbox inserts, so
 * that any committed insert (not only justauth_send_otp's) wakes the
 * worker at once.
 */
Datum
justauth_outbox_wake(PG_FUNCTION_ARGS)
{
	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("justauth.outbox_wake() must be called as a trigger")));
	justauth_delivery_wake_on_commit();
	return PointerGetDatum(NULL);
}
