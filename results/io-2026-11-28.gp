set terminal svg size 900,500
set output 'results/io-2026-11-28.svg'
set title 'guest virtio-blk / host, same loop (median)'
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8
set ylabel 'guest / host'
set yrange [0:*]
set xtics rotate by -25
set key top right
plot 'results/io-2026-11-28.dat' using 2:xtic(1) title 'raw file (pread/pwrite)', '' using 3 title 'store volume (store API)', 0.8 with lines dashtype 2 title 'target 0.8'
set terminal pngcairo size 900,500
set output 'results/io-2026-11-28.png'
set title 'guest virtio-blk / host, same loop (median)'
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8
set ylabel 'guest / host'
set yrange [0:*]
set xtics rotate by -25
set key top right
plot 'results/io-2026-11-28.dat' using 2:xtic(1) title 'raw file (pread/pwrite)', '' using 3 title 'store volume (store API)', 0.8 with lines dashtype 2 title 'target 0.8'
