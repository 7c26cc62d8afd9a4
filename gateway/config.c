/*-------------------------------------------------------------------------
 *
 * config.c
 *		Start-up configuration of justauth-gateway: command-line flags, each
 *		with an environment variable fallback (flags win).  Secrets are
 *		better passed by environment, since flags show in ps.
 *
 *-------------------------------------------------------------------------
 */
#include <ctype.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway.h"

GatewayConfig gw_config;

enum
{
	OPT_LISTEN = 256,
	OPT_LISTEN_TLS,
	OPT_TLS_CERT,
	OPT_TLS_KEY,
	OPT_DB,
	OPT_THREADS,
	OPT_STATEMENT_TIMEOUT,
	OPT_REQUEST_TIMEOUT,
	OPT_CONNECT_TIMEOUT,
	OPT_ACCESS_LOG,
	OPT_VERIFY_TOKEN,
	OPT_APP_SECRET,
	OPT_DEMO_CLIENT_ID,
	OPT_DEMO_API_KEY,
	OPT_HELP
};

static const struct option long_options[] = {
	{"listen", required_argument, NULL, OPT_LISTEN},
	{"listen-tls", required_argument, NULL, OPT_LISTEN_TLS},
	{"tls-cert", required_argument, NULL, OPT_TLS_CERT},
	{"tls-key", required_argument, NULL, OPT_TLS_KEY},
	{"db", required_argument, NULL, OPT_DB},
	{"threads", required_argument, NULL, OPT_THREADS},
	{"statement-timeout-ms", required_argument, NULL, OPT_STATEMENT_TIMEOUT},
	{"request-timeout-ms", required_argument, NULL, OPT_REQUEST_TIMEOUT},
	{"connect-timeout", required_argument, NULL, OPT_CONNECT_TIMEOUT},
	{"access-log", required_argument, NULL, OPT_ACCESS_LOG},
	{"webhook-verify-token", required_argument, NULL, OPT_VERIFY_TOKEN},
	{"webhook-app-secret", required_argument, NULL, OPT_APP_SECRET},
	{"demo-client-id", required_argument, NULL, OPT_DEMO_CLIENT_ID},
	{"demo-api-key", required_argument, NULL, OPT_DEMO_API_KEY},
	{"help", no_argument, NULL, OPT_HELP},
	{NULL, 0, NULL, 0}
};

/* Printed by --help; keep in step with docs/gateway.md. */
static void
usage(FILE *out)
{
	fputs("justauth-gateway: HTTP API, WhatsApp webhook and playground of JustAuth\n"
		  "\n"
		  "Usage: justauth-gateway [OPTION]...\n"
		  "\n"
		  "Options (environment variable in brackets; flags override it):\n"
		  "  --listen=ADDR:PORT         plain HTTP listener, or a bare PORT for all\n"
		  "                             interfaces [JUSTAUTH_LISTEN] (127.0.0.1:8080)\n"
		  "  --listen-tls=ADDR:PORT     HTTPS listener [JUSTAUTH_LISTEN_TLS]\n"
		  "  --tls-cert=FILE            PEM certificate (chain) [JUSTAUTH_TLS_CERT]\n"
		  "  --tls-key=FILE             PEM private key [JUSTAUTH_TLS_KEY]\n"
		  "  --db=CONNINFO              libpq conninfo or URI, multi-host allowed\n"
		  "                             [JUSTAUTH_DATABASE_URL] (libpq defaults)\n"
		  "  --threads=N                worker threads = concurrent connections,\n"
		  "                             one database connection each [JUSTAUTH_THREADS] (8)\n"
		  "  --statement-timeout-ms=N   statement_timeout of every database call\n"
		  "                             [JUSTAUTH_STATEMENT_TIMEOUT_MS] (5000)\n"
		  "  --request-timeout-ms=N     time a client may take to send a request\n"
		  "                             [JUSTAUTH_REQUEST_TIMEOUT_MS] (10000)\n"
		  "  --connect-timeout=SECONDS  database connect timeout [JUSTAUTH_CONNECT_TIMEOUT] (3)\n"
		  "  --access-log=PATH|-|off    JSON-lines access log, '-' is stdout\n"
		  "                             [JUSTAUTH_ACCESS_LOG] (-)\n"
		  "  --webhook-verify-token=T   token of Meta's webhook handshake\n"
		  "                             [JUSTAUTH_WEBHOOK_VERIFY_TOKEN]\n"
		  "  --webhook-app-secret=S     Meta app secret for X-Hub-Signature-256\n"
		  "                             [JUSTAUTH_WEBHOOK_APP_SECRET]\n"
		  "  --demo-client-id=ID        sandbox client used by the playground\n"
		  "                             [JUSTAUTH_DEMO_CLIENT_ID]\n"
		  "  --demo-api-key=KEY         its API key [JUSTAUTH_DEMO_API_KEY]\n"
		  "  --help                     show this help and exit\n"
		  "\n"
		  "SIGTERM/SIGINT: finish requests in flight, then exit.  SIGHUP: reopen the access log.\n", out);
}

