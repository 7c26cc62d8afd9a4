#!/usr/bin/env bash
# Runs TAP suites against ASan+UBSan builds of the gateway and the mock
# WhatsApp server (test/sanitize/build.sh) and fails on any sanitizer
# report, as well as on any failing test.
#
#   test/sanitize/run.sh [TAP_FILTER]     default: gateway|worker|security
#
# Works on a scratch copy of the tree: the normal build is made first, then
# the sanitized binaries replace gateway/justauth-gateway and
# test/mock/mock-whatsapp there, so test/run-all.sh finds them up to date.
# Sanitizer reports go to files (log_path) because the servers' output is
# captured by the tests.  As root, run-all.sh installs the extension: hold
# the install lock, e.g. flock /tmp/justauth-install.lock test/sanitize/run.sh
set -u -o pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
filter=${1:-gateway|worker|security}
work=$(mktemp -d /tmp/justauth-sanitize.XXXXXX)
chmod 755 "$work"

mkdir -p "$work/src"
(cd "$top" && tar --exclude=./.git --exclude=./run --exclude=./tmp_check -cf - .) |
	tar -C "$work/src" -xf -
cd "$work/src"
make -s all >"$work/build.log" 2>&1 || { cat "$work/build.log"; echo "normal build failed"; exit 1; }
bash test/sanitize/build.sh "$work/san" >>"$work/build.log" 2>&1 ||
	{ cat "$work/build.log"; echo "sanitized build failed"; exit 1; }
cp "$work/san/gateway/justauth-gateway" gateway/justauth-gateway
cp "$work/san/test/mock/mock-whatsapp" test/mock/mock-whatsapp
touch gateway/justauth-gateway test/mock/mock-whatsapp

reports="$work/reports"
mkdir -p "$reports"
chmod 1777 "$reports"
export ASAN_OPTIONS="log_path=$reports/asan:detect_leaks=1:halt_on_error=1:detect_stack_use_after_return=1"
export UBSAN_OPTIONS="log_path=$reports/ubsan:print_stacktrace=1:halt_on_error=1"

TAP_FILTER=$filter bash test/run-all.sh tap >"$work/tap.out" 2>&1
rc=$?
tail -n 3 "$work/tap.out"

n=$(find "$reports" -type f | wc -l)
if [ "$n" -gt 0 ]; then
	echo "sanitizer reports: $n"
	for f in "$reports"/*; do
		echo "== $f"
		head -n 40 "$f"
	done
fi
echo "sanitized run: suites $( [ $rc = 0 ] && echo passed || echo FAILED ), $n sanitizer reports, work directory $work"
[ "$rc" = 0 ] && [ "$n" = 0 ]
