/*-------------------------------------------------------------------------
 *
 * justauth--1.0.sql
 *		WhatsApp phone-number verification inside PostgreSQL: clients, split
 *		prepaid wallets with an append-only ledger, verification sessions,
 *		per-number limits and the delivery outbox drained by the worker.
 *
 * Everything here lives in schema justauth.  The public API functions are
 * also created in schema public so that `SELECT justauth_send_otp(...)`
 * works without touching search_path.  Nothing is readable by PUBLIC.
 *
 *-------------------------------------------------------------------------
 */

\echo Use "CREATE EXTENSION justauth" to load this file. \quit

/* Roles are cluster-wide: create them once, keep them across reinstalls. */
DO $roles$
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'justauth_gateway') THEN
		CREATE ROLE justauth_gateway NOLOGIN;
	END IF;
	IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'justauth_auditor') THEN
		CREATE ROLE justauth_auditor NOLOGIN;
	END IF;
	IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'justauth_admin') THEN
		CREATE ROLE justauth_admin NOLOGIN;
	END IF;
END
$roles$;

REVOKE ALL ON SCHEMA justauth FROM PUBLIC;
GRANT USAGE ON SCHEMA justauth TO justauth_gateway, justauth_auditor, justauth_admin;

/*
 * Status and kind columns are domains rather than column CHECKs: PostgreSQL
 * reads back and plans every CHECK of a table on each statement that writes
 * to it, while a domain's check is planned once per session and cached.
 * They are text underneath, so comparisons with text work as before.
 */
CREATE DOMAIN justauth.session_status AS text
	CHECK (VALUE IN ('pending', 'approved', 'superseded', 'failed'));
CREATE DOMAIN justauth.outbox_status AS text
	CHECK (VALUE IN ('queued', 'sending', 'sent', 'delivered', 'read', 'failed', 'expired'));
CREATE DOMAIN justauth.ledger_kind AS text
	CHECK (VALUE IN ('deposit', 'debit', 'refund'));
CREATE DOMAIN justauth.delivery_status AS text
	CHECK (VALUE IN ('sent', 'delivered', 'read', 'failed'));
/* Credits held: a wallet sub-balance, a balance after a ledger entry. */
CREATE DOMAIN justauth.credits AS bigint CHECK (VALUE >= 0);
CREATE DOMAIN justauth.shard_no AS smallint CHECK (VALUE >= 0);

/* ------------------------------------------------------------------------
 * Clients
 * ------------------------------------------------------------------------ */
CREATE TABLE justauth.clients (
	client_id text COLLATE "C" PRIMARY KEY,
	name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
	mode text NOT NULL CHECK (mode IN ('live', 'sandbox')),
	status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended')),
	api_key_hash bytea NOT NULL,
	api_key_hint text NOT NULL,
	funded_at timestamptz,
	code_length integer NOT NULL DEFAULT 6 CHECK (code_length BETWEEN 4 AND 10),
	code_ttl_seconds integer NOT NULL DEFAULT 120 CHECK (code_ttl_seconds BETWEEN 1 AND 86400),
	max_attempts integer NOT NULL DEFAULT 5 CHECK (max_attempts BETWEEN 1 AND 100),
	resend_cooldown_seconds integer NOT NULL DEFAULT 30 CHECK (resend_cooldown_seconds BETWEEN 0 AND 86400),
	max_sends_per_window integer NOT NULL DEFAULT 5 CHECK (max_sends_per_window BETWEEN 1 AND 1000),
	send_window_seconds integer NOT NULL DEFAULT 600 CHECK (send_window_seconds BETWEEN 1 AND 604800),
	max_sends_per_minute integer CHECK (max_sends_per_minute > 0),
	default_country_code text NOT NULL DEFAULT '91' CHECK (default_country_code ~ '^[1-9][0-9]{0,2}$'),
	allowed_country_codes text[] NOT NULL DEFAULT '{91}',
	verify_requires_api_key boolean NOT NULL DEFAULT false,
	created_at timestamptz NOT NULL DEFAULT now(),
	key_rotated_at timestamptz NOT NULL DEFAULT now(),
	test_number_count integer NOT NULL DEFAULT 0 CHECK (test_number_count >= 0)
);

COMMENT ON TABLE justauth.clients IS
'Businesses using JustAuth, with their per-client verification settings. DBAs may UPDATE the settings columns; changes apply to the next call.';
COMMENT ON COLUMN justauth.clients.client_id IS 'Public client identifier (cl_ + 128 random bits, URL-safe).';
COMMENT ON COLUMN justauth.clients.mode IS 'sandbox: the code is returned in message_simulated and nothing is sent; live: the code goes to WhatsApp through the outbox.';
COMMENT ON COLUMN justauth.clients.status IS 'active or suspended; a suspended client gets client_suspended (403) on send and verify.';
COMMENT ON COLUMN justauth.clients.api_key_hash IS 'SHA-256 of the API key; the key itself is shown once by justauth_create_client / justauth_rotate_api_key and never stored.';
COMMENT ON COLUMN justauth.clients.api_key_hint IS 'Last four characters of the current API key, to tell keys apart.';
COMMENT ON COLUMN justauth.clients.funded_at IS 'Time of the first deposit; sends before it get wallet_not_funded (402).';
COMMENT ON COLUMN justauth.clients.code_length IS 'Digits per code, 4 to 10.';
COMMENT ON COLUMN justauth.clients.code_ttl_seconds IS 'Lifetime of a code; the sandbox message states it in minutes.';
COMMENT ON COLUMN justauth.clients.max_attempts IS 'Wrong guesses allowed per code; after that even the right code is refused (max_attempts).';
COMMENT ON COLUMN justauth.clients.resend_cooldown_seconds IS 'Minimum time between two sends to the same number.';
COMMENT ON COLUMN justauth.clients.max_sends_per_window IS 'Maximum sends to one number within send_window_seconds (sliding window).';
COMMENT ON COLUMN justauth.clients.max_sends_per_minute IS 'Optional cap on all sends of this client per 60 s (NULL: no cap).';
COMMENT ON COLUMN justauth.clients.default_country_code IS 'Country code put in front of a bare national number.';
COMMENT ON COLUMN justauth.clients.allowed_country_codes IS 'Country codes this client may send to (SMS/WhatsApp pumping defence).';
COMMENT ON COLUMN justauth.clients.verify_requires_api_key IS 'When true, justauth_verify_otp refuses calls without the API key.';
COMMENT ON COLUMN justauth.clients.test_number_count IS 'How many test numbers the client has, kept by triggers on justauth.test_numbers; a send looks a number up among them only when this is not 0.';

