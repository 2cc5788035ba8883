/*
 * fsutil.c - file-system helpers (see fsutil.h).
 */
#include "fsutil.h"
#include "buf.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int fs_mkdir_p(const char *path, mode_t mode, struct err *err)
{
	char *p = xstrdup(path);
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, mode) < 0 && errno != EEXIST) {
			err_errno(err, ERR_IO, "mkdir %s", p);
			free(p);
			return -1;
		}
		*s = '/';
	}
	if (mkdir(p, mode) < 0 && errno != EEXIST) {
		err_errno(err, ERR_IO, "mkdir %s", p);
		free(p);
		return -1;
	}
	free(p);
	return 0;
}

char *fs_dirname(const char *path)
{
	const char *slash = strrchr(path, '/');
	if (!slash)
		return xstrdup(".");
	if (slash == path)
		return xstrdup("/");
	return xstrndup(path, (size_t)(slash - path));
}

uint64_t fs_sum_sizes(const char *dir, const char *suffix, size_t *count)
{
	uint64_t total = 0;
	size_t n = 0;
	size_t sl = strlen(suffix);
	DIR *d = opendir(dir);
	struct dirent *de;
	while (d && (de = readdir(d))) {
		size_t l = strlen(de->d_name);
		if (l < sl || strcmp(de->d_name + l - sl, suffix))
			continue;
		struct buf f = BUF_INIT;
		struct stat sb;
		buf_addf(&f, "%s/%s", dir, de->d_name);
		if (stat(f.ptr, &sb) == 0 && S_ISREG(sb.st_mode)) {
			total += (uint64_t)sb.st_size;
			n++;
		}
		buf_free(&f);
	}
	if (d)
		closedir(d);
	if (count)
		*count = n;
	return total;
}

int fs_fsync_dir(const char *dir, struct err *err)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return err_errno(err, ERR_IO, "open %s", dir);
	int r = fsync(fd);
	close(fd);
	return r < 0 ? err_errno(err, ERR_IO, "fsync %s", dir) : 0;
}

int fs_write_atomic(const char *path, const void *data, size_t len, struct err *err)
{
	struct buf tmp = BUF_INIT;
	buf_addf(&tmp, "%s.tmp.%ld", path, (long)getpid());
	int fd = open(tmp.ptr, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		err_errno(err, ERR_IO, "create %s", tmp.ptr);
		buf_free(&tmp);
		return -1;
	}
	const char *p = data;
	size_t off = 0;
	while (off < len) {
		ssize_t w = write(fd, p + off, len - off);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			err_errno(err, ERR_IO, "write %s", tmp.ptr);
			goto fail;
		}
		off += (size_t)w;
	}
	if (fsync(fd) < 0) {
		err_errno(err, ERR_IO, "fsync %s", tmp.ptr);
		goto fail;
	}
	close(fd);
	fd = -1;
	if (rename(tmp.ptr, path) < 0) {
		err_errno(err, ERR_IO, "rename %s to %s", tmp.ptr, path);
		goto fail;
	}
	char *dir = fs_dirname(path);
	int r = fs_fsync_dir(dir, err);
	free(dir);
	buf_free(&tmp);
	return r;
fail:
	if (fd >= 0)
		close(fd);
	unlink(tmp.ptr);
	buf_free(&tmp);
	return -1;
}
