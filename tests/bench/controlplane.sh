#!/usr/bin/env bash
# The control-plane benchmark of docs/PERFORMANCE.md, one command:
#
#   tests/bench/controlplane.sh BUILD_DIR [OUT_DIR]
#
# For every N in $SERVICES (default "1000 10000 30000 100000") and M in
# $ENDPOINTS (default "3 10"), in throw-away network namespaces (never the
# host's ruleset; each is deleted after its step, and on any exit):
#   - bench_sync N M: nftproxy's cold full sync (userspace and kernel time,
#     batch bytes and messages, peak RSS), then the medians of $REPEAT
#     (default 5) one-endpoint changes, endpoint additions and removals,
#     service additions and deletions;
#   - `nftproxyctl dump` and `nft list table` of the result, timed;
#   - the libnftables baseline: that listing loaded by `nft -f` into a fresh
#     namespace (one transaction), then a one-endpoint change of the same
#     shape as ours applied to it by `nft -f`: the first range of lb-0000
#     (slot 0) deleted and added again with a new ADDR . PORT, and the
#     endpoint's `ADDR . ADDR` element of set hairpin replaced (range and
#     address read from the listing); the median of 3 changes, each to a
#     new address (10.255.255.1-3);
#   - kube-proxy's iptables mode, once with iptables-legacy-restore and once
#     with iptables-nft-restore: the same N x M services as
#     iptables_layout.py N --endpoints M --large-cluster-mode writes them,
#     loaded cold into a fresh namespace (kube-proxy's flags: -w 5
#     --noflush --counters), checked by counting the KUBE-SEP chains with
#     iptables-save; then the median of 3 one-endpoint changes applied with
#     --noflush as kube-proxy's partial sync sends them
#     (iptables_layout.py --one-endpoint-change --change-number 1..3: the
#     first endpoint of bench/svc-0 moves to 10.255.0.1, .2, .3; each
#     rewrites the top-level chains of both tables, so all N KUBE-SERVICES
#     rules, and the service's KUBE-SVC and KUBE-SEP chains, and deletes the
#     old KUBE-SEP chain), checked with iptables-save after the last. A
#     variant that is not installed is recorded as "-".
# Each step is bounded by $TIMEOUT seconds (default 900); a step that runs
# out is recorded as "timeout", one that fails (or whose check fails) as
# "failed", one not run because an earlier step failed as "skipped".
# Results: OUT_DIR/results.tsv (one row per N x M; the iptables columns
# ipt_legacy_load_s ipt_legacy_one_endpoint_s ipt_nft_load_s
# ipt_nft_one_endpoint_s come last), the raw outputs and the iptables-restore
# change inputs beside it (the full iptables layout is deleted after use:
# iptables_layout.py regenerates it), and SVG plots when gnuplot is there.
set -euo pipefail
build=$(cd "${1:?build dir}" && pwd)
out=${2:-$(pwd)/bench-out}
here=$(cd "$(dirname "$0")" && pwd)
services=${SERVICES:-1000 10000 30000 100000}
endpoints=${ENDPOINTS:-3 10}
repeat=${REPEAT:-5}
limit=${TIMEOUT:-900}
mkdir -p "$out"
nss=()
cleanup() {
	local ns
	for ns in "${nss[@]}" $(ip netns list 2>/dev/null | awk -v p="nftp-cp-$$-" 'index($1, p) == 1 { print $1 }'); do
		ip netns del "$ns" 2>/dev/null || true
	done
	rm -f "$out/ipt-save.tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP
# fresh_ns VAR NAME: a new namespace nftp-cp-PID-NAME, its name in VAR.
fresh_ns() {
	local name="nftp-cp-$$-$2"
	ip netns del "$name" 2>/dev/null || true
	ip netns add "$name"
	nss+=("$name")
	printf -v "$1" '%s' "$name"
}
drop_ns() { ip netns del "$1" 2>/dev/null || true; }

# timed SECONDS_VAR CMD...: runs CMD (bounded), sets the variable to its
# wall time in seconds, or "timeout" / "failed".
timed() {
	local var=$1 t0 rc=0
	shift
	t0=$(date +%s.%N)
	timeout "$limit" "$@" || rc=$?
	if ((rc == 124)); then
		printf -v "$var" timeout
	elif ((rc != 0)); then
		printf -v "$var" failed
	else
		printf -v "$var" '%s' "$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.3f", b - a }')"
	fi
}

