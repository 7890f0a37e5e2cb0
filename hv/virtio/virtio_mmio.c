#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>
#include <linux/virtio_ring.h>
#include "hv/error.h"
#include "hv/vcpu.h"
#include "hv/virtio/ioeventfd.h"
#include "hv/virtio/virtio_mmio.h"

#define VIRTIO_MMIO_MAGIC 0x74726976u /* "virt" */
#define VIRTIO_VENDOR     0x444e5942u /* "BYND" */

/* Per VM: the device in each slot (NULL: a placeholder). */
struct virtio_slots {
	struct virtio_dev *dev[BEYOND_VIRTIO_SLOTS];
};

static const struct module virtio_mmio_module;

static struct virtio_slots *slots_of(struct vm *vm)
{
	return *vm_module_data(vm, &virtio_mmio_module);
}

static uint32_t reg_read(struct virtio_dev *d, uint64_t off)
{
	unsigned q = d->queue_sel;
	switch (off) {
	case VIRTIO_MMIO_MAGIC_VALUE: return VIRTIO_MMIO_MAGIC;
	case VIRTIO_MMIO_VERSION: return 2;
	case VIRTIO_MMIO_DEVICE_ID: return d->ops->device_id;
	case VIRTIO_MMIO_VENDOR_ID: return VIRTIO_VENDOR;
	case VIRTIO_MMIO_DEVICE_FEATURES:
		return d->dev_features_sel < 2 ? (uint32_t)(d->features >> (32 * d->dev_features_sel)) : 0;
	case VIRTIO_MMIO_QUEUE_NUM_MAX: return q < VIRTIO_MAX_QUEUES ? VIRTQ_MAX_SIZE : 0;
	case VIRTIO_MMIO_QUEUE_READY: return q < VIRTIO_MAX_QUEUES ? d->qcfg[q].ready : 0;
	case VIRTIO_MMIO_STATUS: return d->status;
	default: return 0; /* interrupt status, config generation, shared memory: none */
	}
}

static void set_half(uint64_t *v, int high, uint32_t x)
{
	*v = high ? (*v & 0xffffffffull) | (uint64_t)x << 32 : (*v & ~0xffffffffull) | x;
}

static void reset(struct virtio_dev *d)
{
	if (d->started)
		d->ops->stop(d);
	d->started = 0;
	d->status = d->dev_features_sel = d->drv_features_sel = d->queue_sel = 0;
	d->driver_features = 0;
	memset(d->qcfg, 0, sizeof(d->qcfg));
	memset(d->vq, 0, sizeof(d->vq));
}

/* A status write: FEATURES_OK only for a subset of what is offered with VERSION_1; DRIVER_OK starts the device. */
static void status_write(struct vcpu *v, struct virtio_dev *d, uint32_t s)
{
	if (s == 0) {
		reset(d);
		return;
	}
	if ((s & VIRTIO_CONFIG_S_FEATURES_OK) && !(d->status & VIRTIO_CONFIG_S_FEATURES_OK) &&
	    ((d->driver_features & ~d->features) || !(d->driver_features & (1ull << VIRTIO_F_VERSION_1))))
		s &= ~VIRTIO_CONFIG_S_FEATURES_OK; /* the driver reads it back and gives up */
	d->status = s;
	if ((s & VIRTIO_CONFIG_S_DRIVER_OK) && !d->started) {
		char why[256];
		for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++)
			if (!d->qcfg[q].ready) {
				vm_crash(v, "virtio slot %u: DRIVER_OK before queue %u is ready", d->slot, q);
				return;
			}
		if (d->ops->start(d, why, sizeof(why))) {
			vm_crash(v, "virtio slot %u: %s", d->slot, why);
			return;
		}
		d->started = 1;
	}
}

