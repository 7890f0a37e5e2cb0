set logscale x 2
set xlabel 'working set (MiB)'
set ylabel 'ns per access'
set key top left font ',8'
set grid
set terminal svg size 1560,500
set output 'results/tlb-2026-11-27-late.svg'
set multiplot layout 1,3 title 'beyond bench tlb (mmu: shadow)'
set title 'chase'
plot 'results/tlb-2026-11-27-late.dat' index 0 with yerrorlines lw 3 dt 2 title 'native 4k', \
  'results/tlb-2026-11-27-late.dat' index 1 with yerrorlines lw 3 dt 2 title 'native thp', \
  'results/tlb-2026-11-27-late.dat' index 2 with yerrorlines lw 3 dt 2 title 'native hugetlb2m', \
  'results/tlb-2026-11-27-late.dat' index 3 with yerrorlines lw 1 title 'guest 4k / host 4k', \
  'results/tlb-2026-11-27-late.dat' index 4 with yerrorlines lw 1 title 'guest 4k / host thp', \
  'results/tlb-2026-11-27-late.dat' index 5 with yerrorlines lw 1 title 'guest 4k / host hugetlb2m', \
  'results/tlb-2026-11-27-late.dat' index 6 with yerrorlines lw 1 title 'guest 2m / host 4k', \
  'results/tlb-2026-11-27-late.dat' index 7 with yerrorlines lw 1 title 'guest 2m / host thp', \
  'results/tlb-2026-11-27-late.dat' index 8 with yerrorlines lw 1 title 'guest 2m / host hugetlb2m'
set title 'gups'
plot 'results/tlb-2026-11-27-late.dat' index 9 with yerrorlines lw 3 dt 2 title 'native 4k', \
  'results/tlb-2026-11-27-late.dat' index 10 with yerrorlines lw 3 dt 2 title 'native thp', \
  'results/tlb-2026-11-27-late.dat' index 11 with yerrorlines lw 3 dt 2 title 'native hugetlb2m', \
  'results/tlb-2026-11-27-late.dat' index 12 with yerrorlines lw 1 title 'guest 4k / host 4k', \
  'results/tlb-2026-11-27-late.dat' index 13 with yerrorlines lw 1 title 'guest 4k / host thp', \
  'results/tlb-2026-11-27-late.dat' index 14 with yerrorlines lw 1 title 'guest 4k / host hugetlb2m', \
  'results/tlb-2026-11-27-late.dat' index 15 with yerrorlines lw 1 title 'guest 2m / host 4k', \
  'results/tlb-2026-11-27-late.dat' index 16 with yerrorlines lw 1 title 'guest 2m / host thp', \
  'results/tlb-2026-11-27-late.dat' index 17 with yerrorlines lw 1 title 'guest 2m / host hugetlb2m'
set title 'stream'
plot 'results/tlb-2026-11-27-late.dat' index 18 with yerrorlines lw 3 dt 2 title 'native 4k', \
  'results/tlb-2026-11-27-late.dat' index 19 with yerrorlines lw 3 dt 2 title 'native thp', \
  'results/tlb-2026-11-27-late.dat' index 20 with yerrorlines lw 3 dt 2 title 'native hugetlb2m', \
  'results/tlb-2026-11-27-late.dat' index 21 with yerrorlines lw 1 title 'guest 4k / host 4k', \
  'results/tlb-2026-11-27-late.dat' index 22 with yerrorlines lw 1 title 'guest 4k / host thp', \
  'results/tlb-2026-11-27-late.dat' index 23 with yerrorlines lw 1 title 'guest 4k / host hugetlb2m', \
  'results/tlb-2026-11-27-late.dat' index 24 with yerrorlines lw 1 title 'guest 2m / host 4k', \
  'results/tlb-2026-11-27-late.dat' index 25 with yerrorlines lw 1 title 'guest 2m / host thp', \
  'results/tlb-2026-11-27-late.dat' index 26 with yerrorlines lw 1 title 'guest 2m / host hugetlb2m'
