/*-------------------------------------------------------------------------
 *
 * delivery_settings.c
 *		The justauth.* settings of WhatsApp delivery.  Everything but the
 *		database is PGC_SIGHUP: the worker applies a reload without restart.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>

#include "miscadmin.h"
#include "utils/guc.h"

#include "delivery.h"

char	   *ja_database = NULL;
char	   *ja_api_url = NULL;
char	   *ja_api_version = NULL;
char	   *ja_phone_number_id = NULL;
char	   *ja_access_token = NULL;
char	   *ja_access_token_file = NULL;
char	   *ja_template = NULL;
char	   *ja_template_language = NULL;
int			ja_max_messages_per_second = 80;
int			ja_max_in_flight = 100;
int			ja_batch_size = 500;
int			ja_request_timeout_ms = 10000;
int			ja_poll_interval_ms = 5000;
int			ja_visibility_timeout_ms = 60000;
int			ja_retry_base_ms = 1000;
int			ja_retry_max_ms = 60000;
int			ja_max_attempts = 10;
int			ja_config_error_retry_ms = 30000;

/*
 * The API base URL goes straight to libcurl: only accept http(s) URLs so a
 * typo is refused at reload (and logged) instead of failing every send.
 */
static bool
check_api_url(char **newval, void **extra, GucSource source)
{
	const char *v = *newval;

	if (pg_strncasecmp(v, "http://", 7) != 0 &&
		pg_strncasecmp(v, "https://", 8) != 0)
	{
		GUC_check_errdetail("justauth.whatsapp_api_url must start with http:// or https://.");
		return false;
	}
	if (strpbrk(v, " \t\r\n") != NULL)
	{
		GUC_check_errdetail("justauth.whatsapp_api_url must not contain white space.");
		return false;
	}
	return true;
}

/*
 * URL path segments are pasted into the request URL: refuse characters that
 * would change its structure.
 */
static bool
check_path_segment(char **newval, void **extra, GucSource source)
{
	const unsigned char *p;

	for (p = (const unsigned char *) *newval; *p; p++)
	{
		if (!(isalnum(*p) || *p == '.' || *p == '_' || *p == '-'))
		{
			GUC_check_errdetail("Only letters, digits, '.', '_' and '-' are allowed.");
			return false;
		}
	}
	return true;
}

/*
 * ja_define_delivery_settings declares every delivery GUC.  The names are a
 * public contract (documented in docs/worker.md).
 */
