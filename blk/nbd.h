/* NBD export of a store's volumes (fixed newstyle protocol, simple replies). */
#ifndef BEYOND_BLK_NBD_H
#define BEYOND_BLK_NBD_H

#include <signal.h>
#include "blk/store.h"

/* Listens on addr ("unix:PATH" or "tcp:HOST:PORT") and serves each client
 * on its own thread until *stop becomes non-zero; the export name is the
 * volume name. Returns 0 or a negative errno. */
int blk_nbd_serve(struct blk_store *s, const char *addr, volatile sig_atomic_t *stop);

#endif
