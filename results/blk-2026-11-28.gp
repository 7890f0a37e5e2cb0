set terminal svg size 1400,560
set output 'results/blk-2026-11-28.svg'
set multiplot layout 1,2 title 'beyond bench blk'
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set key top left
set grid ytics
set yrange [0:*]
set title 'Space of the image fleet per update round'
set ylabel 'MB on disk'
set xlabel 'round'
plot 'results/blk-2026-11-28.dat' index 1 using 2:xtic(1) title 'raw copies', '' index 1 using 3 title 'qcow2 base+overlays', '' index 1 using 4 title 'dedup store'
set title 'Throughput (page cache; flush rows: durable)'
set ylabel 'MB/s'
set xlabel ''
set xtics rotate by -30
plot 'results/blk-2026-11-28.dat' index 0 using 2:xtic(1) title 'raw file', '' index 0 using 3 title 'store API'
unset multiplot
unset xtics
set xtics
set terminal pngcairo size 1400,560
set output 'results/blk-2026-11-28.png'
set multiplot layout 1,2 title 'beyond bench blk'
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set key top left
set grid ytics
set yrange [0:*]
set title 'Space of the image fleet per update round'
set ylabel 'MB on disk'
set xlabel 'round'
plot 'results/blk-2026-11-28.dat' index 1 using 2:xtic(1) title 'raw copies', '' index 1 using 3 title 'qcow2 base+overlays', '' index 1 using 4 title 'dedup store'
set title 'Throughput (page cache; flush rows: durable)'
set ylabel 'MB/s'
set xlabel ''
set xtics rotate by -30
plot 'results/blk-2026-11-28.dat' index 0 using 2:xtic(1) title 'raw file', '' index 0 using 3 title 'store API'
unset multiplot
unset xtics
set xtics
