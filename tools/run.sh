#!/usr/bin/env bash
# make run: a local JustAuth stack in sandbox mode under ./run/
#   PostgreSQL cluster (extension preloaded, delivery worker on), the mock
#   WhatsApp server, the HTTP gateway, and a funded sandbox client.
# make stop (tools/run.sh stop) stops it.  Data stays in ./run/ between runs.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
. tools/packages.sh

PG_BIN=/usr/lib/postgresql/15/bin
RUN=$top/run
PGPORT=${JUSTAUTH_PGPORT:-5439}
HTTP_PORT=${JUSTAUTH_HTTP_PORT:-8080}
MOCK_PORT=${JUSTAUTH_MOCK_PORT:-8089}
DB=justauth
as_pg=()
[ "$(id -u)" = 0 ] && as_pg=(runuser -u postgres --)

stop_all() {
	for svc in gateway mock; do
		if [ -f "$RUN/$svc.pid" ]; then
			kill "$(cat "$RUN/$svc.pid")" 2>/dev/null || true
			rm -f "$RUN/$svc.pid"
		fi
	done
	if [ -f "$RUN/pgdata/postmaster.pid" ]; then
		"${as_pg[@]}" "$PG_BIN/pg_ctl" -D "$RUN/pgdata" -m fast -w stop >/dev/null || true
	fi
}

if [ "${1:-}" = stop ]; then
	stop_all
	echo "stopped"
	exit 0
fi

install_packages $JUSTAUTH_BUILD_PACKAGES
make -s all
if [ "$(id -u)" = 0 ]; then
	make -s install >/dev/null
else
	sudo make -s install >/dev/null
fi
stop_all

mkdir -p "$RUN"
[ "$(id -u)" = 0 ] && chown postgres: "$RUN"
if [ ! -f "$RUN/pgdata/PG_VERSION" ]; then
	"${as_pg[@]}" "$PG_BIN/initdb" -D "$RUN/pgdata" -A trust -U postgres >/dev/null
	cat >> "$RUN/pgdata/postgresql.conf" <<CONF
port = $PGPORT
listen_addresses = '127.0.0.1'
unix_socket_directories = '$RUN'
shared_preload_libraries = 'justauth'
justauth.database = '$DB'
justauth.whatsapp_api_url = 'http://127.0.0.1:$MOCK_PORT'
justauth.whatsapp_phone_number_id = '106540352242922'
justauth.whatsapp_access_token = 'local-mock-token'
CONF
fi

if [ -x test/mock/mock-whatsapp ]; then
	test/mock/mock-whatsapp --listen "127.0.0.1:$MOCK_PORT" --token local-mock-token \
		--phone-number-id 106540352242922 \
		>"$RUN/mock.log" 2>&1 &
	echo $! >"$RUN/mock.pid"
fi

"${as_pg[@]}" "$PG_BIN/pg_ctl" -D "$RUN/pgdata" -l "$RUN/postgres.log" -w start >/dev/null
psql_run() { "${as_pg[@]}" psql -h "$RUN" -p "$PGPORT" -U postgres -X -q -v ON_ERROR_STOP=1 "$@"; }
# The extension stays at version 1.0 while its script changes, so a sandbox
# set up by an older tree can have a schema this build cannot use: refuse
# to start on it rather than answer every call with an error.
schema_sum=$(sha256sum sql/justauth--1.0.sql | cut -d' ' -f1)
if psql_run -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$DB'" | grep -q 1; then
	if [ -f "$RUN/schema.sha256" ] && [ "$(cat "$RUN/schema.sha256")" != "$schema_sum" ]; then
		echo "make run: $RUN was set up by a tree with another sql/justauth--1.0.sql;" >&2
		echo "start a fresh sandbox with: make stop && rm -rf $RUN && make run" >&2
		exit 1
	fi
else
	psql_run -d postgres -c "CREATE DATABASE $DB"
	echo "$schema_sum" >"$RUN/schema.sha256"
fi
psql_run -d "$DB" -c "CREATE EXTENSION IF NOT EXISTS justauth"
psql_run -d "$DB" -c "DO \$\$ BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'justauth_gw') THEN
		CREATE ROLE justauth_gw LOGIN IN ROLE justauth_gateway;
	END IF; END \$\$"
# keep bound parameters (API keys, codes) out of the server log even with log_statement
psql_run -d "$DB" -c "ALTER ROLE justauth_gw SET log_parameter_max_length = 0"

if [ ! -f "$RUN/credentials.env" ]; then
	creds=$(psql_run -d "$DB" -tA -F ' ' -c "SELECT client_id, api_key FROM justauth_create_client('Local sandbox', mode => 'sandbox')")
	set -- $creds
	psql_run -d "$DB" -tAc "SELECT justauth_deposit('$1', 1000, 'make-run-initial')" >/dev/null
	printf 'CLIENT_ID=%s\nAPI_KEY=%s\n' "$1" "$2" >"$RUN/credentials.env"
	chmod 600 "$RUN/credentials.env"
fi
. "$RUN/credentials.env"

# secrets go through the environment, not argv (which `ps` shows)
JUSTAUTH_DEMO_CLIENT_ID=$CLIENT_ID JUSTAUTH_DEMO_API_KEY=$API_KEY \
	gateway/justauth-gateway --listen "127.0.0.1:$HTTP_PORT" \
	--db "host=127.0.0.1 port=$PGPORT dbname=$DB user=justauth_gw" \
	--access-log "$RUN/access.log" >"$RUN/gateway.log" 2>&1 &
echo $! >"$RUN/gateway.pid"
for _ in $(seq 50); do
	curl -sf "http://127.0.0.1:$HTTP_PORT/healthz" >/dev/null && break
	sleep 0.1
done

cat <<MSG

JustAuth is running (sandbox mode).
  PostgreSQL : psql -h $RUN -p $PGPORT -U postgres $DB
  Playground : http://127.0.0.1:$HTTP_PORT/
  Client ID  : $CLIENT_ID
  API key    : $API_KEY   (also in run/credentials.env; shown here because this is your local sandbox)

Send and verify over HTTP:
  curl -X POST "http://127.0.0.1:$HTTP_PORT/api/v1/send-otp?client-id=$CLIENT_ID&api-key=$API_KEY&number=919876543210"
  curl -X POST "http://127.0.0.1:$HTTP_PORT/api/v1/verify-otp?client-id=$CLIENT_ID&number=919876543210&otp=<code>"

Or in SQL:
  psql -h $RUN -p $PGPORT -U postgres $DB -c "SELECT justauth_send_otp('$CLIENT_ID', '$API_KEY', '919876543210')"

Stop with: make stop
MSG
