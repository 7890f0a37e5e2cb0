/* guest: hands the virtio-blk device one malformed request (vblk_hostile KIND) */
#include "guest-runtime/beyond.h"
#include "guest-runtime/virtio_blk.h"

static uint8_t mem[VBLK_MEM_SIZE] __attribute__((aligned(4096)));
static struct vblk d;
static struct virtio_blk_outhdr hdr;
static uint8_t data[4096], status = 0xff;
static struct vring_desc table[4];

static struct vring_desc at(const void *p, uint32_t len, uint16_t flags, uint16_t next)
{
	return (struct vring_desc){ (uintptr_t)p, len, flags, next };
}

/* Offers the chain at descriptor 0 and waits for it; returns its status byte. */
static int offer(void)
{
	d.avail->ring[d.avail_idx % d.qsize] = 0;
	__atomic_store_n(&d.avail->idx, ++d.avail_idx, __ATOMIC_RELEASE);
	vblk_kick(&d);
	while (__atomic_load_n(&d.used->idx, __ATOMIC_ACQUIRE) == d.last_used)
		cpu_relax();
	return status;
}

int main(int argc, char **argv)
{
	if (argc != 2 || vblk_open(&d, 0, mem))
		return 2;
	const char *k = argv[1];
	struct vring_desc *q = d.desc;
	uint16_t N = VRING_DESC_F_NEXT, W = VRING_DESC_F_WRITE;
	hdr.type = VIRTIO_BLK_T_IN;
	q[0] = at(&hdr, sizeof(hdr), N, 1);
	q[1] = at(data, sizeof(data), N | W, 2);
	q[2] = at(&status, 1, W, 0);
	if (strcmp(k, "oob") == 0) {
		q[1].addr = boot_info.mem_size - 1024; /* runs off the end of RAM */
	} else if (strcmp(k, "window") == 0) {
		q[1].addr = boot_info.device_base;     /* the device window is no RAM */
	} else if (strcmp(k, "loop") == 0) {
		q[2] = at(&status, 1, N | W, 1);
	} else if (strcmp(k, "zero") == 0) {
		q[1].len = 0;
	} else if (strcmp(k, "nostatus") == 0) {
		q[1] = at(data, sizeof(data), 0, 0);   /* header and data, nothing writable */
		q[0].len = 8;
	} else if (strcmp(k, "many") == 0) {
		/* An indirect table claiming 65536 descriptors. */
		q[0] = at(mem + 16 * VBLK_DEPTH + 8192, 65536 * 16, VRING_DESC_F_INDIRECT, 0);
	} else if (strcmp(k, "rodata") == 0) {
		/* A read into a buffer the device may not write: IOERR, and the guest goes on. */
		q[0] = at(table, 3 * 16, VRING_DESC_F_INDIRECT, 0);
		table[0] = at(&hdr, sizeof(hdr), N, 1);
		table[1] = at(data, sizeof(data), N, 2);
		table[2] = at(&status, 1, W, 0);
		int st = offer();
		printf("status %d\n", st);
		return st == VIRTIO_BLK_S_IOERR ? 0 : 1;
	} else {
		return 2;
	}
	offer();
	printf("the device answered a malformed chain\n");
	return 1;
}
