#!/usr/bin/env bash
# Every test in one command: installs what is missing (Debian), builds, runs
# `meson test` (unit and integration suites) in the normal build and again in
# an ASan/UBSan build, and ends with one line "N passed, M failed[, K skipped]"
# counted from meson's test logs. Exits non-zero when anything failed.
#
#   sudo scripts/test.sh            # every test, about 35 minutes on 2 cores
#   sudo scripts/test.sh --long     # the long variants too (about 1 hour more)
#
# The runs, in order: the unit and integration suites in the normal build,
# then in an ASan/UBSan build; the unit tests under valgrind; the integration
# tests with nftproxy and nftproxyctl under valgrind (memcheck); the fuzz
# targets over their corpora and reproducers, then each fuzzed for 30 s.
# --long: the soak runs 300 s instead of 30, crash_sync kills 20 syncs per
# part instead of 6, and each fuzz target runs 300 s.
#
# Environment: NFTP_SANITIZE=0 skips the sanitizer build, NFTP_VALGRIND=0 the
# unit tests under valgrind, NFTP_VALGRIND_INTEGRATION=0 the integration tests
# under valgrind, NFTP_FUZZ=0 the fuzz runs; NFTP_SUITES="unit"
# (space separated) limits the suites; extra arguments go to `meson test`.
# NFTP_FUZZ_SECONDS=N: after the fuzz regression, fuzz each target N s (default 30, 0: not);
# NFTP_SOAK_SECONDS and CRASH_ROUNDS size the soak and crash_sync tests.
# The integration tests need root, network namespaces and nf_tables; without
# them they are counted as skipped.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
source scripts/common.sh

if [[ ${1:-} == --long ]]; then
	shift
	export NFTP_SOAK_SECONDS=${NFTP_SOAK_SECONDS:-300}
	export CRASH_ROUNDS=${CRASH_ROUNDS:-20}
	export NFTP_FUZZ_SECONDS=${NFTP_FUZZ_SECONDS:-300}
fi
sanitize=${NFTP_SANITIZE:-1}
suites=${NFTP_SUITES:-}
builds=("$NFTP_REPO/build")
((sanitize)) && builds+=("$NFTP_REPO/build-sanitize")
failed_builds=0
passed=0 failed=0 skipped=0

NFTP_PACKAGES+=("${NFTP_TEST_PACKAGES[@]}")
nftp_install_packages || { echo "0 passed, 1 failed"; exit 1; }
nftp_install_optional

run_build() {
	local dir=$1 opts=() suite_args=() s log
	shift
	[[ $dir == */build-sanitize ]] && opts=("-Db_sanitize=address,undefined" -Db_lundef=false)
	if ! nftp_build "$dir" "${opts[@]}"; then
		echo "build in $dir failed" >&2
		failed_builds=$((failed_builds + 1))
		return
	fi
	for s in $suites; do suite_args+=(--suite "$s"); done
	log="$dir/meson-logs/testlog.json"
	rm -f "$log"
	nftp_say "meson test -C $dir ${suite_args[*]} $*"
	# Sanitizer findings fail the test that hit them.
	ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1} \
	UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
		meson test -C "$dir" --print-errorlogs --num-processes 2 "${suite_args[@]}" "$@"
	if [[ ! -s $log ]]; then
		echo "meson test in $dir wrote no results" >&2
		failed_builds=$((failed_builds + 1))
		return
	fi
	count_log "$log" "$(basename "$dir")"
}

# count_log LOG LABEL: adds meson's results in LOG (testlog*.json) to the totals.
count_log() {
	local log=$1 label=$2 p f k
	# One JSON object per test: OK and EXPECTEDFAIL pass, SKIP skips, the rest fail.
	read -r p f k < <(jq -rs '[ (map(select(.result == "OK" or .result == "EXPECTEDFAIL")) | length),
		(map(select(.result != "OK" and .result != "EXPECTEDFAIL" and .result != "SKIP")) | length),
		(map(select(.result == "SKIP")) | length) ] | @tsv' "$log")
	nftp_say "$label: $p passed, $f failed, $k skipped"
	jq -r 'select(.result != "OK" and .result != "EXPECTEDFAIL" and .result != "SKIP") | "    \(.result): \(.name)"' "$log"
	passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + k))
}

