#!/usr/bin/env bash
# Runs TAP suites against ASan+UBSan builds of the gateway and the mock
# WhatsApp server (test/sanitize/build.sh), or with the gateway under
# valgrind memcheck, and fails on any sanitizer or memcheck report as well
# as on any failing test.
#
#   test/sanitize/run.sh [TAP_FILTER]            default: gateway|security
#   SANITIZE_TOOL=valgrind test/sanitize/run.sh  memcheck instead of ASan
#
# Works on a scratch copy of the tree: the normal build is made first, then
# the sanitized binaries (or a script that execs the normal gateway under
# valgrind) replace gateway/justauth-gateway and test/mock/mock-whatsapp
# there, so test/run-all.sh finds them up to date.  Reports go to files
# (log_path, --log-file) because the servers' output is captured by the
# tests.  As root, run-all.sh installs the extension: hold the install
# lock, e.g. flock /tmp/justauth-install.lock test/sanitize/run.sh
set -u -o pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
filter=${1:-gateway|security}
tool=${SANITIZE_TOOL:-asan}
work=$(mktemp -d /tmp/justauth-sanitize.XXXXXX)
chmod 755 "$work"

mkdir -p "$work/src"
(cd "$top" && tar --exclude=./.git --exclude=./run --exclude=./tmp_check -cf - .) |
	tar -C "$work/src" -xf -
cd "$work/src"
# Suites that run the gateway under valgrind themselves cannot run it under
# ASan or under a second valgrind; the normal test run covers them.
rm -f test/t/*valgrind*.pl
make -s all >"$work/build.log" 2>&1 || { cat "$work/build.log"; echo "normal build failed"; exit 1; }
reports="$work/reports"
mkdir -p "$reports"
chmod 1777 "$reports"
case $tool in
asan)
	bash test/sanitize/build.sh "$work/san" >>"$work/build.log" 2>&1 ||
		{ cat "$work/build.log"; echo "sanitized build failed"; exit 1; }
	cp "$work/san/gateway/justauth-gateway" gateway/justauth-gateway
	cp "$work/san/test/mock/mock-whatsapp" test/mock/mock-whatsapp
	export ASAN_OPTIONS="log_path=$reports/asan:detect_leaks=1:halt_on_error=1:detect_stack_use_after_return=1"
	export UBSAN_OPTIONS="log_path=$reports/ubsan:print_stacktrace=1:halt_on_error=1"
	;;
valgrind)
	# The real binary stays in gateway/ for its $ORIGIN/compat rpath.
	mv gateway/justauth-gateway gateway/justauth-gateway.bin
	cat >gateway/justauth-gateway <<EOS
#!/bin/sh
exec valgrind --quiet --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \\
	--show-leak-kinds=definite --log-file=$reports/memcheck.%p \\
	"\$(dirname "\$0")/justauth-gateway.bin" "\$@"
EOS
	chmod 755 gateway/justauth-gateway
	;;
*)
	echo "unknown SANITIZE_TOOL $tool (asan or valgrind)" >&2
	exit 1
	;;
esac
touch gateway/justauth-gateway test/mock/mock-whatsapp

TAP_FILTER=$filter bash test/run-all.sh tap >"$work/tap.out" 2>&1
rc=$?
tail -n 3 "$work/tap.out"

# Empty files are clean runs (valgrind --quiet creates its log file anyway).
n=$(find "$reports" -type f -size +0 | wc -l)
if [ "$n" -gt 0 ]; then
	echo "sanitizer reports: $n"
	for f in $(find "$reports" -type f -size +0); do
		echo "== $f"
		head -n 40 "$f"
	done
fi
echo "$tool run: suites $( [ $rc = 0 ] && echo passed || echo FAILED ), $n sanitizer reports, work directory $work"
[ "$rc" = 0 ] && [ "$n" = 0 ]
