#!/usr/bin/env bash
# make soak: the fault-injection soak (test/t/64_soak.pl) with a longer load
# phase than CI's, SOAK_SECONDS (default 600).  As root, run-all.sh
# installs the extension: hold the install lock, e.g.
#   flock /tmp/justauth-install.lock make soak
set -u
cd "$(dirname "$0")/../.."
JUSTAUTH_SOAK_SECONDS=${SOAK_SECONDS:-600} TAP_FILTER=64_soak exec bash test/run-all.sh tap
