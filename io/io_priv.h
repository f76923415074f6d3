/* io_priv.h — helpers shared by the files of the io module only; nothing outside io/
 * includes it. */
#ifndef SHALE_IO_IO_PRIV_H
#define SHALE_IO_IO_PRIV_H

#include <stdatomic.h>
#include <stdint.h>

#include "io/io.h"

static inline void io_count(_Atomic uint64_t *c, uint64_t n) {
  atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

/* The context a call works for: c, or the default one for callers without a DB. */
static inline io_ctx *io_ctx_or_default(io_ctx *c) { return c ? c : io_ctx_default(); }

#endif /* SHALE_IO_IO_PRIV_H */
