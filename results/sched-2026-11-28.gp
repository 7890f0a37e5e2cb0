set terminal svg size 1500,900
set output 'results/sched-2026-11-28.svg'
set logscale x 2
set xrange [0.8:5]
set yrange [0:*]
set xlabel 'overcommit'
set ylabel 'throughput / fair share'
set key top right font ',8'
set grid
set multiplot layout 2,3 title 'beyond bench sched'
set title 'lock, ticket locks'
plot 'results/sched-2026-11-28.dat' index 0 using 1:2 with linespoints title 'os', 'results/sched-2026-11-28.dat' index 0 using 1:3 with linespoints title 'gang', 'results/sched-2026-11-28.dat' index 0 using 1:4 with linespoints title 'relaxed', 1 with lines dt 2 lc 'gray' notitle
set title 'barrier, ticket locks'
plot 'results/sched-2026-11-28.dat' index 2 using 1:2 with linespoints title 'os', 'results/sched-2026-11-28.dat' index 2 using 1:3 with linespoints title 'gang', 'results/sched-2026-11-28.dat' index 2 using 1:4 with linespoints title 'relaxed', 1 with lines dt 2 lc 'gray' notitle
set title 'independent, ticket locks'
plot 'results/sched-2026-11-28.dat' index 4 using 1:2 with linespoints title 'os', 'results/sched-2026-11-28.dat' index 4 using 1:3 with linespoints title 'gang', 'results/sched-2026-11-28.dat' index 4 using 1:4 with linespoints title 'relaxed', 1 with lines dt 2 lc 'gray' notitle
set title 'lock, pv locks'
plot 'results/sched-2026-11-28.dat' index 1 using 1:2 with linespoints title 'os', 'results/sched-2026-11-28.dat' index 1 using 1:3 with linespoints title 'gang', 'results/sched-2026-11-28.dat' index 1 using 1:4 with linespoints title 'relaxed', 1 with lines dt 2 lc 'gray' notitle
set title 'barrier, pv locks'
plot 'results/sched-2026-11-28.dat' index 3 using 1:2 with linespoints title 'os', 'results/sched-2026-11-28.dat' index 3 using 1:3 with linespoints title 'gang', 'results/sched-2026-11-28.dat' index 3 using 1:4 with linespoints title 'relaxed', 1 with lines dt 2 lc 'gray' notitle
set title 'independent, pv locks'
plot 'results/sched-2026-11-28.dat' index 5 using 1:2 with linespoints title 'os', 'results/sched-2026-11-28.dat' index 5 using 1:3 with linespoints title 'gang', 'results/sched-2026-11-28.dat' index 5 using 1:4 with linespoints title 'relaxed', 1 with lines dt 2 lc 'gray' notitle
unset multiplot
set terminal pngcairo size 1500,900
set output 'results/sched-2026-11-28.png'
set logscale x 2
set xrange [0.8:5]
set yrange [0:*]
set xlabel 'overcommit'
set ylabel 'throughput / fair share'
set key top right font ',8'
set grid
set multiplot layout 2,3 title 'beyond bench sched'
set title 'lock, ticket locks'
plot 'results/sched-2026-11-28.dat' index 0 using 1:2 with linespoints title 'os', 'results/sched-2026-11-28.dat' index 0 using 1:3 with linespoints title 'gang', 'results/sched-2026-11-28.dat' index 0 using 1:4 with linespoints title 'relaxed', 1 with lines dt 2 lc 'gray' notitle
set title 'barrier, ticket locks'
plot 'results/sched-2026-11-28.dat' index 2 using 1:2 with linespoints title 'os', 'results/sched-2026-11-28.dat' index 2 using 1:3 with linespoints title 'gang', 'results/sched-2026-11-28.dat' index 2 using 1:4 with linespoints title 'relaxed', 1 with lines dt 2 lc 'gray' notitle
set title 'independent, ticket locks'
plot 'results/sched-2026-11-28.dat' index 4 using 1:2 with linespoints title 'os', 'results/sched-2026-11-28.dat' index 4 using 1:3 with linespoints title 'gang', 'results/sched-2026-11-28.dat' index 4 using 1:4 with linespoints title 'relaxed', 1 with lines dt 2 lc 'gray' notitle
set title 'lock, pv locks'
plot 'results/sched-2026-11-28.dat' index 1 using 1:2 with linespoints title 'os', 'results/sched-2026-11-28.dat' index 1 using 1:3 with linespoints title 'gang', 'results/sched-2026-11-28.dat' index 1 using 1:4 with linespoints title 'relaxed', 1 with lines dt 2 lc 'gray' notitle
set title 'barrier, pv locks'
plot 'results/sched-2026-11-28.dat' index 3 using 1:2 with linespoints title 'os', 'results/sched-2026-11-28.dat' index 3 using 1:3 with linespoints title 'gang', 'results/sched-2026-11-28.dat' index 3 using 1:4 with linespoints title 'relaxed', 1 with lines dt 2 lc 'gray' notitle
set title 'independent, pv locks'
plot 'results/sched-2026-11-28.dat' index 5 using 1:2 with linespoints title 'os', 'results/sched-2026-11-28.dat' index 5 using 1:3 with linespoints title 'gang', 'results/sched-2026-11-28.dat' index 5 using 1:4 with linespoints title 'relaxed', 1 with lines dt 2 lc 'gray' notitle
unset multiplot
