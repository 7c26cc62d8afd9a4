/*-------------------------------------------------------------------------
 *
 * delivery.c
 *		Sends a claimed batch to the WhatsApp Cloud API with libcurl multi:
 *		up to justauth.max_in_flight requests at once, started as the token
 *		bucket allows, one easy handle per request slot, reused across
 *		batches so connections stay open.
 *
 * This runs outside any transaction.  Nothing here is in shared memory;
 * the curl state belongs to the worker process alone.  The access token
 * lives only in the request header list and is wiped when replaced.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <curl/curl.h>

#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "postmaster/interrupt.h"
#include "utils/timestamp.h"

#include "delivery.h"

#define JA_RESPONSE_MAX 16384
#define JA_POLL_MS		50

typedef struct JaSlot
{
	CURL	   *easy;
	bool		busy;
	JaMessage  *msg;
	char	   *body;
	int			body_len;
	char	   *response;		/* malloc'd, JA_RESPONSE_MAX bytes */
	int			response_len;
	char		errbuf[CURL_ERROR_SIZE];
} JaSlot;

static bool curl_ready = false;
static CURLM *multi = NULL;
static JaSlot *slots = NULL;
static int	nslots = 0;
static struct curl_slist *headers = NULL;
static char *request_url = NULL;

/*
 * Collect the response body (bounded; anything longer is cut and then
 * fails to parse, which is handled like a garbage reply).  Called by
 * libcurl: must not palloc or ereport.
 */
static size_t
ja_write_response(char *data, size_t size, size_t nmemb, void *userdata)
{
	JaSlot	   *slot = (JaSlot *) userdata;
	size_t		n = size * nmemb;
	size_t		room = JA_RESPONSE_MAX - 1 - slot->response_len;

	if (n > room)
		n = room;
	memcpy(slot->response + slot->response_len, data, n);
	slot->response_len += n;
	slot->response[slot->response_len] = '\0';
	return size * nmemb;
}

/* Wipe and free the header list (it holds the access token). */
static void
ja_free_headers(void)
{
	struct curl_slist *l;

	for (l = headers; l != NULL; l = l->next)
		explicit_bzero(l->data, strlen(l->data));
	curl_slist_free_all(headers);
	headers = NULL;
}

/* malloc that reports failure the PostgreSQL way. */
static void *
ja_malloc(size_t size)
{
	void	   *p = malloc(size);

	if (p == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory")));
	return p;
}

/*
 * ja_http_configure (re)builds the URL, headers, connection limits and
 * request slots from the current settings; called at start and after each
 * configuration reload, between batches.
 */
void
ja_http_configure(void)
{
	StringInfoData buf;
	int			urllen;
	int			want;

	if (!curl_ready)
	{
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
			ereport(ERROR,
					(errcode(ERRCODE_SYSTEM_ERROR),
					 errmsg("could not initialize libcurl")));
		curl_ready = true;
	}
	if (multi == NULL)
	{
		multi = curl_multi_init();
		if (multi == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_SYSTEM_ERROR),
					 errmsg("could not create a libcurl multi handle")));
	}
	curl_multi_setopt(multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long) ja_max_in_flight);
	curl_multi_setopt(multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long) ja_max_in_flight);
	curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, (long) ja_max_in_flight);

	/* {api_url}/{api_version}/{phone_number_id}/messages */
	initStringInfo(&buf);
	urllen = strlen(ja_api_url);
	while (urllen > 0 && ja_api_url[urllen - 1] == '/')
		urllen--;
	appendBinaryStringInfo(&buf, ja_api_url, urllen);
	appendStringInfo(&buf, "/%s/%s/messages", ja_api_version, ja_phone_number_id);
	free(request_url);
	request_url = NULL;
	request_url = ja_malloc(buf.len + 1);
	memcpy(request_url, buf.data, buf.len + 1);
	pfree(buf.data);

	ja_free_headers();
	initStringInfo(&buf);
	appendStringInfo(&buf, "Authorization: Bearer %s", ja_token());
	headers = curl_slist_append(headers, "Content-Type: application/json");
	headers = curl_slist_append(headers, "Accept: application/json");
	headers = curl_slist_append(headers, "Expect:");
	headers = curl_slist_append(headers, buf.data);
	explicit_bzero(buf.data, buf.len);
	pfree(buf.data);
	if (headers == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory")));

	want = ja_max_in_flight;
	if (want > nslots)
	{
		JaSlot	   *grown = realloc(slots, sizeof(JaSlot) * want);
		int			i;

		if (grown == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_OUT_OF_MEMORY),
					 errmsg("out of memory")));
		slots = grown;
		for (i = nslots; i < want; i++)
		{
			memset(&slots[i], 0, sizeof(JaSlot));
			slots[i].easy = curl_easy_init();
			slots[i].response = malloc(JA_RESPONSE_MAX);
			if (slots[i].easy == NULL || slots[i].response == NULL)
			{
				if (slots[i].easy)
					curl_easy_cleanup(slots[i].easy);
				free(slots[i].response);
				break;
			}
			nslots = i + 1;
		}
		if (nslots < want)
			ereport(ERROR,
					(errcode(ERRCODE_OUT_OF_MEMORY),
					 errmsg("could not create libcurl handles")));
	}
}

