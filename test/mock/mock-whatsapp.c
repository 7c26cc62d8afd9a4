/*
 * mock-whatsapp.c
 *		A stand-in for the WhatsApp Cloud API send endpoint, for tests and
 *		benchmarks of the JustAuth delivery worker.
 *
 *	POST /{version}/{phone_number_id}/messages
 *		Checks the bearer token and the authentication-template body (code in
 *		the body parameter and in the copy-code button, "to" with '+') and
 *		answers like Meta: {"messages":[{"id":"wamid...."}]} or error JSON.
 *	GET  /_requests[?since=N]	what was received, as a JSON array
 *	POST /_control?...			change behaviour (see usage())
 *	POST /_reset				forget requests, rules and latency
 *
 * Every request is recorded with its arrival time, so tests can assert on
 * bodies, duplicates and requests per second.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <civetweb.h>
#include <jansson.h>

#define MAX_BODY	(64 * 1024)
#define MAX_RULES	64

/* What a rule makes the server do. */
typedef enum FailMode
{
	FAIL_NONE,					/* answer normally */
	FAIL_META,					/* Meta error JSON with error.code = code */
	FAIL_HTTP500,				/* 500 with an HTML body */
	FAIL_HTTP429,				/* 429 without a JSON body */
	FAIL_TIMEOUT,				/* hold the request for hang_ms, then 504 */
	FAIL_GARBAGE,				/* 200 with a body that is not JSON */
	FAIL_NOID					/* 200 JSON without a message id */
} FailMode;

typedef struct Rule
{
	FailMode	mode;
	long		code;			/* Meta error code for FAIL_META */
	long		remaining;		/* requests left; -1: forever */
	char		to[32];			/* only this recipient (digits); "" = all */
} Rule;

/* One received request. */
typedef struct Record
{
	long		seq;
	double		t_ms;			/* arrival, ms since the epoch */
	int			status;			/* HTTP status answered */
	bool		auth_ok;
	bool		body_ok;
	char		bearer[128];	/* token presented ("" without "Bearer ") */
	char		to[32];
	char		body_code[24];
	char		button_code[24];
	char		template_name[64];
	char		language[16];
	char		biz[128];		/* Meta allows 512; ours is a request id */
	char		path[128];
	char		wamid[64];
	long		error_code;
	char		problem[128];
} Record;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static Record *records = NULL;
static long nrecords = 0;
static long cap_records = 0;
static Rule rules[MAX_RULES];
static int	nrules = 0;
static long latency_ms = 0;
static long hang_ms = 30000;
static char token[128] = "test-token";
static const char *phone_number_id = NULL;
static volatile sig_atomic_t stopping = 0;
static unsigned long wamid_counter = 0;
static unsigned long long boot_ms = 0;	/* keeps wamids unique across restarts */
static const char *log_path = NULL;
static FILE *log_file = NULL;

/* Wall-clock time in ms, comparable with the test's own clock. */
static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6;
}

/* Sleep in small steps so SIGTERM stops a held request quickly. */
static void
sleep_ms(long ms)
{
	while (ms > 0 && !stopping)
	{
		long		step = ms > 50 ? 50 : ms;
		struct timespec ts = {step / 1000, (step % 1000) * 1000000L};

		nanosleep(&ts, NULL);
		ms -= step;
	}
}

/* Bounded copy that treats NULL as empty. */
static void
copy_str(char *dst, size_t size, const char *src)
{
	if (src == NULL)
		src = "";
	snprintf(dst, size, "%s", src);
}

/* Parse a fail mode name: a number is a Meta error code. */
static bool
parse_mode(const char *s, Rule *r)
{
	char	   *end;

	r->code = 0;
	if (strcmp(s, "none") == 0)
		r->mode = FAIL_NONE;
	else if (strcmp(s, "500") == 0)
		r->mode = FAIL_HTTP500;
	else if (strcmp(s, "429") == 0)
		r->mode = FAIL_HTTP429;
	else if (strcmp(s, "timeout") == 0)
		r->mode = FAIL_TIMEOUT;
	else if (strcmp(s, "garbage") == 0)
		r->mode = FAIL_GARBAGE;
	else if (strcmp(s, "noid") == 0)
		r->mode = FAIL_NOID;
	else
	{
		long		v = strtol(s, &end, 10);

		if (*s == '\0' || *end != '\0')
			return false;
		r->mode = FAIL_META;
		r->code = v;
	}
	return true;
}

