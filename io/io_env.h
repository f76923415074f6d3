/* io_env.h — the I/O environment as the file layer keeps it: a caller's shale_env copied
 * with the real call in place of every NULL member (io_env.c also defines the public
 * shale_env_default). */
#ifndef SHALE_IO_IO_ENV_H
#define SHALE_IO_IO_ENV_H

#include "shale.h"

/* dst = src (NULL: the default), each NULL member the real call, dst->size the full size.
 * REQUIRES: src NULL or io_env_check(src) == SHALE_OK. */
void io_env_copy(shale_env *dst, const shale_env *src);
/* SHALE_OK, or SHALE_INVALID with a message when env->size is not that of a shale_env from
 * shale_env_default (this version's or an older, smaller one's). NULL is valid. */
int io_env_check(const shale_env *env, char *errmsg);
/* 1 when env reads and writes with the real pread and write: nothing watches the bytes of a
 * copy, which the kernel may then make itself (copy_file_range). */
int io_env_copies_unwatched(const shale_env *env);

#endif /* SHALE_IO_IO_ENV_H */
