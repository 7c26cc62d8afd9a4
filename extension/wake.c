/*-------------------------------------------------------------------------
 *
 * wake.c
 *		Delivery settings and worker wake-up (initial version; the delivery
 *		worker replaces this with the shared-memory latch and bgworker).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/guc.h"

#include "justauth.h"

static char *whatsapp_access_token = NULL;

/*
 * justauth_delivery_init defines the delivery settings.
 */
void
justauth_delivery_init(void)
{
	DefineCustomStringVariable("justauth.whatsapp_access_token",
							   gettext_noop("WhatsApp Cloud API access token."),
							   NULL,
							   &whatsapp_access_token,
							   "",
							   PGC_SIGHUP,
							   GUC_SUPERUSER_ONLY | GUC_NO_SHOW_ALL,
							   NULL, NULL, NULL);
}

/*
 * justauth_delivery_configured tells whether live messages can be sent.
 */
bool
justauth_delivery_configured(void)
{
	return whatsapp_access_token != NULL && whatsapp_access_token[0] != '\0';
}

/*
 * justauth_delivery_wake_on_commit: no worker to wake in this version.
 */
void
justauth_delivery_wake_on_commit(void)
{
}
