/*-------------------------------------------------------------------------
 *
 * delivery.h
 *		Private declarations of the delivery worker: settings, the shared
 *		state (pids, latch owner and counters, all atomics), the message
 *		batch handed between the queue and the HTTP modules, and the error
 *		policy.
 *
 *-------------------------------------------------------------------------
 */
#ifndef JUSTAUTH_DELIVERY_H
#define JUSTAUTH_DELIVERY_H

#include "postgres.h"

#include "port/atomics.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

/* ---- settings (delivery_settings.c) ---- */
extern char *ja_database;
extern char *ja_api_url;
extern char *ja_api_version;
extern char *ja_phone_number_id;
extern char *ja_access_token;
extern char *ja_access_token_file;
extern char *ja_template;
extern char *ja_template_language;
extern int	ja_max_messages_per_second;
extern int	ja_max_in_flight;
extern int	ja_batch_size;
extern int	ja_request_timeout_ms;
extern int	ja_poll_interval_ms;
extern int	ja_visibility_timeout_ms;
extern int	ja_retry_base_ms;
extern int	ja_retry_max_ms;
extern int	ja_max_attempts;
extern int	ja_config_error_retry_ms;

extern void ja_define_delivery_settings(void);

/* ---- access token (token_file.c) ---- */

/* Why the worker has no usable access token. */
typedef enum JaTokenProblem
{
	JA_TP_NONE = 0,				/* a token is loaded */
	JA_TP_UNSET,				/* neither the setting nor the file is set */
	JA_TP_BOTH_SET,				/* the setting and the file are both set */
	JA_TP_UNREADABLE,			/* open/stat/read failed (errno kept) */
	JA_TP_NOT_REGULAR,			/* not a regular file */
	JA_TP_OWNER,				/* owned by neither the server's user nor root */
	JA_TP_PERMISSIONS,			/* group or world access */
	JA_TP_TOO_LARGE,			/* larger than JA_TOKEN_FILE_MAX */
	JA_TP_EMPTY,				/* nothing but white space */
	JA_TP_BAD_CHARACTERS		/* white space or control characters inside */
} JaTokenProblem;

#define JA_TOKEN_FILE_MAX 4096

extern JaTokenProblem ja_token_load(void);
extern bool ja_token_configured(void);
extern const char *ja_token(void);
extern JaTokenProblem ja_token_problem(int *saved_errno);
extern char *ja_token_problem_text(int problem, int saved_errno);

/* ---- shared state (wake.c) ---- */

/* What the worker is doing, for justauth.worker_status. */
typedef enum JaWorkerState
{
	JA_WS_STOPPED = 0,
	JA_WS_STARTING,
	JA_WS_IDLE,
	JA_WS_SENDING,
	JA_WS_THROTTLED,			/* Meta said slow down: whole worker backs off */
	JA_WS_PAUSED,				/* auth / configuration error: waiting for a fix */
	JA_WS_NOT_CONFIGURED,		/* no token or phone number id set */
	JA_WS_NO_EXTENSION,			/* justauth not installed in justauth.database */
	JA_WS_RECOVERY				/* standby: nothing to do until promotion */
} JaWorkerState;

/* Where the last error came from. */
typedef enum JaErrorKind
{
	JA_EK_NONE = 0,
	JA_EK_META,					/* error JSON from the API: code is Meta's */
	JA_EK_HTTP,					/* HTTP status without a usable error body */
	JA_EK_TRANSPORT,			/* libcurl failure: code is a CURLcode */
	JA_EK_DATABASE,				/* the worker's own SQL failed */
	JA_EK_SETTINGS,				/* a required setting is empty */
	JA_EK_TOKEN_FILE			/* no usable token: code is a JaTokenProblem, http the errno */
} JaErrorKind;

#define JA_RATE_SLOTS 8

/* Requests started per wall-clock second, for the current rate. */
typedef struct JaRateSlot
{
	pg_atomic_uint64 second;
	pg_atomic_uint32 count;
} JaRateSlot;

typedef struct JaDeliveryShared
{
	pg_atomic_uint32 worker_pid;
	pg_atomic_uint32 worker_procno; /* pgprocno + 1; 0 when no worker */
	pg_atomic_uint32 wake_pending;	/* a commit set the latch since the worker last looked */
	pg_atomic_uint32 state;		/* JaWorkerState */
	pg_atomic_uint64 started_at;	/* TimestampTz */
	pg_atomic_uint64 paused_until;	/* TimestampTz, while throttled/paused */
	pg_atomic_uint64 sent;
	pg_atomic_uint64 failed;
	pg_atomic_uint64 expired;
	pg_atomic_uint64 retried;
	pg_atomic_uint64 requeued;	/* put back untried (pause, throttle, stop) */
	pg_atomic_uint64 reclaimed; /* found in flight at start-up */
	pg_atomic_uint64 requests;
	pg_atomic_uint64 last_error_at;
	pg_atomic_uint32 last_error_kind;	/* JaErrorKind */
	pg_atomic_uint32 last_error_code;	/* int32 bits */
	pg_atomic_uint32 last_error_http;
	JaRateSlot	rate[JA_RATE_SLOTS];
} JaDeliveryShared;

