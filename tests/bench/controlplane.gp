# Plots of controlplane.sh's results: gnuplot -e "outdir='DIR'" controlplane.gp
# reads DIR/results-m3.tsv and DIR/results-m10.tsv (results.tsv split by
# endpoints per service, without the header; columns as in results.tsv).
set terminal svg size 800,480 dynamic font "sans,12"
set datafile separator "\t"
set datafile missing "-"
set key top left
set logscale xy
set grid
set xlabel "services"
m3 = outdir."/results-m3.tsv"
m10 = outdir."/results-m10.tsv"

set output outdir."/cold-sync.svg"
set title "Cold full sync: nftproxy (one netlink batch) vs nft -f of the same table"
set ylabel "seconds"
plot m10 using 1:3 with linespoints title "nftproxy, 10 endpoints", \
     m10 using 1:28 with linespoints title "nft -f, 10 endpoints", \
     m3 using 1:3 with linespoints title "nftproxy, 3 endpoints", \
     m3 using 1:28 with linespoints title "nft -f, 3 endpoints"

set output outdir."/one-endpoint.svg"
set title "One endpoint changes (10 endpoints per service)"
set ylabel "milliseconds"
plot m10 using 1:10 with linespoints title "nftproxy userspace", \
     m10 using 1:11 with linespoints title "nftproxy kernel commit", \
     m10 using 1:($29 * 1000) with linespoints title "nft -f"