/* Pick the rule for a request to "to" (caller holds the lock). */
static Rule
take_rule(const char *to)
{
	Rule		none = {FAIL_NONE, 0, -1, ""};
	int			i;

	for (i = 0; i < nrules; i++)
	{
		Rule	   *r = &rules[i];

		if (r->remaining == 0)
			continue;
		if (r->to[0] != '\0' && strcmp(r->to, to) != 0)
			continue;
		if (r->remaining > 0)
			r->remaining--;
		return *r;
	}
	return none;
}

/* HTTP status Meta uses for an error code (the code is what matters). */
static int
status_for_code(long code)
{
	if (code == 190 || code == 0)
		return 401;
	if (code == 10 || (code >= 200 && code <= 299))
		return 403;
	if (code == 1 || code == 2 || code == 131000 || code == 131016)
		return 500;
	return 400;
}

/* Meta-like error message text for a code. */
static const char *
message_for_code(long code)
{
	switch (code)
	{
		case 190:
			return "Error validating access token: Session has expired";
		case 130429:
			return "(#130429) Rate limit hit";
		case 131056:
			return "(#131056) (Business Account, Consumer Account) pair rate limit hit";
		case 131026:
			return "(#131026) Message Undeliverable";
		case 132001:
			return "(#132001) Template name does not exist in the translation";
		case 131000:
			return "(#131000) Something went wrong";
		default:
			return "(#100) Invalid parameter";
	}
}

/* Answer with a complete body (Content-Length set, so keep-alive works). */
static void
send_body(struct mg_connection *conn, int status, const char *ctype, const char *body)
{
	mg_printf(conn,
			  "HTTP/1.1 %d %s\r\nContent-Type: %s\r\n"
			  "Content-Length: %zu\r\n\r\n%s",
			  status, mg_get_response_code_text(conn, status), ctype, strlen(body), body);
}

/* Answer with JSON. */
static void
send_json(struct mg_connection *conn, int status, const char *json)
{
	send_body(conn, status, "application/json", json);
}

/* Answer with Meta's error envelope for error.code = code. */
static void
send_meta_error(struct mg_connection *conn, int status, long code, const char *message)
{
	char		buf[1024];
	json_t	   *o = json_pack("{s:{s:s,s:s,s:I,s:{s:s,s:s},s:s}}",
							  "error",
							  "message", message,
							  "type", "OAuthException",
							  "code", (json_int_t) code,
							  "error_data", "messaging_product", "whatsapp",
							  "details", message,
							  "fbtrace_id", "AmockTraceId");
	char	   *s = json_dumps(o, JSON_COMPACT);

	snprintf(buf, sizeof(buf), "%s", s);
	free(s);
	json_decref(o);
	send_json(conn, status, buf);
}

/* Read a string member, "" when absent or not a string. */
static const char *
jstr(json_t *o, const char *key)
{
	json_t	   *v = json_object_get(o, key);

	return json_is_string(v) ? json_string_value(v) : "";
}

/* text of parameters[0] of a component */
static const char *
component_param(json_t *comp)
{
	json_t	   *params = json_object_get(comp, "parameters");
	json_t	   *p0 = json_array_get(params, 0);

	if (!json_is_object(p0) || strcmp(jstr(p0, "type"), "text") != 0)
		return "";
	return jstr(p0, "text");
}

/*
 * Check the template body like Meta would and fill the record; returns
 * false with rec->problem set when it is not a valid OTP template send.
 */