/* Numbers that always get a fixed code: no debit, no message (app-store review). */
CREATE TABLE justauth.test_numbers (
	client_id text COLLATE "C" NOT NULL REFERENCES justauth.clients (client_id),
	number text COLLATE "C" NOT NULL CHECK (number ~ '^[0-9]{8,15}$'),
	code text NOT NULL CHECK (code ~ '^[0-9]{4,10}$'),
	created_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (client_id, number)
);
COMMENT ON TABLE justauth.test_numbers IS
'Per-client test numbers with a fixed code (for app-store review): sends to them debit nothing and send nothing; verify checks the fixed code.';

/*
 * clients.test_number_count spares every send of a client without test
 * numbers (nearly all of them) a lookup and two relation locks.  Counted
 * by increments, so concurrent changes cannot lose one.
 */
CREATE FUNCTION justauth.count_test_numbers() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS
$$
BEGIN
	IF TG_OP = 'TRUNCATE' THEN
		UPDATE justauth.clients SET test_number_count = 0 WHERE test_number_count <> 0;
		RETURN NULL;
	END IF;
	IF TG_OP IN ('UPDATE', 'DELETE') THEN
		UPDATE justauth.clients SET test_number_count = test_number_count - 1 WHERE client_id = OLD.client_id;
	END IF;
	IF TG_OP IN ('UPDATE', 'INSERT') THEN
		UPDATE justauth.clients SET test_number_count = test_number_count + 1 WHERE client_id = NEW.client_id;
	END IF;
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION justauth.count_test_numbers() IS 'Trigger function keeping justauth.clients.test_number_count equal to the client''s rows in justauth.test_numbers.';
CREATE TRIGGER test_numbers_count AFTER INSERT OR DELETE OR UPDATE OF client_id ON justauth.test_numbers
	FOR EACH ROW EXECUTE FUNCTION justauth.count_test_numbers();
CREATE TRIGGER test_numbers_count_truncate AFTER TRUNCATE ON justauth.test_numbers
	FOR EACH STATEMENT EXECUTE FUNCTION justauth.count_test_numbers();

/* ------------------------------------------------------------------------
 * Wallet: balances split over shards so one busy client's concurrent sends
 * do not queue on a single row; the ledger is the record of every movement.
 * ------------------------------------------------------------------------ */
CREATE TABLE justauth.wallet_shards (
	client_id text COLLATE "C" NOT NULL REFERENCES justauth.clients (client_id),
	shard justauth.shard_no NOT NULL,
	balance justauth.credits NOT NULL DEFAULT 0,
	PRIMARY KEY (client_id, shard)
) WITH (fillfactor = 10);
/*
 * Every send updates a row here and reads all of its client's rows.  A page
 * is pruned of dead row versions only once less than (100 - fillfactor) %
 * of it is free: at 10 that is almost always, so the HOT chains every read
 * walks stay short (at 50, a busy client's 38 rows averaged 7 versions).
 */
COMMENT ON TABLE justauth.wallet_shards IS
'Sub-balances of each client''s wallet: 4 at first, up to 64 for a busy client (a send that had to wait for one moves half of it to an empty or new one). A send debits one sub-balance it can lock without waiting (SKIP LOCKED); a deposit spreads over all of them. The wallet balance is their sum and always equals the sum of the client''s ledger.';

/*
 * The shape of a ledger entry, as one C function rather than three CHECKs:
 * a table's CHECK expressions are read back and planned on every INSERT
 * statement, and the ledger takes one insert per send.
 */
CREATE FUNCTION justauth.ledger_entry_is_valid(kind text, amount bigint, reference text, session_id uuid)
RETURNS boolean
LANGUAGE C IMMUTABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'justauth_ledger_entry_is_valid';
COMMENT ON FUNCTION justauth.ledger_entry_is_valid(text, bigint, text, uuid) IS
'True for a well-formed ledger entry: a debit has a negative amount and a session, no reference; a deposit a positive amount and a reference, no session; a refund a positive amount and a session, no reference. NULL kind or amount is false.';

CREATE TABLE justauth.ledger (
	entry_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	client_id text COLLATE "C" NOT NULL,
	kind justauth.ledger_kind NOT NULL,
	amount bigint NOT NULL,
	balance_after justauth.credits NOT NULL,
	shard justauth.shard_no,
	reference text COLLATE "C",
	session_id uuid,
	reason text,
	created_at timestamptz NOT NULL DEFAULT now(),
	CONSTRAINT ledger_entry_shape
		CHECK (justauth.ledger_entry_is_valid(kind, amount, reference, session_id))
);
CREATE UNIQUE INDEX ledger_deposit_reference ON justauth.ledger (client_id, reference) WHERE kind = 'deposit';
CREATE UNIQUE INDEX ledger_one_debit ON justauth.ledger (session_id) WHERE kind = 'debit';
CREATE UNIQUE INDEX ledger_one_refund ON justauth.ledger (session_id) WHERE kind = 'refund';
/* a client's statement by time, and its paid sends of the last minute (the per-client cap) */
CREATE INDEX ledger_client ON justauth.ledger (client_id, created_at);

COMMENT ON TABLE justauth.ledger IS
'Append-only record of every wallet movement: one row per deposit, per debit (one per accepted send) and per refund (at most one per send). UPDATE, DELETE and TRUNCATE are refused.';
COMMENT ON COLUMN justauth.ledger.amount IS 'Credits moved: positive for deposit and refund, -1 for a debit.';
COMMENT ON COLUMN justauth.ledger.balance_after IS
'Wallet balance right after this entry as its own transaction saw it. Exact for deposits (they lock the whole wallet) and whenever no other entry of the wallet commits concurrently; justauth.wallet_statement gives the running balance in entry order.';
COMMENT ON COLUMN justauth.ledger.shard IS 'Sub-balance debited or refunded; NULL for a deposit, which is spread over all of them.';
COMMENT ON COLUMN justauth.ledger.reference IS 'Deposit reference (payment id); a repeated reference never credits twice.';
COMMENT ON COLUMN justauth.ledger.session_id IS 'Verification session a debit paid for or a refund gave back.';
COMMENT ON COLUMN justauth.ledger.reason IS 'Why a refund happened (failed, expired, ...).';

