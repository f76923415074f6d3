/* iter.h — what the engine itself asks of the iterator (engine/iter.c), beside the public
 * shale_iter_* calls. */
#ifndef SHALE_ENGINE_ITER_H
#define SHALE_ENGINE_ITER_H

#include <stddef.h>

#include "shale.h"

/* Walks [lo, hi] at the latest sequence so that the deleted runs in it become dead spans
 * (engine/dead_spans.h), giving up after a few live keys: the range was not a deleted run.
 * The write path calls it after a run of deletes in key order, while it is the only writer,
 * so nothing can be written between the walk's sequence and its spans. */
void iter_mark_deleted_run(shale_db *db, const void *lo, size_t lolen, const void *hi,
                           size_t hilen);

#endif /* SHALE_ENGINE_ITER_H */
