#!/usr/bin/env bash
# Builds the gateway and the mock WhatsApp server with AddressSanitizer and
# UndefinedBehaviorSanitizer from their unchanged sources, into OUTDIR
# (default: a new directory under /tmp), laid out like the tree:
#   OUTDIR/gateway/justauth-gateway, OUTDIR/gateway/compat/libssl.so,
#   OUTDIR/test/mock/mock-whatsapp
# The compile flags follow gateway/Makefile and test/mock/Makefile, warnings
# are errors; any UB report aborts the process (-fno-sanitize-recover).
#
#   test/sanitize/build.sh [OUTDIR]
#
# Needs clang-14 and libclang-rt-14-dev (sanitizer runtimes).
set -euo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:-$(mktemp -d /tmp/justauth-sanitize-build.XXXXXX)}
CC=${SANITIZE_CC:-clang-14}
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
pq_include=$("$PG_CONFIG" --includedir)
pg_include_server=$("$PG_CONFIG" --includedir-server)
san=(-fsanitize=address,undefined -fno-sanitize-recover=undefined
	-fno-omit-frame-pointer -g -O1)
warn=(-Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers -Werror)

mkdir -p "$out/gateway/compat" "$out/test/mock"
cd "$top"

# The gateway embeds two generated headers; make them as its Makefile does.
make -s -C gateway playground_html.h openapi_json.h

# sslcompat.c is a shim library loaded by the gateway (see gateway/Makefile);
# it is built without sanitizers, like a system library.
"$CC" -O2 -g -fPIC -shared -Wl,-soname,libssl.so -o "$out/gateway/compat/libssl.so" \
	gateway/sslcompat.c -Wl,--no-as-needed -lssl

# replyfields.c is PostgreSQL frontend code (libpgcommon's JSON parser);
# PostgreSQL's headers name gnu_printf, which clang ignores.
"$CC" "${san[@]}" -std=gnu11 "${warn[@]}" -Wno-ignored-attributes -pthread -DFRONTEND -I"$pg_include_server" -Igateway \
	-c -o "$out/gateway/replyfields.o" gateway/replyfields.c
gw_srcs=()
for f in gateway/*.c; do
	case "$f" in gateway/sslcompat.c | gateway/replyfields.c) ;; *) gw_srcs+=("$f") ;; esac
done
"$CC" "${san[@]}" -std=gnu11 "${warn[@]}" -pthread -I"$pq_include" -Igateway \
	-o "$out/gateway/justauth-gateway" "${gw_srcs[@]}" "$out/gateway/replyfields.o" \
	-Wl,--no-as-needed "$out/gateway/compat/libssl.so" -Wl,--as-needed \
	-Wl,-rpath,'$ORIGIN/compat' -lcivetweb -lpq -L"$("$PG_CONFIG" --pkglibdir)" -lpgcommon -lpgport \
	-lssl -lcrypto -pthread

"$CC" "${san[@]}" "${warn[@]}" -pthread -o "$out/test/mock/mock-whatsapp" \
	test/mock/mock-whatsapp.c -lcivetweb -ljansson -pthread

echo "sanitized builds in $out"