static void queue_ready(struct vcpu *v, struct virtio_dev *d, struct virtio_queue_cfg *c, unsigned q)
{
	char why[256];
	int indirect = !!(d->driver_features & (1ull << VIRTIO_RING_F_INDIRECT_DESC));
	if (c->num > VIRTQ_MAX_SIZE)
		snprintf(why, sizeof(why), "queue size %u over QueueNumMax %u", c->num, VIRTQ_MAX_SIZE);
	else if (virtq_init(&d->vq[q], &d->vm->mem, (uint16_t)c->num, indirect, c->desc, c->driver, c->device,
			    why, sizeof(why)) == 0) {
		c->ready = 1;
		return;
	}
	vm_crash(v, "virtio slot %u queue %u: %s", d->slot, q, why);
}

static void reg_write(struct vcpu *v, struct virtio_dev *d, uint64_t off, uint32_t x)
{
	unsigned q = d->queue_sel;
	struct virtio_queue_cfg *c = q < VIRTIO_MAX_QUEUES ? &d->qcfg[q] : NULL;
	/* Queue registers of a queue that exists, changed only while it is not ready (4.2.2.3). */
	int queue_reg = off == VIRTIO_MMIO_QUEUE_NUM || off == VIRTIO_MMIO_QUEUE_READY ||
			(off >= VIRTIO_MMIO_QUEUE_DESC_LOW && off <= VIRTIO_MMIO_QUEUE_USED_HIGH);
	if (queue_reg && (!c || (c->ready && off != VIRTIO_MMIO_QUEUE_READY)))
		return;
	switch (off) {
	case VIRTIO_MMIO_DEVICE_FEATURES_SEL: d->dev_features_sel = x; break;
	case VIRTIO_MMIO_DRIVER_FEATURES_SEL: d->drv_features_sel = x; break;
	case VIRTIO_MMIO_DRIVER_FEATURES:
		if (d->drv_features_sel < 2 && !(d->status & VIRTIO_CONFIG_S_FEATURES_OK))
			set_half(&d->driver_features, d->drv_features_sel, x);
		break;
	case VIRTIO_MMIO_QUEUE_SEL: d->queue_sel = x; break;
	case VIRTIO_MMIO_QUEUE_NUM: c->num = x; break;
	case VIRTIO_MMIO_QUEUE_DESC_LOW: case VIRTIO_MMIO_QUEUE_DESC_HIGH:
		set_half(&c->desc, off == VIRTIO_MMIO_QUEUE_DESC_HIGH, x);
		break;
	case VIRTIO_MMIO_QUEUE_AVAIL_LOW: case VIRTIO_MMIO_QUEUE_AVAIL_HIGH:
		set_half(&c->driver, off == VIRTIO_MMIO_QUEUE_AVAIL_HIGH, x);
		break;
	case VIRTIO_MMIO_QUEUE_USED_LOW: case VIRTIO_MMIO_QUEUE_USED_HIGH:
		set_half(&c->device, off == VIRTIO_MMIO_QUEUE_USED_HIGH, x);
		break;
	case VIRTIO_MMIO_QUEUE_READY:
		if (x && !c->ready)
			queue_ready(v, d, c, q);
		else if (!x && !d->started)
			c->ready = 0;
		break;
	case VIRTIO_MMIO_QUEUE_NOTIFY: {
		/* Only without an ioeventfd: KVM handles this register otherwise. */
		uint64_t one = 1;
		if (write(d->notify_fd, &one, sizeof(one)) < 0)
			vm_crash(v, "virtio slot %u: notify: %s", d->slot, strerror(errno));
		break;
	}
	case VIRTIO_MMIO_STATUS: status_write(v, d, x); break;
	default: break; /* interrupt ACK and read-only registers */
	}
}

