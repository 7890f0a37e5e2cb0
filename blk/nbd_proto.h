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

enum { NBD_OPT_EXPORT_NAME = 1, NBD_OPT_ABORT, NBD_OPT_LIST, NBD_OPT_INFO = 6, NBD_OPT_GO,
       NBD_OPT_STRUCTURED_REPLY, NBD_OPT_LIST_META_CONTEXT, NBD_OPT_SET_META_CONTEXT };
enum { NBD_REP_ACK = 1, NBD_REP_SERVER, NBD_REP_INFO, NBD_REP_META_CONTEXT };
#define NBD_REP_ERR_UNSUP   0x80000001u
#define NBD_REP_ERR_INVALID 0x80000003u
#define NBD_REP_ERR_UNKNOWN 0x80000006u
#define NBD_REP_ERR_TOO_BIG 0x80000009u
enum { NBD_INFO_EXPORT = 0, NBD_INFO_BLOCK_SIZE = 3 };

/* Transmission flags (NBD_INFO_EXPORT). */
#define NBD_FLAG_HAS_FLAGS    (1u << 0)
#define NBD_FLAG_READ_ONLY    (1u << 1)
#define NBD_FLAG_SEND_FLUSH   (1u << 2)
#define NBD_FLAG_SEND_FUA     (1u << 3)
#define NBD_FLAG_SEND_TRIM    (1u << 5)
#define NBD_FLAG_SEND_WRITE_ZEROES (1u << 6)
#define NBD_FLAG_SEND_DF      (1u << 7)
#define NBD_FLAG_CAN_MULTI_CONN (1u << 8)
#define NBD_FLAG_SEND_FAST_ZERO (1u << 11)

enum { NBD_CMD_READ, NBD_CMD_WRITE, NBD_CMD_DISC, NBD_CMD_FLUSH, NBD_CMD_TRIM, NBD_CMD_CACHE,
       NBD_CMD_WRITE_ZEROES, NBD_CMD_BLOCK_STATUS };
#define NBD_CMD_FLAG_FUA       (1u << 0)
#define NBD_CMD_FLAG_NO_HOLE   (1u << 1)
#define NBD_CMD_FLAG_DF        (1u << 2)
#define NBD_CMD_FLAG_REQ_ONE   (1u << 3)
#define NBD_CMD_FLAG_FAST_ZERO (1u << 4)

/* Structured replies (NBD_OPT_STRUCTURED_REPLY) and base:allocation. */
#define NBD_STRUCTURED_REPLY_MAGIC 0x668e33efu
#define NBD_REPLY_FLAG_DONE 1u
enum { NBD_REPLY_TYPE_NONE = 0, NBD_REPLY_TYPE_OFFSET_DATA = 1, NBD_REPLY_TYPE_OFFSET_HOLE = 2,
       NBD_REPLY_TYPE_BLOCK_STATUS = 5, NBD_REPLY_TYPE_ERROR = 32769, NBD_REPLY_TYPE_ERROR_OFFSET = 32770 };
#define NBD_STATE_HOLE 1u
#define NBD_STATE_ZERO 2u
#define NBD_META_BASE_ALLOCATION "base:allocation"

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

struct __attribute__((packed)) nbd_structured_reply {
	uint32_t magic;
	uint16_t flags, type;
	uint64_t handle;
	uint32_t len;		/* of the payload that follows */
};

#endif