CREATE FUNCTION justauth.ledger_is_append_only() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS
$$
BEGIN
	RAISE EXCEPTION 'justauth.ledger is append-only'
		USING ERRCODE = 'JA901',
			  HINT = 'Correct a wallet with a new deposit or refund entry, never by editing history.';
END
$$;
COMMENT ON FUNCTION justauth.ledger_is_append_only() IS 'Trigger function refusing UPDATE, DELETE and TRUNCATE on justauth.ledger.';
CREATE TRIGGER ledger_no_update BEFORE UPDATE OR DELETE ON justauth.ledger
	FOR EACH STATEMENT EXECUTE FUNCTION justauth.ledger_is_append_only();
CREATE TRIGGER ledger_no_truncate BEFORE TRUNCATE ON justauth.ledger
	FOR EACH STATEMENT EXECUTE FUNCTION justauth.ledger_is_append_only();

/* ------------------------------------------------------------------------
 * Verification sessions and per-number state
 * ------------------------------------------------------------------------ */
CREATE TABLE justauth.sessions (
	session_id uuid PRIMARY KEY,
	client_id text COLLATE "C" NOT NULL,
	number text COLLATE "C" NOT NULL,
	code_hash bytea NOT NULL,
	status justauth.session_status NOT NULL DEFAULT 'pending',
	attempts integer NOT NULL DEFAULT 0,
	max_attempts integer NOT NULL,
	is_test boolean NOT NULL DEFAULT false,
	mode text NOT NULL,
	created_at timestamptz NOT NULL DEFAULT now(),
	expires_at timestamptz NOT NULL,
	verified_at timestamptz,
	last_attempt_at timestamptz
) WITH (fillfactor = 80);
/*
 * A number's sessions, newest last (verify's superseded-code check, DBAs'
 * per-number audit).  Numbers arrive in random order, so every send writes
 * a random leaf; without client_id (filtered from the heap row) an entry
 * takes 32 bytes instead of 56, and there are fewer leaves to dirty and log.
 */
CREATE INDEX sessions_number ON justauth.sessions (number, created_at);

COMMENT ON TABLE justauth.sessions IS
'One row per accepted send (request_id = session_id). The code is kept only as HMAC-SHA256 under a server key that is not stored in the database. Expiry is computed from expires_at; justauth.session_audit shows the effective status.';
COMMENT ON COLUMN justauth.sessions.code_hash IS 'HMAC-SHA256(server key, session id and code); compared in constant time.';
COMMENT ON COLUMN justauth.sessions.status IS 'pending, approved (used once), superseded (a newer code was sent) or failed (undeliverable, refunded).';
COMMENT ON COLUMN justauth.sessions.attempts IS 'Wrong guesses so far.';

CREATE TABLE justauth.numbers (
	client_id text COLLATE "C" NOT NULL,
	number text COLLATE "C" NOT NULL,
	current_session_id uuid,
	recent_sends timestamptz[] NOT NULL DEFAULT '{}',
	sends bigint NOT NULL DEFAULT 0,
	first_sent_at timestamptz,
	last_sent_at timestamptz,
	PRIMARY KEY (client_id, number)
) WITH (fillfactor = 70);
COMMENT ON TABLE justauth.numbers IS
'Per client and number: the current session, the recent send times used by the cooldown and window limits, and counters. Its row lock serializes concurrent sends to one number.';

/* Idempotency keys: a replay within 24 h returns the stored reply. */
CREATE TABLE justauth.idempotency_keys (
	client_id text COLLATE "C" NOT NULL,
	idempotency_key text COLLATE "C" NOT NULL,
	number text COLLATE "C" NOT NULL,
	session_id uuid,
	reply jsonb,
	code_sealed bytea,
	created_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (client_id, idempotency_key)
);
COMMENT ON TABLE justauth.idempotency_keys IS
'Replies of sends made with an idempotency key, replayed for 24 h. A sandbox reply''s code is kept sealed (encrypted under the server key), never in clear.';

/* ------------------------------------------------------------------------
 * Delivery outbox (drained by the background worker)
 * ------------------------------------------------------------------------ */
/* Like ledger_entry_is_valid: one small C check instead of an IN list per insert. */
CREATE FUNCTION justauth.outbox_code_is_allowed(status text, code text)
RETURNS boolean
LANGUAGE C IMMUTABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'justauth_outbox_code_is_allowed';
COMMENT ON FUNCTION justauth.outbox_code_is_allowed(text, text) IS
'True when an outbox row may hold this plaintext code: code is NULL, or the message is still queued or sending.';

CREATE TABLE justauth.outbox (
	session_id uuid PRIMARY KEY,
	client_id text COLLATE "C" NOT NULL,
	to_number text COLLATE "C" NOT NULL,
	code text,
	status justauth.outbox_status NOT NULL DEFAULT 'queued',
	attempts integer NOT NULL DEFAULT 0,
	next_attempt_at timestamptz NOT NULL DEFAULT now(),
	expires_at timestamptz NOT NULL,
	created_at timestamptz NOT NULL DEFAULT now(),
	claimed_at timestamptz,
	sent_at timestamptz,
	delivered_at timestamptz,
	read_at timestamptz,
	finished_at timestamptz,
	provider_message_id text COLLATE "C",
	http_status integer,
	error_code integer,
	error_text text,
	CONSTRAINT outbox_code_only_while_queued
		CHECK (justauth.outbox_code_is_allowed(status, code))
) WITH (fillfactor = 70);
/*
 * The worker's queue: claims in next_attempt_at order; the expiry sweep's
 * bound on expires_at is checked in the index, without reading the heap.
 */
