#!/usr/bin/env bash
# Debian packages JustAuth needs to build, run and test.  Sourced by
# .ci/run and tools/run.sh; installs only what is missing.
JUSTAUTH_BUILD_PACKAGES="build-essential postgresql-15 postgresql-server-dev-15 postgresql-contrib
  libcivetweb-dev libcurl4-openssl-dev libpq-dev libssl-dev libjansson-dev xxd curl openssl ca-certificates"
JUSTAUTH_TEST_PACKAGES="libipc-run-perl python3 python3-requests jq wrk valgrind chromium
  clang-14 libclang-rt-14-dev clang-tidy-14 cppcheck"

# install_packages PKG...: apt-get install the ones not yet installed (root only).
install_packages() {
	local missing=() p
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
	done
	# Node.js may come from another repository; only add Debian's when absent.
	command -v node >/dev/null || missing+=(nodejs)
	command -v npm >/dev/null || missing+=(npm)
	[ ${#missing[@]} -eq 0 ] && return 0
	if [ "$(id -u)" != 0 ]; then
		echo "missing packages: ${missing[*]} (run as root or install them)" >&2
		return 1
	fi
	echo "installing: ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}"
}
