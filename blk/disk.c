#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#include "blk/disk.h"
#include "blk/store.h"

/* One opened store, shared by the disks naming its directory. */
struct shared_store {
	char path[PATH_MAX];          /* realpath of the directory */
	struct blk_store *s;
	unsigned users;
	struct shared_store *next;
};

struct disk {
	struct shared_store *store;   /* NULL for a file */
	struct blk_vol *vol;
	int fd;
	uint64_t size;
	bool ro;
	char name[64];
};

static pthread_mutex_t stores_lock = PTHREAD_MUTEX_INITIALIZER;
static struct shared_store *stores;

#define ERR(...) (snprintf(err, errlen, __VA_ARGS__), -1)

static struct disk *disk_new(bool ro, const char *name)
{
	struct disk *d = calloc(1, sizeof(*d));
	if (d) {
		d->fd = -1;
		d->ro = ro;
		snprintf(d->name, sizeof(d->name), "%s", name);
	}
	return d;
}

int disk_open_file(const char *path, bool ro, struct disk **out, char *err, size_t errlen)
{
	const char *base = strrchr(path, '/');
	struct disk *d = disk_new(ro, base ? base + 1 : path);
	struct stat st;
	if (!d)
		return ERR("out of memory");
	d->fd = open(path, (ro ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	if (d->fd < 0 || fstat(d->fd, &st) < 0) {
		int e = errno;
		disk_close(d);
		return ERR("cannot open %s: %s", path, strerror(e));
	}
	if (!S_ISREG(st.st_mode)) {
		disk_close(d);
		return ERR("%s is not a regular file", path);
	}
	d->size = st.st_size;
	*out = d;
	return 0;
}

/* The opened store for dir, opened now if no disk holds it yet; NULL with err. */
static struct shared_store *store_get(const char *dir, char *err, size_t errlen)
{
	char path[PATH_MAX];
	if (!realpath(dir, path)) {
		snprintf(err, errlen, "no store %s: %s", dir, strerror(errno));
		return NULL;
	}
	pthread_mutex_lock(&stores_lock);
	struct shared_store *ss = stores;
	while (ss && strcmp(ss->path, path) != 0)
		ss = ss->next;
	if (!ss && (ss = calloc(1, sizeof(*ss)))) {
		int r = blk_store_open(path, &ss->s);
		if (r < 0) {
			free(ss);
			ss = NULL;
			snprintf(err, errlen, "cannot open store %s: %s", dir, strerror(-r));
		} else {
			snprintf(ss->path, sizeof(ss->path), "%s", path);
			ss->next = stores;
			stores = ss;
		}
	} else if (!ss) {
		snprintf(err, errlen, "out of memory");
	}
	if (ss)
		ss->users++;
	pthread_mutex_unlock(&stores_lock);
	return ss;
}

static int store_put(struct shared_store *ss)
{
	int r = 0;
	pthread_mutex_lock(&stores_lock);
	if (--ss->users == 0) {
		struct shared_store **p = &stores;
		while (*p != ss)
			p = &(*p)->next;
		*p = ss->next;
		r = blk_store_close(ss->s);
		free(ss);
	}
	pthread_mutex_unlock(&stores_lock);
	return r;
}

int disk_open_volume(const char *dir, const char *vol, bool ro, struct disk **out, char *err, size_t errlen)
{
	struct disk *d = disk_new(ro, vol);
	if (!d)
		return ERR("out of memory");
	d->store = store_get(dir, err, errlen);
	if (!d->store) {
		free(d);
		return -1;
	}
	int r = blk_vol_open(d->store->s, vol, &d->vol);
	if (r < 0) {
		disk_close(d);
		return ERR("cannot open volume %s of %s: %s", vol, dir, strerror(-r));
	}
	d->size = blk_vol_size(d->vol);
	d->ro |= blk_vol_readonly(d->vol);
	*out = d;
	return 0;
}

int disk_close(struct disk *d)
{
	int r = 0;
	if (d->vol)
		blk_vol_close(d->vol);
	if (d->store)
		r = store_put(d->store);
	if (d->fd >= 0 && close(d->fd) < 0)
		r = -errno;
	free(d);
	return r;
}

uint64_t disk_size(const struct disk *d) { return d->size; }
bool disk_readonly(const struct disk *d) { return d->ro; }
const char *disk_name(const struct disk *d) { return d->name; }
struct blk_store *disk_store(const struct disk *d) { return d->store ? d->store->s : NULL; }

uint32_t disk_block_size(const struct disk *d)
{
	return d->store ? blk_store_block_size(d->store->s) : 4096;
}

/*
 * preadv/pwritev until done: a short transfer is retried from where it
 * stopped, end of file reads as zeros. iov is consumed.
 */
static int file_io(struct disk *d, struct iovec *iov, int n, uint64_t off, int write)
{
	while (n > 0) {
		int cnt = n < IOV_MAX ? n : IOV_MAX;
		ssize_t got = write ? pwritev(d->fd, iov, cnt, off) : preadv(d->fd, iov, cnt, off);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			return -errno;
		if (got == 0) {
			if (write)
				return -EIO;
			for (; n > 0; iov++, n--)
				memset(iov->iov_base, 0, iov->iov_len);
			return 0;
		}
		off += got;
		for (; n > 0 && (size_t)got >= iov->iov_len; iov++, n--)
			got -= iov->iov_len;
		if (n > 0) {
			iov->iov_base = (uint8_t *)iov->iov_base + got;
			iov->iov_len -= got;
		}
	}
	return 0;
}

/* A volume: one store call per piece (the store has no vectored call). */
static int vol_io(struct disk *d, const struct iovec *iov, int n, uint64_t off, int write)
{
	for (int i = 0, r; i < n; off += iov[i++].iov_len)
		if ((r = write ? blk_write(d->vol, iov[i].iov_base, off, iov[i].iov_len, 0)
			       : blk_read(d->vol, iov[i].iov_base, off, iov[i].iov_len)) < 0)
			return r;
	return 0;
}

int disk_readv(struct disk *d, struct iovec *iov, int n, uint64_t off)
{
	return d->vol ? vol_io(d, iov, n, off, 0) : file_io(d, iov, n, off, 0);
}

int disk_writev(struct disk *d, struct iovec *iov, int n, uint64_t off)
{
	if (d->ro)
		return -EROFS;
	return d->vol ? vol_io(d, iov, n, off, 1) : file_io(d, iov, n, off, 1);
}

int disk_read(struct disk *d, void *buf, uint64_t off, size_t len)
{
	struct iovec iov = { buf, len };
	return disk_readv(d, &iov, 1, off);
}

int disk_write(struct disk *d, const void *buf, uint64_t off, size_t len)
{
	struct iovec iov = { (void *)buf, len };
	return disk_writev(d, &iov, 1, off);
}

int disk_flush(struct disk *d)
{
	if (d->vol)
		return blk_flush(d->store->s);
	return fdatasync(d->fd) < 0 ? -errno : 0;
}

int disk_zero(struct disk *d, uint64_t off, uint64_t len)
{
	if (d->ro)
		return -EROFS;
	if (d->vol)
		return blk_trim(d->vol, off, len, 0);
	return fallocate(d->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off, len) < 0 ? -errno : 0;
}
