/* io_priv.h — state shared by the files of the io module only (counters); nothing outside
 * io/ includes it. */
#ifndef SHALE_IO_IO_PRIV_H
#define SHALE_IO_IO_PRIV_H

#include <stdatomic.h>
#include <stdint.h>

typedef struct io_counters {
  _Atomic uint64_t uring_writers, fallback_writers;
  _Atomic uint64_t bytes_written, writes, fsyncs, bytes_read, reads, mapped_files;
} io_counters;

extern io_counters io_ctr;

static inline void io_count(_Atomic uint64_t *c, uint64_t n) {
  atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

#endif /* SHALE_IO_IO_PRIV_H */
