--
-- 01_install: CREATE EXTENSION, the objects it installs, and the helpers
-- (schema jt) the other regress files use to print replies deterministically.
--
\set VERBOSITY sqlstate
CREATE EXTENSION justauth;

SELECT extname, extversion, extrelocatable, n.nspname AS schema
  FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
 WHERE extname = 'justauth';

-- A second CREATE fails, IF NOT EXISTS is a no-op.
CREATE EXTENSION justauth;
CREATE EXTENSION IF NOT EXISTS justauth;

-- The library is preloaded (the worker needs it) and defines the delivery setting.
SELECT 'justauth' = ANY (string_to_array(current_setting('shared_preload_libraries'), ',')) AS preloaded;
SELECT current_setting('justauth.whatsapp_access_token', true) = '' AS token_unset;

-- Tables and views of schema justauth.
SELECT c.relname, c.relkind
  FROM pg_class c
 WHERE c.relnamespace = 'justauth'::regnamespace AND c.relkind IN ('r', 'v')
 ORDER BY c.relkind, c.relname;

-- The API functions, in both schemas.
SELECT p.pronamespace::regnamespace AS schema, p.oid::regprocedure AS function
  FROM pg_proc p
 WHERE p.pronamespace IN ('justauth'::regnamespace, 'public'::regnamespace)
   AND (p.proname LIKE 'justauth%' OR p.proname = 'refund_session')
 ORDER BY p.pronamespace::regnamespace::text, p.oid::regprocedure::text;

-- The roles exist and cannot log in.
SELECT rolname, rolcanlogin, rolsuper FROM pg_roles
 WHERE rolname IN ('justauth_gateway', 'justauth_auditor', 'justauth_admin') ORDER BY 1;

-- The error code table is the contract's.
SELECT error, http_status FROM justauth.error_codes ORDER BY http_status, error;

-- Helpers for the other files (run as superuser only).
CREATE SCHEMA jt;
GRANT USAGE ON SCHEMA jt TO PUBLIC;

-- A reply with its random parts masked: request_id -> UUID (if it is one),
-- the code in message_simulated -> <N digits>, a refusal's human message ->
-- TEXT (if non-empty), retry_after -> N (if a positive integer).
CREATE FUNCTION jt.show(r jsonb) RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
SELECT CASE WHEN jsonb_typeof(r) <> 'object' THEN r ELSE
  (SELECT jsonb_object_agg(k, CASE
	WHEN k = 'request_id' THEN to_jsonb(CASE
		WHEN jsonb_typeof(v) = 'string'
		 AND v #>> '{}' ~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
		THEN 'UUID' ELSE 'BAD ' || v::text END)
	WHEN k = 'message_simulated' AND v #>> '{}' ~ 'is [0-9]+\.' THEN to_jsonb(
		regexp_replace(v #>> '{}', 'is [0-9]+\.',
			'is <' || length(substring(v #>> '{}' from 'is ([0-9]+)\.')) || ' digits>.'))
	WHEN k = 'message' AND r->'success' = 'false' THEN to_jsonb(CASE
		WHEN jsonb_typeof(v) = 'string' AND length(v #>> '{}') > 0 THEN 'TEXT'
		ELSE 'BAD ' || v::text END)
	WHEN k = 'retry_after' THEN to_jsonb(CASE
		WHEN jsonb_typeof(v) = 'number' AND v::text ~ '^[1-9][0-9]*$' THEN 'N'
		ELSE 'BAD ' || v::text END)
	ELSE v END)
   FROM jsonb_each(r) AS e(k, v))
END
$$;

-- The code of a sandbox reply.
CREATE FUNCTION jt.code(r jsonb) RETURNS text LANGUAGE sql IMMUTABLE AS $$
SELECT substring(r->>'message_simulated' from 'is ([0-9]+)\.')
$$;

-- A code of the same length that is surely different.
CREATE FUNCTION jt.wrong(code text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
SELECT string_agg(((substr(code, i, 1)::int + 1) % 10)::text, '' ORDER BY i)
  FROM generate_series(1, length(code)) i
$$;

-- A new client, funded with credits (none when credits is 0).
CREATE FUNCTION jt.client(name text, mode text, credits bigint,
						  OUT cid text, OUT key text) LANGUAGE plpgsql AS $$
BEGIN
	SELECT c.client_id, c.api_key INTO cid, key FROM justauth_create_client(name, mode) c;
	IF credits > 0 THEN
		PERFORM justauth_deposit(cid, credits, 'initial-' || name);
	END IF;
END
$$;

-- The wallet of a client: balance, ledger sum and entries per kind.
CREATE FUNCTION jt.wallet(cid text) RETURNS text LANGUAGE sql STABLE AS $$
SELECT format('balance=%s ledger_sum=%s deposits=%s debits=%s refunds=%s',
	(SELECT coalesce(sum(w.balance), 0) FROM justauth.wallet_shards w WHERE w.client_id = cid),
	(SELECT coalesce(sum(l.amount), 0) FROM justauth.ledger l WHERE l.client_id = cid),
	(SELECT count(*) FROM justauth.ledger l WHERE l.client_id = cid AND l.kind = 'deposit'),
	(SELECT count(*) FROM justauth.ledger l WHERE l.client_id = cid AND l.kind = 'debit'),
	(SELECT count(*) FROM justauth.ledger l WHERE l.client_id = cid AND l.kind = 'refund'))
$$;

-- Self-test of the helpers.
SELECT jt.show('{"success": true, "message_simulated": "Your verification code is 582931. It will expire in 2 minutes", "request_id": "6f1c1b1e-0000-4000-8000-000000000001", "expires_in": 120}');
SELECT jt.show('{"success": false, "error": "rate_limited", "message": "wait", "retry_after": 12}');
SELECT jt.code('{"message_simulated": "Your verification code is 0582931. It will expire in 2 minutes"}'),
	   jt.wrong('0582931'), jt.wrong('999');