static bool
check_body(const char *body, size_t len, Record *rec)
{
	json_error_t err;
	json_t	   *root = json_loadb(body, len, 0, &err);
	json_t	   *tmpl,
			   *comps;
	const char *to;
	size_t		i;
	bool		ok = false;

	if (root == NULL || !json_is_object(root))
	{
		copy_str(rec->problem, sizeof(rec->problem), "body is not a JSON object");
		json_decref(root);
		return false;
	}
	to = jstr(root, "to");
	copy_str(rec->to, sizeof(rec->to), to[0] == '+' ? to + 1 : to);
	copy_str(rec->biz, sizeof(rec->biz), jstr(root, "biz_opaque_callback_data"));
	tmpl = json_object_get(root, "template");
	copy_str(rec->template_name, sizeof(rec->template_name), jstr(tmpl, "name"));
	copy_str(rec->language, sizeof(rec->language), jstr(json_object_get(tmpl, "language"), "code"));
	comps = json_object_get(tmpl, "components");
	for (i = 0; i < json_array_size(comps); i++)
	{
		json_t	   *c = json_array_get(comps, i);

		if (strcmp(jstr(c, "type"), "body") == 0)
			copy_str(rec->body_code, sizeof(rec->body_code), component_param(c));
		else if (strcmp(jstr(c, "type"), "button") == 0 &&
				 strcmp(jstr(c, "sub_type"), "url") == 0 &&
				 strcmp(jstr(c, "index"), "0") == 0)
			copy_str(rec->button_code, sizeof(rec->button_code), component_param(c));
	}

	if (strcmp(jstr(root, "messaging_product"), "whatsapp") != 0)
		copy_str(rec->problem, sizeof(rec->problem), "messaging_product is not whatsapp");
	else if (strcmp(jstr(root, "type"), "template") != 0)
		copy_str(rec->problem, sizeof(rec->problem), "type is not template");
	else if (to[0] != '+' || strlen(to) < 9 || strspn(to + 1, "0123456789") != strlen(to) - 1)
		copy_str(rec->problem, sizeof(rec->problem), "to is not +E.164");
	else if (rec->template_name[0] == '\0' || rec->language[0] == '\0')
		copy_str(rec->problem, sizeof(rec->problem), "template name or language missing");
	else if (rec->body_code[0] == '\0' || strlen(rec->body_code) > 15)
		copy_str(rec->problem, sizeof(rec->problem), "body parameter missing or longer than 15");
	else if (strcmp(rec->body_code, rec->button_code) != 0)
		copy_str(rec->problem, sizeof(rec->problem), "button parameter differs from the body code");
	else if (rec->biz[0] == '\0')
		copy_str(rec->problem, sizeof(rec->problem), "biz_opaque_callback_data missing");
	else
		ok = true;
	json_decref(root);
	return ok;
}

/* Append a record (caller holds the lock). */
static void
store_record(const Record *rec)
{
	if (nrecords == cap_records)
	{
		long		cap = cap_records ? cap_records * 2 : 4096;
		Record	   *grown = realloc(records, sizeof(Record) * cap);

		if (grown == NULL)
		{
			fprintf(stderr, "mock-whatsapp: out of memory\n");
			exit(1);
		}
		records = grown;
		cap_records = cap;
	}
	records[nrecords++] = *rec;
	if (log_file)
	{
		fprintf(log_file, "%ld %.3f %d %s %s %s\n", rec->seq, rec->t_ms, rec->status,
				rec->to, rec->wamid[0] ? rec->wamid : "-", rec->problem[0] ? rec->problem : "-");
		fflush(log_file);
	}
}

