/*-------------------------------------------------------------------------
 *
 * assets.c
 *		Files embedded in the binary at build time: the playground page
 *		(GET /) and the OpenAPI description (GET /openapi.json).
 *
 *-------------------------------------------------------------------------
 */
#include "gateway.h"

#include "playground_html.h"
#include "openapi_json.h"

/*
 * GET /: the playground.  Its script talks only to this origin, so a
 * strict Content-Security-Policy costs nothing.
 */
void
gw_handle_index(GwRequest *req)
{
	gw_reply(req, 200, "text/html; charset=utf-8", (const char *) playground_html,
			 playground_html_len,
			 "Content-Security-Policy: default-src 'self'; script-src 'self' 'unsafe-inline'; "
			 "style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'\r\n"
			 "X-Frame-Options: DENY\r\n"
			 "Referrer-Policy: no-referrer\r\n");
}

/* GET /openapi.json */
void
gw_handle_openapi(GwRequest *req)
{
	gw_reply(req, 200, "application/json; charset=utf-8", (const char *) openapi_json,
			 openapi_json_len, NULL);
}
