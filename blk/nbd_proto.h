/* NBD wire protocol constants (fixed newstyle), shared by the server and
 * the benchmark's client. All fields are big-endian on the wire. */
#ifndef BEYOND_BLK_NBD_PROTO_H
#define BEYOND_BLK_NBD_PROTO_H

#include <stdint.h>

#define NBD_MAGIC          0x4e42444d41474943ull	/* "NBDMAGIC" */
#define NBD_IHAVEOPT       0x49484156454f5054ull	/* "IHAVEOPT" */
#define NBD_REP_MAGIC      0x0003e889045565a9ull
#define NBD_REQUEST_MAGIC  0x25609513u
#define NBD_REPLY_MAGIC    0x67446698u

#define NBD_FLAG_FIXED_NEWSTYLE 1u
#define NBD_FLAG_NO_ZEROES      2u

enum { NBD_OPT_EXPORT_NAME = 1, NBD_OPT_ABORT, NBD_OPT_LIST, NBD_OPT_INFO = 6, NBD_OPT_GO };
enum { NBD_REP_ACK = 1, NBD_REP_SERVER, NBD_REP_INFO };
#define NBD_REP_ERR_UNSUP   0x80000001u
#define NBD_REP_ERR_INVALID 0x80000003u
#define NBD_REP_ERR_UNKNOWN 0x80000006u
enum { NBD_INFO_EXPORT = 0, NBD_INFO_BLOCK_SIZE = 3 };

enum { NBD_CMD_READ, NBD_CMD_WRITE, NBD_CMD_DISC, NBD_CMD_FLUSH, NBD_CMD_TRIM, NBD_CMD_CACHE,
       NBD_CMD_WRITE_ZEROES };
#define NBD_CMD_FLAG_FUA 1u

struct __attribute__((packed)) nbd_opt_hdr {
	uint64_t magic;
	uint32_t opt, len;
};

struct __attribute__((packed)) nbd_opt_reply {
	uint64_t magic;
	uint32_t opt, type, len;
};

struct __attribute__((packed)) nbd_request {
	uint32_t magic;
	uint16_t flags, type;
	uint64_t handle, off;
	uint32_t len;
};

struct __attribute__((packed)) nbd_reply {
	uint32_t magic, error;
	uint64_t handle;
};

#endif