/* POST .../messages */
static int
handle_messages(struct mg_connection *conn, void *cbdata)
{
	const struct mg_request_info *ri = mg_get_request_info(conn);
	char	   *body = malloc(MAX_BODY + 1);
	int			len = 0;
	int			n;
	Record		rec;
	Rule		rule;
	const char *auth;
	char		expected[512];
	char		reply[1024];

	memset(&rec, 0, sizeof(rec));
	rec.t_ms = now_ms();
	copy_str(rec.path, sizeof(rec.path), ri->local_uri);

	while (len < MAX_BODY && (n = mg_read(conn, body + len, MAX_BODY - len)) > 0)
		len += n;
	body[len] = '\0';

	if (strcmp(ri->request_method, "POST") != 0)
	{
		free(body);
		mg_send_http_error(conn, 405, "POST only");
		return 405;
	}

	auth = mg_get_header(conn, "Authorization");
	pthread_mutex_lock(&lock);
	snprintf(expected, sizeof(expected), "Bearer %s", token);
	pthread_mutex_unlock(&lock);
	rec.auth_ok = auth != NULL && strcmp(auth, expected) == 0;
	if (auth != NULL && strncmp(auth, "Bearer ", 7) == 0)
		copy_str(rec.bearer, sizeof(rec.bearer), auth + 7);
	rec.body_ok = check_body(body, len, &rec);
	free(body);

	if (phone_number_id != NULL)
	{
		char		want[160];

		snprintf(want, sizeof(want), "/%s/messages", phone_number_id);
		if (strlen(rec.path) < strlen(want) ||
			strcmp(rec.path + strlen(rec.path) - strlen(want), want) != 0)
		{
			rec.body_ok = false;
			copy_str(rec.problem, sizeof(rec.problem), "unknown phone number id");
		}
	}

	pthread_mutex_lock(&lock);
	rec.seq = nrecords + 1;
	rule = take_rule(rec.to);
	if (rec.auth_ok && rec.body_ok && (rule.mode == FAIL_NONE || rule.mode == FAIL_NOID))
		snprintf(rec.wamid, sizeof(rec.wamid),
				 "wamid.HBgMOCK%llX%08lX", boot_ms, ++wamid_counter);
	{
		long		lat = latency_ms;

		pthread_mutex_unlock(&lock);
		sleep_ms(lat);
	}

	if (!rec.auth_ok)
	{
		rec.status = 401;
		rec.error_code = 190;
		send_meta_error(conn, 401, 190, "Invalid OAuth access token - Cannot parse access token");
	}
	else if (!rec.body_ok)
	{
		rec.status = 400;
		rec.error_code = 100;
		send_meta_error(conn, 400, 100, rec.problem);
	}
	else
	{
		switch (rule.mode)
		{
			case FAIL_NONE:
				rec.status = 200;
				snprintf(reply, sizeof(reply),
						 "{\"messaging_product\":\"whatsapp\",\"contacts\":[{\"input\":\"+%s\",\"wa_id\":\"%s\"}],"
						 "\"messages\":[{\"id\":\"%s\",\"message_status\":\"accepted\"}]}",
						 rec.to, rec.to, rec.wamid);
				send_json(conn, 200, reply);
				break;
			case FAIL_NOID:
				rec.status = 200;
				rec.wamid[0] = '\0';
				send_json(conn, 200, "{\"messaging_product\":\"whatsapp\",\"messages\":[]}");
				break;
			case FAIL_META:
				rec.status = status_for_code(rule.code);
				rec.error_code = rule.code;
				send_meta_error(conn, rec.status, rule.code, message_for_code(rule.code));
				break;
			case FAIL_HTTP500:
				rec.status = 500;
				send_body(conn, 500, "text/html", "<html><body>Internal Server Error</body></html>");
				break;
			case FAIL_HTTP429:
				rec.status = 429;
				send_body(conn, 429, "text/plain", "Too Many Requests");
				break;
			case FAIL_TIMEOUT:
				sleep_ms(hang_ms);
				rec.status = 504;
				mg_send_http_error(conn, 504, "held for %ld ms", hang_ms);
				break;
			case FAIL_GARBAGE:
				rec.status = 200;
				send_body(conn, 200, "application/json", "{\"messages\":[{\"id\":\"wamid.<html>");
				break;
		}
	}

	pthread_mutex_lock(&lock);
	store_record(&rec);
	pthread_mutex_unlock(&lock);
	return rec.status;
}

/* Query parameter as long, or dflt. */
static long
qlong(const struct mg_request_info *ri, const char *name, long dflt)
{
	char		buf[64];

	if (ri->query_string == NULL)
		return dflt;
	if (mg_get_var(ri->query_string, strlen(ri->query_string), name, buf, sizeof(buf)) < 0)
		return dflt;
	return strtol(buf, NULL, 10);
}