/* The slot area: registers of the device in each slot, placeholders elsewhere. */
static void slots_mmio(struct vcpu *v, void *opaque, uint64_t offset, uint8_t *data, uint32_t len,
		       int is_write)
{
	struct virtio_slots *s = opaque;
	struct virtio_dev *d = s->dev[offset / BEYOND_VIRTIO_STRIDE];
	uint64_t off = offset % BEYOND_VIRTIO_STRIDE;
	if (!d) {
		/* A placeholder (4.2.2): magic and version, device ID 0, nothing else. */
		uint32_t x = off == VIRTIO_MMIO_MAGIC_VALUE ? VIRTIO_MMIO_MAGIC : off == VIRTIO_MMIO_VERSION ? 2 : 0;
		if (is_write || len != 4 || off % 4)
			vm_crash(v, "virtio: %u-byte %s at %#lx of an empty slot", len, is_write ? "write" : "read",
				 (unsigned long)off);
		else
			memcpy(data, &x, 4);
		return;
	}
	pthread_mutex_lock(&d->lock);
	if (off >= VIRTIO_MMIO_CONFIG) {
		/* Config space: any width, inside it; writes are ignored (all fields are read-only). */
		uint64_t c = off - VIRTIO_MMIO_CONFIG;
		if (!is_write) {
			memset(data, 0, len);
			if (c < d->config_len)
				memcpy(data, (const uint8_t *)d->config + c, len < d->config_len - c ? len : d->config_len - c);
		}
	} else if (len != 4 || off % 4) {
		vm_crash(v, "virtio slot %u: %u-byte access at register %#lx (registers are 32-bit)", d->slot, len,
			 (unsigned long)off);
	} else if (is_write) {
		uint32_t x;
		memcpy(&x, data, 4);
		reg_write(v, d, off, x);
	} else {
		uint32_t x = reg_read(d, off);
		memcpy(data, &x, 4);
	}
	pthread_mutex_unlock(&d->lock);
}

int virtio_mmio_add(struct vm *vm, struct virtio_dev *d, char *err, size_t errlen)
{
	struct virtio_slots *s = slots_of(vm);
	unsigned i = 0;
	while (i < BEYOND_VIRTIO_SLOTS && s->dev[i])
		i++;
	if (i == BEYOND_VIRTIO_SLOTS)
		return error_set(err, errlen, "virtio: more than %u devices", BEYOND_VIRTIO_SLOTS);
	d->vm = vm;
	d->slot = i;
	d->base = vm->device_base + BEYOND_VIRTIO_OFFSET + (uint64_t)i * BEYOND_VIRTIO_STRIDE;
	d->features |= 1ull << VIRTIO_F_VERSION_1;
	d->status = d->started = 0;
	d->notify_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (d->notify_fd < 0)
		return error_set(err, errlen, "virtio: eventfd: %s", strerror(errno));
	d->ioeventfd = !d->no_ioeventfd &&
		       ioeventfd_assign(vm->fd, d->base + VIRTIO_MMIO_QUEUE_NOTIFY, 4, d->notify_fd) == 0;
	pthread_mutex_init(&d->lock, NULL);
	s->dev[i] = d;
	return 0;
}

void virtio_mmio_remove(struct virtio_dev *d)
{
	struct virtio_slots *s = slots_of(d->vm);
	pthread_mutex_lock(&d->lock);
	reset(d);
	pthread_mutex_unlock(&d->lock);
	if (d->ioeventfd)
		ioeventfd_deassign(d->vm->fd, d->base + VIRTIO_MMIO_QUEUE_NOTIFY, 4, d->notify_fd);
	close(d->notify_fd);
	pthread_mutex_destroy(&d->lock);
	s->dev[d->slot] = NULL;
}

static int virtio_mmio_setup(struct vm *vm, char *err, size_t errlen)
{
	struct virtio_slots *s = calloc(1, sizeof(*s));
	if (!s)
		return error_set(err, errlen, "virtio: out of memory");
	*vm_module_data(vm, &virtio_mmio_module) = s;
	return vm_register_mmio(vm, vm->device_base + BEYOND_VIRTIO_OFFSET,
				(uint64_t)BEYOND_VIRTIO_SLOTS * BEYOND_VIRTIO_STRIDE, slots_mmio, s, "virtio-mmio",
				err, errlen);
}

static void virtio_mmio_teardown(struct vm *vm)
{
	void **s = vm_module_data(vm, &virtio_mmio_module);
	free(*s);
	*s = NULL;
}

static const struct module virtio_mmio_module = {
	.name = "virtio-mmio", .setup = virtio_mmio_setup, .teardown = virtio_mmio_teardown,
};
MODULE_REGISTER(virtio_mmio_module);
