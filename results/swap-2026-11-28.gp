set terminal svg size 900,500
set output 'results/swap-2026-11-28.svg'
set title 'beyond bench swap: run time by mode (log scale)'
set style data histogram
set style histogram cluster gap 1
set style fill solid border -1
set logscale y
set ylabel 'seconds'
set key top left
plot 'results/swap-2026-11-28.dat' using 2:xtic(1) title 'nolimit', '' using 3 title 'naive', '' using 4 title 'coop', '' using 5 title 'coop-2m'
set terminal pngcairo size 900,500
set output 'results/swap-2026-11-28.png'
set title 'beyond bench swap: run time by mode (log scale)'
set style data histogram
set style histogram cluster gap 1
set style fill solid border -1
set logscale y
set ylabel 'seconds'
set key top left
plot 'results/swap-2026-11-28.dat' using 2:xtic(1) title 'nolimit', '' using 3 title 'naive', '' using 4 title 'coop', '' using 5 title 'coop-2m'