CREATE INDEX outbox_due ON justauth.outbox (next_attempt_at, expires_at) WHERE status IN ('queued', 'sending');
CREATE UNIQUE INDEX outbox_provider_id ON justauth.outbox (provider_message_id) WHERE provider_message_id IS NOT NULL;

COMMENT ON TABLE justauth.outbox IS
'WhatsApp messages to deliver, written by live sends in the same transaction. queued/sending rows are claimed by the worker (FOR UPDATE SKIP LOCKED, visibility timeout in next_attempt_at); sent/delivered/read/failed/expired are final for the worker. failed and expired messages are refunded once.';
COMMENT ON COLUMN justauth.outbox.session_id IS 'The send (request_id) whose code this message carries: a live send queues exactly one message. Also sent to WhatsApp as biz_opaque_callback_data, which status webhooks echo.';
COMMENT ON COLUMN justauth.outbox.to_number IS 'Recipient, E.164 digits without the plus sign.';
COMMENT ON COLUMN justauth.outbox.code IS 'Plaintext code for the worker only; erased as soon as the message is sent, failed or expired.';
COMMENT ON COLUMN justauth.outbox.next_attempt_at IS 'When the row may be claimed next: retry time for queued rows, visibility timeout for claimed (sending) rows.';
COMMENT ON COLUMN justauth.outbox.provider_message_id IS 'WhatsApp message id (wamid...) returned on acceptance.';
COMMENT ON COLUMN justauth.outbox.error_code IS 'Meta error code of the last failure (e.g. 131026), NULL for transport errors.';

/* Status webhooks already applied, for idempotency (Meta retries and duplicates). */
CREATE TABLE justauth.delivery_events (
	provider_message_id text COLLATE "C" NOT NULL,
	status justauth.delivery_status NOT NULL,
	event_time timestamptz,
	error_code integer,
	error_text text,
	received_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (provider_message_id, status)
);
COMMENT ON TABLE justauth.delivery_events IS 'WhatsApp status notifications received by the webhook, one per message and status.';

/* ------------------------------------------------------------------------
 * Error codes: one table shared by the SQL replies, the gateway and docs.
 * ------------------------------------------------------------------------ */
CREATE TABLE justauth.error_codes (
	error text PRIMARY KEY,
	http_status integer NOT NULL,
	description text NOT NULL
);
INSERT INTO justauth.error_codes VALUES
	('invalid_request', 400, 'A parameter is missing, duplicated or malformed.'),
	('invalid_number', 400, 'The phone number is not a valid mobile number, or its country is not allowed for this client.'),
	('invalid_credentials', 401, 'Unknown client id, or wrong / missing API key.'),
	('client_suspended', 403, 'The client is suspended.'),
	('wallet_not_funded', 402, 'The client has never made a deposit.'),
	('insufficient_balance', 402, 'The wallet has no credits left.'),
	('idempotency_conflict', 409, 'The idempotency key was already used for another number.'),
	('rate_limited', 429, 'Too many sends to this number or by this client; retry_after says when to try again.'),
	('invalid_otp', 400, 'The code is wrong; attempts_left says how many guesses remain.'),
	('otp_expired', 410, 'The code has expired; send a new one.'),
	('max_attempts', 429, 'Too many wrong guesses for this code; send a new one.'),
	('otp_superseded', 410, 'A newer code was sent to this number; use the latest one.'),
	('otp_not_found', 404, 'No pending code for this number (never sent, already used, or undeliverable).'),
	('delivery_not_configured', 503, 'Live delivery is not configured on this server (no WhatsApp access token); nothing was charged.');
COMMENT ON TABLE justauth.error_codes IS 'Stable error codes returned in the "error" field, with the HTTP status the gateway uses.';

/* ------------------------------------------------------------------------
 * C functions
 *
 * Every SECURITY DEFINER function pins its search_path so that a caller's
 * schemas cannot stand in for ours.  justauth_send_otp and
 * justauth_verify_otp, called for every verification, pin it in C
 * (ja_call_pinned: justauth, pg_catalog, no temporary schema) instead
 * of with a SET clause, which costs them a tenth of a verify.
 * ------------------------------------------------------------------------ */
CREATE FUNCTION justauth.justauth_create_client(name text, mode text DEFAULT 'live')
RETURNS TABLE (client_id text, api_key text)
LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = justauth, pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'justauth_create_client';
COMMENT ON FUNCTION justauth.justauth_create_client(text, text) IS
'Creates a client and returns its client id and API key. The key is shown only here; only its hash is stored.';

CREATE FUNCTION justauth.justauth_rotate_api_key(client_id text)
RETURNS text
LANGUAGE C VOLATILE STRICT SECURITY DEFINER SET search_path = justauth, pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'justauth_rotate_api_key';
COMMENT ON FUNCTION justauth.justauth_rotate_api_key(text) IS
'Issues a new API key for the client and returns it; the old key stops working at once.';

CREATE FUNCTION justauth.justauth_deposit(client_id text, credits bigint, reference text)
RETURNS bigint
LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = justauth, pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'justauth_deposit';
COMMENT ON FUNCTION justauth.justauth_deposit(text, bigint, text) IS
'Credits the wallet and returns the new balance. A repeated reference credits nothing more and returns the current balance.';

CREATE FUNCTION justauth.justauth_send_otp(client_id text, api_key text, number text, idempotency_key text DEFAULT NULL)
RETURNS jsonb
LANGUAGE C VOLATILE SECURITY DEFINER
AS 'MODULE_PATHNAME', 'justauth_send_otp';
COMMENT ON FUNCTION justauth.justauth_send_otp(text, text, text, text) IS
'Creates a verification session, debits one credit and queues the WhatsApp message (live) or returns it in message_simulated (sandbox). Refusals come back as {"success": false, "error": ...}.';

CREATE FUNCTION justauth.justauth_verify_otp(client_id text, number text, otp text, api_key text DEFAULT NULL)
RETURNS jsonb
LANGUAGE C VOLATILE SECURITY DEFINER
AS 'MODULE_PATHNAME', 'justauth_verify_otp';
COMMENT ON FUNCTION justauth.justauth_verify_otp(text, text, text, text) IS
'Checks a code against the number''s current session: approved once, or invalid_otp / otp_expired / max_attempts / otp_superseded / otp_not_found. Wrong guesses are counted.';