/*
 * POST /_control?latency_ms=&hang_ms=&fail=&count=&to=&token=
 * Adds a rule (fail=MODE, count requests or forever, optionally only for
 * recipient "to"); fail=none with no "to" clears all rules.  token=
 * changes the accepted bearer token (a rotation at Meta).
 */
static int
handle_control(struct mg_connection *conn, void *cbdata)
{
	const struct mg_request_info *ri = mg_get_request_info(conn);
	char		mode[32];
	char		to[32] = "";
	char		new_token[128];

	pthread_mutex_lock(&lock);
	latency_ms = qlong(ri, "latency_ms", latency_ms);
	hang_ms = qlong(ri, "hang_ms", hang_ms);
	if (ri->query_string &&
		mg_get_var(ri->query_string, strlen(ri->query_string), "token", new_token, sizeof(new_token)) > 0)
		copy_str(token, sizeof(token), new_token);
	if (ri->query_string &&
		mg_get_var(ri->query_string, strlen(ri->query_string), "fail", mode, sizeof(mode)) > 0)
	{
		Rule		r;

		memset(&r, 0, sizeof(r));
		if (ri->query_string)
			mg_get_var(ri->query_string, strlen(ri->query_string), "to", to, sizeof(to));
		if (!parse_mode(mode, &r))
		{
			pthread_mutex_unlock(&lock);
			mg_send_http_error(conn, 400, "unknown fail mode %s", mode);
			return 400;
		}
		if (r.mode == FAIL_NONE && to[0] == '\0')
			nrules = 0;
		else
		{
			int			i,
						kept = 0;

			/* drop rules whose count is used up, so the table never clogs */
			for (i = 0; i < nrules; i++)
				if (rules[i].remaining != 0)
					rules[kept++] = rules[i];
			nrules = kept;
			if (nrules >= MAX_RULES)
			{
				pthread_mutex_unlock(&lock);
				mg_send_http_error(conn, 409, "rule table full (%d rules)", MAX_RULES);
				return 409;
			}
			r.remaining = qlong(ri, "count", -1);
			copy_str(r.to, sizeof(r.to), to);
			rules[nrules++] = r;
		}
	}
	pthread_mutex_unlock(&lock);
	send_json(conn, 200, "{\"ok\":true}");
	return 200;
}

/* POST /_reset */
static int
handle_reset(struct mg_connection *conn, void *cbdata)
{
	pthread_mutex_lock(&lock);
	nrecords = 0;
	nrules = 0;
	latency_ms = 0;
	pthread_mutex_unlock(&lock);
	send_json(conn, 200, "{\"ok\":true}");
	return 200;
}

