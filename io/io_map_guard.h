/* io_map_guard.h — copies out of a read-only file mapping that survive the file shrinking
 * under it. A mapped page the file no longer reaches raises SIGBUS on touch, where pread
 * would report a short read; a guarded copy turns that fault into an error instead. Part of
 * the io module only (io_file.c maps tables); nothing outside io/ includes it. */
#ifndef SHALE_IO_IO_MAP_GUARD_H
#define SHALE_IO_IO_MAP_GUARD_H

#include <stddef.h>

/* Makes sure SIGBUS reaches the guard's handler, which hands every fault outside a guarded
 * copy to the disposition it displaced. Called as each file is mapped: the first call
 * installs the handler over whatever is there; a later one reinstalls it when the program
 * has since reset SIGBUS to the default (or ignored), and leaves alone a handler the program
 * installed after the guard. Returns 0 when the guard is in place, -1 when it is not: the
 * caller then reads with pread instead of mapping. */
int io_map_guard_install(void);
/* memcpy(dst, src, len) where src lies in a mapping: 0, or -1 when a page of src is no
 * longer backed by the file (SIGBUS caught; dst then holds an unspecified prefix). One
 * sigsetjmp per call, no system call. */
int io_map_guard_copy(void *dst, const void *src, size_t len);

#endif /* SHALE_IO_IO_MAP_GUARD_H */
