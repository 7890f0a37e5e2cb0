/* `beyond bench blk`, NBD part: beyond's server against qemu-nbd (raw and
 * qcow2) and nbdkit (file plugin), driven by fio, qemu-img bench and nbdcopy. */
#ifndef BEYOND_BENCH_BLK_NBD_H
#define BEYOND_BENCH_BLK_NBD_H

#include "hv/bench/blk.h"

struct blk_nbd_result;

/* Runs the comparison in c->work (quick: smaller and once); NULL only
 * without memory. What could not be measured is said in the result. */
struct blk_nbd_result *blk_bench_nbd(const struct blk_bench_cfg *c, int quick);
void blk_bench_nbd_print(const struct blk_nbd_result *r);
void blk_bench_nbd_json(struct json *j, const struct blk_nbd_result *r);
void blk_bench_nbd_free(struct blk_nbd_result *r);

#endif