/* GET /_requests[?since=N]: records with seq > N */
static int
handle_requests(struct mg_connection *conn, void *cbdata)
{
	const struct mg_request_info *ri = mg_get_request_info(conn);
	long		since = qlong(ri, "since", 0);
	json_t	   *arr = json_array();
	char	   *s;
	long		i;

	pthread_mutex_lock(&lock);
	for (i = since > 0 ? since : 0; i < nrecords; i++)
	{
		Record	   *r = &records[i];

		json_array_append_new(arr, json_pack("{s:I,s:f,s:i,s:b,s:b,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:I,s:s}",
											 "seq", (json_int_t) r->seq,
											 "t_ms", r->t_ms,
											 "status", r->status,
											 "auth_ok", r->auth_ok,
											 "body_ok", r->body_ok,
											 "bearer", r->bearer,
											 "to", r->to,
											 "body_code", r->body_code,
											 "button_code", r->button_code,
											 "template", r->template_name,
											 "language", r->language,
											 "biz", r->biz,
											 "path", r->path,
											 "wamid", r->wamid,
											 "error_code", (json_int_t) r->error_code,
											 "problem", r->problem));
	}
	pthread_mutex_unlock(&lock);
	s = json_dumps(arr, JSON_COMPACT);
	json_decref(arr);
	mg_printf(conn, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n", strlen(s));
	mg_write(conn, s, strlen(s));
	free(s);
	return 200;
}

/* SIGTERM/SIGINT: leave the main loop. */
static void
on_signal(int sig)
{
	stopping = 1;
}

/* Command-line help. */
static void
usage(void)
{
	fprintf(stderr,
			"usage: mock-whatsapp [--listen HOST:PORT] [--token TOKEN] [--phone-number-id ID]\n"
			"                     [--threads N] [--latency-ms N] [--hang-ms N] [--fail MODE]\n"
			"                     [--log FILE]\n"
			"MODE: none | 500 | 429 | timeout | garbage | noid | <Meta error code>\n"
			"control: POST /_control?latency_ms=N&hang_ms=N&fail=MODE&count=N&to=DIGITS&token=TOKEN\n"
			"         POST /_reset, GET /_requests?since=N\n");
}

/* Parse options, start CivetWeb, serve until a signal arrives. */
int
main(int argc, char **argv)
{
	static struct option longopts[] = {
		{"listen", required_argument, NULL, 'l'},
		{"port", required_argument, NULL, 'p'},
		{"token", required_argument, NULL, 't'},
		{"phone-number-id", required_argument, NULL, 'i'},
		{"threads", required_argument, NULL, 'n'},
		{"latency-ms", required_argument, NULL, 'L'},
		{"hang-ms", required_argument, NULL, 'H'},
		{"fail", required_argument, NULL, 'f'},
		{"log", required_argument, NULL, 'o'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0}
	};
	char		listen[128] = "127.0.0.1:8089";
	char		threads[16] = "512";
	const char *options[32];
	struct mg_callbacks callbacks;
	struct mg_context *ctx;
	int			c;

	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1)
	{
		switch (c)
		{
			case 'l':
				copy_str(listen, sizeof(listen), optarg);
				break;
			case 'p':
				snprintf(listen, sizeof(listen), "127.0.0.1:%s", optarg);
				break;
			case 't':
				copy_str(token, sizeof(token), optarg);
				break;
			case 'i':
				phone_number_id = optarg;
				break;
			case 'n':
				copy_str(threads, sizeof(threads), optarg);
				break;
			case 'L':
				latency_ms = strtol(optarg, NULL, 10);
				break;
			case 'H':
				hang_ms = strtol(optarg, NULL, 10);
				break;
			case 'f':
				if (!parse_mode(optarg, &rules[0]))
				{
					usage();
					return 2;
				}
				rules[0].remaining = -1;
				nrules = 1;
				break;
			case 'o':
				log_path = optarg;
				break;
			default:
				usage();
				return c == 'h' ? 0 : 2;
		}
	}
	if (log_path && (log_file = fopen(log_path, "a")) == NULL)
	{
		fprintf(stderr, "mock-whatsapp: cannot open %s: %s\n", log_path, strerror(errno));
		return 1;
	}

	boot_ms = (unsigned long long) now_ms();
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	signal(SIGPIPE, SIG_IGN);

	mg_init_library(0);
	memset(&callbacks, 0, sizeof(callbacks));
	c = 0;
	options[c++] = "listening_ports";
	options[c++] = listen;
	options[c++] = "num_threads";
	options[c++] = threads;
	options[c++] = "enable_keep_alive";
	options[c++] = "yes";
	options[c++] = "keep_alive_timeout_ms";
	options[c++] = "60000";
	options[c++] = "request_timeout_ms";
	options[c++] = "600000";
	options[c++] = "listen_backlog";
	options[c++] = "1024";
	options[c] = NULL;
	ctx = mg_start(&callbacks, NULL, options);
	if (ctx == NULL)
	{
		fprintf(stderr, "mock-whatsapp: cannot listen on %s\n", listen);
		return 1;
	}
	mg_set_request_handler(ctx, "/_control$", handle_control, NULL);
	mg_set_request_handler(ctx, "/_reset$", handle_reset, NULL);
	mg_set_request_handler(ctx, "/_requests$", handle_requests, NULL);
	mg_set_request_handler(ctx, "**/messages$", handle_messages, NULL);
	printf("mock-whatsapp listening on %s\n", listen);
	fflush(stdout);

	while (!stopping)
		sleep_ms(100);
	mg_stop(ctx);
	mg_exit_library();
	return 0;
}
