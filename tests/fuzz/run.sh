#!/bin/sh
# Runs libFuzzer targets for a bounded time on a copy of their seed corpus
# (tests/fuzz/corpus/<target>/ is never written), offline, and says per
# target how many inputs ran, the coverage, and whether anything was found.
#
#   tests/fuzz/run.sh [-j JOBS] [-s SUMMARY] BUILD_DIR [SECONDS_PER_TARGET [TARGET...]]
#
# SECONDS_PER_TARGET defaults to 20. The targets are every directory of
# corpus/ (each target has one), or those named. -j runs JOBS targets at a
# time (default 1). -s writes one line per target to SUMMARY, for scripts:
#
#   TARGET ok|found EXECUTIONS COVERAGE DETAIL
#
# (DETAIL: "-" when nothing was found, else the reproducer or the log.)
# BUILD_DIR is configured as in tests/fuzz/README.md. Exits 1 when any
# target crashed, leaked, hung or ran out of memory; the reproducers and
# logs are then kept in the work directory it prints. FUZZ_KEEP=1 keeps that
# directory in every case (the grown corpora are in it).
set -u

usage() {
	echo "usage: $0 [-j JOBS] [-s SUMMARY] BUILD_DIR [SECONDS_PER_TARGET [TARGET...]]" >&2
	exit 2
}

jobs=1
summary=""
while getopts j:s: opt; do
	case $opt in
	j) jobs=$OPTARG ;;
	s) summary=$OPTARG ;;
	*) usage ;;
	esac
done
shift $((OPTIND - 1))
[ $# -ge 1 ] || usage
build=$1
seconds=${2:-20}
[ $# -ge 2 ] && shift 2 || shift $#
case $seconds in
'' | *[!0-9]* | 0) usage ;;
esac
case $jobs in
'' | *[!0-9]* | 0) usage ;;
esac
here=$(cd "$(dirname "$0")" && pwd)
if [ $# -gt 0 ]; then
	targets=$*
else
	targets=$(cd "$here/corpus" && ls -d */ | tr -d /)
fi

for t in $targets; do
	if [ ! -d "$here/corpus/$t" ]; then
		echo "$0: no target $t (no $here/corpus/$t)" >&2
		exit 2
	fi
	if [ ! -x "$build/tests/fuzz/fuzz_$t" ]; then
		echo "$0: $build/tests/fuzz/fuzz_$t is missing: configure with" \
			"CC=clang -Dfuzz=true (tests/fuzz/README.md) and build" >&2
		exit 2
	fi
done

work=$(mktemp -d "${TMPDIR:-/tmp}/nftproxy-fuzz.XXXXXX") || exit 2
[ -z "$summary" ] || : >"$summary" || exit 2

# Library code is built with recoverable UBSan; a report must stop the run
# or the fuzzer would not notice it.
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}"

dict_of() {
	case $1 in
	decode | model | watch | list) echo "$here/dict/kube.dict" ;;
	doc_json) echo "$here/dict/json.dict" ;;
	doc_yaml) echo "$here/dict/yaml.dict" ;;
	*) echo "$here/dict/$1.dict" ;;
	esac
}

# start TARGET: fuzzes in the background; the exit status goes to rc.
start() {
	t=$1
	dict=$(dict_of "$t")
	mkdir -p "$work/$t/corpus" "$work/$t/found"
	cp "$here/corpus/$t/"* "$work/$t/corpus/"
	ls "$work/$t/corpus" | wc -l >"$work/$t/seeds"
	[ -f "$dict" ] && set -- -dict="$dict" || set --
	# -close_fd_mask=2: the decoders log a warning per rejected object;
	# libFuzzer's and the sanitizers' reports still reach the log.
	(
		"$build/tests/fuzz/fuzz_$t" -max_total_time="$seconds" -timeout=10 \
			-rss_limit_mb=2048 -close_fd_mask=2 -print_final_stats=1 "$@" \
			-artifact_prefix="$work/$t/found/" "$work/$t/corpus" >"$work/$t/log" 2>&1
		echo $? >"$work/$t/rc"
	) &
}

# report TARGET: its line, and what it found.
report() {
	t=$1
	rc=$(cat "$work/$t/rc")
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/$t/log")
	cov=$(grep -E '^#[0-9]+' "$work/$t/log" | tail -1 | sed -n 's/.* cov: \([0-9]*\).*/\1/p')
	seeds=$(cat "$work/$t/seeds")
	grown=$(ls "$work/$t/corpus" | wc -l)
	found=$(ls "$work/$t/found")
	if [ "$rc" -eq 0 ] && [ -z "$found" ]; then
		result="nothing found"
		status=ok detail=-
	else
		failed=1
		status=found
		detail=$work/$t/log
		[ -z "$found" ] || detail=$work/$t/found/$(echo "$found" | head -1)
		result="FOUND (exit $rc): ${found:-no reproducer written} - see $work/$t/log"
	fi
	printf '%-10s %10s execs in %ss, coverage %s, corpus %s -> %s: %s\n' "$t" \
		"${execs:-?}" "$seconds" "${cov:-?}" "$seeds" "$grown" "$result"
	if [ "$status" = found ]; then
		grep -E 'ERROR|CHECK\(|SUMMARY|^    #[0-9]+ .* in [a-z_]+ /' "$work/$t/log" | head -20 | sed 's/^/    /'
	fi
	[ -z "$summary" ] || echo "$t $status ${execs:-0} ${cov:-0} $detail" >>"$summary"
}

failed=0
batch=""
n=0
for t in $targets; do
	start "$t"
	batch="$batch $t"
	n=$((n + 1))
	if [ $n -eq "$jobs" ]; then
		wait
		for b in $batch; do report "$b"; done
		batch=""
		n=0
	fi
done
wait
for b in $batch; do report "$b"; done

if [ $failed -ne 0 ] || [ "${FUZZ_KEEP:-0}" = 1 ]; then
	echo "work directory kept: $work"
else
	rm -rf "$work"
fi
exit $failed