/* Start the request of msg on a free slot. */
static void
ja_start_request(JaSlot *slot, JaMessage *msg)
{
	CURL	   *e = slot->easy;

	slot->msg = msg;
	slot->body = ja_build_request_body(msg, &slot->body_len);
	slot->response_len = 0;
	slot->response[0] = '\0';
	slot->errbuf[0] = '\0';

	curl_easy_setopt(e, CURLOPT_URL, request_url);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(e, CURLOPT_POST, 1L);
	curl_easy_setopt(e, CURLOPT_POSTFIELDS, slot->body);
	curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long) slot->body_len);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, ja_write_response);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, slot);
	curl_easy_setopt(e, CURLOPT_PRIVATE, slot);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, slot->errbuf);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long) ja_request_timeout_ms);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long) Min(ja_request_timeout_ms, 5000));
	curl_easy_setopt(e, CURLOPT_USERAGENT, "justauth-delivery/1.0");

	if (curl_multi_add_handle(multi, e) != CURLM_OK)
	{
		msg->outcome = JA_OUT_REQUEUE;
		msg->retry_ms = 0;
		strlcpy(msg->error_text, "could not start the request", sizeof(msg->error_text));
		pfree(slot->body);
		return;
	}
	slot->busy = true;
	ja_count_request();
}

/*
 * Settle a message for a retryable error: retried with backoff until it
 * runs out of attempts, then failed.
 */
static void
ja_settle_retry(JaMessage *msg, int delay_ms)
{
	if (msg->attempts >= ja_max_attempts)
	{
		char		text[JA_ERRTEXT_MAX];

		snprintf(text, sizeof(text), "gave up after %d attempts: %s",
				 msg->attempts, msg->error_text);
		strlcpy(msg->error_text, text, sizeof(msg->error_text));
		msg->outcome = JA_OUT_FAILED;
		return;
	}
	msg->outcome = JA_OUT_RETRY;
	msg->retry_ms = delay_ms;
}

/*
 * Decide the outcome of a finished request from the transport result, the
 * HTTP status and Meta's error code.
 */
static void
ja_finish_request(JaSlot *slot, CURLcode rc, JaBatchResult *result)
{
	JaMessage  *msg = slot->msg;
	JaErrorClass ec;
	JaApiReply	reply;
	long		http = 0;

	slot->busy = false;
	curl_multi_remove_handle(multi, slot->easy);
	explicit_bzero(slot->body, slot->body_len);
	pfree(slot->body);
	slot->body = NULL;

	if (rc != CURLE_OK)
	{
		msg->http_status = 0;
		snprintf(msg->error_text, sizeof(msg->error_text), "%s",
				 slot->errbuf[0] ? slot->errbuf : curl_easy_strerror(rc));
		ja_note_error(JA_EK_TRANSPORT, (int) rc, 0);
		if (rc == CURLE_URL_MALFORMAT || rc == CURLE_UNSUPPORTED_PROTOCOL)
			ec = JA_EC_CONFIG;
		else
			ec = JA_EC_RETRY;
	}
	else
	{
		curl_easy_getinfo(slot->easy, CURLINFO_RESPONSE_CODE, &http);
		msg->http_status = (int) http;
		ja_parse_api_reply(slot->response, slot->response_len, &reply);
		if (http >= 200 && http < 300 && reply.has_message_id)
		{
			msg->outcome = JA_OUT_SENT;
			strlcpy(msg->wamid, reply.message_id, sizeof(msg->wamid));
			msg->error_text[0] = '\0';
			result->sent++;
			return;
		}
		if (http >= 200 && http < 300)
		{
			strlcpy(msg->error_text, "accepted reply without a message id", sizeof(msg->error_text));
			ja_note_error(JA_EK_HTTP, 0, (int) http);
			ec = JA_EC_RETRY;
		}
		else if (reply.has_error_code)
		{
			msg->has_error_code = true;
			msg->error_code = reply.error_code;
			snprintf(msg->error_text, sizeof(msg->error_text), "%s",
					 reply.error_message[0] ? reply.error_message :
					 ja_meta_error_meaning(reply.error_code));
			ja_note_error(JA_EK_META, reply.error_code, (int) http);
			ec = ja_classify_meta_error(reply.error_code);
		}
		else
		{
			snprintf(msg->error_text, sizeof(msg->error_text),
					 "HTTP %ld without a WhatsApp error body", http);
			ja_note_error(JA_EK_HTTP, 0, (int) http);
			ec = ja_classify_http_status((int) http);
		}
	}

	switch (ec)
	{
		case JA_EC_RETRY:
			ja_settle_retry(msg, ja_retry_delay_ms(msg->attempts));
			break;
		case JA_EC_PAIR_LIMIT:
			ja_settle_retry(msg, ja_pair_limit_delay_ms(msg->attempts));
			break;
		case JA_EC_THROTTLE:
			msg->outcome = JA_OUT_REQUEUE;
			msg->retry_ms = 0;
			result->throttled = true;
			break;
		case JA_EC_CONFIG:
			msg->outcome = JA_OUT_REQUEUE;
			msg->retry_ms = 0;
			if (!result->config_error)
				snprintf(result->config_error_text, sizeof(result->config_error_text),
						 "%s%s%s", msg->error_text,
						 msg->has_error_code ? " -- " : "",
						 msg->has_error_code ? ja_meta_error_meaning(msg->error_code) : "");
			result->config_error = true;
			break;
		case JA_EC_PERMANENT:
			msg->outcome = JA_OUT_FAILED;
			break;
	}
}

