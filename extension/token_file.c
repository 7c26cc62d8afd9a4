/*-------------------------------------------------------------------------
 *
 * token_file.c
 *		The delivery worker's access token: from
 *		justauth.whatsapp_access_token, or read from the file named by
 *		justauth.whatsapp_access_token_file at worker start and at every
 *		configuration reload.
 *
 * PostgreSQL logs every reloaded setting with its value ("parameter ...
 * changed to ..."), so a token kept in postgresql.conf reaches the server
 * log when it is rotated.  A token kept in a file never does: the file's
 * contents live only in the worker's memory and are never logged.  The
 * file is checked like ssl_key_file: a regular file owned by the database
 * user (mode 0600 or less) or by root (0640 or less).  Any problem pauses
 * delivery (messages stay queued) until a reload brings a usable token;
 * no message names the token itself.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "miscadmin.h"
#include "utils/memutils.h"

#include "delivery.h"

/* The token read from the file (TopMemoryContext), or NULL. */
static char *file_token = NULL;
static JaTokenProblem token_problem = JA_TP_UNSET;
static int	token_errno = 0;

/* Whether a string setting has a value (an empty string is unset). */
static bool
setting_given(const char *value)
{
	return value != NULL && value[0] != '\0';
}

/*
 * ja_token_configured tells a backend whether a token is configured at
 * all: the setting or the file.  Only the worker reads the file (see
 * ja_token_load); a bad one pauses delivery rather than refusing sends.
 */
bool
ja_token_configured(void)
{
	return setting_given(ja_access_token) || setting_given(ja_access_token_file);
}

/* Wipe and free the token read from the file, if any. */
static void
ja_token_forget(void)
{
	if (file_token == NULL)
		return;
	explicit_bzero(file_token, strlen(file_token));
	pfree(file_token);
	file_token = NULL;
}

/*
 * The ownership and permission rule of PostgreSQL's ssl_key_file: owned by
 * us without group or world access, or owned by root and at most
 * group-readable (for secrets managed by root).
 */
static JaTokenProblem
ja_token_check_mode(const struct stat *st)
{
	if (!S_ISREG(st->st_mode))
		return JA_TP_NOT_REGULAR;
	if (st->st_uid != geteuid() && st->st_uid != 0)
		return JA_TP_OWNER;
	if ((st->st_uid == geteuid() && (st->st_mode & (S_IRWXG | S_IRWXO))) ||
		(st->st_uid == 0 && (st->st_mode & (S_IWGRP | S_IXGRP | S_IRWXO))))
		return JA_TP_PERMISSIONS;
	if (st->st_size > JA_TOKEN_FILE_MAX)
		return JA_TP_TOO_LARGE;
	return JA_TP_NONE;
}

/*
 * Strip trailing white space (the file's newline) in place and check what
 * is left: a bearer token is visible ASCII without blanks, and anything
 * else (a CR or LF inside would even split the HTTP header) is refused.
 */
static JaTokenProblem
ja_token_check_text(char *buf, int len)
{
	int			i;

	while (len > 0 && (buf[len - 1] == ' ' || buf[len - 1] == '\t' ||
					   buf[len - 1] == '\n' || buf[len - 1] == '\r' ||
					   buf[len - 1] == '\v' || buf[len - 1] == '\f'))
		len--;
	buf[len] = '\0';
	if (len == 0)
		return JA_TP_EMPTY;
	for (i = 0; i < len; i++)
		if ((unsigned char) buf[i] <= ' ' || (unsigned char) buf[i] >= 0x7f)
			return JA_TP_BAD_CHARACTERS;
	return JA_TP_NONE;
}

/*
 * Read the token file into buf (JA_TOKEN_FILE_MAX + 1 bytes plus the
 * terminator).  Never throws: the worker calls this outside its error
 * recovery, and a bad file must pause delivery, not crash-loop the worker.
 * A relative path is relative to the data directory, our working directory.
 */
