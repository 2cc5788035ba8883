/*
 * fsutil.h - small file-system helpers with error reports.
 */
#ifndef CIFEED_FSUTIL_H
#define CIFEED_FSUTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "err.h"

/* mkdir -p */
int fs_mkdir_p(const char *path, mode_t mode, struct err *err);
/*
 * Write `len` bytes to `path` atomically: a temporary file in the same
 * directory, fsync, rename, fsync of the directory.
 */
int fs_write_atomic(const char *path, const void *data, size_t len, struct err *err);
/* fsync a directory (after a rename into it). */
int fs_fsync_dir(const char *dir, struct err *err);
/*
 * Total size in bytes of the regular files in dir whose names end with
 * suffix; their number in *count when count is not NULL.
 */
uint64_t fs_sum_sizes(const char *dir, const char *suffix, size_t *count);
/* The directory part of a path ("." when none), newly allocated. */
char *fs_dirname(const char *path);

#endif
