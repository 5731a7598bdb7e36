#!/usr/bin/env bash
# Every test in one command: installs what is missing (Debian), builds, runs
# `meson test` (unit and integration suites) in the normal build and again in
# an ASan/UBSan build, and ends with one line "N passed, M failed[, K skipped]"
# counted from meson's test logs. Exits non-zero when anything failed.
#
#   sudo scripts/test.sh
#
# Environment: NFTP_SANITIZE=0 skips the sanitizer build, NFTP_VALGRIND=0 the
# unit tests under valgrind, NFTP_FUZZ=0 the fuzz regression run; NFTP_SUITES="unit"
# (space separated) limits the suites; extra arguments go to `meson test`.
# The integration tests need root, network namespaces and nf_tables; without
# them they are counted as skipped.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
source scripts/common.sh

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

# The unit tests once more under valgrind (memcheck): errors and leaks fail.
run_valgrind() {
	local dir=$NFTP_REPO/build log
	[[ -f $dir/build.ninja ]] || return 0
	[[ -z $suites || " $suites " == *" unit "* ]] || return 0
	log="$dir/meson-logs/testlog-valgrind.json"
	rm -f "$log"
	nftp_say "meson test -C $dir --setup valgrind --suite unit"
	meson test -C "$dir" --setup valgrind --suite unit --print-errorlogs --num-processes 2
	if [[ ! -s $log ]]; then
		echo "meson test --setup valgrind wrote no results" >&2
		failed_builds=$((failed_builds + 1))
		return
	fi
	count_log "$log" "valgrind"
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
}

for b in "${builds[@]}"; do run_build "$b" "$@"; done
if command -v valgrind >/dev/null && [[ ${NFTP_VALGRIND:-1} != 0 ]]; then
	run_valgrind
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
