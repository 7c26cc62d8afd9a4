#!/usr/bin/env bash
# Runs every test suite of JustAuth against real clusters and prints one
# closing line "N passed, N failed".
#
#   test/run-all.sh              all suites
#   test/run-all.sh regress      only pg_regress     (also: isolation, tap)
#   TAP_FILTER=gateway test/run-all.sh tap      TAP files whose name matches
#
# PostgreSQL refuses to run as root, so when started as root the built tree
# is copied to a scratch directory owned by the unprivileged user "postgres"
# and the suites run as that user.
set -u -o pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
PGXS_DIR=$("$PG_BIN/pg_config" --pgxs | sed 's,/src/makefiles/pgxs.mk$,,')
suites=${*:-regress isolation tap}

make -s all || { echo "build failed"; echo "0 passed, 1 failed"; exit 1; }
if [ "$(id -u)" = 0 ]; then
	make -s install >/dev/null || { echo "install failed"; echo "0 passed, 1 failed"; exit 1; }
fi

work=$(mktemp -d /tmp/justauth-test.XXXXXX)
mkdir -p "$work/src"
# the tree as built, without a local `make run` stack or git metadata
tar -C "$top" --exclude=./run --exclude=./.git -cf - . | tar -C "$work/src" -xf -
run_as=()
if [ "$(id -u)" = 0 ]; then
	chown -R postgres: "$work"
	chmod 755 "$work"
	run_as=(runuser -u postgres --)
fi
echo "test work directory: $work"

passed=0
failed=0
count() { passed=$((passed + $1)); failed=$((failed + $2)); }

# pg_regress / pg_isolation_regress: one result line per test; a run that
# failed without reporting a failed test (crash, missing file) counts as one.
pgr_counts() {
	local log=$1 rc=$2 p f
	p=$(grep -cE '\.\.\. ok( |$)' "$log" || true)
	f=$(grep -cE '\.\.\. FAILED|\.\.\. failed' "$log" || true)
	[ "$rc" != 0 ] && [ "$f" = 0 ] && f=1
	count "$p" "$f"
}

for suite in $suites; do
	case $suite in
	regress)
		tests=$(grep -vE '^\s*(#|$)' test/regress/schedule | tr '\n' ' ')
		"${run_as[@]}" env -C "$work/src" "$PGXS_DIR/src/test/regress/pg_regress" \
			--bindir="$PG_BIN" --inputdir=test/regress --outputdir="$work/regress" \
			--temp-instance="$work/regress/instance" --temp-config=test/justauth.conf \
			--dbname=justauth_regress $tests >"$work/regress.log" 2>&1
		rc=$?
		cat "$work/regress.log"
		pgr_counts "$work/regress.log" "$rc"
		[ -f "$work/regress/regression.diffs" ] && cat "$work/regress/regression.diffs"
		;;
	isolation)
		tests=$(grep -vE '^\s*(#|$)' test/isolation/schedule | tr '\n' ' ')
		"${run_as[@]}" env -C "$work/src" "$PGXS_DIR/src/test/isolation/pg_isolation_regress" \
			--bindir="$PG_BIN" --inputdir=test/isolation --outputdir="$work/isolation" \
			--temp-instance="$work/isolation/instance" --temp-config=test/justauth.conf \
			--dbname=justauth_isolation $tests >"$work/isolation.log" 2>&1
		rc=$?
		cat "$work/isolation.log"
		pgr_counts "$work/isolation.log" "$rc"
		[ -f "$work/isolation/regression.diffs" ] && cat "$work/isolation/regression.diffs"
		;;
	tap)
		files=$(ls test/t/*.pl 2>/dev/null | grep -E "${TAP_FILTER:-.}" | tr '\n' ' ')
		[ -n "$files" ] || continue
		"${run_as[@]}" env -C "$work/src" \
			PATH="$PG_BIN:$PATH" PG_REGRESS="$PGXS_DIR/src/test/regress/pg_regress" \
			TESTDIR="$work/src" PGPORT=65432 JUSTAUTH_SRC="$work/src" \
			prove -v -I "$PGXS_DIR/src/test/perl" -I test/perl $files >"$work/tap.log" 2>&1
		rc=$?
		cat "$work/tap.log"
		p=$(grep -cE '^\s*ok [0-9]+' "$work/tap.log" || true)
		f=$(grep -cE '^\s*not ok [0-9]+' "$work/tap.log" || true)
		# A script that died or planned more than it ran counts as a failure.
		d=$(grep -cE 'Parse errors:|Bad plan' "$work/tap.log" || true)
		[ "$rc" != 0 ] && [ "$f" = 0 ] && [ "$d" = 0 ] && d=1
		count "$p" "$((f + d))"
		;;
	*)
		echo "unknown suite $suite" >&2
		count 0 1
		;;
	esac
done

# A test that died may leave its servers behind; they must not outlive the
# run (they would hold ports, and any lock file the caller holds).
pkill -KILL -f "$work/" 2>/dev/null || true

echo "logs kept in $work"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ] && [ "$passed" -gt 0 ]
