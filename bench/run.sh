#!/usr/bin/env bash
# make bench: JustAuth against a hand-written PL/pgSQL peer (bench/peer.sql),
# every figure a ratio against a reference measured side by side, in
# alternating rounds, in this same run.
#
#   bash bench/run.sh                       everything (about 7.5 minutes on 2 cores)
#   BENCH_SECONDS=5 BENCH_ROUNDS=3          seconds per pgbench/wrk run, rounds per case
#   BENCH_POOL=120000                       verify: pending codes per side (each judged once)
#   BENCH_CASES="worker sql gateway"        which groups to run, in this order
#                                           (the worker's latency first, while
#                                           no other cluster is busy vacuuming)
#   BENCH_BASELINE=<git rev>                also measure that revision's core (and its
#                                           gateway, in the gateway mix) against
#                                           this one, alternating (before/after ratios)
#   BENCH_KEEP=1                            keep the scratch directory
#
# The extension is never installed system-wide: each build gets a private,
# relocated copy of the PostgreSQL 15 server tree under the scratch
# directory (binaries copied, everything else linked), so other people's
# `make install` on this machine cannot change what is being measured.
# Prints the table and writes BENCHMARKS.md at the top of the tree.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

PG_BIN=/usr/lib/postgresql/15/bin
SECS=${BENCH_SECONDS:-5}
ROUNDS=${BENCH_ROUNDS:-3}
CASES=${BENCH_CASES:-worker sql gateway}
PORT=${BENCH_PGPORT:-25491}		# cluster A: SQL and gateway cases (below the ephemeral port range)
PORT_W=$((PORT + 1))			# cluster W: worker cases
PORT_BASE=$((PORT + 2))			# cluster B: baseline build (BENCH_BASELINE)
PORT_AFTER=$((PORT + 6))		# cluster C: this build again, as fresh as B
MOCK_A=$((PORT + 3))
MOCK_W=$((PORT + 4))
GWPORT=$((PORT + 5))
GWPORT_BASE=$((PORT + 7))		# the BENCH_BASELINE gateway, in the gateway mix
WA_PHONE_ID=106540352242922
WORK=$(mktemp -d /tmp/justauth-bench.XXXXXX)
RES=$WORK/results
DB=bench
mkdir -p "$RES"
chmod 755 "$WORK"
load_start=$(cut -d' ' -f1-3 /proc/loadavg)

as_pg=()
if [ "$(id -u)" = 0 ]; then
	as_pg=(runuser -u postgres --)
	chown postgres: "$WORK" "$RES"
fi

