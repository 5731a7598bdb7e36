#!/usr/bin/env bash
# A forced 410 Gone: while nftproxy cannot watch (its watches are cut and
# every new one refused for a while), one service is deleted and another
# changes; then the server expires every resourceVersion. nftproxy's watch
# from its old resourceVersion gets 410, it lists everything again and
# replaces its store: the deleted service disappears, the changed one is
# updated, and the service nothing happened to is not touched at all (no
# rule of it is sent) while a client keeps connecting to it.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/lib_api.sh"
nftp_require
api_require

topo_create 3
pod_serve_all
api_start
P="http:80:TCP:8080"
{
	svc_manifest demo web 10.96.0.10 "" "$P" "1 2"
	echo "---"
	svc_manifest demo gone 10.96.0.11 "" "$P" "1"
	echo "---"
	svc_manifest demo moved 10.96.0.12 "" "$P" "1"
} | kube apply -f - >/dev/null
nftproxy_use_api
nftproxy_start --v 3
mapfile -t want < <(svc_expect demo web 10.96.0.10 "" "$P" "1 2"
		    svc_expect demo gone 10.96.0.11 "" "$P" "1"
		    svc_expect demo moved 10.96.0.12 "" "$P" "1")
wait_dump "${want[@]}"
lists0=$(api_stat '.requests["list services"]')

probe_bg "$CLIENT" "$TMP/loop.out" --proto tcp --count 0 --interval-ms 20 --duration-ms 9000 \
	--timeout-ms 1000 10.96.0.10 80
LOOP=$BG_PID
sleep 0.5

section "cut the watches and refuse new ones; change things meanwhile"
api_test "fail?status=503&count=1000&path=watch%3D1" >/dev/null
api_test cut-watches >/dev/null
kube delete -n demo service gone >/dev/null
svc_manifest demo moved 10.96.0.12 "" "$P" "3" | kube apply -f - >/dev/null
sleep 1
mapfile -t before < <(svc_expect demo web 10.96.0.10 "" "$P" "1 2"
		      svc_expect demo gone 10.96.0.11 "" "$P" "1"
		      svc_expect demo moved 10.96.0.12 "" "$P" "1")
check_dump "nothing changes while nftproxy cannot watch" "${before[@]}"

section "expire every resourceVersion, let watches through again"
api_test expire >/dev/null
mark=$(wc -l <"$NFTPROXY_LOG")
api_test "fail?count=0" >/dev/null
mapfile -t want < <(svc_expect demo web 10.96.0.10 "" "$P" "1 2"
		    svc_expect demo moved 10.96.0.12 "" "$P" "3")
# The watch retries back off to at most 4 s (+20%) by now.
wait_dump --timeout 10 "${want[@]}"
wait "$LOOP" || true
assert_loop_clean "$TMP/loop.out" "client loop to demo/web through the relist"

after=$(tail -n +"$((mark + 1))" "$NFTPROXY_LOG")
assert_eq "the watch was told its resourceVersion is too old" 1 \
	"$(grep -c 'watch services: resourceVersion .* is too old' <<<"$after" | awk '{ print ($1 >= 1) }')"
assert_eq "services were listed again" 1 \
	"$(awk -v a="$lists0" -v b="$(api_stat '.requests["list services"]')" 'BEGIN { print (b > a) }')"
assert_eq "the relist deleted the service that went away meanwhile" 1 \
	"$(grep -c 'services: demo/gone is gone from the list; deleting it' <<<"$after")"
assert_eq "rules sent for demo/gone and demo/moved" 2 \
	"$(grep -cE 'service demo/(gone|moved): ' <<<"$after")"
assert_eq "no rule sent for the unchanged demo/web" 0 "$(grep -c 'service demo/web: ' <<<"$after" || true)"

nftproxy_alive || check_failed "nftproxy died during the test"
finish
