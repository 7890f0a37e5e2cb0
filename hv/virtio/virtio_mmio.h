/*
 * The virtio-mmio transport, version 2 (virtio 1.x 4.2.2): a device's
 * registers in a slot of the device window (guest-runtime/abi.h), feature
 * negotiation, queue set-up and the status state machine. The device
 * behind it (virtio-blk) supplies its ID, features, config space and what
 * happens at DRIVER_OK and at reset.
 *
 * Queue notifications are counted on an eventfd the device's I/O thread
 * waits on: KVM signals it directly when it accepts a KVM_IOEVENTFD for
 * the QueueNotify register (no exit to the monitor); otherwise the MMIO
 * exit handler writes it.
 */
#ifndef BEYOND_VIRTIO_MMIO_H
#define BEYOND_VIRTIO_MMIO_H

#include <pthread.h>
#include <stdint.h>
#include "hv/virtio/virtq.h"

struct vm;
struct virtio_dev;

#define VIRTIO_MAX_QUEUES 1

struct virtio_dev_ops {
	uint32_t device_id;          /* VIRTIO_ID_* */
	/* DRIVER_OK: d->vq[] are ready; start serving them. 0, or -1 with why (the guest is ended). */
	int (*start)(struct virtio_dev *d, char *why, size_t whylen);
	/* Reset or removal: stop serving; nothing touches the queues after this returns. */
	void (*stop)(struct virtio_dev *d);
};

struct virtio_queue_cfg {
	uint32_t num, ready;
	uint64_t desc, driver, device;
};

struct virtio_dev {
	/* Set by the device before virtio_mmio_add(). */
	const struct virtio_dev_ops *ops;
	void *opaque;
	uint64_t features;           /* offered; VIRTIO_F_VERSION_1 is added */
	const void *config;          /* the device's config space, read-only to the guest */
	uint32_t config_len;
	int no_ioeventfd;            /* use the MMIO exit even if KVM offers an ioeventfd */

	/* The transport's. */
	struct vm *vm;
	unsigned slot;
	uint64_t base;               /* guest-physical address of the registers */
	int notify_fd;               /* eventfd: counts queue notifications */
	int ioeventfd;               /* KVM signals notify_fd itself */
	pthread_mutex_t lock;        /* register state against concurrent vCPUs */
	uint32_t status, dev_features_sel, drv_features_sel, queue_sel;
	uint64_t driver_features;
	int started;
	struct virtio_queue_cfg qcfg[VIRTIO_MAX_QUEUES];
	struct virtq vq[VIRTIO_MAX_QUEUES];
};

/*
 * Puts d into the VM's next free slot: registers, notification eventfd,
 * KVM_IOEVENTFD if KVM takes it. 0, or -1 with a reason in err.
 */
int virtio_mmio_add(struct vm *vm, struct virtio_dev *d, char *err, size_t errlen);
/* Stops the device if it runs and releases what virtio_mmio_add() took. */
void virtio_mmio_remove(struct virtio_dev *d);

#endif