extern JaDeliveryShared *ja_shared;

extern void ja_note_error(JaErrorKind kind, int code, int http_status);
extern void ja_count_request(void);
extern double ja_current_rate(void);

/* ---- one message of a batch ---- */

typedef enum JaOutcome
{
	JA_OUT_PENDING = 0,			/* not finished */
	JA_OUT_SENT,				/* accepted by WhatsApp */
	JA_OUT_RETRY,				/* failed for now: back to queued with backoff */
	JA_OUT_REQUEUE,				/* never tried or not its fault: queued, attempt given back */
	JA_OUT_FAILED,				/* permanent: failed + refund */
	JA_OUT_EXPIRED				/* code expired before delivery: expired + refund */
} JaOutcome;

#define JA_CODE_MAX		16
#define JA_NUMBER_MAX	20
#define JA_WAMID_MAX	256
#define JA_ERRTEXT_MAX	256

typedef struct JaMessage
{
	pg_uuid_t	session_id;		/* the outbox row's key */
	char		request_id[UUID_LEN * 2 + 5];	/* session_id as text */
	char		to_number[JA_NUMBER_MAX];
	char		code[JA_CODE_MAX];
	TimestampTz expires_at;
	int			attempts;		/* including this one */

	JaOutcome	outcome;
	int			http_status;	/* 0: none */
	bool		has_error_code;
	int			error_code;		/* Meta's error.code */
	int			retry_ms;		/* for JA_OUT_RETRY / JA_OUT_REQUEUE */
	char		wamid[JA_WAMID_MAX];
	char		error_text[JA_ERRTEXT_MAX];
} JaMessage;

/* ---- error policy (delivery_policy.c) ---- */

/* How an API answer or transport failure is handled. */
typedef enum JaErrorClass
{
	JA_EC_RETRY,				/* retry this message with backoff */
	JA_EC_PAIR_LIMIT,			/* 131056: retry this message after 1, 4, 16 ... s */
	JA_EC_THROTTLE,				/* account-wide rate limit: back the whole worker off */
	JA_EC_CONFIG,				/* auth/config: pause the worker, keep the queue */
	JA_EC_PERMANENT				/* this message can never be delivered */
} JaErrorClass;

extern JaErrorClass ja_classify_meta_error(int code);
extern JaErrorClass ja_classify_http_status(int http_status);
extern int	ja_retry_delay_ms(int attempts);
extern int	ja_pair_limit_delay_ms(int attempts);
extern const char *ja_meta_error_meaning(int code);

/* Token bucket for justauth.max_messages_per_second. */
typedef struct JaTokenBucket
{
	double		rate;			/* tokens per second */
	double		capacity;		/* burst */
	double		tokens;
	TimestampTz last;
} JaTokenBucket;

extern void ja_bucket_configure(JaTokenBucket *bucket, int rate);
extern int64 ja_bucket_take(JaTokenBucket *bucket, TimestampTz now);
extern void ja_bucket_drain(JaTokenBucket *bucket, TimestampTz now);

/* ---- JSON (delivery_json.c) ---- */

typedef struct JaApiReply
{
	bool		parsed;			/* the body was JSON */
	bool		has_message_id;
	bool		has_error_code;
	int			error_code;
	char		message_id[JA_WAMID_MAX];
	char		error_message[JA_ERRTEXT_MAX];
} JaApiReply;

extern char *ja_build_request_body(const JaMessage *msg, int *len);
extern void ja_parse_api_reply(const char *body, int len, JaApiReply *reply);

/* ---- HTTP (delivery.c) ---- */

/* What a batch ran into, for the worker loop. */
typedef struct JaBatchResult
{
	bool		stopped;		/* shutdown requested mid-batch */
	bool		config_error;	/* pause the worker */
	bool		throttled;		/* back the whole worker off */
	int			sent;
	char		config_error_text[JA_ERRTEXT_MAX];
} JaBatchResult;

extern void ja_http_configure(void);
extern void ja_http_send_batch(JaMessage *msgs, int n, JaTokenBucket *bucket,
							   JaBatchResult *result);
extern void ja_http_abort(void);
extern void ja_http_shutdown(void);

/* ---- queue (worker_queue.c): each call runs its own short transaction ---- */

extern int64 ja_queue_reclaim(void);
extern int	ja_queue_claim(JaMessage *msgs, int limit, int visibility_ms,
						   int *expired);
extern void ja_queue_record(JaMessage *msgs, int n);
extern bool ja_queue_extension_ready(void);
extern int64 ja_queue_next_ms(bool expiry);

/* ---- worker (worker.c) ---- */

extern PGDLLEXPORT void justauth_worker_main(Datum arg);
extern void ja_register_worker(void);

#endif							/* JUSTAUTH_DELIVERY_H */
