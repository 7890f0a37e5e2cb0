/* The virtio-blk device's one query for benchmarks (the device itself is a module: blk/virtio_blk.c). */
#ifndef BEYOND_BLK_VIRTIO_BLK_H
#define BEYOND_BLK_VIRTIO_BLK_H

struct vm;

/* 1 if the VM's first disk is notified through KVM_IOEVENTFD, 0 by MMIO exits, -1 without a disk. */
int virtio_blk_ioeventfd(struct vm *vm);

#endif
