#!/usr/bin/env bash
# make bench: JustAuth against a hand-written PL/pgSQL peer, every figure a
# ratio against a reference measured side by side in this same run.
#
#   bash bench/run.sh                 everything (about 8 minutes on 2 cores)
#   BENCH_SECONDS=5 BENCH_ROUNDS=3   seconds per run, alternating rounds per case
#   BENCH_CASES="sql gateway worker"  which groups to run (default: all)
#
# Prints a table and writes BENCHMARKS.md at the top of the tree.  Runs as
# root (installs missing packages, installs the extension under the shared
# install lock) or as a user that can run PostgreSQL and has it installed.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

PG_BIN=/usr/lib/postgresql/15/bin
SECS=${BENCH_SECONDS:-5}
ROUNDS=${BENCH_ROUNDS:-3}
CASES=${BENCH_CASES:-sql gateway worker}
PORT=${BENCH_PGPORT:-55491}
WORK=$(mktemp -d /tmp/justauth-bench.XXXXXX)
DATA=$WORK/pgdata
RES=$WORK/results
DB=bench
mkdir -p "$RES"
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
command -v python3 >/dev/null || need+=(python3)
command -v cc >/dev/null || need+=(build-essential)
[ -f /usr/include/civetweb.h ] || need+=(libcivetweb-dev)
[ -f /usr/include/x86_64-linux-gnu/curl/curl.h ] || [ -f /usr/include/curl/curl.h ] || need+=(libcurl4-openssl-dev)
[ -f /usr/include/postgresql/libpq-fe.h ] || need+=(libpq-dev)
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
cleanup() {
	local p
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	if [ -f "$DATA/postmaster.pid" ]; then
		"${as_pg[@]}" "$PG_BIN/pg_ctl" -D "$DATA" -m immediate -w stop >/dev/null 2>&1 || true
	fi
	[ -n "${BENCH_KEEP:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT

# ---------------------------------------------------------------- build, install, start
make -s all >/dev/null
start_cluster() {
	"${as_pg[@]}" "$PG_BIN/initdb" -D "$DATA" -A trust -U postgres >/dev/null
	cat >>"$DATA/postgresql.conf" <<CONF
port = $PORT
listen_addresses = '127.0.0.1'
unix_socket_directories = '$WORK'
max_connections = 120
shared_buffers = 512MB
synchronous_commit = on
max_wal_size = 4GB
checkpoint_timeout = 30min
shared_preload_libraries = 'justauth'
justauth.whatsapp_access_token = 'bench-token'
log_min_messages = warning
CONF
	if [ -f "$WORK/extra.conf" ]; then cat "$WORK/extra.conf" >>"$DATA/postgresql.conf"; fi
	"${as_pg[@]}" "$PG_BIN/pg_ctl" -D "$DATA" -l "$WORK/postgres.log" -w start >/dev/null 9>&-
	"${as_pg[@]}" "$PG_BIN/createdb" -h "$WORK" -p "$PORT" -U postgres "$DB"
	psql_b -c "CREATE EXTENSION justauth" >/dev/null
}
psql_b() { "${as_pg[@]}" "$PG_BIN/psql" -h "$WORK" -p "$PORT" -U postgres -d "$DB" -X -q -v ON_ERROR_STOP=1 "$@"; }

# The preloaded library and the extension script are read at start and at
# CREATE EXTENSION: hold the shared install lock only for install + start
# (the postmaster must not inherit the lock's descriptor).
if [ "$(id -u)" = 0 ]; then
	exec 9>/tmp/justauth-install.lock
	flock 9
	make -s install >/dev/null
	start_cluster
	flock -u 9
	exec 9>&-
else
	start_cluster
fi

psql_b -f bench/peer.sql >/dev/null
psql_b -f bench/setup.sql >/dev/null

# ---------------------------------------------------------------- helpers
# pgb NAME SCRIPT CLIENTS [extra pgbench args]: one pgbench run of SECS
# seconds; appends its tps to RES/NAME.rounds and keeps its per-transaction
# log for the latency percentiles.
pgb() {
	local name=$1 script=$2 clients=$3
	shift 3
	local threads=2 n
	[ "$clients" -lt 2 ] && threads=1
	n=$(cat "$RES/$name.rounds" 2>/dev/null | wc -l)
	"${as_pg[@]}" "$PG_BIN/pgbench" -h "$WORK" -p "$PORT" -U postgres -n -M prepared \
		-c "$clients" -j "$threads" -T "$SECS" -f "$top/bench/pgbench/$script" \
		--log --log-prefix="$RES/$name.log$n" "$@" "$DB" >"$RES/$name.out$n" 2>&1 ||
		{ cat "$RES/$name.out$n"; return 1; }
	grep -Eo 'tps = [0-9.]+ \(without' "$RES/$name.out$n" | grep -Eo '[0-9.]+' >>"$RES/$name.rounds"
}

# summarize NAME...: percentiles over all rounds, median tps.
summarize() {
	local name
	for name in "$@"; do
		python3 bench/report.py pgbench "$RES/$name" "$SECS"
		printf '  %-22s %s\n' "$name" "$(cat "$RES/$name.summary")"
	done
}

# check_sends SCHEMA_TABLE SINCE: every transaction of a send case must
# have been an accepted send (no refusals that would flatter the figure).
accepted_since() {
	psql_b -At -c "SELECT (SELECT count(*) FROM justauth.sessions WHERE created_at >= '$1') || ' ' ||
		(SELECT count(*) FROM peer.otps WHERE created_at >= '$1')"
}

sql_cases() {
	local r c t0 pool part slice
	echo "== SQL cases: pgbench -M prepared, $ROUNDS rounds of $SECS s, sides alternating"
	for r in $(seq "$ROUNDS"); do
		pgb select1_c8 select1.sql 8
		pgb insert_c8 insert_commit.sql 8
	done
	summarize select1_c8 insert_c8
	for c in 8 32; do
		t0=$(psql_b -At -c "SELECT now()")
		for r in $(seq "$ROUNDS"); do
			pgb send_peer_many_c$c send_peer_many.sql $c
			pgb send_ours_many_c$c send_ours_many.sql $c
			pgb send_peer_one_c$c send_peer_one.sql $c
			pgb send_ours_one_c$c send_ours_one.sql $c
		done
		summarize send_peer_many_c$c send_ours_many_c$c send_peer_one_c$c send_ours_one_c$c
		echo "  accepted sends (ours peer): $(accepted_since "$t0")"
	done

	# Verify: each round and side judges its own part of a fresh pool of
	# pending codes, each pgbench client its own slice, each code once.
	pool=${BENCH_POOL:-150000}
	part=$((pool / ROUNDS))
	slice=$((part / 8))
	echo "  making verify pools of $pool codes per side"
	psql_b -v pool="$pool" -v who=ours -f bench/pool.sql >/dev/null &
	psql_b -v pool="$pool" -v who=peer -f bench/pool.sql >/dev/null
	wait
	for r in $(seq "$ROUNDS"); do
		pgb verify_peer_c8 verify_peer.sql 8 -D base=$(((r - 1) * part)) -D slice=$slice -D i=0
		pgb verify_ours_c8 verify_ours.sql 8 -D base=$(((r - 1) * part)) -D slice=$slice -D i=0
	done
	summarize verify_peer_c8 verify_ours_c8
	psql_b -At -c "SELECT 'verify outcomes, ours: ' || string_agg(status || ' ' || n, ', ') FROM
		(SELECT status, count(*) n FROM justauth.sessions s JOIN bench.ours_codes c
		   ON c.client_id = s.client_id AND c.number = s.number GROUP BY 1 ORDER BY 1) x"
	psql_b -At -c "SELECT 'verify outcomes, peer: ' || string_agg(status || ' ' || n, ', ') FROM
		(SELECT status, count(*) n FROM peer.otps s JOIN bench.peer_codes c
		   ON c.client_id = s.client_id AND c.number = s.number GROUP BY 1 ORDER BY 1) x"
}

for group in $CASES; do
	case $group in
	sql) sql_cases ;;
	esac
done

load_end=$(cut -d' ' -f1-3 /proc/loadavg)
{
	echo "## Machine and settings"
	echo
	echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
	echo "- machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), $(free -g | awk '/^Mem:/ {print $2}') GB RAM, $(uname -sr), $(. /etc/os-release; echo "$PRETTY_NAME")"
	echo "- load average (1/5/15 min) at start: $load_start; at end: $load_end (a shared machine: other builds and tests may run alongside; both sides of every ratio ran back to back under the same conditions)"
	echo "- $("${as_pg[@]}" "$PG_BIN/postgres" --version), data directory on $(df -T /tmp | awk 'NR==2 {print $2}') in /tmp, client tools on the same host over TCP loopback"
	echo "- PostgreSQL settings that differ from the defaults or matter here:"
	echo
	echo '```'
	psql_b -At -F ' = ' -c "SELECT name, setting || coalesce(' ' || unit, '') FROM pg_settings
		WHERE name IN ('shared_buffers', 'synchronous_commit', 'fsync', 'wal_level', 'max_wal_size',
			'checkpoint_timeout', 'max_connections', 'shared_preload_libraries', 'autovacuum',
			'wal_sync_method', 'full_page_writes', 'work_mem', 'jit') ORDER BY name"
	echo '```'
} >"$RES/environment.md"
python3 bench/report.py markdown "$RES" "$SECS" >"$top/BENCHMARKS.md"
echo "bench: wrote BENCHMARKS.md"