CREATE FUNCTION justauth.justauth_balance(client_id text)
RETURNS bigint
LANGUAGE sql STABLE STRICT SECURITY DEFINER SET search_path = justauth, pg_catalog, pg_temp
AS $$ SELECT sum(balance)::bigint FROM justauth.wallet_shards WHERE client_id = $1 $$;
COMMENT ON FUNCTION justauth.justauth_balance(text) IS 'Current wallet balance of a client (NULL for an unknown client).';

CREATE FUNCTION justauth.justauth_normalize_number(number text, default_country_code text DEFAULT '91')
RETURNS text
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'justauth_normalize_number';
COMMENT ON FUNCTION justauth.justauth_normalize_number(text, text) IS
'Normalizes a phone number to E.164 digits (no plus sign), or NULL when it is not a valid mobile number.';

CREATE FUNCTION justauth.refund_session(session_id uuid, reason text)
RETURNS boolean
LANGUAGE C VOLATILE STRICT SECURITY DEFINER SET search_path = justauth, pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'justauth_refund_session';
COMMENT ON FUNCTION justauth.refund_session(uuid, text) IS
'Gives back the credit of a send whose message could not be delivered; true if refunded now, false if it already was (or was never charged). Marks the session failed.';

/* ------------------------------------------------------------------------
 * SQL helpers
 * ------------------------------------------------------------------------ */
CREATE FUNCTION justauth.justauth_add_test_number(client_id text, number text, code text)
RETURNS text
LANGUAGE plpgsql VOLATILE STRICT SECURITY DEFINER SET search_path = justauth, pg_catalog, pg_temp
AS $$
DECLARE
	cc text;
	len integer;
	norm text;
BEGIN
	SELECT c.default_country_code, c.code_length INTO cc, len
	  FROM justauth.clients c WHERE c.client_id = $1;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'client "%" does not exist', $1
			USING ERRCODE = 'JA002', HINT = 'Create it with justauth_create_client().';
	END IF;
	norm := justauth.justauth_normalize_number($2, cc);
	IF norm IS NULL THEN
		RAISE EXCEPTION 'invalid phone number "%"', $2
			USING ERRCODE = 'JA003', HINT = 'Use digits with the country code, e.g. 919876543210.';
	END IF;
	IF $3 !~ ('^[0-9]{' || len || '}$') THEN
		RAISE EXCEPTION 'test code must be % ASCII digits', len
			USING ERRCODE = 'JA004', HINT = 'Match the client''s code_length.';
	END IF;
	INSERT INTO justauth.test_numbers AS t (client_id, number, code)
		VALUES ($1, norm, $3)
		ON CONFLICT ON CONSTRAINT test_numbers_pkey DO UPDATE SET code = excluded.code;
	RETURN norm;
END
$$;
COMMENT ON FUNCTION justauth.justauth_add_test_number(text, text, text) IS
'Registers (or updates) a test number with a fixed code for a client; returns the normalized number.';

CREATE FUNCTION justauth.justauth_set_client_status(client_id text, status text)
RETURNS void
LANGUAGE plpgsql VOLATILE STRICT SECURITY DEFINER SET search_path = justauth, pg_catalog, pg_temp
AS $$
BEGIN
	IF $2 NOT IN ('active', 'suspended') THEN
		RAISE EXCEPTION 'invalid client status "%"', $2
			USING ERRCODE = 'JA005', HINT = 'Use ''active'' or ''suspended''.';
	END IF;
	UPDATE justauth.clients c SET status = $2 WHERE c.client_id = $1;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'client "%" does not exist', $1
			USING ERRCODE = 'JA002', HINT = 'Create it with justauth_create_client().';
	END IF;
END
$$;
COMMENT ON FUNCTION justauth.justauth_set_client_status(text, text) IS 'Suspends or reactivates a client.';

CREATE FUNCTION justauth.justauth_purge(older_than interval)
RETURNS TABLE (sessions bigint, outbox bigint, numbers bigint, idempotency_keys bigint, delivery_events bigint)
LANGUAGE plpgsql VOLATILE STRICT SECURITY DEFINER SET search_path = justauth, pg_catalog, pg_temp
AS $$
DECLARE
	horizon timestamptz;
BEGIN
	IF older_than < interval '1 hour' THEN
		RAISE EXCEPTION 'refusing to purge rows younger than one hour'
			USING ERRCODE = 'JA006', HINT = 'Pass an interval of at least ''1 hour''.';
	END IF;
	horizon := now() - older_than;
	/* Outbox rows still in flight are never purged: their money is not settled. */
	WITH d AS (DELETE FROM justauth.outbox o
				WHERE o.created_at < horizon
				  AND o.status NOT IN ('queued', 'sending') RETURNING 1)
	SELECT count(*) INTO outbox FROM d;
	/* A purge never cuts a code's lifetime or a number's limit window short. */
	WITH d AS (DELETE FROM justauth.sessions s
				WHERE s.created_at < horizon
				  AND s.expires_at < now()
				  AND NOT EXISTS (SELECT 1 FROM justauth.outbox o WHERE o.session_id = s.session_id)
				RETURNING 1)
	SELECT count(*) INTO sessions FROM d;
	WITH d AS (DELETE FROM justauth.numbers n
				USING justauth.clients c
				WHERE c.client_id = n.client_id
				  AND coalesce(n.last_sent_at, n.first_sent_at) < horizon
				  AND coalesce(n.last_sent_at, n.first_sent_at)
					  < now() - make_interval(secs => greatest(c.send_window_seconds, c.resend_cooldown_seconds))
				  AND NOT EXISTS (SELECT 1 FROM justauth.sessions s
								   WHERE s.session_id = n.current_session_id AND s.expires_at >= now())
				RETURNING 1)
	SELECT count(*) INTO numbers FROM d;
	WITH d AS (DELETE FROM justauth.idempotency_keys k
				WHERE k.created_at < least(horizon, now() - interval '24 hours') RETURNING 1)
	SELECT count(*) INTO idempotency_keys FROM d;
	WITH d AS (DELETE FROM justauth.delivery_events e WHERE e.received_at < horizon RETURNING 1)
	SELECT count(*) INTO delivery_events FROM d;
	RETURN NEXT;
