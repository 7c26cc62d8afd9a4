#!/usr/bin/env bash
# Builds the libFuzzer targets of JustAuth with ASan and UBSan and runs
# each for a bounded time; fails on any crash, leak, sanitizer report,
# broken invariant (the targets abort on them) or timeout.
#
#   test/fuzz/run.sh                    every target, FUZZ_SECONDS each (default 600)
#   test/fuzz/run.sh number params      only these targets
#   FUZZ_SECONDS=20 test/fuzz/run.sh    the short CI run (test/t/61_fuzz.pl)
#
# Targets and what they fuzz (sources compiled unchanged):
#   number    ja_normalize_number          extension/number.c
#   params    gw_collect_params            gateway/params.c, text.c, reply.c
#   webhook   gw_handle_webhook            gateway/webhook.c, params.c, text.c, reply.c
#   escape    gw_json_escape               gateway/text.c
#   replyfields gw_reply_fields            gateway/replyfields.c (+ libpgcommon)
# Seeds are in test/fuzz/<target>/; new inputs go to a scratch corpus in
# FUZZ_WORK (default: a new directory under /tmp), never into the tree.
# A gateway target whose sources are not in the tree is reported as
# "skipped" and does not fail the run.
#
# Needs clang-14 and libclang-rt-14-dev (libFuzzer and the sanitizer
# runtimes), libcivetweb-dev, libpq-dev, libssl-dev, postgresql-server-dev-15.
set -u -o pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
CC=${FUZZ_CC:-clang-14}
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
seconds=${FUZZ_SECONDS:-600}
work=${FUZZ_WORK:-$(mktemp -d /tmp/justauth-fuzz.XXXXXX)}
targets=${*:-number params webhook escape replyfields}
mkdir -p "$work"

pg_server=$("$PG_CONFIG" --includedir-server)
pg_client=$("$PG_CONFIG" --includedir)
cflags=(-g -O1 -std=gnu11 -fno-omit-frame-pointer
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
	-Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers
	-Wno-sign-compare -Werror)
gateway_srcs=(gateway/params.c gateway/text.c gateway/reply.c)
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

# build TARGET: compile the target into $work/TARGET; 2 = sources missing.
build() {
	local t=$1 srcs=() flags=() libs=()
	case $t in
	number)
		srcs=(test/fuzz/number_fuzz.c test/fuzz/number_backend.c extension/number.c)
		flags=(-I"$pg_server" -Iextension -Wno-ignored-attributes)
		;;
	params)
		srcs=(test/fuzz/params_fuzz.c test/fuzz/fake_civetweb.c "${gateway_srcs[@]}")
		flags=(-I"$pg_client" -Igateway -Itest/fuzz)
		;;
	webhook)
		srcs=(test/fuzz/webhook_fuzz.c test/fuzz/fake_civetweb.c gateway/webhook.c "${gateway_srcs[@]}")
		flags=(-I"$pg_client" -Igateway -Itest/fuzz)
		libs=(-lpq -lcrypto)
		;;
	escape)
		srcs=(test/fuzz/escape_fuzz.c gateway/text.c)
		flags=(-I"$pg_client" -Igateway)
		;;
	replyfields)
		srcs=(test/fuzz/replyfields_fuzz.c gateway/replyfields.c)
		flags=(-DFRONTEND -I"$pg_server" -Igateway -Wno-ignored-attributes)
		libs=(-L"$("$PG_CONFIG" --pkglibdir)" -lpgcommon -lpgport)
		;;
	*)
		echo "unknown fuzz target $t" >&2
		return 1
		;;
	esac
	local s
	for s in "${srcs[@]}"; do
		[ -f "$s" ] || { echo "fuzz $t: skipped ($s not in the tree)"; return 2; }
	done
	"$CC" "${cflags[@]}" "${flags[@]}" -o "$work/$t" "${srcs[@]}" "${libs[@]}"
}

failed=0
ran=0
for t in $targets; do
	build "$t"
	rc=$?
	[ "$rc" = 2 ] && continue
	if [ "$rc" != 0 ]; then
		echo "fuzz $t: FAILED to build"
		failed=$((failed + 1))
		continue
	fi
	mkdir -p "$work/$t.corpus" "$work/$t.artifacts"
	"$work/$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
		-max_len=4096 -error_exitcode=77 -timeout_exitcode=78 \
		-print_final_stats=1 -artifact_prefix="$work/$t.artifacts/" \
		"$work/$t.corpus" "test/fuzz/$t" >"$work/$t.log" 2>&1
	rc=$?
	ran=$((ran + 1))
	runs=$(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "$work/$t.log" | grep -Eo '[0-9]+$')
	cov=$(grep -Eo 'cov: [0-9]+' "$work/$t.log" | tail -1)
	if [ "$rc" = 0 ] && [ -z "$(ls -A "$work/$t.artifacts")" ]; then
		echo "fuzz $t: ok (${runs:-?} inputs in ${seconds}s, ${cov:-cov: ?})"
	else
		echo "fuzz $t: FAILED (exit $rc), log $work/$t.log, inputs:"
		ls "$work/$t.artifacts" | sed "s,^,  $work/$t.artifacts/,"
		grep -E 'ERROR:|SUMMARY:|_fuzz: |runtime error|Test unit written' "$work/$t.log" | head -20
		failed=$((failed + 1))
	fi
done
echo "fuzz: $ran targets run, $failed failed, work directory $work"
[ "$failed" = 0 ]
