#!/bin/sh
# Runs every libFuzzer target for a bounded time on a copy of its seed
# corpus (tests/fuzz/corpus/<target>/ is never written), offline, and says
# per target how many inputs ran and whether anything was found.
#
#   tests/fuzz/run.sh BUILD_DIR [SECONDS_PER_TARGET]    (default 20)
#
# BUILD_DIR is configured as in tests/fuzz/README.md. Exits 1 when any
# target crashed, leaked, hung or ran out of memory; the reproducers and
# logs are then kept in the work directory it prints. FUZZ_KEEP=1 keeps that
# directory in every case (the grown corpora are in it).
set -u

usage() {
	echo "usage: $0 BUILD_DIR [SECONDS_PER_TARGET]" >&2
	exit 2
}

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
	usage
fi
build=$1
seconds=${2:-20}
case $seconds in
'' | *[!0-9]* | 0) usage ;;
esac
here=$(cd "$(dirname "$0")" && pwd)
targets="decode doc_json doc_yaml model"

for t in $targets; do
	if [ ! -x "$build/tests/fuzz/fuzz_$t" ]; then
		echo "$0: $build/tests/fuzz/fuzz_$t is missing: configure with" \
			"CC=clang -Dfuzz=true (tests/fuzz/README.md) and build" >&2
		exit 2
	fi
done

work=$(mktemp -d "${TMPDIR:-/tmp}/nftproxy-fuzz.XXXXXX") || exit 2

# Library code is built with recoverable UBSan; a report must stop the run
# or the fuzzer would not notice it.
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}"

dict_of() {
	case $1 in
	decode | model) echo "$here/dict/kube.dict" ;;
	doc_json) echo "$here/dict/json.dict" ;;
	doc_yaml) echo "$here/dict/yaml.dict" ;;
	esac
}

failed=0
for t in $targets; do
	mkdir -p "$work/$t/corpus" "$work/$t/found"
	cp "$here/corpus/$t/"* "$work/$t/corpus/"
	seeds=$(ls "$work/$t/corpus" | wc -l)
	# -close_fd_mask=2: the decoders log a warning per rejected object;
	# libFuzzer's and the sanitizers' reports still reach the log.
	"$build/tests/fuzz/fuzz_$t" -max_total_time="$seconds" -timeout=10 \
		-rss_limit_mb=2048 -close_fd_mask=2 -print_final_stats=1 \
		-dict="$(dict_of "$t")" -artifact_prefix="$work/$t/found/" \
		"$work/$t/corpus" >"$work/$t/log" 2>&1
	rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/$t/log")
	cov=$(grep -E '^#[0-9]+' "$work/$t/log" | tail -1 | sed -n 's/.* cov: \([0-9]*\).*/\1/p')
	grown=$(ls "$work/$t/corpus" | wc -l)
	found=$(ls "$work/$t/found")
	if [ $rc -eq 0 ] && [ -z "$found" ]; then
		result="nothing found"
	else
		failed=1
		result="FOUND (exit $rc): ${found:-no reproducer written} - see $work/$t/log"
	fi
	printf '%-9s %10s execs in %ss, coverage %s, corpus %s -> %s: %s\n' "$t" \
		"${execs:-?}" "$seconds" "${cov:-?}" "$seeds" "$grown" "$result"
	if [ -n "$found" ] || [ $rc -ne 0 ]; then
		grep -E 'ERROR|CHECK\(|SUMMARY|^    #[0-9]+ .* in [a-z_]+ /' "$work/$t/log" | head -20 | sed 's/^/    /'
	fi
done

if [ $failed -ne 0 ] || [ "${FUZZ_KEEP:-0}" = 1 ]; then
	echo "work directory kept: $work"
else
	rm -rf "$work"
fi
exit $failed
