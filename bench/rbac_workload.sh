# bench/rbac_workload.sh: the shared rbac workloads, for rbac_bench.sh and decide_cache.sh.
# Sourced after OUT and SEED are set and SHARED (the shared folder) is found with
# rbac_find_shared; the generator is $SHARED/bench/gen_rbac_workload.py (its docstring defines
# the workload).

# rbac_find_shared NAME: SHARED (default: ../shared beside the clone) made absolute and GEN set,
# or says what is missing and exits.
rbac_find_shared() {
	local top
	if [ -z "${SHARED:-}" ]; then
		top=$(git -C "$HERE" rev-parse --show-toplevel 2>/dev/null) || {
			echo "$1: $HERE is not in a git checkout; set SHARED to the shared folder" >&2
			exit 1
		}
		SHARED=$top/../shared
	fi
	if [ ! -f "$SHARED/bench/gen_rbac_workload.py" ]; then
		echo "$1: the shared benchmark folder is missing: expected $SHARED/bench/gen_rbac_workload.py" >&2
		echo "$1: (the shared folder sits beside the clone; or set SHARED=/path/to/shared)" >&2
		exit 1
	fi
	SHARED=$(cd "$SHARED" && pwd)
	GEN=$SHARED/bench/gen_rbac_workload.py
}

# rbac_gen_args N: the generator's arguments for N services: 100 (`--services 100 --namespaces 5
# --denies 5`), 1000 (the generator's defaults), any other N `--services N`.
rbac_gen_args() {
	case $1 in
	100) echo "--services 100 --namespaces 5 --denies 5 --seed $SEED" ;;
	1000) echo "--seed $SEED" ;;
	*) echo "--services $1 --seed $SEED" ;;
	esac
}

# rbac_workload N: generates $OUT/rbac-workload-N.json unless it is there for the same arguments
# and generator (the 10,000-service one takes ~30 s); 1 when the generator failed.
rbac_workload() {
	local n=$1 wl=$OUT/rbac-workload-$1.json key
	key="$(rbac_gen_args "$n") $(sha256sum "$GEN" | cut -c1-64)"
	if [ -s "$wl" ] && [ "$(cat "$wl.key" 2>/dev/null)" = "$key" ]; then
		return 0
	fi
	echo "rbac: generating the $n-service workload ($(rbac_gen_args "$n"))..." >&2
	rm -f "$wl.key"
	# shellcheck disable=SC2046
	if ! python3 "$GEN" $(rbac_gen_args "$n") >"$wl.tmp"; then
		rm -f "$wl.tmp"
		return 1
	fi
	mv "$wl.tmp" "$wl" && echo "$key" >"$wl.key"
}