# run_setup SETUP SUITE LABEL [ARGS...]: one suite of the normal build once
# more under a meson test setup (meson.build), counted under LABEL.
run_setup() {
	local setup=$1 suite=$2 label=$3 dir=$NFTP_REPO/build log
	shift 3
	[[ -f $dir/build.ninja ]] || return 0
	[[ -z $suites || " $suites " == *" $suite "* ]] || return 0
	log="$dir/meson-logs/testlog-$setup.json"
	rm -f "$log"
	nftp_say "meson test -C $dir --setup $setup --suite $suite $*"
	meson test -C "$dir" --setup "$setup" --suite "$suite" --print-errorlogs "$@"
	if [[ ! -s $log ]]; then
		echo "meson test --setup $setup wrote no results" >&2
		failed_builds=$((failed_builds + 1))
		return
	fi
	count_log "$log" "$label"
}

# The libFuzzer harnesses (tests/fuzz), built with clang, run once over
# their seed corpus and saved reproducers: a regression test, bounded and
# deterministic. Open-ended fuzzing is tests/fuzz/run.sh.
run_fuzz() {
	local dir=$NFTP_REPO/build-fuzz log probe
	[[ -z $suites || " $suites " == *" fuzz "* ]] || return 0
	probe=$(mktemp -d)
	if ! printf 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { return 0; }\n' |
		clang -fsanitize=fuzzer -x c - -o "$probe/probe" 2>/dev/null; then
		rm -rf "$probe"
		nftp_say "clang with libFuzzer is not available: fuzz regression skipped"
		return 0
	fi
	rm -rf "$probe"
	if ! CC=clang nftp_build "$dir" -Dfuzz=true "-Db_sanitize=address,undefined" -Db_lundef=false; then
		echo "fuzz build in $dir failed" >&2
		failed_builds=$((failed_builds + 1))
		return
	fi
	log="$dir/meson-logs/testlog.json"
	rm -f "$log"
	nftp_say "meson test -C $dir --suite fuzz"
	meson test -C "$dir" --suite fuzz --print-errorlogs --num-processes 2
	if [[ ! -s $log ]]; then
		echo "meson test --suite fuzz wrote no results" >&2
		failed_builds=$((failed_builds + 1))
		return
	fi
	count_log "$log" "fuzz regression"
	# Then every target fuzzed for NFTP_FUZZ_SECONDS, two at a time: one
	# test each, failed when it found a crash, leak, hang or OOM.
	local secs=${NFTP_FUZZ_SECONDS:-30} summary t status execs cov detail
	local n=0 total=0 found=0
	if [[ ! $secs =~ ^[0-9]+$ ]]; then
		echo "NFTP_FUZZ_SECONDS=$secs is not a number of seconds" >&2
		failed_builds=$((failed_builds + 1))
		return
	fi
	((secs > 0)) || return 0
	summary=$(mktemp)
	nftp_say "tests/fuzz/run.sh -j 2 $dir $secs: every target for ${secs}s"
	tests/fuzz/run.sh -j 2 -s "$summary" "$dir" "$secs"
	while read -r t status execs cov detail; do
		n=$((n + 1)) total=$((total + execs))
		if [[ $status == ok ]]; then
			passed=$((passed + 1))
		else
			failed=$((failed + 1)) found=$((found + 1))
			echo "    FOUND: fuzz $t (coverage $cov): $detail"
		fi
	done <"$summary"
	rm -f "$summary"
	if ((n == 0)); then
		echo "tests/fuzz/run.sh fuzzed no target" >&2
		failed_builds=$((failed_builds + 1))
	elif ((found > 0)); then
		nftp_say "fuzz: $total executions over $n targets, $found found something"
	else
		nftp_say "fuzz: $total executions over $n targets, nothing found"
	fi
}

for b in "${builds[@]}"; do run_build "$b" "$@"; done
if command -v valgrind >/dev/null && [[ ${NFTP_VALGRIND:-1} != 0 ]]; then
	# The unit tests under valgrind (memcheck): errors and leaks fail.
	run_setup valgrind unit valgrind --num-processes 2
fi
if command -v valgrind >/dev/null && [[ ${NFTP_VALGRIND_INTEGRATION:-1} != 0 ]]; then
	# The integration tests with nftproxy and nftproxyctl under valgrind
	# (tests/integration/lib.sh, "Valgrind mode"): errors and leaks fail the
	# test that started them; the tests that cannot run so skip and say why.
	run_setup valgrinddaemon integration "integration under valgrind"
fi
if command -v clang >/dev/null && [[ ${NFTP_FUZZ:-1} != 0 ]]; then
	run_fuzz
fi

failed=$((failed + failed_builds))
summary="$passed passed, $failed failed"
((skipped > 0)) && summary+=", $skipped skipped"
echo
echo "$summary"
((failed == 0))
