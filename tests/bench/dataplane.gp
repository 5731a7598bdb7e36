# Connections per second through one service IP against the number of
# services in the table (dataplane.sh writes the TSV; call with
# -e "tsv='FILE'; out='SVG'; impls='ours legacy nft'").
set terminal svg size 720,440 dynamic font "sans,12"
set output out
set datafile separator "\t"
set datafile missing "-"
set logscale x
set xlabel "services in the table"
set ylabel "new TCP connections per second"
set yrange [0:*]
set key bottom left
set grid
title_of(s) = s eq "ours" ? "nftproxy" : (s eq "legacy" ? "kube-proxy iptables (legacy)" : (s eq "nft" ? "kube-proxy iptables (nft)" : s))
plot for [i=1:words(impls)] tsv using 1:(column(2 + 3 * (i - 1))) skip 1 with linespoints lw 2 title title_of(word(impls, i))