END
$$;
COMMENT ON FUNCTION justauth.justauth_purge(interval) IS
'Deletes expired sessions, settled outbox rows, number state past its limit window, expired idempotency keys and webhook events older than the interval (at least 1 hour). Never a valid code, never the ledger.';

/*
 * Apply a WhatsApp status webhook payload (already signature-checked by the
 * gateway).  Idempotent per (message id, status); a failed status refunds
 * the send once.  Returns the number of statuses newly applied.
 */
CREATE FUNCTION justauth.justauth_apply_whatsapp_statuses(payload jsonb)
RETURNS integer
LANGUAGE plpgsql VOLATILE STRICT SECURITY DEFINER SET search_path = justauth, pg_catalog, pg_temp
AS $$
DECLARE
	st jsonb;
	applied integer := 0;
	wamid text;
	stname text;
	ts timestamptz;
	ecode integer;
	etext text;
	msg justauth.outbox%ROWTYPE;
BEGIN
	IF jsonb_typeof(payload) <> 'object' THEN
		RAISE EXCEPTION 'webhook payload must be a JSON object'
			USING ERRCODE = 'JA010', HINT = 'Pass the body Meta posted, unchanged.';
	END IF;
	FOR st IN
		SELECT s
		  FROM jsonb_array_elements(CASE WHEN jsonb_typeof(payload->'entry') = 'array' THEN payload->'entry' ELSE '[]' END) e,
			   jsonb_array_elements(CASE WHEN jsonb_typeof(e->'changes') = 'array' THEN e->'changes' ELSE '[]' END) c,
			   jsonb_array_elements(CASE WHEN jsonb_typeof(c->'value'->'statuses') = 'array' THEN c->'value'->'statuses' ELSE '[]' END) s
	LOOP
		wamid := st->>'id';
		stname := st->>'status';
		CONTINUE WHEN wamid IS NULL OR stname IS NULL OR stname NOT IN ('sent', 'delivered', 'read', 'failed');
		ts := CASE WHEN (st->>'timestamp') ~ '^[0-9]{1,12}$' THEN to_timestamp((st->>'timestamp')::bigint) END;
		ecode := CASE WHEN (st->'errors'->0->>'code') ~ '^-?[0-9]{1,9}$' THEN (st->'errors'->0->>'code')::integer END;
		etext := coalesce(st->'errors'->0->>'title', st->'errors'->0->>'message');

		INSERT INTO justauth.delivery_events (provider_message_id, status, event_time, error_code, error_text)
			VALUES (wamid, stname, ts, ecode, etext)
			ON CONFLICT DO NOTHING;
		CONTINUE WHEN NOT FOUND;
		applied := applied + 1;

		SELECT * INTO msg FROM justauth.outbox o WHERE o.provider_message_id = wamid FOR UPDATE;
		IF NOT FOUND AND (st->>'biz_opaque_callback_data') ~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' THEN
			SELECT * INTO msg FROM justauth.outbox o
			 WHERE o.session_id = (st->>'biz_opaque_callback_data')::uuid FOR UPDATE;
		END IF;
		CONTINUE WHEN NOT FOUND;

		IF stname = 'failed' THEN
			UPDATE justauth.outbox o
			   SET status = 'failed', code = NULL, error_code = ecode, error_text = etext,
				   finished_at = coalesce(o.finished_at, now())
			 WHERE o.session_id = msg.session_id AND o.status <> 'failed';
			PERFORM justauth.refund_session(msg.session_id, 'failed');
		ELSIF msg.status <> 'failed' THEN
			UPDATE justauth.outbox o
			   SET status = CASE
							  WHEN stname = 'read' OR o.status = 'read' THEN 'read'
							  WHEN stname = 'delivered' OR o.status = 'delivered' THEN 'delivered'
							  ELSE 'sent' END,
				   code = NULL,
				   sent_at = coalesce(o.sent_at, ts, now()),
				   delivered_at = CASE WHEN stname IN ('delivered', 'read') THEN coalesce(o.delivered_at, ts, now()) ELSE o.delivered_at END,
				   read_at = CASE WHEN stname = 'read' THEN coalesce(o.read_at, ts, now()) ELSE o.read_at END,
				   finished_at = coalesce(o.finished_at, now())
			 WHERE o.session_id = msg.session_id;
		END IF;
	END LOOP;
	RETURN applied;
END
$$;
COMMENT ON FUNCTION justauth.justauth_apply_whatsapp_statuses(jsonb) IS
'Applies every status of a WhatsApp webhook payload to the outbox, once per message and status; failed refunds the send once. Returns how many statuses were new.';

/* ------------------------------------------------------------------------
 * Audit views (no secrets: no code hashes, no key hashes, no plaintext codes)
 * ------------------------------------------------------------------------ */
CREATE VIEW justauth.session_audit AS
SELECT s.session_id AS request_id, s.client_id, s.number,
	   CASE WHEN s.status = 'pending' AND s.expires_at <= now() THEN 'expired'
			WHEN s.status = 'pending' AND s.attempts >= s.max_attempts THEN 'max_attempts'
			ELSE s.status END AS status,
	   s.attempts, s.max_attempts, s.is_test, s.mode, s.created_at, s.expires_at,
	   s.verified_at, s.last_attempt_at
  FROM justauth.sessions s;
COMMENT ON VIEW justauth.session_audit IS 'Verification sessions with their effective status (expired and max_attempts computed), without code hashes.';

CREATE VIEW justauth.wallets AS
SELECT c.client_id, c.name, c.mode, c.status,
	   coalesce((SELECT sum(w.balance) FROM justauth.wallet_shards w WHERE w.client_id = c.client_id), 0)::bigint AS balance,
	   coalesce((SELECT sum(l.amount) FROM justauth.ledger l WHERE l.client_id = c.client_id), 0)::bigint AS ledger_sum,
	   c.funded_at
  FROM justauth.clients c;
