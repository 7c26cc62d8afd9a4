#!/usr/bin/env bash
# make soak: the fault-injection soak of test/t/70_soak.pl (which `make test`
# runs for about a minute) run for longer, through test/run-all.sh so both
# share one implementation.  Ends with "N passed, N failed".
#
#   SOAK_SECONDS=600 make soak       length of the load (default 300 s)
#   SOAK_PROCS=8 make soak           concurrent load processes (default 4)
set -eu
cd "$(dirname "$0")/../.."
export SOAK_SECONDS=${SOAK_SECONDS:-300}
export SOAK_PROCS=${SOAK_PROCS:-4}
TAP_FILTER=70_soak exec bash test/run-all.sh tap