# ---------------------------------------------------------------- packages
need=()
[ -x "$PG_BIN/postgres" ] || need+=(postgresql-15)
[ -f /usr/lib/postgresql/15/lib/pgcrypto.so ] || need+=(postgresql-contrib-15)
[ -f /usr/lib/postgresql/15/lib/pgxs/src/makefiles/pgxs.mk ] || need+=(postgresql-server-dev-15)
command -v wrk >/dev/null || need+=(wrk)
command -v curl >/dev/null || need+=(curl)
command -v python3 >/dev/null || need+=(python3)
command -v cc >/dev/null || need+=(build-essential)
[ -f /usr/include/civetweb.h ] || need+=(libcivetweb-dev)
[ -f /usr/include/jansson.h ] || need+=(libjansson-dev)
[ -f /usr/include/x86_64-linux-gnu/curl/curl.h ] || [ -f /usr/include/curl/curl.h ] || need+=(libcurl4-openssl-dev)
[ -f /usr/include/postgresql/libpq-fe.h ] || need+=(libpq-dev)
[ -f /usr/include/openssl/ssl.h ] || need+=(libssl-dev)
command -v xxd >/dev/null || need+=(xxd)
if [ ${#need[@]} -gt 0 ]; then
	if [ "$(id -u)" != 0 ]; then
		echo "bench: missing packages: ${need[*]} (run as root or install them)" >&2
		exit 1
	fi
	echo "bench: installing ${need[*]}"
	DEBIAN_FRONTEND=noninteractive apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}"
fi

# ---------------------------------------------------------------- cleanup
pids=()
clusters=()
cleanup() {
	local p d
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for d in "${clusters[@]}"; do
		[ -f "$d/postmaster.pid" ] &&
			"${as_pg[@]}" "$PG_BIN/pg_ctl" -D "$d" -m immediate -w stop >/dev/null 2>&1 || true
	done
	if [ -n "${baseline_tree:-}" ]; then git worktree remove --force "$baseline_tree" 2>/dev/null || true; fi
	[ -n "${BENCH_KEEP:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT

# ---------------------------------------------------------------- build
make -s all >/dev/null
HAVE_WORKER=0
[ -f extension/worker.c ] && [ -x test/mock/mock-whatsapp ] && HAVE_WORKER=1

# private_server ROOT SRC: a relocated PostgreSQL 15 server tree under ROOT
# whose justauth is the one built in SRC.  PostgreSQL finds its lib and
# share directories relative to the postgres binary, so copying the few
# binaries and linking everything else is enough.
private_server() {
	local root=$1 src=$2 f
	local bin=$root/usr/lib/postgresql/15/bin lib=$root/usr/lib/postgresql/15/lib
	local share=$root/usr/share/postgresql/15
	mkdir -p "$bin" "$lib" "$share/extension"
	cp "$PG_BIN/postgres" "$PG_BIN/initdb" "$PG_BIN/pg_ctl" "$bin/"
	for f in /usr/lib/postgresql/15/lib/*; do
		[ "$(basename "$f")" = justauth.so ] || ln -s "$f" "$lib/"
	done
	for f in /usr/share/postgresql/15/*; do
		[ "$(basename "$f")" = extension ] || ln -s "$f" "$share/"
	done
	for f in /usr/share/postgresql/15/extension/*; do
		case $(basename "$f") in justauth*) ;; *) ln -s "$f" "$share/extension/" ;; esac
	done
	cp "$src/justauth.so" "$lib/"
	cp "$src/justauth.control" "$src/sql/justauth--1.0.sql" "$share/extension/"
	[ "$(id -u)" = 0 ] && chown -R postgres: "$root"
	return 0
}

# start_cluster DIR PORT ROOT WAL_MB: initdb, settings (plus stdin), start,
# the bench database with justauth, the peer and the bench clients, and
# WAL_MB of WAL segments made ready before the cases (see below).
start_cluster() {
	local dir=$1 port=$2 root=$3 wal_mb=$4
	local bin=$root/usr/lib/postgresql/15/bin
	"${as_pg[@]}" "$bin/initdb" -D "$dir" -A trust -U postgres >/dev/null
	{
		cat <<CONF
port = $port
listen_addresses = '127.0.0.1'
unix_socket_directories = '$WORK'
max_connections = 120
shared_buffers = 512MB
synchronous_commit = on
max_wal_size = 16GB
min_wal_size = ${wal_mb}MB
checkpoint_timeout = 30min
shared_preload_libraries = 'justauth'
justauth.whatsapp_access_token = 'bench-token'
log_min_messages = warning
CONF
		if [ "$HAVE_WORKER" = 1 ]; then
			cat <<CONF
justauth.database = '$DB'
justauth.whatsapp_phone_number_id = '$WA_PHONE_ID'
CONF
		fi
		cat
	} >>"$dir/postgresql.conf"
	clusters+=("$dir")
	"${as_pg[@]}" "$bin/pg_ctl" -D "$dir" -l "$dir.log" -w start >/dev/null
	"${as_pg[@]}" "$PG_BIN/createdb" -h "$WORK" -p "$port" -U postgres "$DB"
	psql_on "$port" -c "CREATE EXTENSION justauth" >/dev/null
	psql_on "$port" -f bench/peer.sql >/dev/null 2>&1
	psql_on "$port" -f bench/setup.sql >/dev/null 2>&1
	# Warm-up, then statistics: the first plans of a backend are made on
	# empty tables; both sides get the same start.
	local s
	for s in send_ours_many send_peer_many; do
		"${as_pg[@]}" "$PG_BIN/pgbench" -h "$WORK" -p "$port" -U postgres -n -M prepared -c 4 -j 2 \
			-t 500 -f "$top/bench/pgbench/$s.sql" "$DB" >/dev/null
	done
	psql_on "$port" -c "VACUUM ANALYZE" >/dev/null
	# WAL segments the cases will write into, made now.  A segment that does
	# not exist yet is created, zero-filled and fsynced (16 MB) by the
	# backend that first needs it, holding WALWriteLock: every commit of the
	# cluster waits (from a few ms to 50 ms on this machine, depending on the
	# disk at the time) once per 16 MB of WAL.  A server in
	# service recycles the segments its checkpoints free, so it pays that
	# rarely; a bench that never checkpoints would pay it all the time, and
	# per send in proportion to each side's WAL.  Each switch below makes
	# one segment; the checkpoint recycles them as the next ones, up to
	# min_wal_size.
	psql_on "$port" -c "DO \$\$BEGIN FOR i IN 1..$((wal_mb / 16)) LOOP
		PERFORM pg_logical_emit_message(false, 'justauth-bench', '');
		PERFORM pg_switch_wal();
	END LOOP; END\$\$" >/dev/null
	# Every case runs between checkpoints: with max_wal_size 16 GB the run
	# (about 3 GB of WAL on cluster A) triggers none, so no 5 s round gets a
	# checkpoint's burst of full-page images by chance.
	psql_on "$port" -c "CHECKPOINT" >/dev/null
}

# wal_segments DIR: WAL segment files in a cluster's pg_wal (none are
# removed between checkpoints, so a rise is a segment made during the cases)
wal_segments() {
	"${as_pg[@]}" find "$1/pg_wal" -maxdepth 1 -name '0*' -type f | wc -l
}
psql_on() {
	local port=$1
	shift
	"${as_pg[@]}" "$PG_BIN/psql" -h "$WORK" -p "$port" -U postgres -d "$DB" -X -q -v ON_ERROR_STOP=1 "$@"
}
psql_b() { psql_on "$PORT" "$@"; }

mock_start() {
	local port=$1 log=$2
	"${as_pg[@]}" "$top/test/mock/mock-whatsapp" --listen "127.0.0.1:$port" --token bench-token \
		--phone-number-id "$WA_PHONE_ID" --threads 256 >"$log" 2>&1 &
	pids+=("$!")
	for _ in $(seq 50); do
		curl -s -o /dev/null "http://127.0.0.1:$port/_requests?since=999999999" && return 0
		sleep 0.1
	done
	echo "bench: mock WhatsApp server did not start" >&2
	return 1
}

private_server "$WORK/server" "$top"
# Cluster A: live clients; the delivery worker (when present) is parked at
# 1 message/s toward a mock, like the peer's cron job, which is not running.
if [ "$HAVE_WORKER" = 1 ]; then mock_start "$MOCK_A" "$WORK/mock-a.log"; fi
WAL_A_MB=5120	# cluster A writes up to about 4 GB of WAL during its cases
start_cluster "$WORK/pg-a" "$PORT" "$WORK/server" "$WAL_A_MB" <<CONF
justauth.whatsapp_api_url = 'http://127.0.0.1:$MOCK_A'
justauth.max_messages_per_second = 1
CONF
# what cluster A writes and whether a checkpoint still lands in a case
ckpt_sql="SELECT pg_current_wal_lsn() || ' ' || (checkpoints_timed + checkpoints_req) FROM pg_stat_bgwriter"
read -r wal_start ckpt_start <<<"$(psql_b -At -c "$ckpt_sql")"
segs_start=$(wal_segments "$WORK/pg-a")
pg_settings_dump=$(psql_b -At -F ' = ' -c "SELECT name, setting || coalesce(' ' || unit, '') FROM pg_settings
	WHERE name IN ('shared_buffers', 'synchronous_commit', 'fsync', 'wal_level', 'max_wal_size', 'min_wal_size',
		'checkpoint_timeout', 'max_connections', 'shared_preload_libraries', 'autovacuum',
		'wal_sync_method', 'full_page_writes', 'work_mem', 'jit', 'track_commit_timestamp')
		OR name LIKE 'justauth.%' AND name NOT LIKE '%token%' ORDER BY name")
if [ "$HAVE_WORKER" = 1 ] && [[ " $CASES " == *" worker "* ]]; then
	# Cluster W: the worker delivers to its own mock at full speed;
	# commit timestamps give commit -> first byte at the mock.
	mock_start "$MOCK_W" "$WORK/mock-w.log"
	start_cluster "$WORK/pg-w" "$PORT_W" "$WORK/server" 1024 <<CONF
track_commit_timestamp = on
justauth.whatsapp_api_url = 'http://127.0.0.1:$MOCK_W'
justauth.max_messages_per_second = 100000
CONF
fi
if [ -n "${BENCH_BASELINE:-}" ]; then
	baseline_tree=$WORK/baseline-src
	git worktree add -q --detach "$baseline_tree" "$BENCH_BASELINE"
	make -s -C "$baseline_tree" justauth.so >/dev/null
	private_server "$WORK/server-base" "$baseline_tree"
	start_cluster "$WORK/pg-base" "$PORT_BASE" "$WORK/server-base" 2048 <<CONF
justauth.whatsapp_api_url = 'http://127.0.0.1:$MOCK_A'
justauth.max_messages_per_second = 1
CONF
	start_cluster "$WORK/pg-after" "$PORT_AFTER" "$WORK/server" 2048 <<CONF
justauth.whatsapp_api_url = 'http://127.0.0.1:$MOCK_A'
justauth.max_messages_per_second = 1
CONF
fi

# ---------------------------------------------------------------- helpers
# pgb NAME SCRIPT CLIENTS [extra pgbench args]: one pgbench run of SECS
# seconds; appends its tps to RES/NAME.rounds and keeps its per-transaction
# log for the latency percentiles.
pgb() {
	local name=$1 script=$2 clients=$3
	shift 3
	local threads=2 n
	[ "$clients" -lt 2 ] && threads=1
	n=0
	[ -f "$RES/$name.rounds" ] && n=$(wc -l <"$RES/$name.rounds")
	# PGB_TXNS: a fixed number of transactions per client instead of SECS
	local length=(-T "$SECS")
	[ -n "${PGB_TXNS:-}" ] && length=(-t "$PGB_TXNS")
	"${as_pg[@]}" "$PG_BIN/pgbench" -h "$WORK" -p "${PGB_PORT:-$PORT}" -U postgres -n -M prepared \
		-c "$clients" -j "$threads" "${length[@]}" -f "$(cd "$top/bench/pgbench" && realpath "$script")" \
		--log --log-prefix="$RES/$name.log$n" "$@" "$DB" >"$RES/$name.out$n" 2>&1 ||
		{ cat "$RES/$name.out$n"; return 1; }
	grep -Eo 'tps = [0-9.]+ \(without' "$RES/$name.out$n" | grep -Eo '[0-9.]+' >>"$RES/$name.rounds"
}

# summarize NAME...: percentiles over all rounds, median tps (WRK_WAY=1:
# also counted as wrk counts its own, for a reference of a wrk case).
summarize() {
	local name
	for name in "$@"; do
		python3 bench/report.py pgbench "$RES/$name" "$SECS" ${WRK_WAY:+wrk}
		printf '  %-22s %s\n' "$name" "$(cat "$RES/$name.summary")"
	done
}

# check_sends SCHEMA_TABLE SINCE: every transaction of a send case must
# have been an accepted send (no refusals that would flatter the figure).
accepted_since() {
	psql_b -At -c "SELECT (SELECT count(*) FROM justauth.sessions WHERE created_at >= '$1') || ' ' ||
		(SELECT count(*) FROM peer.otps WHERE created_at >= '$1')"
}

# in_turn R A B: "A B" in odd rounds and "B A" in even ones, so that neither
# side of a pair always runs right after the other's writes.
in_turn() { if [ $(($1 % 2)) = 1 ]; then echo "$2 $3"; else echo "$3 $2"; fi; }

# cpu_ticks PID: user + system CPU time of a process, in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }

sql_cases() {
	local r c s t0 pool part slice wpid w0 s0
	echo "== SQL cases: pgbench -M prepared, $ROUNDS rounds of $SECS s, sides alternating"
	read -r w0 s0 wpid <<<"$(parked_worker_start)"
	for r in $(seq "$ROUNDS"); do
		pgb select1_c8 select1.sql 8
		pgb insert_c8 insert_commit.sql 8
	done
	summarize select1_c8 insert_c8
	for c in 8 32; do
		t0=$(psql_b -At -c "SELECT now()")
		for r in $(seq "$ROUNDS"); do
			for s in $(in_turn "$r" peer ours); do pgb send_${s}_many_c$c send_${s}_many.sql $c; done
			for s in $(in_turn "$r" peer ours); do pgb send_${s}_one_c$c send_${s}_one.sql $c; done
		done
		summarize send_peer_many_c$c send_ours_many_c$c send_peer_one_c$c send_ours_one_c$c
		echo "  accepted sends (ours peer): $(accepted_since "$t0")"
	done

	# Verify: each round and side judges its own part of a fresh pool of
	# pending codes, each pgbench client its own slice, each code once
	# (-t slice: a code judged again would be a different case, a used code).
	pool=${BENCH_POOL:-120000}
	part=$((pool / ROUNDS))
	slice=$((part / 8))
	echo "  making verify pools of $pool codes per side"
	psql_b -v pool="$pool" -v who=ours -v tab=ours_codes -v base=8000000000 -f bench/pool.sql >/dev/null 2>&1 &
	local maker=$!
	psql_b -v pool="$pool" -v who=peer -v tab=peer_codes -v base=8000000000 -f bench/pool.sql >/dev/null 2>&1
	wait "$maker"
	for r in $(seq "$ROUNDS"); do
		for s in $(in_turn "$r" peer ours); do
			PGB_TXNS=$slice pgb verify_${s}_c8 verify_$s.sql 8 -D base=$(((r - 1) * part)) -D slice=$slice -D i=0
		done
	done
	summarize verify_peer_c8 verify_ours_c8
	psql_b -At -c "SELECT 'verify outcomes, ours: ' || string_agg(status || ' ' || n, ', ') FROM
		(SELECT status, count(*) n FROM justauth.sessions s JOIN bench.ours_codes c
		   ON c.client_id = s.client_id AND c.number = s.number GROUP BY 1 ORDER BY 1) x"
	psql_b -At -c "SELECT 'verify outcomes, peer: ' || string_agg(status || ' ' || n, ', ') FROM
		(SELECT status, count(*) n FROM peer.otps s JOIN bench.peer_codes c
		   ON c.client_id = s.client_id AND c.number = s.number GROUP BY 1 ORDER BY 1) x"
	parked_worker_note "$wpid" "$w0" "$s0" "the SQL cases: this is charged to *ours* (the peer has no worker)" \
		"$RES/30_parked_worker.md"
}

# parked_worker_start: "TICKS SECS PID" of cluster A's parked delivery worker
# now (without one: TICKS 0 and no PID, last so that it may be empty), for
# parked_worker_note.
parked_worker_start() {
	local pid
	pid=$(psql_b -At -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'justauth delivery worker'")
	echo "$(cpu_ticks "${pid:-0}") $(date +%s) $pid"
}

# parked_worker_note PID TICKS0 SECS0 WHEN FILE: a line on the CPU cluster A's
# parked delivery worker (PID) used since TICKS0 / SECS0, during WHEN.
parked_worker_note() {
	[ -n "$1" ] || return 0
	local ticks=$(($(cpu_ticks "$1") - $2)) secs=$(($(date +%s) - $3)) hz
	hz=$(getconf CLK_TCK)
	printf '%s\n' "Cluster A's parked delivery worker (1 message/s, outbox backlog growing to $(psql_b -At -c "SELECT count(*) FROM justauth.outbox WHERE status = 'queued'") queued rows) used $(awk -v t="$ticks" -v h="$hz" -v s="$secs" 'BEGIN {printf "%.1f s of CPU in %d s (%.1f %% of one core)", t / h, s, 100 * t / h / s}') during $4." >"$5"
	sed 's/^/  /' "$5"
}

not_measured() {
	echo "$2" >"$RES/$1.notmeasured"
	echo "  not measured: $2"
}

# rss_kb PID: resident set size of a process, in kB.
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
anon_kb() { awk '/^RssAnon:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
hwm_kb() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

# gw_status_classes PORT: the gateway's replies to send-otp and verify-otp so
# far by status class, from its /metrics (wrk's own per-reply Lua hook
# would cost the load generator more than the gateway under test).
gw_status_classes() {
	curl -sf "http://127.0.0.1:$1/metrics" | awk '
		/^justauth_gateway_requests_total\{route="(send|verify)/ {
			match($0, /status="[0-9]+"/); s = substr($0, RSTART + 8, 1); n[s] += $NF }
		END { printf "2xx %d, 4xx %d, 5xx %d", n["2"], n["4"], n["5"] }'
}

# start_gateway BIN PORT LOG: runs a gateway binary on cluster A as the
# bench_gw role and waits for its /healthz; started_pid is the server
# process itself (under runuser), whose memory and signals count.
start_gateway() {
	local p
	"${as_pg[@]}" "$1" --listen="127.0.0.1:$2" --threads=8 \
		--db="host=$WORK port=$PORT dbname=$DB user=bench_gw" >"$3" 2>&1 &
	p=$!
	pids+=("$p")
	for _ in $(seq 50); do
		curl -sf -o /dev/null "http://127.0.0.1:$2/healthz" && break
		sleep 0.2
	done
	started_pid=$(pgrep -P "$p" -f justauth-gateway || echo "$p")
}

# mix_part K FILE: writes part K (of $part codes) of bench.mix_codes, as
# mix.lua reads it, to FILE.
mix_part() {
	psql_b -At -F ' ' -c "SELECT client_id, number, code, wrong FROM bench.mix_codes
		WHERE i > $(($1 * part)) AND i <= $((($1 + 1) * part)) ORDER BY i" >"$2"
}

# wrk_mix PORT CODES OUT: one round of the gateway mix (bench/wrk/mix.lua)
# against the gateway on PORT, judging the codes in CODES; output in OUT.
wrk_mix() {
	wrk -t2 -c8 -d"${SECS}s" --latency -s bench/wrk/mix.lua "http://127.0.0.1:$1" \
		-- "$RES/clients.txt" "$2" 2 >"$3" 2>&1
}

gateway_cases() {
	local gw=${BENCH_GATEWAY_BIN:-$top/gateway/justauth-gateway}
	local gwport=$GWPORT r part slice gwpid before after peak gw_base nparts basepid wpid w0 s0
	echo "== gateway cases: wrk --latency vs pgbench, $ROUNDS rounds of $SECS s"
	if [ ! -x "$gw" ]; then
		not_measured gateway "gateway (mix through wrk, gateway RSS): gateway/justauth-gateway is not on this branch yet"
		return 0
	fi
	psql_b -c "DO \$\$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'bench_gw') THEN
		CREATE ROLE bench_gw LOGIN IN ROLE justauth_gateway; END IF; END \$\$" >/dev/null
	psql_b -At -F ' ' -c "SELECT ours_id, ours_key FROM bench.clients WHERE i BETWEEN 1 AND 100" >"$RES/clients.txt"
	# pool parts: round r uses part 2r-2 for pgbench and 2r-1 for wrk
	# Enough codes that none is judged twice in a round up to 25 k
	# transactions/s (13 in 23 are verifies): a code judged again is a
	# cheaper case (no write, no commit flush) and would flatter the side
	# that runs faster.
	part=${BENCH_MIX_PART:-$((SECS * 14500))}
	slice=$((part / 8))
	gw_base=
	if [ -n "${BENCH_BASELINE:-}" ] && [ -f "$baseline_tree/gateway/Makefile" ] &&
		make -s -C "$baseline_tree/gateway" >/dev/null 2>&1; then
		gw_base=$baseline_tree/gateway/justauth-gateway
	fi
	nparts=$((2 * ROUNDS + 1))
	[ -z "$gw_base" ] || nparts=$((nparts + ROUNDS))
	echo "  making the mix pool: $((nparts * part)) codes"
	psql_b -v pool=$((nparts * part)) -v who=ours -v tab=mix_codes -v base=9500000000 -f bench/pool.sql >/dev/null 2>&1
	for r in $(seq "$ROUNDS"); do
		mix_part $((2 * r - 1)) "$RES/mixcodes$r.txt"
		# BENCH_BASELINE: that revision's gateway gets parts 2R+1 .. 3R
		[ -z "$gw_base" ] || mix_part $((2 * ROUNDS + r)) "$RES/mixcodes_base$r.txt"
	done
	mix_part $((2 * ROUNDS)) "$RES/mixcodes200.txt"
	chmod 644 "$RES"/*.txt

	start_gateway "$gw" "$gwport" "$WORK/gateway.log"
	gwpid=$started_pid
	before=$(rss_kb "$gwpid")
	if [ -n "$gw_base" ]; then
		start_gateway "$gw_base" "$GWPORT_BASE" "$WORK/gateway-base.log"
		basepid=$started_pid
	fi

	read -r w0 s0 wpid <<<"$(parked_worker_start)"
	# pgbench and the gateways take turns going first, as the sides of the
	# SQL cases do: the mix slows down as its tables grow, by several per
	# cent between one 5 s run and the next.  The baseline's gateway, if
	# any, goes first in even rounds and last in odd ones, so ours is
	# always between the other two.
	for r in $(seq "$ROUNDS"); do
		for side in $(in_turn "$r" pgbench gateway); do
			if [ "$side" = pgbench ]; then
				pgb mix_pgbench mix.sql 8 -D base=$((2 * (r - 1) * part)) -D slice=$slice -D i=0
				continue
			fi
			if [ -n "$gw_base" ] && [ $((r % 2)) = 0 ]; then
				wrk_mix "$GWPORT_BASE" "$RES/mixcodes_base$r.txt" "$RES/before_mix_gateway.out$r"
			fi
			wrk_mix "$gwport" "$RES/mixcodes$r.txt" "$RES/mix_gateway.out$r"
			grep -E 'Requests/sec' "$RES/mix_gateway.out$r" | awk '{print $2}' >>"$RES/mix_gateway.rounds"
			if [ -n "$gw_base" ] && [ $((r % 2)) = 1 ]; then
				wrk_mix "$GWPORT_BASE" "$RES/mixcodes_base$r.txt" "$RES/before_mix_gateway.out$r"
			fi
		done
	done
	parked_worker_note "$wpid" "$w0" "$s0" "the gateway mix rounds, slowing both sides (both use cluster A)" \
		"$RES/49_parked_worker.md"
	WRK_WAY=1 summarize mix_pgbench
	python3 bench/report.py wrk "$RES/mix_gateway" "$SECS"
	printf '  %-22s %s\n' mix_gateway "$(cat "$RES/mix_gateway.summary")"
	if [ -n "$gw_base" ]; then
		kill "$basepid" 2>/dev/null || true
		python3 bench/report.py wrk "$RES/before_mix_gateway" "$SECS"
		printf '  %-22s %s\n' before_mix_gateway "$(cat "$RES/before_mix_gateway.summary")"
	fi
	echo "  gateway replies so far: $(gw_status_classes "$gwport")"

	# 200 keep-alive connections: how the gateway's memory behaves
	after=$(rss_kb "$gwpid")
	wrk -t2 -c200 -d"${SECS}s" --latency -s bench/wrk/mix.lua "http://127.0.0.1:$gwport" \
		-- "$RES/clients.txt" "$RES/mixcodes200.txt" 2 >"$RES/gw200.out" 2>&1 || true
	peak=$(hwm_kb "$gwpid")
	local end_rss
	end_rss=$(rss_kb "$gwpid")
	{
		echo "### Gateway memory (target ≤ 30 MB, flat)"
		echo
		echo "| when | gateway RSS |"
		echo "|---|---|"
		echo "| started, idle | $((before / 1024)) MB |"
		echo "| after the mix runs (8 keep-alive connections) | $((after / 1024)) MB |"
		echo "| after $SECS s with 200 keep-alive connections (wrk -c200, --threads=8) | $((end_rss / 1024)) MB |"
		echo "| peak (VmHWM) | $((peak / 1024)) MB |"
		echo
		echo "200-connection run: $(grep -E 'Requests/sec' "$RES/gw200.out" | awk '{print $2}') requests/s, latency p50/p99 $(awk '$1 == "50%" {a=$2} $1 == "99%" {b=$2} END {print a " / " b}' "$RES/gw200.out"); gateway replies in all gateway runs: $(gw_status_classes "$gwport"); $(grep -h 'Socket errors' "$RES/gw200.out" || echo 'no socket errors')."
	} >"$RES/50_gateway_rss.md"
	cat "$RES/50_gateway_rss.md" | sed 's/^/  /'
	kill "$gwpid" 2>/dev/null || true
}

# Worker cases on cluster W.  The mock records each request's arrival; the
# ledger row a send writes is never updated, so pg_xact_commit_timestamp of
# its xmin is the send's commit time.
worker_cases() {
	local rate t0 wpid n rss0 rss1 rss2 rss3 drained=0
	mb() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.1f MB | %.0f MB", a / 1024, b / 1024}'; }
	echo "== worker cases (cluster W, mock WhatsApp server)"
	if [ "$HAVE_WORKER" != 1 ]; then
		not_measured worker "worker (commit → first byte at the mock, drain rate, mps cap, worker RSS): the delivery worker and the mock WhatsApp server are not on this branch yet"
		return 0
	fi
	psql_w() { psql_on "$PORT_W" "$@"; }
	mock_get() { curl -s "http://127.0.0.1:$MOCK_W/_requests" >"$1"; }
	mock_reset() { curl -s -X POST "http://127.0.0.1:$MOCK_W/_reset" >/dev/null; }
	wait_drained() {
		local i
		for i in $(seq 600); do
			[ "$(psql_w -At -c "SELECT count(*) FROM justauth.outbox WHERE status IN ('queued', 'sending')")" = 0 ] && return 0
			sleep 0.1
		done
		echo "  outbox not drained after 60 s"
	}
	commits_since() {
		psql_w -At -F ' ' -c "SELECT s.number, extract(epoch FROM pg_xact_commit_timestamp(l.xmin)) * 1000
			FROM justauth.ledger l JOIN justauth.sessions s USING (session_id)
			WHERE l.kind = 'debit' AND l.created_at >= '$1'" >"$2"
	}
	# the worker starts (again) a few seconds after the bench database exists
	for _ in $(seq 100); do
		wpid=$(psql_w -At -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'justauth delivery worker'")
		[ -n "$wpid" ] && break
		sleep 0.2
	done
	rss0="$(anon_kb "$wpid") $(rss_kb "$wpid")"

	# commit -> first byte at the mock, at a steady 100 and 500 sends/s
	for rate in 100 500; do
		mock_reset
		t0=$(psql_w -At -c "SELECT now()")
		PGB_PORT=$PORT_W pgb worker_sends_$rate send_ours_many.sql 4 -R "$rate"
		wait_drained
		mock_get "$RES/mock_$rate.json"
		commits_since "$t0" "$RES/commits_$rate.txt"
		python3 bench/report.py latency "$RES/worker_latency_$rate" "$RES/commits_$rate.txt" "$RES/mock_$rate.json" "$rate"
		printf '  %-22s %s\n' "commit→mock @$rate/s" "$(cat "$RES/worker_latency_$rate.summary")"
	done
	rss1="$(anon_kb "$wpid") $(rss_kb "$wpid")"

	# drain: a backlog committed at once, mock answering after 20 ms, cap lifted
	n=${BENCH_DRAIN:-20000}
	mock_reset
	curl -s -X POST "http://127.0.0.1:$MOCK_W/_control?latency_ms=20" >/dev/null
	t0=$(psql_w -At -c "SELECT now()")
	psql_w -At -c "SELECT count(*) FROM (SELECT justauth_send_otp(b.ours_id, b.ours_key, '91' || (6900000000 + j)::text)
		FROM generate_series(1, $n) j JOIN bench.clients b ON b.i = 1 + j % 100) x" >/dev/null
	wait_drained
	mock_get "$RES/mock_drain.json"
	commits_since "$t0" "$RES/commits_drain.txt"
	python3 bench/report.py drain "$RES/worker_drain" "$RES/commits_drain.txt" "$RES/mock_drain.json" 2000
	printf '  %-22s %s\n' "drain (20 ms mock)" "$(cat "$RES/worker_drain.summary")"
	drained=$((drained + n))
	rss2="$(anon_kb "$wpid") $(rss_kb "$wpid")"

	# cap accuracy: the same backlog shape with justauth.max_messages_per_second set
	local cap=${BENCH_CAP:-250}
	n=$((cap * ${BENCH_CAP_SECONDS:-12}))
	psql_w -c "ALTER SYSTEM SET justauth.max_messages_per_second = $cap" -c "SELECT pg_reload_conf()" >/dev/null
	sleep 1
	mock_reset
	t0=$(psql_w -At -c "SELECT now()")
	psql_w -At -c "SELECT count(*) FROM (SELECT justauth_send_otp(b.ours_id, b.ours_key, '91' || (6800000000 + j)::text)
		FROM generate_series(1, $n) j JOIN bench.clients b ON b.i = 1 + j % 100) x" >/dev/null
	wait_drained
	mock_get "$RES/mock_cap.json"
	commits_since "$t0" "$RES/commits_cap.txt"
	python3 bench/report.py cap "$RES/worker_cap" "$RES/commits_cap.txt" "$RES/mock_cap.json" "$cap"
	printf '  %-22s %s\n' "cap $cap/s" "$(cat "$RES/worker_cap.summary")"
	drained=$((drained + n))
	rss3="$(anon_kb "$wpid") $(rss_kb "$wpid")"
	psql_w -c "ALTER SYSTEM RESET justauth.max_messages_per_second" -c "SELECT pg_reload_conf()" >/dev/null
	{
		echo "### Delivery worker memory (target ≤ 30 MB, flat)"
		echo
		echo "| when | worker's own memory (RssAnon) | RSS incl. shared buffers touched |"
		echo "|---|---|---|"
		echo "| idle, before any message | $(mb $rss0) |"
		echo "| after the 100 and 500 msg/s runs | $(mb $rss1) |"
		echo "| after draining a ${BENCH_DRAIN:-20000} message backlog | $(mb $rss2) |"
		echo "| after the capped run ($drained backlog messages in all) | $(mb $rss3) |"
		echo
		echo "The target is about the worker's own memory (RssAnon); its full RSS also counts the pages of shared_buffers (512 MB) it has read, which belong to the cluster. 1M messages do not fit the 10-minute budget: \`BENCH_DRAIN=1000000 BENCH_CASES=worker make bench\` runs the long version."
	} >"$RES/60_worker_rss.md"
	sed 's/^/  /' "$RES/60_worker_rss.md"
}

# cmp_port before|after: the cluster of that side of the before/after cases
cmp_port() { if [ "$1" = before ]; then echo "$PORT_BASE"; else echo "$PORT_AFTER"; fi; }

# Before/after: the BENCH_BASELINE build (cluster B) against this one
# (cluster C), alternating, on the cases the core changes aim at.
compare_cases() {
	local r c s part slice pool
	echo "== before/after: $BENCH_BASELINE (before) vs this tree (after), $ROUNDS rounds of $SECS s"
	for c in 8 32; do
		for r in $(seq "$ROUNDS"); do
			for s in $(in_turn "$r" before after); do
				PGB_PORT=$(cmp_port "$s") pgb ${s}_send_many_c$c send_ours_many.sql $c
			done
			for s in $(in_turn "$r" before after); do
				PGB_PORT=$(cmp_port "$s") pgb ${s}_send_one_c$c send_ours_one.sql $c
			done
		done
		summarize before_send_many_c$c after_send_many_c$c before_send_one_c$c after_send_one_c$c
	done
	pool=${BENCH_POOL:-120000}
	part=$((pool / ROUNDS))
	slice=$((part / 8))
	psql_on "$PORT_BASE" -v pool="$pool" -v who=ours -v tab=cmp_codes -v base=8500000000 -f bench/pool.sql >/dev/null 2>&1 &
	local maker=$!
	psql_on "$PORT_AFTER" -v pool="$pool" -v who=ours -v tab=cmp_codes -v base=8500000000 -f bench/pool.sql >/dev/null 2>&1
	wait "$maker"
	sed 's/bench\.ours_codes/bench.cmp_codes/g' bench/pgbench/verify_ours.sql >"$WORK/verify_cmp.sql"
	chmod 644 "$WORK/verify_cmp.sql"
	for r in $(seq "$ROUNDS"); do
		for s in $(in_turn "$r" before after); do
			PGB_TXNS=$slice PGB_PORT=$(cmp_port "$s") pgb ${s}_verify_c8 "$WORK/verify_cmp.sql" 8 \
				-D base=$(((r - 1) * part)) -D slice=$slice -D i=0
		done
	done
	summarize before_verify_c8 after_verify_c8
	git rev-parse --short "$BENCH_BASELINE" >"$RES/baseline.txt"
}

for group in $CASES; do
	case $group in
	sql) sql_cases ;;
	gateway) gateway_cases ;;
	worker) worker_cases ;;
	esac
done

if [ -n "${BENCH_BASELINE:-}" ]; then compare_cases; fi

# Instructions per call, before and after, with callgrind on a stand-alone
# backend (deterministic, unlike throughput on a shared machine): N sends to
# new numbers, then N verifies of those codes (every 4th one wrong).
callgrind_cases() {
	local n=${BENCH_CALLGRIND_CALLS:-500} d side fn what
	command -v valgrind >/dev/null || { not_measured callgrind "instruction counts: valgrind is not installed"; return 0; }
	echo "== instructions per call (callgrind, stand-alone backend, $n calls)"
	# A stand-alone backend reads one statement per line; one call per line
	# is one transaction per call, as in real use.  Each cluster has its own
	# clients, so each gets its own script.
	local port
	for side in after:$PORT_AFTER before:$PORT_BASE; do
		IFS=: read -r what port <<<"$side"
		psql_on "$port" -At -c "SELECT format('SELECT justauth_send_otp(%L, %L, %L);', b.ours_id, b.ours_key, '91' || (7400000000 + j))
			FROM generate_series(1, $n) j JOIN bench.clients b ON b.i = 1 + j % 100 ORDER BY j" >"$WORK/cg-send.$what.sql"
		psql_on "$port" -At -c "SELECT format('SELECT justauth_verify_otp(%L, %L, (SELECT CASE WHEN %s %% 4 = 0 THEN lpad(((o.code::int + 1) %% 1000000)::text, 6, ''0'') ELSE o.code END FROM justauth.numbers n JOIN justauth.outbox o ON o.session_id = n.current_session_id WHERE n.client_id = %L AND n.number = %L));', b.ours_id, '91' || (7400000000 + j), j, b.ours_id, '91' || (7400000000 + j))
			FROM generate_series(1, $n) j JOIN bench.clients b ON b.i = 1 + j % 100 ORDER BY j" >"$WORK/cg-verify.$what.sql"
	done
	chmod 644 "$WORK"/cg-*.sql
	# the same starting state: no dead wallet versions left for one side only
	psql_on "$PORT_AFTER" -c "VACUUM" >/dev/null
	psql_on "$PORT_BASE" -c "VACUUM" >/dev/null
	for d in "$WORK/pg-after" "$WORK/pg-base"; do
		"${as_pg[@]}" "$PG_BIN/pg_ctl" -D "$d" -m fast -w stop >/dev/null
	done
	for side in after:pg-after:server before:pg-base:server-base; do
		IFS=: read -r what d root <<<"$side"
		for fn in send verify; do
			"${as_pg[@]}" valgrind --tool=callgrind --toggle-collect=fmgr_security_definer \
				--callgrind-out-file="$WORK/cg.$what.$fn" \
				"$WORK/$root/usr/lib/postgresql/15/bin/postgres" --single -D "$WORK/$d" "$DB" \
				<"$WORK/cg-$fn.$what.sql" >/dev/null 2>"$WORK/cg.$what.$fn.err"
			awk -v n="$n" '/Collected :/ {printf "%d\n", $NF / n}' "$WORK/cg.$what.$fn.err" >"$RES/cg_${what}_$fn.txt"
		done
	done
	{
		echo "### Instructions per call in this run (callgrind, $n calls on a stand-alone backend)"
		echo
		echo "| call | before | after | after/before |"
		echo "|---|---|---|---|"
		for fn in send verify; do
			awk -v f="$fn" -v b="$(cat "$RES/cg_before_$fn.txt")" -v a="$(cat "$RES/cg_after_$fn.txt")" \
				'BEGIN {printf "| justauth_%s_otp | %d | %d | %.3f× |\n", f, b, a, (b > 0 ? a / b : 0)}'
		done
		echo
		echo "One call per transaction, as in use; only the instructions of the call are counted, from PostgreSQL's \`SECURITY DEFINER\` entry (\`fmgr_security_definer\`: the role switch and any \`SET\` clause) to its return, not parsing, planning of the calling statement or commit. Verify calls: 3 of 4 with the right code, 1 of 4 wrong."
	} >"$RES/41_callgrind.md"
	sed 's/^/  /' "$RES/41_callgrind.md"
}

if [ -n "${BENCH_BASELINE:-}" ] && [ -n "${BENCH_CALLGRIND:-1}" ]; then callgrind_cases; fi

load_end=$(cut -d' ' -f1-3 /proc/loadavg)
read -r wal_end ckpt_end <<<"$(psql_b -At -c "$ckpt_sql")"
segs_made=$(($(wal_segments "$WORK/pg-a") - segs_start))
{
	echo "## Machine and settings"
	echo
	echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
	echo "- machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), $(free -g | awk '/^Mem:/ {print $2}') GB RAM, $(uname -sr), $(. /etc/os-release; echo "$PRETTY_NAME")"
	echo "- load average (1/5/15 min) at start: $load_start; at end: $load_end (a shared machine: other builds and tests may run alongside; both sides of every ratio ran back to back under the same conditions)"
	echo "- $("${as_pg[@]}" "$PG_BIN/postgres" --version), data directory on $(df -T /tmp | awk 'NR==2 {print $2}') in /tmp, pgbench and psql on the same host over the Unix socket, the gateway over TCP loopback"
	echo "- cluster A (SQL and gateway cases) wrote $(psql_b -At -c "SELECT pg_size_pretty(pg_wal_lsn_diff('$wal_end', '$wal_start'))") of WAL during the cases, with $((ckpt_end - ckpt_start)) checkpoint(s) among them (each cluster checkpoints once before its cases); $WAL_A_MB MB of WAL segments were made ready before the cases, and $segs_made more had to be created during them"
	echo "- PostgreSQL settings that differ from the defaults or matter here:"
	echo
	echo '```'
	echo "$pg_settings_dump"
	echo '```'
} >"$RES/environment.txt"
python3 bench/report.py markdown "$RES" "$SECS" >"$top/BENCHMARKS.md"
echo "bench: wrote BENCHMARKS.md"
