#!/bin/sh
# The main job on the bundled example: compile the Acme mesh, then audit it against the
# reference bundle and print the report. The mesh has problems planted on purpose
# (examples/acme/README.md), so the audit finds them and exits 1: that is the demo working.
set -eu
cd "$(dirname "$0")/.."
echo "\$ meshpol compile -o build/acme.mpm examples/acme"
./bin/meshpol compile -o build/acme.mpm examples/acme
echo
echo "\$ meshpol audit -m build/acme.mpm -p policies"
rc=0
./bin/meshpol audit -m build/acme.mpm -p policies || rc=$?
echo
case $rc in
1) echo "meshpol audit exited 1: findings at or above --fail-on hard (planted in examples/acme)." ;;
0) echo "meshpol audit exited 0: no findings at or above --fail-on hard." ;;
*) echo "meshpol audit failed with exit code $rc" >&2; exit "$rc" ;;
esac