unset multiplot
set terminal pngcairo size 1560,500
set output 'results/tlb-2026-11-27-late.png'
set multiplot layout 1,3 title 'beyond bench tlb (mmu: shadow)'
set title 'chase'
plot 'results/tlb-2026-11-27-late.dat' index 0 with yerrorlines lw 3 dt 2 title 'native 4k', \
  'results/tlb-2026-11-27-late.dat' index 1 with yerrorlines lw 3 dt 2 title 'native thp', \
  'results/tlb-2026-11-27-late.dat' index 2 with yerrorlines lw 3 dt 2 title 'native hugetlb2m', \
  'results/tlb-2026-11-27-late.dat' index 3 with yerrorlines lw 1 title 'guest 4k / host 4k', \
  'results/tlb-2026-11-27-late.dat' index 4 with yerrorlines lw 1 title 'guest 4k / host thp', \
  'results/tlb-2026-11-27-late.dat' index 5 with yerrorlines lw 1 title 'guest 4k / host hugetlb2m', \
  'results/tlb-2026-11-27-late.dat' index 6 with yerrorlines lw 1 title 'guest 2m / host 4k', \
  'results/tlb-2026-11-27-late.dat' index 7 with yerrorlines lw 1 title 'guest 2m / host thp', \
  'results/tlb-2026-11-27-late.dat' index 8 with yerrorlines lw 1 title 'guest 2m / host hugetlb2m'
set title 'gups'
plot 'results/tlb-2026-11-27-late.dat' index 9 with yerrorlines lw 3 dt 2 title 'native 4k', \
  'results/tlb-2026-11-27-late.dat' index 10 with yerrorlines lw 3 dt 2 title 'native thp', \
  'results/tlb-2026-11-27-late.dat' index 11 with yerrorlines lw 3 dt 2 title 'native hugetlb2m', \
  'results/tlb-2026-11-27-late.dat' index 12 with yerrorlines lw 1 title 'guest 4k / host 4k', \
  'results/tlb-2026-11-27-late.dat' index 13 with yerrorlines lw 1 title 'guest 4k / host thp', \
  'results/tlb-2026-11-27-late.dat' index 14 with yerrorlines lw 1 title 'guest 4k / host hugetlb2m', \
  'results/tlb-2026-11-27-late.dat' index 15 with yerrorlines lw 1 title 'guest 2m / host 4k', \
  'results/tlb-2026-11-27-late.dat' index 16 with yerrorlines lw 1 title 'guest 2m / host thp', \
  'results/tlb-2026-11-27-late.dat' index 17 with yerrorlines lw 1 title 'guest 2m / host hugetlb2m'
set title 'stream'
plot 'results/tlb-2026-11-27-late.dat' index 18 with yerrorlines lw 3 dt 2 title 'native 4k', \
  'results/tlb-2026-11-27-late.dat' index 19 with yerrorlines lw 3 dt 2 title 'native thp', \
  'results/tlb-2026-11-27-late.dat' index 20 with yerrorlines lw 3 dt 2 title 'native hugetlb2m', \
  'results/tlb-2026-11-27-late.dat' index 21 with yerrorlines lw 1 title 'guest 4k / host 4k', \
  'results/tlb-2026-11-27-late.dat' index 22 with yerrorlines lw 1 title 'guest 4k / host thp', \
  'results/tlb-2026-11-27-late.dat' index 23 with yerrorlines lw 1 title 'guest 4k / host hugetlb2m', \
  'results/tlb-2026-11-27-late.dat' index 24 with yerrorlines lw 1 title 'guest 2m / host 4k', \
  'results/tlb-2026-11-27-late.dat' index 25 with yerrorlines lw 1 title 'guest 2m / host thp', \
  'results/tlb-2026-11-27-late.dat' index 26 with yerrorlines lw 1 title 'guest 2m / host hugetlb2m'
unset multiplot
