#!/usr/bin/env bash
# make soak: both fault-injection soaks with a longer load phase than CI's,
# SOAK_SECONDS (default 300 each):
#   64_soak: worker SIGKILLs and a PostgreSQL crash under random mock faults,
#            checked through the money, outbox and memory invariants;
#   70_soak: per-request expectations (every reply checked against the codes
#            sent so far), database outages for the gateway, a restart.
# As root, run-all.sh installs the extension: hold the install lock, e.g.
#   flock /tmp/justauth-install.lock make soak
set -u
cd "$(dirname "$0")/../.."
export JUSTAUTH_SOAK_SECONDS=${SOAK_SECONDS:-300} SOAK_SECONDS=${SOAK_SECONDS:-300}
TAP_FILTER='64_soak|70_soak' exec bash test/run-all.sh tap