/* Replaces a string setting, freeing the previous value. */
static void
set_string(char **dst, const char *value)
{
	free(*dst);
	*dst = (value != NULL && value[0] != '\0') ? strdup(value) : NULL;
}

/* Parses a positive integer setting; false if it is not one within range. */
static bool
parse_int(const char *name, const char *value, int min, int max, int *out)
{
	char	   *end;
	long		v;

	if (value == NULL || !isdigit((unsigned char) value[0]))
	{
		fprintf(stderr, "justauth-gateway: %s must be an integer\n", name);
		return false;
	}
	v = strtol(value, &end, 10);
	if (*end != '\0' || v < min || v > max)
	{
		fprintf(stderr, "justauth-gateway: %s must be between %d and %d\n",
				name, min, max);
		return false;
	}
	*out = (int) v;
	return true;
}

/*
 * A bare port number listens on every interface, as CivetWeb does; an
 * ADDR:PORT is used as given.  Returns a newly allocated listener spec.
 */
static char *
listener_spec(const char *value, bool tls)
{
	size_t		len = strlen(value);
	char	   *spec = malloc(len + 2);

	if (spec == NULL)
		return NULL;
	memcpy(spec, value, len);
	if (tls)
		spec[len++] = 's';
	spec[len] = '\0';
	return spec;
}

/* Rejects listener values with characters CivetWeb would misread. */
static bool
valid_listener(const char *name, const char *value)
{
	const char *p;

	if (value == NULL || value[0] == '\0')
		return true;
	for (p = value; *p; p++)
	{
		if (!isalnum((unsigned char) *p) && *p != '.' && *p != ':' &&
			*p != '[' && *p != ']')
		{
			fprintf(stderr, "justauth-gateway: %s must be ADDR:PORT or PORT\n", name);
			return false;
		}
	}
	return true;
}

/*
 * Fills gw_config from the environment, then from the flags.
 * Returns -1 to continue, else the exit status (0 after --help).
 */
