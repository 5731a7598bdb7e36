# Plots of controlplane.sh's results: gnuplot -e "outdir='DIR'" controlplane.gp
# reads DIR/results-m3.tsv and DIR/results-m10.tsv (results.tsv split by
# endpoints per service, without the header). The one-endpoint plot shows
# 10 endpoints per service, or the M of -e "onem=M" (controlplane.sh passes
# 3 when there are no 10-endpoint rows). Columns as in results.tsv:
# 3 cold_s, 10/11 one_endpoint_user_ms/_kernel_ms, 28/29 nft_f_load_s/
# _one_endpoint_s, 30/31 ipt_legacy_load_s/_one_endpoint_s, 32/33
# ipt_nft_load_s/_one_endpoint_s). "-" (not installed, not measured) and
# "timeout"/"failed"/"skipped" are not plotted.
set terminal svg size 800,480 dynamic font "sans,12"
set datafile separator "\t"
set datafile missing "-"
set key top left
set logscale xy
set grid
set xlabel "services"
m3 = outdir."/results-m3.tsv"
m10 = outdir."/results-m10.tsv"
if (!exists("onem")) onem = 10
one = outdir.sprintf("/results-m%d.tsv", onem)
# ms(c): column c (seconds) in milliseconds, undefined unless it is a number.
ms(c) = valid(c) ? column(c) * 1000 : NaN

set output outdir."/cold-sync.svg"
set title "Cold full sync: nftproxy (one netlink batch) vs nft -f of the same table vs kube-proxy's iptables-restore"
set ylabel "seconds"
plot m10 using 1:3 with linespoints title "nftproxy, 10 endpoints", \
     m10 using 1:28 with linespoints title "nft -f, 10 endpoints", \
     m10 using 1:30 with linespoints title "iptables-legacy-restore, 10 endpoints", \
     m10 using 1:32 with linespoints title "iptables-nft-restore, 10 endpoints", \
     m3 using 1:3 with linespoints title "nftproxy, 3 endpoints", \
     m3 using 1:28 with linespoints title "nft -f, 3 endpoints", \
     m3 using 1:30 with linespoints title "iptables-legacy-restore, 3 endpoints", \
     m3 using 1:32 with linespoints title "iptables-nft-restore, 3 endpoints"

set output outdir."/one-endpoint.svg"
set title sprintf("One endpoint changes (%d endpoints per service)", onem)
set ylabel "milliseconds"
plot one using 1:10 with linespoints title "nftproxy userspace", \
     one using 1:11 with linespoints title "nftproxy kernel commit", \
     one using 1:(ms(29)) with linespoints title "nft -f", \
     one using 1:(ms(31)) with linespoints title "iptables-legacy-restore --noflush (partial sync)", \
     one using 1:(ms(33)) with linespoints title "iptables-nft-restore --noflush (partial sync)"
