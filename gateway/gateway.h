/*-------------------------------------------------------------------------
 *
 * gateway.h
 *		Declarations shared by the modules of justauth-gateway, the HTTP
 *		front of the JustAuth SQL API.  All business logic stays in the
 *		database: the gateway parses requests, calls one SQL function and
 *		relays its jsonb reply with the matching HTTP status.
 *
 *-------------------------------------------------------------------------
 */
#ifndef GATEWAY_H
#define GATEWAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <civetweb.h>
#include <libpq-fe.h>

#include "replyfields.h"

/* Longest accepted parameter value, in bytes (the SQL API's own limit). */
#define GW_MAX_PARAM_LEN	256
/* Longest accepted query string. */
#define GW_MAX_QUERY_LEN	4096
/* Largest accepted body on the API routes and on the webhook. */
#define GW_MAX_API_BODY		(16 * 1024)
#define GW_MAX_WEBHOOK_BODY	(1024 * 1024)

/* Start-up configuration, from flags and environment (config.c). */
typedef struct GatewayConfig
{
	char	   *listen;			/* plain HTTP listener, e.g. 127.0.0.1:8080 */
	char	   *listen_tls;		/* HTTPS listener, or NULL */
	char	   *tls_cert;
	char	   *tls_key;
	char	   *db;				/* libpq conninfo or URI */
	int			threads;
	int			statement_timeout_ms;
	int			request_timeout_ms;
	int			connect_timeout_s;
	char	   *access_log;		/* path, "-" for stdout, "off" for none */
	char	   *webhook_verify_token;
	char	   *webhook_app_secret;
	char	   *demo_client_id;
	char	   *demo_api_key;
} GatewayConfig;

extern GatewayConfig gw_config;

extern int	gw_parse_config(int argc, char **argv);
extern void gw_free_config(void);

/* Route identifiers, used for dispatch, metrics and the access log. */
typedef enum GwRoute
{
	ROUTE_SEND_OTP,
	ROUTE_VERIFY_OTP,
	ROUTE_PLAYGROUND_SEND,
	ROUTE_PLAYGROUND_VERIFY,
	ROUTE_WEBHOOK,
	ROUTE_HEALTHZ,
	ROUTE_METRICS,
	ROUTE_OPENAPI,
	ROUTE_INDEX,
	ROUTE_OTHER,
	ROUTE_COUNT
} GwRoute;

extern const char *gw_route_names[ROUTE_COUNT];

/* What one request did, for metrics and the access log. */
typedef struct GwRequest
{
	struct mg_connection *conn;
	const struct mg_request_info *ri;
	GwRoute		route;
	int			status;
	bool		close;			/* answer with Connection: close */
	bool		head;			/* HEAD request: headers only */
	char		client_id[64];	/* logged only if it looks like a client id */
	char		error[40];		/* error code of the reply, if any */
} GwRequest;

/* reply.c */
extern void gw_reply(GwRequest *req, int status, const char *content_type,
					 const char *body, size_t len, const char *extra_headers);
extern void gw_reply_json(GwRequest *req, int status, const char *body,
						  const char *extra_headers);
extern void gw_reply_error(GwRequest *req, int status, const char *error,
						   const char *message, const char *extra_headers);
extern int	gw_status_for_error(const char *error);

/* params.c */
enum
{
	PARAM_CLIENT_ID,
	PARAM_API_KEY,
	PARAM_NUMBER,
	PARAM_OTP,
	PARAM_IDEMPOTENCY_KEY,
	PARAM_COUNT
};

typedef struct GwParams
{
	char		value[PARAM_COUNT][GW_MAX_PARAM_LEN + 1];
	bool		present[PARAM_COUNT];
} GwParams;

extern const char *gw_param_names[PARAM_COUNT];
extern bool gw_collect_params(GwRequest *req, GwParams *params,
							  bool from_headers);
extern int	gw_read_body(GwRequest *req, char **body, size_t *len, size_t limit);

/* text.c */
extern bool gw_valid_utf8(const char *s, size_t len);
extern void gw_json_escape(char *out, size_t outlen, const char *in, size_t inlen);
extern bool gw_url_decode(const char *in, size_t inlen, char *out, size_t outlen,
						  size_t *outlenp, const char **why);
typedef bool (*gw_json_member_cb) (const char *key, const char *value, size_t len,
								   void *arg, const char **why);
extern bool gw_json_flat_object(const char *in, size_t len, gw_json_member_cb cb,
								void *arg, const char **why);

/*
 * A line being built in a fixed buffer, for what every request writes (the
 * reply head, the access-log line): plain copies cost a fraction of what
 * snprintf's formatting does.  Output that does not fit is cut short and
 * marked cut.
 */
typedef struct GwLine
{
	char	   *p;
	char	   *end;
	bool		cut;
} GwLine;

extern void gw_line_init(GwLine *l, char *buf, size_t size);
extern void gw_line_put(GwLine *l, const char *s, size_t n);
extern void gw_line_puts(GwLine *l, const char *s);
extern void gw_line_uint(GwLine *l, unsigned long long value, int width);

/* db.c */

/* The per-request statements, prepared once per database connection. */
typedef enum GwStmt
{
	STMT_SEND_OTP,
	STMT_VERIFY_OTP,
	STMT_COUNT
} GwStmt;

typedef struct GwDb
{
	PGconn	   *conn;
	bool		prepared[STMT_COUNT];	/* statement prepared on conn */
} GwDb;

extern void *gw_db_thread_init(void);
extern void gw_db_thread_exit(void *arg);
extern PGconn *gw_db_get(GwDb *db);
extern bool gw_db_result_transient(GwDb *db, PGresult *res);
extern PGresult *gw_db_exec(GwDb *db, GwStmt stmt, const char *const *values);

/* api.c */
extern void gw_handle_api(GwRequest *req, GwDb *db);
extern void gw_handle_healthz(GwRequest *req, GwDb *db);

/* webhook.c */
extern void gw_handle_webhook(GwRequest *req, GwDb *db);

/* metrics.c */
extern void gw_metrics_observe(GwRoute route, int status, double seconds);
extern void gw_metrics_set_threads(int threads);
extern void gw_metrics_db_connect(bool ok);
extern void gw_metrics_db_open_delta(int delta);
extern void gw_metrics_in_flight(int delta);
extern long gw_metrics_in_flight_now(void);
extern void gw_metrics_db_unavailable(void);
extern void gw_metrics_webhook_applied(long n);
extern void gw_handle_metrics(GwRequest *req);

/* accesslog.c */
extern bool gw_access_log_open(const char *target);
extern void gw_access_log_reopen(const char *target);
extern void gw_access_log_close(void);
extern void gw_access_log(const GwRequest *req, double seconds);
extern void gw_log(const char *level, const char *fmt,...)
			__attribute__((format(printf, 2, 3)));

/* assets.c */
extern void gw_handle_index(GwRequest *req);
extern void gw_handle_openapi(GwRequest *req);

#endif							/* GATEWAY_H */
