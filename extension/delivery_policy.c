/*-------------------------------------------------------------------------
 *
 * delivery_policy.c
 *		What to do with each kind of WhatsApp error (retry, back off, pause,
 *		give up), retry delays, and the token bucket behind
 *		justauth.max_messages_per_second.
 *
 * The classes follow Meta's error-code table (see docs/worker.md); the
 * error code decides, not the HTTP status, which differs between API
 * versions.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "common/pg_prng.h"

#include "delivery.h"

/*
 * ja_classify_meta_error maps Meta's error.code to our handling.
 * Unknown codes are retried: a wrong guess then costs only retries until
 * the code expires (and is refunded), never a burnt queue.
 */
JaErrorClass
ja_classify_meta_error(int code)
{
	switch (code)
	{
		case 130429:			/* throughput exceeded */
		case 4:					/* app rate limit */
		case 80007:				/* account rate limit */
		case 131048:			/* spam rate limit: pause, don't hammer */
			return JA_EC_THROTTLE;
		case 131056:			/* pair rate limit */
			return JA_EC_PAIR_LIMIT;
		case 131026:			/* undeliverable to this recipient */
		case 131021:			/* recipient is the sender */
			return JA_EC_PERMANENT;
		case 0:					/* auth exception */
		case 3:					/* capability */
		case 10:				/* permission denied */
		case 190:				/* access token expired / invalid */
			return JA_EC_CONFIG;
		default:
			break;
	}
	if (code >= 200 && code <= 299)		/* permission errors */
		return JA_EC_CONFIG;
	if (code >= 132000 && code <= 132999)	/* template missing/paused/bad */
		return JA_EC_CONFIG;
	return JA_EC_RETRY;
}

/*
 * ja_classify_http_status handles a non-2xx reply without an error code.
 */
JaErrorClass
ja_classify_http_status(int http_status)
{
	if (http_status == 429)
		return JA_EC_THROTTLE;
	if (http_status == 401 || http_status == 403)
		return JA_EC_CONFIG;
	return JA_EC_RETRY;
}

/*
 * ja_meta_error_meaning gives a short description of a Meta error code for
 * the status view and the server log.
 */
const char *
ja_meta_error_meaning(int code)
{
	switch (code)
	{
		case 0:
			return "authentication failed";
		case 3:
			return "app lacks the capability to send";
		case 4:
			return "app rate limit hit";
		case 10:
			return "permission denied";
		case 190:
			return "access token expired or invalid";
		case 130429:
			return "throughput (messages per second) exceeded";
		case 131000:
			return "unknown error at WhatsApp";
		case 131016:
			return "WhatsApp service unavailable";
		case 131021:
			return "recipient is the sender";
		case 131026:
			return "message undeliverable to this recipient";
		case 131048:
			return "spam rate limit hit";
		case 131056:
			return "pair rate limit hit (too many messages to one recipient)";
		case 131057:
			return "business account in maintenance";
		case 132000:
			return "template parameter count mismatch";
		case 132001:
			return "template does not exist in that language or is not approved";
		case 132012:
			return "template parameter format mismatch";
		case 132015:
			return "template is paused";
		case 132016:
			return "template is disabled";
		case 80007:
			return "WhatsApp business account rate limit hit";
		default:
			break;
	}
	if (code >= 200 && code <= 299)
		return "permission error";
	if (code >= 132000 && code <= 132999)
		return "template error";
	return "WhatsApp API error";
}

/*
 * ja_retry_delay_ms: exponential backoff with "equal jitter": half the
 * doubled delay is fixed, the other half random, so retries of a batch
 * that failed together spread out.
 */
int
ja_retry_delay_ms(int attempts)
{
	double		delay = ja_retry_base_ms;
	int			n;

	for (n = 1; n < attempts && delay < ja_retry_max_ms; n++)
		delay *= 2;
	if (delay > ja_retry_max_ms)
		delay = ja_retry_max_ms;
	return (int) (delay / 2 + pg_prng_double(&pg_global_prng_state) * delay / 2);
}

/*
 * ja_pair_limit_delay_ms: Meta asks for 1, 4, 16 ... seconds after a pair
 * rate limit (131056); other recipients are unaffected.
 */
int
ja_pair_limit_delay_ms(int attempts)
{
	double		delay = 1000;
	int			n;

	for (n = 1; n < attempts && delay < ja_retry_max_ms; n++)
		delay *= 4;
	if (delay > ja_retry_max_ms)
		delay = ja_retry_max_ms;
	return (int) delay;
}

/*
 * ja_bucket_configure sets the rate; the burst is a tenth of a second's
 * worth (at least one message), so any one-second window carries at most
 * rate + burst messages.
 */
void
ja_bucket_configure(JaTokenBucket *bucket, int rate)
{
	bucket->rate = rate;
	bucket->capacity = Max(1.0, ceil(rate / 10.0));
	if (bucket->last == 0)
	{
		bucket->tokens = bucket->capacity;
		bucket->last = GetCurrentTimestamp();
	}
	if (bucket->tokens > bucket->capacity)
		bucket->tokens = bucket->capacity;
}

/*
 * ja_bucket_take takes one token: returns 0 when one was available, else
 * the microseconds until one will be.
 */
int64
ja_bucket_take(JaTokenBucket *bucket, TimestampTz now)
{
	if (now > bucket->last)
	{
		bucket->tokens += (now - bucket->last) * bucket->rate / USECS_PER_SEC;
		if (bucket->tokens > bucket->capacity)
			bucket->tokens = bucket->capacity;
		bucket->last = now;
	}
	if (bucket->tokens >= 1.0)
	{
		bucket->tokens -= 1.0;
		return 0;
	}
	return (int64) ceil((1.0 - bucket->tokens) * USECS_PER_SEC / bucket->rate);
}

/*
 * ja_bucket_drain empties the bucket, after Meta said we were too fast.
 */
void
ja_bucket_drain(JaTokenBucket *bucket, TimestampTz now)
{
	bucket->tokens = 0;
	bucket->last = now;
}