static JaTokenProblem
ja_token_read(const char *path, char *buf, int *saved_errno)
{
	struct stat st;
	JaTokenProblem problem;
	int			fd;
	int			len = 0;

	*saved_errno = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
	{
		*saved_errno = errno;
		return JA_TP_UNREADABLE;
	}
	if (fstat(fd, &st) < 0)
	{
		*saved_errno = errno;
		close(fd);
		return JA_TP_UNREADABLE;
	}
	problem = ja_token_check_mode(&st);
	while (problem == JA_TP_NONE && len <= JA_TOKEN_FILE_MAX)
	{
		ssize_t		n = read(fd, buf + len, JA_TOKEN_FILE_MAX + 1 - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
		{
			*saved_errno = errno;
			problem = JA_TP_UNREADABLE;
		}
		if (n <= 0)
			break;
		len += n;
	}
	close(fd);
	if (problem == JA_TP_NONE && len > JA_TOKEN_FILE_MAX)
		problem = JA_TP_TOO_LARGE;
	if (problem == JA_TP_NONE)
		problem = ja_token_check_text(buf, len);
	return problem;
}

/*
 * The hint for a refused token: what to do about this problem.
 */
static const char *
ja_token_hint(JaTokenProblem problem)
{
	switch (problem)
	{
		case JA_TP_BOTH_SET:
			return "Set justauth.whatsapp_access_token to '' and reload: the token belongs in the file only.";
		case JA_TP_PERMISSIONS:
		case JA_TP_OWNER:
			return "chmod 0600 the file and make the database user its owner (or root, with mode 0640), then SELECT pg_reload_conf().";
		default:
			return "Fix the file, then SELECT pg_reload_conf().";
	}
}

/*
 * The token file's path for messages: relative paths are relative to the
 * data directory (our working directory), so say which file that is.
 */
static char *
ja_token_path_shown(void)
{
	if (is_absolute_path(ja_access_token_file))
		return pstrdup(ja_access_token_file);
	return psprintf("%s/%s", DataDir, ja_access_token_file);
}

/*
 * ja_token_load decides where the token comes from and, for a file, reads
 * it; called by the worker at start and after every configuration reload,
 * never per message.  A refused token is logged (path and reason, never
 * the contents) and remembered for justauth.worker_status.
 */
JaTokenProblem
ja_token_load(void)
{
	char		buf[JA_TOKEN_FILE_MAX + 2];
	bool		have_setting = setting_given(ja_access_token);
	bool		have_file = setting_given(ja_access_token_file);
	char	   *text;
	char	   *shown;

	ja_token_forget();
	token_errno = 0;
	if (!have_file)
		token_problem = have_setting ? JA_TP_NONE : JA_TP_UNSET;
	else if (have_setting)
		token_problem = JA_TP_BOTH_SET;
	else
		token_problem = ja_token_read(ja_access_token_file, buf, &token_errno);

	if (!have_file)
		return token_problem;

	shown = ja_token_path_shown();
	if (token_problem == JA_TP_NONE)
	{
		file_token = MemoryContextStrdup(TopMemoryContext, buf);
		explicit_bzero(buf, sizeof(buf));
		ereport(LOG,
				(errmsg("justauth: WhatsApp access token read from \"%s\"", shown)));
		pfree(shown);
		return token_problem;
	}
	explicit_bzero(buf, sizeof(buf));
	text = ja_token_problem_text(token_problem, token_errno);
	ereport(WARNING,
			(errcode(ERRCODE_CONFIG_FILE_ERROR),
			 errmsg("justauth delivery paused: %s", text),
			 errdetail("The file is \"%s\". Messages stay queued; codes that expire meanwhile are refunded.",
					   shown),
			 errhint("%s", ja_token_hint(token_problem))));
	pfree(text);
	pfree(shown);
	return token_problem;
}

/*
 * ja_token is the bearer token for requests: "" while there is none.
 */
const char *
ja_token(void)
{
	if (token_problem != JA_TP_NONE)
		return "";
	return file_token != NULL ? file_token : ja_access_token;
}

/*
 * ja_token_problem says why the worker has no token (JA_TP_NONE: it has
 * one) and, for an unreadable file, the errno.
 */
JaTokenProblem
ja_token_problem(int *saved_errno)
{
	*saved_errno = token_errno;
	return token_problem;
}

/*
 * ja_token_problem_text explains a refused token, for the server log and
 * for justauth.worker_status (which rebuilds it from the problem code and
 * errno kept in shared memory).  Names the setting, never the token.
 */
char *
ja_token_problem_text(int problem, int saved_errno)
{
	switch ((JaTokenProblem) problem)
	{
		case JA_TP_NONE:
		case JA_TP_UNSET:
			break;
		case JA_TP_BOTH_SET:
			return pstrdup("justauth.whatsapp_access_token and justauth.whatsapp_access_token_file are both set");
		case JA_TP_UNREADABLE:
			return psprintf("could not read justauth.whatsapp_access_token_file: %s",
							strerror(saved_errno));
		case JA_TP_NOT_REGULAR:
			return pstrdup("justauth.whatsapp_access_token_file is not a regular file");
		case JA_TP_OWNER:
			return pstrdup("justauth.whatsapp_access_token_file must be owned by the database user or root");
		case JA_TP_PERMISSIONS:
			return pstrdup("justauth.whatsapp_access_token_file has group or world access (chmod 0600)");
		case JA_TP_TOO_LARGE:
			return psprintf("justauth.whatsapp_access_token_file is larger than %d bytes",
							JA_TOKEN_FILE_MAX);
		case JA_TP_EMPTY:
			return pstrdup("justauth.whatsapp_access_token_file is empty");
		case JA_TP_BAD_CHARACTERS:
			return pstrdup("the token in justauth.whatsapp_access_token_file contains white space or control characters");
	}
	return pstrdup("justauth.whatsapp_access_token_file is unusable");
}