kv() { sed -n "s/.*\\b$1=\\([^ ]*\\).*/\\1/p" "$2" | tail -1; }

# ok VALUE: VALUE is a time (not timeout / failed / skipped / -).
ok() { [[ $1 =~ ^[0-9]+(\.[0-9]*)?$ ]]; }

# median VAR VALUE...: the median of the values, or the first one that is
# not a time.
median() {
	local var=$1 v
	shift
	for v; do
		if ! ok "$v"; then
			printf -v "$var" '%s' "$v"
			return
		fi
	done
	printf -v "$var" '%s' "$(printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')"
}

changes=3 # one-endpoint changes per baseline; the median is recorded

# first_lb_range TABLE_LISTING: "LO-HI ADDR PORT" of the element of map
# lb-0000 whose range starts at 0 (slot 0's first endpoint).
first_lb_range() {
	awk '
	/^\tmap lb-0000 \{/ { on = 1; next }
	on && /^\t\}/ { on = 0 }
	on { buf = buf " " $0 }
	END {
		if (match(buf, /[{,][ \t]*0-[0-9]+ : [0-9.]+ \. [0-9]+/)) {
			s = substr(buf, RSTART + 1, RLENGTH - 1)
			sub(/^[ \t]+/, "", s)
			split(s, f, " ")
			print f[1], f[3], f[5]
		}
	}' "$1"
}

# nft_f_one_endpoint NS TAG: sets t_one to the median time of $changes
# one-endpoint changes applied with nft -f to the table loaded in NS, each
# of nftproxy's shape: the first range of lb-0000 re-added with a new
# address, that address's hairpin element replacing the old one.
nft_f_one_endpoint() {
	local ns=$1 tag=$2 range="" addr="" port="" old new r t runs=()
	read -r range addr port < <(first_lb_range "$out/table-$tag.nft") || true
	if [[ -z $port ]]; then
		echo "   nft -f one endpoint: no range 0-... in lb-0000 of $out/table-$tag.nft"
		t_one=failed
		return
	fi
	old=$addr
	for ((r = 1; r <= changes; r++)); do
		new=10.255.255.$r
		cat >"$out/one-endpoint-$tag-$r.nft" <<EON
delete element inet nftproxy lb-0000 { $range }
delete element inet nftproxy hairpin { $old . $old }
add element inet nftproxy lb-0000 { $range : $new . $port }
add element inet nftproxy hairpin { $new . $new }
EON
		timed t ip netns exec "$ns" nft -f "$out/one-endpoint-$tag-$r.nft"
		runs+=("$t")
		ok "$t" || break
		old=$new
	done
	median t_one "${runs[@]}"
}

# kube-proxy's iptables mode, both variants.
layout=$here/iptables_layout.py
ipt_flags=(-w 5 --noflush --counters) # kube-proxy's iptables-restore flags
declare -A ipt_have ipt_gave_up
# IPT_VARIANTS (default "legacy nft"): which iptables baselines to run; a
# variant left out gets "-" (its numbers do not depend on nftproxy, so a
# rerun can keep an earlier run's).
ipt_variants=${IPT_VARIANTS:-legacy nft}
for v in legacy nft; do
	if [[ " $ipt_variants " != *" $v "* ]]; then
		ipt_have[$v]=0
		echo "iptables-$v: not run (IPT_VARIANTS=\"$ipt_variants\"): the ipt_${v}_* columns are \"-\""
	elif command -v "iptables-$v-restore" >/dev/null && command -v "iptables-$v-save" >/dev/null; then
		ipt_have[$v]=1
	else
		ipt_have[$v]=0
		echo "iptables-$v-restore or iptables-$v-save is not installed (apt-get install iptables):" \
			"the ipt_${v}_* columns are \"-\""
	fi
done

# ipt_save NS VARIANT: the nat table of NS into $out/ipt-save.tmp.
ipt_save() { timeout "$limit" ip netns exec "$1" "iptables-$2-save" -t nat >"$out/ipt-save.tmp" 2>/dev/null; }
ipt_seps() { grep -c '^:KUBE-SEP' "$out/ipt-save.tmp" || true; }

# ipt_baseline VARIANT TAG N M: sets ipt_load (the cold load of
# $out/ipt-TAG.txt into a fresh namespace) and ipt_one (the median of the
# $changes one-endpoint changes $out/ipt-TAG-change-K.txt applied to it).
ipt_baseline() {
	local v=$1 tag=$2 want=$(($3 * $4)) ns t k seps runs=() gone
	ipt_load=- ipt_one=-
	((ipt_have[$v])) || return 0
	ipt_load=skipped ipt_one=skipped
	[[ -s $out/ipt-$tag.txt ]] || return 0
	# A cold load that ran out of time at a smaller N would again: say so
	# without spending another $limit seconds.
	if [[ -n ${ipt_gave_up[$v-$4]:-} ]]; then
		ipt_load=timeout
		echo "   iptables-$v-restore: not run (its cold load timed out at ${ipt_gave_up[$v-$4]} x $4)"
		return 0
	fi
	fresh_ns ns "ipt-$v"
	timed ipt_load ip netns exec "$ns" "iptables-$v-restore" "${ipt_flags[@]}" "$out/ipt-$tag.txt" 2>>"$out/ipt-$v-$tag.err"
	[[ $ipt_load == timeout ]] && ipt_gave_up[$v-$4]=$3
	if ok "$ipt_load"; then
		seps=0
		ipt_save "$ns" "$v" && seps=$(ipt_seps)
		if [[ $seps != "$want" ]]; then
			echo "   iptables-$v-restore: $seps KUBE-SEP chains after the load, not $want"
			ipt_load=failed
		fi
	fi
	if ok "$ipt_load"; then
		for ((k = 1; k <= changes; k++)); do
			timed t ip netns exec "$ns" "iptables-$v-restore" "${ipt_flags[@]}" \
				"$out/ipt-$tag-change-$k.txt" 2>>"$out/ipt-$v-$tag.err"
			runs+=("$t")
			ok "$t" || break
		done
		median ipt_one "${runs[@]}"
		# The last change is in: its address is the DNAT target, every
		# KUBE-SEP chain the changes deleted is gone, the count is back.
		if ok "$ipt_one"; then
			gone=$(sed -n 's/^-X //p' "$out/ipt-$tag-change-"*.txt | tr '\n' '|')
			if ! ipt_save "$ns" "$v" || [[ $(ipt_seps) != "$want" ]] ||
				! grep -q -- "--to-destination 10.255.0.$changes:8080\$" "$out/ipt-save.tmp" ||
				grep -Eq "^:(${gone%|}) " "$out/ipt-save.tmp"; then
				echo "   iptables-$v-restore: the one-endpoint changes are not all in"
				ipt_one=failed
			fi
		fi
	fi
	rm -f "$out/ipt-save.tmp"
	drop_ns "$ns"
}

# add VALUE...: the next columns of the row in vals, "-" for a missing
# value (a timed-out bench).
add() {
	local v
	for v; do vals+=("${v:--}"); done
}

cols="services endpoints cold_s cold_user_ms cold_kernel_ms cold_messages cold_bytes rss_peak_kb rss_after_kb"
for op in one_endpoint endpoint_add endpoint_remove service_add service_delete; do
	cols+=" ${op}_user_ms ${op}_kernel_ms ${op}_bytes"
done
cols+=" restart_s dump_s nft_list_s nft_f_load_s nft_f_one_endpoint_s"
cols+=" ipt_legacy_load_s ipt_legacy_one_endpoint_s ipt_nft_load_s ipt_nft_one_endpoint_s"
echo "$cols" | tr ' ' '\t' >"$out/results.tsv"

for n in $services; do
	for m in $endpoints; do
		echo "== $n services x $m endpoints"
		tag="$n-$m"
		t_bench=skipped t_dump=skipped t_list=skipped
		fresh_ns ns a
		timed t_bench env BENCH_REPEAT="$repeat" ip netns exec "$ns" \
			"$build/tests/bench/bench_sync" "$n" "$m" >"$out/bench-$tag.txt" 2>"$out/bench-$tag.err"
		f="$out/bench-$tag.txt"
		if [[ $t_bench == timeout || $t_bench == failed ]]; then
			echo "   bench_sync: $t_bench (see $out/bench-$tag.err)"
		fi
		timed t_dump ip netns exec "$ns" "$build/cmd/nftproxyctl" dump >/dev/null
		timed t_list sh -c "ip netns exec '$ns' nft list table inet nftproxy >'$out/table-$tag.nft'"
		drop_ns "$ns"
		t_load=skipped t_one=skipped
		if ok "$t_list"; then
			fresh_ns ns b
			timed t_load ip netns exec "$ns" nft -f "$out/table-$tag.nft"
			if ok "$t_load"; then
				nft_f_one_endpoint "$ns" "$tag"
			fi
			drop_ns "$ns"
		fi

		# kube-proxy's input for the same N x M: the full layout, and the
		# partial syncs of $changes one-endpoint changes in a row.
		rm -f "$out/ipt-$tag.txt" "$out/ipt-$tag-change-"*.txt "$out/ipt-legacy-$tag.err" "$out/ipt-nft-$tag.err"
		if timeout "$limit" python3 "$layout" "$n" --endpoints "$m" --large-cluster-mode "$out/ipt-$tag.txt"; then
			for ((k = 1; k <= changes; k++)); do
				timeout "$limit" python3 "$layout" "$n" --endpoints "$m" --large-cluster-mode \
					--one-endpoint-change --change-number "$k" "$out/ipt-$tag-change-$k.txt" ||
					rm -f "$out/ipt-$tag.txt"
			done
		else
			echo "   iptables_layout.py $n --endpoints $m failed or timed out"
			rm -f "$out/ipt-$tag.txt"
		fi
		ipt_baseline legacy "$tag" "$n" "$m"
		t_ipt_legacy_load=$ipt_load t_ipt_legacy_one=$ipt_one
		ipt_baseline nft "$tag" "$n" "$m"
		t_ipt_nft_load=$ipt_load t_ipt_nft_one=$ipt_one
		rm -f "$out/ipt-$tag.txt"

		vals=()
		add "$n" "$m" "$(kv cold_seconds "$f")"
		if [[ -n $(kv cold_compile_ms "$f") ]]; then
			add "$(awk -v c="$(kv cold_compile_ms "$f")" -v s="$(kv cold_send_ms "$f")" -v k="$(kv cold_kernel_ms "$f")" 'BEGIN { printf "%.1f", c + s - k }')"
		else
			add ""
		fi
		add "$(kv cold_kernel_ms "$f")" "$(kv cold_messages "$f")" "$(kv cold_bytes "$f")"
		add "$(kv rss_peak_cold_kb "$f")" "$(kv rss_after_cold_kb "$f")"
		for op in one_endpoint endpoint_add endpoint_remove service_add service_delete; do
			add "$(kv ${op}_median_user_ms "$f")" "$(kv ${op}_median_kernel_ms "$f")" "$(kv ${op}_bytes "$f")"
		done
		add "$(kv restart_seconds "$f")" "$t_dump" "$t_list" "$t_load" "$t_one"
		add "$t_ipt_legacy_load" "$t_ipt_legacy_one" "$t_ipt_nft_load" "$t_ipt_nft_one"
		(
			IFS=$'\t'
			echo "${vals[*]}"
		) >>"$out/results.tsv"
		echo "   cold $(kv cold_seconds "$f") s (kernel $(kv cold_kernel_ms "$f") ms), one endpoint" \
			"$(kv one_endpoint_median_user_ms "$f") ms user + $(kv one_endpoint_median_kernel_ms "$f") ms kernel;" \
			"nft -f load $t_load s, nft -f one endpoint $t_one s; dump $t_dump s"
		echo "   iptables-legacy-restore load $t_ipt_legacy_load s, one endpoint $t_ipt_legacy_one s;" \
			"iptables-nft-restore load $t_ipt_nft_load s, one endpoint $t_ipt_nft_one s"
	done
done

column -t "$out/results.tsv"
if command -v gnuplot >/dev/null; then
	for m in 3 10; do awk -F'\t' -v m="$m" 'NR > 1 && $2 == m' "$out/results.tsv" >"$out/results-m$m.tsv"; done
	onem=10
	[[ -s $out/results-m10.tsv ]] || onem=3
	if gnuplot -e "outdir='$out'; onem=$onem" "$here/controlplane.gp" 2>"$out/gnuplot.err"; then
		echo "plots: $out/cold-sync.svg $out/one-endpoint.svg"
	else
		echo "gnuplot failed (no rows with 3 or 10 endpoints?): $out/gnuplot.err"
	fi
else
	echo "gnuplot is not installed (apt-get install gnuplot-nox): no plots"
fi