void
ja_define_delivery_settings(void)
{
	/*
	 * PGC_POSTMASTER settings can only be created while preloading; without
	 * preloading there is no worker, so the setting has no meaning there.
	 */
	if (process_shared_preload_libraries_in_progress)
		DefineCustomStringVariable("justauth.database",
								   gettext_noop("Database whose justauth outbox the delivery worker drains."),
								   gettext_noop("Live sends in any other database are refused with delivery_not_configured."),
								   &ja_database,
								   "postgres",
								   PGC_POSTMASTER,
								   0,
								   NULL, NULL, NULL);

	DefineCustomStringVariable("justauth.whatsapp_api_url",
							   gettext_noop("Base URL of the WhatsApp Cloud API."),
							   NULL,
							   &ja_api_url,
							   "https://graph.facebook.com",
							   PGC_SIGHUP,
							   0,
							   check_api_url, NULL, NULL);

	DefineCustomStringVariable("justauth.whatsapp_api_version",
							   gettext_noop("Graph API version segment of the request URL."),
							   NULL,
							   &ja_api_version,
							   "v23.0",
							   PGC_SIGHUP,
							   0,
							   check_path_segment, NULL, NULL);

	DefineCustomStringVariable("justauth.whatsapp_phone_number_id",
							   gettext_noop("WhatsApp business phone number id that sends the codes."),
							   NULL,
							   &ja_phone_number_id,
							   "",
							   PGC_SIGHUP,
							   0,
							   check_path_segment, NULL, NULL);

	DefineCustomStringVariable("justauth.whatsapp_access_token",
							   gettext_noop("WhatsApp Cloud API access token."),
							   gettext_noop("Without it, live sends are refused with delivery_not_configured."),
							   &ja_access_token,
							   "",
							   PGC_SIGHUP,
							   GUC_SUPERUSER_ONLY | GUC_NO_SHOW_ALL,
							   NULL, NULL, NULL);

	DefineCustomStringVariable("justauth.whatsapp_access_token_file",
							   gettext_noop("File holding the WhatsApp Cloud API access token."),
							   gettext_noop("Absolute, or relative to the data directory; mode 0600. Read by the delivery worker at start and at every reload. justauth.whatsapp_access_token must then be empty."),
							   &ja_access_token_file,
							   "",
							   PGC_SIGHUP,
							   GUC_SUPERUSER_ONLY,
							   NULL, NULL, NULL);

	DefineCustomStringVariable("justauth.whatsapp_template",
							   gettext_noop("Name of the approved authentication template."),
							   NULL,
							   &ja_template,
							   "verification_code",
							   PGC_SIGHUP,
							   0,
							   NULL, NULL, NULL);

	DefineCustomStringVariable("justauth.whatsapp_template_language",
							   gettext_noop("Language code of the template."),
							   NULL,
							   &ja_template_language,
							   "en_US",
							   PGC_SIGHUP,
							   0,
							   NULL, NULL, NULL);

	DefineCustomIntVariable("justauth.max_messages_per_second",
							gettext_noop("Cap on messages sent per second (token bucket)."),
							gettext_noop("80 is Meta's default throughput per business number."),
							&ja_max_messages_per_second,
							80, 1, 100000,
							PGC_SIGHUP,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("justauth.max_in_flight",
							gettext_noop("Maximum concurrent requests to the WhatsApp API."),
							NULL,
							&ja_max_in_flight,
							100, 1, 1000,
							PGC_SIGHUP,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("justauth.batch_size",
							gettext_noop("Maximum messages claimed from the outbox per transaction."),
							NULL,
							&ja_batch_size,
							500, 1, 10000,
							PGC_SIGHUP,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("justauth.request_timeout_ms",
							gettext_noop("Timeout of one request to the WhatsApp API."),
							NULL,
							&ja_request_timeout_ms,
							10000, 100, 600000,
							PGC_SIGHUP,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("justauth.poll_interval_ms",
							gettext_noop("Safety-net poll of the outbox when no commit woke the worker."),
							NULL,
							&ja_poll_interval_ms,
							5000, 10, 3600000,
							PGC_SIGHUP,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("justauth.visibility_timeout_ms",
							gettext_noop("How long a claimed message stays invisible before another claim may retake it."),
							gettext_noop("Raised automatically to cover a whole batch at the current rate plus the request timeout."),
							&ja_visibility_timeout_ms,
							60000, 1000, 86400000,
							PGC_SIGHUP,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("justauth.retry_base_ms",
							gettext_noop("First retry delay after a retryable error; doubles per attempt, with jitter."),
							NULL,
							&ja_retry_base_ms,
							1000, 10, 3600000,
							PGC_SIGHUP,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("justauth.retry_max_ms",
							gettext_noop("Longest retry delay, and longest whole-worker backoff after rate-limit errors."),
							NULL,
							&ja_retry_max_ms,
							60000, 10, 86400000,
							PGC_SIGHUP,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("justauth.max_attempts",
							gettext_noop("Delivery attempts per message before it is marked failed and refunded."),
							NULL,
							&ja_max_attempts,
							10, 1, 1000,
							PGC_SIGHUP,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("justauth.config_error_retry_ms",
							gettext_noop("Pause after an authentication or configuration error before one message probes again."),
							gettext_noop("A configuration reload ends the pause at once."),
							&ja_config_error_retry_ms,
							30000, 100, 86400000,
							PGC_SIGHUP,
							GUC_UNIT_MS,
							NULL, NULL, NULL);
}
