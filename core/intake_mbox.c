/*
 * intake_mbox.c - mbox files into intake (see intake_mbox.h).
 *
 * The file is mapped rather than read so a multi-gigabyte archive costs no
 * heap; messages are handed to intake straight from the mapping.
 */
#include "intake_mbox.h"
#include "mbox.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static int import(struct store *st, const char *name, const char *data, size_t len,
		  struct intake_stats *stats, struct err *err)
{
	struct intake *in;
	struct buf source = BUF_INIT;
	buf_addf(&source, "file:%s", name);
	if (intake_open(st, source.ptr, &in, err) < 0) {
		buf_free(&source);
		return -1;
	}
	buf_free(&source);
	if (store_begin(st, err) < 0) {
		intake_close(in);
		return -1;
	}
	struct mbox_iter it;
	mbox_iter_init(&it, data, len);
	const char *msg;
	size_t n;
	int rc = 0;
	while (mbox_next(&it, &msg, &n)) {
		if (intake_add(in, msg, n, NULL, -1, err) < 0) {
			err_prefix(err, "message %zu (byte %zu)", it.index, it.offset);
			rc = -1;
			break;
		}
	}
	mbox_iter_free(&it);
	if (rc == 0 && (intake_flush(in, err) < 0 || store_commit(st, err) < 0))
		rc = -1;
	if (rc < 0)
		store_rollback(st);
	else if (stats)
		*stats = *intake_get_stats(in);
	intake_close(in);
	return rc;
}

int intake_mbox_file(struct store *st, const char *path, struct intake_stats *stats,
		     struct err *err)
{
	if (!strcmp(path, "-")) {
		struct buf b = BUF_INIT;
		if (buf_read_file(&b, "-", SIZE_MAX / 2) < 0) {
			buf_free(&b);
			return err_errno(err, ERR_IO, "<stdin>");
		}
		int rc = import(st, "<stdin>", buf_cstr(&b), b.len, stats, err);
		buf_free(&b);
		return rc < 0 ? err_prefix(err, "<stdin>") : 0;
	}
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return err_errno(err, ERR_IO, "%s", path);
	struct stat sb;
	if (fstat(fd, &sb) < 0) {
		close(fd);
		return err_errno(err, ERR_IO, "%s", path);
	}
	if (!S_ISREG(sb.st_mode)) {
		close(fd);
		return err_set(err, ERR_INVALID, "%s: not a regular file", path);
	}
	size_t len = (size_t)sb.st_size;
	const char *data = "";
	void *map = NULL;
	if (len) {
		map = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
		if (map == MAP_FAILED) {
			close(fd);
			return err_errno(err, ERR_IO, "%s: mmap", path);
		}
		madvise(map, len, MADV_SEQUENTIAL);
		data = map;
	}
	close(fd);
	int rc = import(st, path, data, len, stats, err);
	if (map)
		munmap(map, len);
	return rc < 0 ? err_prefix(err, "%s", path) : 0;
}
