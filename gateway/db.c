/*-------------------------------------------------------------------------
 *
 * db.c
 *		One libpq connection per CivetWeb worker thread, opened lazily and
 *		reopened after any failure, so the gateway recovers by itself when
 *		the database comes back.  Connections are never shared between
 *		threads.
 *
 *-------------------------------------------------------------------------
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway.h"

/*
 * The API calls, by GwStmt.  Each returns the function's jsonb reply as
 * is; the members the status and headers need are read from it by
 * gw_reply_fields.
 */
static const struct
{
	const char *name;
	const char *sql;
}			statements[STMT_COUNT] = {
	{"justauth_gw_send_otp", "SELECT justauth.justauth_send_otp($1, $2, $3, $4)"},
	{"justauth_gw_verify_otp", "SELECT justauth.justauth_verify_otp($1, $2, $3, $4)"},
};

/* Called by CivetWeb's init_thread for each worker thread. */
void *
gw_db_thread_init(void)
{
	return calloc(1, sizeof(GwDb));
}

/* Called by CivetWeb's exit_thread: closes the thread's connection. */
void
gw_db_thread_exit(void *arg)
{
	GwDb	   *db = arg;

	if (db == NULL)
		return;
	if (db->conn != NULL)
	{
		PQfinish(db->conn);
		gw_metrics_db_open_delta(-1);
	}
	free(db);
}

/* Sends the server's notices (e.g. FATAL on shutdown) to our JSON log. */
static void
notice_processor(void *arg, const char *message)
{
	(void) arg;
	gw_log("notice", "database: %.*s", (int) strcspn(message, "\n"), message);
}

/* Drops the thread's connection after a failure; the next call reconnects. */
static void
db_drop(GwDb *db)
{
	if (db->conn != NULL)
	{
		PQfinish(db->conn);
		db->conn = NULL;
		gw_metrics_db_open_delta(-1);
	}
	memset(db->prepared, 0, sizeof(db->prepared));
}

/*
 * True if an idle connection is still usable.  A server that restarted or
 * terminated us has closed the socket (often after a FATAL message), which
 * makes it readable: consume that input now so a request is never sent
 * down a dead connection, where its fate would be unknown.
 */
static bool
db_idle_alive(PGconn *conn)
{
	struct pollfd pfd;

	if (PQstatus(conn) != CONNECTION_OK)
		return false;
	pfd.fd = PQsocket(conn);
	pfd.events = POLLIN;
	pfd.revents = 0;
	if (pfd.fd < 0)
		return false;
	/* A FATAL message and the end of the stream may need two reads. */
	for (int i = 0; i < 4 && poll(&pfd, 1, 0) > 0; i++)
	{
		PGnotify   *n;

		if ((pfd.revents & (POLLHUP | POLLERR)) != 0 || !PQconsumeInput(conn))
			return false;
		while ((n = PQnotifies(conn)) != NULL)
			PQfreemem(n);
		if (PQstatus(conn) != CONNECTION_OK)
			return false;
	}
	return true;
}

/*
 * Returns the thread's connection, opening it if needed, or NULL if the
 * database cannot be reached (the caller answers 503).
 */
PGconn *
gw_db_get(GwDb *db)
{
	/* Earlier keywords yield to the same ones in the conninfo (dbname). */
	const char *keywords[] = {"connect_timeout", "application_name",
	"dbname", NULL};
	const char *values[4];
	char		timeout[16];
	char		stmt_timeout[16];
	const char *params[1];
	PGresult   *res;

	if (db->conn != NULL)
	{
		if (db_idle_alive(db->conn))
			return db->conn;
		db_drop(db);
	}

	snprintf(timeout, sizeof(timeout), "%d", gw_config.connect_timeout_s);
	values[0] = timeout;
	values[1] = "justauth-gateway";
	values[2] = gw_config.db ? gw_config.db : "";
	values[3] = NULL;
	db->conn = PQconnectdbParams(keywords, values, 1);
	if (db->conn == NULL || PQstatus(db->conn) != CONNECTION_OK)
	{
		const char *err = db->conn ? PQerrorMessage(db->conn) : "out of memory";

		gw_log("warning", "database connection failed: %.*s",
			   (int) strcspn(err, "\n"), err);
		gw_metrics_db_connect(false);
		if (db->conn != NULL)
			PQfinish(db->conn);
		db->conn = NULL;
		return NULL;
	}
	gw_metrics_db_connect(true);
	gw_metrics_db_open_delta(1);
	memset(db->prepared, 0, sizeof(db->prepared));
	PQsetNoticeProcessor(db->conn, notice_processor, NULL);

	/* Every call of this connection is bounded by the statement timeout. */
	snprintf(stmt_timeout, sizeof(stmt_timeout), "%d", gw_config.statement_timeout_ms);
	params[0] = stmt_timeout;
	res = PQexecParams(db->conn,
					   "SELECT pg_catalog.set_config('statement_timeout', $1, false)",
					   1, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
	{
		gw_log("warning", "cannot set statement_timeout on a new connection");
		PQclear(res);
		db_drop(db);
		return NULL;
	}
	PQclear(res);
	return db->conn;
}

/*
 * True if a failed result means the database is unavailable rather than
 * that the call itself was wrong: lost connection, shutdown, overload,
 * statement timeout.  A lost connection is dropped for reconnection.
 */
bool
gw_db_result_transient(GwDb *db, PGresult *res)
{
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;

	if (db->conn == NULL || PQstatus(db->conn) != CONNECTION_OK)
	{
		db_drop(db);
		return true;
	}
	if (state == NULL)
		return true;
	/* 08 connection, 53 resources, 57 operator intervention (incl. timeout), 40 rollback */
	return strncmp(state, "08", 2) == 0 || strncmp(state, "53", 2) == 0 ||
		strncmp(state, "57", 2) == 0 || strncmp(state, "40", 2) == 0 ||
		strcmp(state, "55P03") == 0;
}

/*
 * Runs one API statement on the thread's connection (from gw_db_get).  It
 * is prepared on its first use on a connection, so that each call is
 * parsed and analyzed by the server once per connection rather than once
 * per request; a database without the extension still connects (healthz
 * reports it).  A failed preparation is returned like a failed execution:
 * in both cases nothing ran.  A server that forgot the statement (DISCARD
 * ALL, 26000 before anything ran) gets it prepared again once.
 */
PGresult *
gw_db_exec(GwDb *db, GwStmt stmt, const char *const *values)
{
	for (int attempt = 0;; attempt++)
	{
		PGresult   *res;
		const char *state;

		if (!db->prepared[stmt])
		{
			res = PQprepare(db->conn, statements[stmt].name, statements[stmt].sql,
							4, NULL);
			if (PQresultStatus(res) != PGRES_COMMAND_OK)
				return res;
			PQclear(res);
			db->prepared[stmt] = true;
		}
		res = PQexecPrepared(db->conn, statements[stmt].name, 4, values, NULL, NULL, 0);
		state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
		if (attempt > 0 || state == NULL || strcmp(state, "26000") != 0)
			return res;
		PQclear(res);
		db->prepared[stmt] = false;
	}
}