/* Collect every finished transfer. */
static void
ja_collect(JaBatchResult *result)
{
	CURLMsg    *m;
	int			left;

	while ((m = curl_multi_info_read(multi, &left)) != NULL)
	{
		JaSlot	   *slot = NULL;

		if (m->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **) &slot);
		ja_finish_request(slot, m->data.result, result);
	}
}

/*
 * ja_http_abort drops every request still in flight (their messages stay
 * claimed; the caller decides what happens to them).
 */
void
ja_http_abort(void)
{
	int			i;

	for (i = 0; i < nslots; i++)
	{
		if (slots[i].busy)
		{
			curl_multi_remove_handle(multi, slots[i].easy);
			explicit_bzero(slots[i].body, slots[i].body_len);
			slots[i].busy = false;
		}
	}
}

/*
 * ja_http_send_batch sends msgs[0..n-1] and sets every message's outcome.
 * A message is never started after its code expired.  After an auth/config
 * error or a rate-limit answer no new request starts; the rest is put back
 * untried.  A shutdown request stops the batch at once.
 */
void
ja_http_send_batch(JaMessage *msgs, int n, JaTokenBucket *bucket,
				   JaBatchResult *result)
{
	int			next = 0;
	int			running = 0;
	int			limit = Min(ja_max_in_flight, nslots);
	int			i;

	memset(result, 0, sizeof(*result));

	while (next < n || running > 0)
	{
		TimestampTz now = GetCurrentTimestamp();
		long		wait_ms = JA_POLL_MS;
		int			still;

		CHECK_FOR_INTERRUPTS();
		if (ShutdownRequestPending)
		{
			result->stopped = true;
			break;
		}

		while (next < n && running < limit &&
			   !result->config_error && !result->throttled)
		{
			JaMessage  *msg = &msgs[next];
			int64		token_wait;
			int			s;

			if (msg->expires_at <= now)
			{
				msg->outcome = JA_OUT_EXPIRED;
				next++;
				continue;
			}
			token_wait = ja_bucket_take(bucket, now);
			if (token_wait > 0)
			{
				wait_ms = Min(wait_ms, Max(1, token_wait / 1000));
				break;
			}
			for (s = 0; s < limit && slots[s].busy; s++)
				;
			ja_start_request(&slots[s], msg);
			next++;
			if (slots[s].busy)
				running++;
		}

		if (running == 0 && (next >= n || result->config_error || result->throttled))
			break;

		curl_multi_perform(multi, &still);
		ja_collect(result);
		running = 0;
		for (i = 0; i < limit; i++)
			if (slots[i].busy)
				running++;
		if (running > 0 || next < n)
			curl_multi_poll(multi, NULL, 0, (int) wait_ms, NULL);
	}

	/* Requests cut off by shutdown may have reached WhatsApp: retry them. */
	for (i = 0; i < nslots; i++)
	{
		if (slots[i].busy)
		{
			JaMessage  *msg = slots[i].msg;

			curl_multi_remove_handle(multi, slots[i].easy);
			explicit_bzero(slots[i].body, slots[i].body_len);
			slots[i].busy = false;
			msg->outcome = JA_OUT_RETRY;
			msg->retry_ms = 0;
			strlcpy(msg->error_text, "interrupted by worker shutdown", sizeof(msg->error_text));
		}
	}
	/* Messages never tried go back as they were. */
	for (; next < n; next++)
	{
		if (msgs[next].outcome == JA_OUT_PENDING)
		{
			msgs[next].outcome = JA_OUT_REQUEUE;
			msgs[next].retry_ms = 0;
		}
	}
}

/*
 * ja_http_shutdown releases libcurl at worker exit.
 */
void
ja_http_shutdown(void)
{
	int			i;

	ja_http_abort();
	for (i = 0; i < nslots; i++)
	{
		curl_easy_cleanup(slots[i].easy);
		free(slots[i].response);
	}
	free(slots);
	slots = NULL;
	nslots = 0;
	if (multi)
		curl_multi_cleanup(multi);
	multi = NULL;
	ja_free_headers();
	free(request_url);
	request_url = NULL;
}