COMMENT ON VIEW justauth.wallets IS 'Each client''s wallet balance next to the sum of its ledger (they are always equal).';

CREATE VIEW justauth.wallet_statement AS
SELECT l.entry_id, l.client_id, l.kind, l.amount,
	   sum(l.amount) OVER (PARTITION BY l.client_id ORDER BY l.entry_id)::bigint AS running_balance,
	   l.balance_after, l.reference, l.session_id AS request_id, l.reason, l.created_at
  FROM justauth.ledger l;
COMMENT ON VIEW justauth.wallet_statement IS 'Ledger entries with the running balance in entry order.';

CREATE VIEW justauth.deliveries AS
SELECT o.session_id AS request_id, o.client_id, o.to_number, o.status, o.attempts,
	   o.created_at, o.next_attempt_at, o.expires_at, o.sent_at, o.delivered_at, o.read_at,
	   o.finished_at, o.provider_message_id, o.http_status, o.error_code, o.error_text,
	   EXISTS (SELECT 1 FROM justauth.ledger l WHERE l.session_id = o.session_id AND l.kind = 'refund') AS refunded
  FROM justauth.outbox o;
COMMENT ON VIEW justauth.deliveries IS 'WhatsApp deliveries with their state, provider id, errors and whether the send was refunded (no codes).';

CREATE VIEW justauth.conversion_by_prefix AS
SELECT s.client_id, left(s.number, 5) AS number_prefix,
	   count(*) AS sends,
	   count(*) FILTER (WHERE s.status = 'approved') AS verified,
	   round(count(*) FILTER (WHERE s.status = 'approved')::numeric / count(*), 4) AS conversion
  FROM justauth.sessions s
 WHERE NOT s.is_test
 GROUP BY s.client_id, left(s.number, 5);
COMMENT ON VIEW justauth.conversion_by_prefix IS 'Sends and successful verifications per client and number prefix (country code + first digits); a low conversion on a prefix suggests pumping fraud.';

CREATE VIEW justauth.client_settings AS
SELECT c.client_id, c.name, c.mode, c.status, c.api_key_hint, c.funded_at, c.code_length,
	   c.code_ttl_seconds, c.max_attempts, c.resend_cooldown_seconds, c.max_sends_per_window,
	   c.send_window_seconds, c.max_sends_per_minute, c.default_country_code,
	   c.allowed_country_codes, c.verify_requires_api_key, c.created_at, c.key_rotated_at
  FROM justauth.clients c;
COMMENT ON VIEW justauth.client_settings IS 'Clients and their settings without the API key hash.';

/* ------------------------------------------------------------------------
 * Public entry points: same C functions, reachable without search_path.
 * ------------------------------------------------------------------------ */
DO $public$
BEGIN
	IF EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = 'public') THEN
		CREATE FUNCTION public.justauth_create_client(name text, mode text DEFAULT 'live')
		RETURNS TABLE (client_id text, api_key text)
		LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = justauth, pg_catalog, pg_temp
		AS 'MODULE_PATHNAME', 'justauth_create_client';
		CREATE FUNCTION public.justauth_rotate_api_key(client_id text) RETURNS text
		LANGUAGE C VOLATILE STRICT SECURITY DEFINER SET search_path = justauth, pg_catalog, pg_temp
		AS 'MODULE_PATHNAME', 'justauth_rotate_api_key';
		CREATE FUNCTION public.justauth_deposit(client_id text, credits bigint, reference text) RETURNS bigint
		LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = justauth, pg_catalog, pg_temp
		AS 'MODULE_PATHNAME', 'justauth_deposit';
		CREATE FUNCTION public.justauth_send_otp(client_id text, api_key text, number text, idempotency_key text DEFAULT NULL)
		RETURNS jsonb
		LANGUAGE C VOLATILE SECURITY DEFINER
		AS 'MODULE_PATHNAME', 'justauth_send_otp';
		CREATE FUNCTION public.justauth_verify_otp(client_id text, number text, otp text, api_key text DEFAULT NULL)
		RETURNS jsonb
		LANGUAGE C VOLATILE SECURITY DEFINER
		AS 'MODULE_PATHNAME', 'justauth_verify_otp';
		CREATE FUNCTION public.justauth_balance(client_id text) RETURNS bigint
		LANGUAGE sql STABLE STRICT SECURITY DEFINER SET search_path = justauth, pg_catalog, pg_temp
		AS $f$ SELECT sum(balance)::bigint FROM justauth.wallet_shards WHERE client_id = $1 $f$;
		CREATE FUNCTION public.justauth_purge(older_than interval)
		RETURNS TABLE (sessions bigint, outbox bigint, numbers bigint, idempotency_keys bigint, delivery_events bigint)
		LANGUAGE sql VOLATILE STRICT SECURITY DEFINER SET search_path = justauth, pg_catalog, pg_temp
		AS $f$ SELECT * FROM justauth.justauth_purge($1) $f$;

		COMMENT ON FUNCTION public.justauth_create_client(text, text) IS 'Same as justauth.justauth_create_client.';
		COMMENT ON FUNCTION public.justauth_rotate_api_key(text) IS 'Same as justauth.justauth_rotate_api_key.';
		COMMENT ON FUNCTION public.justauth_deposit(text, bigint, text) IS 'Same as justauth.justauth_deposit.';
		COMMENT ON FUNCTION public.justauth_send_otp(text, text, text, text) IS 'Same as justauth.justauth_send_otp.';
		COMMENT ON FUNCTION public.justauth_verify_otp(text, text, text, text) IS 'Same as justauth.justauth_verify_otp.';
		COMMENT ON FUNCTION public.justauth_balance(text) IS 'Same as justauth.justauth_balance.';
		COMMENT ON FUNCTION public.justauth_purge(interval) IS 'Same as justauth.justauth_purge.';

		REVOKE ALL ON FUNCTION public.justauth_create_client(text, text), public.justauth_rotate_api_key(text),
			public.justauth_deposit(text, bigint, text), public.justauth_send_otp(text, text, text, text),
			public.justauth_verify_otp(text, text, text, text), public.justauth_balance(text),
			public.justauth_purge(interval) FROM PUBLIC;
		GRANT EXECUTE ON FUNCTION public.justauth_send_otp(text, text, text, text),
			public.justauth_verify_otp(text, text, text, text) TO justauth_gateway;
		GRANT EXECUTE ON FUNCTION public.justauth_create_client(text, text), public.justauth_rotate_api_key(text),
			public.justauth_deposit(text, bigint, text), public.justauth_balance(text),
			public.justauth_purge(interval) TO justauth_admin;
		GRANT EXECUTE ON FUNCTION public.justauth_balance(text) TO justauth_auditor;
	END IF;
