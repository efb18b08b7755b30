#!/bin/sh
# The main job on the bundled example: compile the Acme mesh and print its summary.
set -eu
cd "$(dirname "$0")/.."
echo "\$ meshpol compile -o build/acme.mpm examples/acme"
./bin/meshpol compile -o build/acme.mpm examples/acme