int
gw_parse_config(int argc, char **argv)
{
	const char *env;
	char	   *listen = NULL;
	char	   *listen_tls = NULL;
	int			c;

	memset(&gw_config, 0, sizeof(gw_config));
	gw_config.threads = 8;
	gw_config.statement_timeout_ms = 5000;
	gw_config.request_timeout_ms = 10000;
	gw_config.connect_timeout_s = 3;

	set_string(&listen, getenv("JUSTAUTH_LISTEN"));
	set_string(&listen_tls, getenv("JUSTAUTH_LISTEN_TLS"));
	set_string(&gw_config.tls_cert, getenv("JUSTAUTH_TLS_CERT"));
	set_string(&gw_config.tls_key, getenv("JUSTAUTH_TLS_KEY"));
	set_string(&gw_config.db, getenv("JUSTAUTH_DATABASE_URL"));
	set_string(&gw_config.access_log, getenv("JUSTAUTH_ACCESS_LOG"));
	set_string(&gw_config.webhook_verify_token, getenv("JUSTAUTH_WEBHOOK_VERIFY_TOKEN"));
	set_string(&gw_config.webhook_app_secret, getenv("JUSTAUTH_WEBHOOK_APP_SECRET"));
	set_string(&gw_config.demo_client_id, getenv("JUSTAUTH_DEMO_CLIENT_ID"));
	set_string(&gw_config.demo_api_key, getenv("JUSTAUTH_DEMO_API_KEY"));
	if ((env = getenv("JUSTAUTH_THREADS")) != NULL &&
		!parse_int("JUSTAUTH_THREADS", env, 1, 1024, &gw_config.threads))
		goto fail;
	if ((env = getenv("JUSTAUTH_STATEMENT_TIMEOUT_MS")) != NULL &&
		!parse_int("JUSTAUTH_STATEMENT_TIMEOUT_MS", env, 1, 3600000,
				   &gw_config.statement_timeout_ms))
		goto fail;
	if ((env = getenv("JUSTAUTH_REQUEST_TIMEOUT_MS")) != NULL &&
		!parse_int("JUSTAUTH_REQUEST_TIMEOUT_MS", env, 100, 3600000,
				   &gw_config.request_timeout_ms))
		goto fail;
	if ((env = getenv("JUSTAUTH_CONNECT_TIMEOUT")) != NULL &&
		!parse_int("JUSTAUTH_CONNECT_TIMEOUT", env, 1, 600,
				   &gw_config.connect_timeout_s))
		goto fail;

	while ((c = getopt_long(argc, argv, "", long_options, NULL)) != -1)
	{
		switch (c)
		{
			case OPT_LISTEN:
				set_string(&listen, optarg);
				break;
			case OPT_LISTEN_TLS:
				set_string(&listen_tls, optarg);
				break;
			case OPT_TLS_CERT:
				set_string(&gw_config.tls_cert, optarg);
				break;
			case OPT_TLS_KEY:
				set_string(&gw_config.tls_key, optarg);
				break;
			case OPT_DB:
				set_string(&gw_config.db, optarg);
				break;
			case OPT_THREADS:
				if (!parse_int("--threads", optarg, 1, 1024, &gw_config.threads))
					goto fail;
				break;
			case OPT_STATEMENT_TIMEOUT:
				if (!parse_int("--statement-timeout-ms", optarg, 1, 3600000,
							   &gw_config.statement_timeout_ms))
					goto fail;
				break;
			case OPT_REQUEST_TIMEOUT:
				if (!parse_int("--request-timeout-ms", optarg, 100, 3600000,
							   &gw_config.request_timeout_ms))
					goto fail;
				break;
			case OPT_CONNECT_TIMEOUT:
				if (!parse_int("--connect-timeout", optarg, 1, 600,
							   &gw_config.connect_timeout_s))
					goto fail;
				break;
			case OPT_ACCESS_LOG:
				set_string(&gw_config.access_log, optarg);
				break;
			case OPT_VERIFY_TOKEN:
				set_string(&gw_config.webhook_verify_token, optarg);
				break;
			case OPT_APP_SECRET:
				set_string(&gw_config.webhook_app_secret, optarg);
				break;
			case OPT_DEMO_CLIENT_ID:
				set_string(&gw_config.demo_client_id, optarg);
				break;
			case OPT_DEMO_API_KEY:
				set_string(&gw_config.demo_api_key, optarg);
				break;
			case OPT_HELP:
				usage(stdout);
				free(listen);
				free(listen_tls);
				return 0;
			default:
				usage(stderr);
				goto fail;
		}
	}
	if (optind < argc)
	{
		fprintf(stderr, "justauth-gateway: unexpected argument \"%s\"\n", argv[optind]);
		goto fail;
	}

	if (listen == NULL && listen_tls == NULL)
		set_string(&listen, "127.0.0.1:8080");
	if (!valid_listener("--listen", listen) || !valid_listener("--listen-tls", listen_tls))
		goto fail;
	if (listen_tls != NULL && (gw_config.tls_cert == NULL || gw_config.tls_key == NULL))
	{
		fprintf(stderr, "justauth-gateway: --listen-tls needs --tls-cert and --tls-key\n");
		goto fail;
	}
	if ((gw_config.demo_client_id == NULL) != (gw_config.demo_api_key == NULL))
	{
		fprintf(stderr, "justauth-gateway: give both --demo-client-id and --demo-api-key, or neither\n");
		goto fail;
	}
	if (gw_config.access_log == NULL)
		set_string(&gw_config.access_log, "-");
	gw_config.listen = listen ? listener_spec(listen, false) : NULL;
	gw_config.listen_tls = listen_tls ? listener_spec(listen_tls, true) : NULL;
	free(listen);
	free(listen_tls);
	return -1;

fail:
	free(listen);
	free(listen_tls);
	gw_free_config();
	return 2;
}

/* Releases every string of gw_config (keeps valgrind's leak check clean). */
void
gw_free_config(void)
{
	free(gw_config.listen);
	free(gw_config.listen_tls);
	free(gw_config.tls_cert);
	free(gw_config.tls_key);
	free(gw_config.db);
	free(gw_config.access_log);
	free(gw_config.webhook_verify_token);
	free(gw_config.webhook_app_secret);
	free(gw_config.demo_client_id);
	free(gw_config.demo_api_key);
	memset(&gw_config, 0, sizeof(gw_config));
}