END
$public$;

/* ------------------------------------------------------------------------
 * Privileges: nothing for PUBLIC; narrow grants per role.
 * ------------------------------------------------------------------------ */
REVOKE ALL ON ALL TABLES IN SCHEMA justauth FROM PUBLIC;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA justauth FROM PUBLIC;

GRANT EXECUTE ON FUNCTION justauth.justauth_send_otp(text, text, text, text),
	justauth.justauth_verify_otp(text, text, text, text),
	justauth.justauth_apply_whatsapp_statuses(jsonb) TO justauth_gateway;

GRANT EXECUTE ON FUNCTION justauth.justauth_create_client(text, text), justauth.justauth_rotate_api_key(text),
	justauth.justauth_deposit(text, bigint, text), justauth.justauth_balance(text),
	justauth.justauth_add_test_number(text, text, text), justauth.justauth_set_client_status(text, text),
	justauth.justauth_purge(interval), justauth.justauth_normalize_number(text, text) TO justauth_admin;
GRANT SELECT ON justauth.session_audit, justauth.wallets, justauth.wallet_statement, justauth.deliveries,
	justauth.conversion_by_prefix, justauth.client_settings, justauth.error_codes TO justauth_admin;
GRANT UPDATE (status, code_length, code_ttl_seconds, max_attempts, resend_cooldown_seconds, max_sends_per_window,
	send_window_seconds, max_sends_per_minute, default_country_code, allowed_country_codes,
	verify_requires_api_key) ON justauth.clients TO justauth_admin;
GRANT SELECT (client_id) ON justauth.clients TO justauth_admin;

GRANT EXECUTE ON FUNCTION justauth.justauth_balance(text), justauth.justauth_normalize_number(text, text) TO justauth_auditor;
GRANT SELECT ON justauth.session_audit, justauth.wallets, justauth.wallet_statement, justauth.deliveries,
	justauth.conversion_by_prefix, justauth.client_settings, justauth.error_codes TO justauth_auditor;

/* ---- delivery worker ---- */

CREATE FUNCTION justauth.worker_state(
	OUT pid integer, OUT state text, OUT database text, OUT started_at timestamptz,
	OUT paused_until timestamptz, OUT current_rate double precision,
	OUT max_messages_per_second integer, OUT requests bigint, OUT sent bigint,
	OUT retried bigint, OUT requeued bigint, OUT failed bigint, OUT expired bigint,
	OUT reclaimed bigint, OUT last_error_at timestamptz, OUT last_error_http_status integer,
	OUT last_error_code integer, OUT last_error text, OUT delivery_configured boolean)
RETURNS record
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'justauth_worker_state';
COMMENT ON FUNCTION justauth.worker_state() IS
'State of the delivery worker from shared memory: pid, state, counters since server start, current rate (requests per second over the last 5 s) and the last error. Use the view justauth.worker_status.';

CREATE VIEW justauth.worker_status AS
SELECT w.pid, w.state, w.database, w.delivery_configured, w.started_at, w.paused_until,
	   q.queued, q.queued_due, q.sending, q.next_attempt_at,
	   w.sent, w.retried, w.requeued, w.failed, w.expired, w.reclaimed, w.requests,
	   round(w.current_rate::numeric, 1) AS current_rate, w.max_messages_per_second,
	   w.last_error_at, w.last_error_http_status, w.last_error_code, w.last_error
  FROM justauth.worker_state() w,
	   LATERAL (SELECT count(*) FILTER (WHERE o.status = 'queued') AS queued,
					   count(*) FILTER (WHERE o.status = 'queued' AND o.next_attempt_at <= now()) AS queued_due,
					   count(*) FILTER (WHERE o.status = 'sending') AS sending,
					   min(o.next_attempt_at) AS next_attempt_at
				  FROM justauth.outbox o
				 WHERE o.status IN ('queued', 'sending')) q;
COMMENT ON VIEW justauth.worker_status IS
'One row about WhatsApp delivery: worker pid and state (idle, sending, throttled, paused: configuration error, not configured, ...), whether live sends are accepted in this database, the queue (queued, due now, in flight), counters since server start (sent, retried, requeued untried, failed, expired, reclaimed after a crash, HTTP requests), current rate and the last error. Counters reset when the server restarts.';

CREATE VIEW justauth.outbox_depth AS
SELECT o.status, count(*) AS messages, min(o.created_at) AS oldest, max(o.created_at) AS newest
  FROM justauth.outbox o
 GROUP BY o.status;
COMMENT ON VIEW justauth.outbox_depth IS
'Outbox messages per status (queued, sending, sent, delivered, read, failed, expired). Scans the whole outbox: for monitoring, not for tight loops.';

CREATE FUNCTION justauth.outbox_wake() RETURNS trigger
LANGUAGE C
AS 'MODULE_PATHNAME', 'justauth_outbox_wake';
COMMENT ON FUNCTION justauth.outbox_wake() IS
'Trigger function: wakes the delivery worker when the inserting transaction commits.';
CREATE TRIGGER outbox_wake AFTER INSERT ON justauth.outbox
	FOR EACH STATEMENT EXECUTE FUNCTION justauth.outbox_wake();
COMMENT ON TRIGGER outbox_wake ON justauth.outbox IS
'Wakes the delivery worker at commit of any transaction that queued messages.';

REVOKE ALL ON FUNCTION justauth.worker_state(), justauth.outbox_wake() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION justauth.worker_state() TO justauth_auditor, justauth_admin;
GRANT SELECT ON justauth.worker_status, justauth.outbox_depth TO justauth_auditor, justauth_admin;
