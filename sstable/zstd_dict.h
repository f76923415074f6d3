/* zstd_dict.h — a trained zstd dictionary that table builders share, and the slot a database
 * keeps its latest one in. Training a dictionary costs far more than compressing the table it
 * was trained on, so a database trains one now and then and every builder in between writes
 * that dictionary into its table (the format stores one per table) and compresses with it at
 * once, holding nothing back. The compression state (ZSTD_CDict) is read-only once made, so
 * several builders compress with it at the same time.
 * Thread-safety: every function may be called from any thread at once; a zstd_dict is
 * immutable and lives while it has a reference. */
#ifndef SHALE_SSTABLE_ZSTD_DICT_H
#define SHALE_SSTABLE_ZSTD_DICT_H

#include <stddef.h>
#include <stdint.h>
#include <zstd.h>

typedef struct zstd_dict zstd_dict;
typedef struct zstd_dict_share zstd_dict_share;

/* A dictionary of the len bytes at bytes (copied), made to compress at zstd level level; it
 * answers the builders that ask for a dictionary of at most max_bytes. One reference.
 * @return the dictionary, or NULL when out of memory or zstd rejects it. */
zstd_dict *zstd_dict_new(const void *bytes, size_t len, int level, size_t max_bytes);
void zstd_dict_ref(zstd_dict *d);
/* Drops a reference; the last frees d. NULL is ignored. */
void zstd_dict_unref(zstd_dict *d);
/* The dictionary's bytes, as stored in a table; *len gets their count. */
const void *zstd_dict_bytes(const zstd_dict *d, size_t *len);
/* The compression state, for ZSTD_CCtx_refCDict; valid while d is referenced. */
const ZSTD_CDict *zstd_dict_cdict(const zstd_dict *d);

/* A DB's tables differ by level: a flush's keys are a sparse sample of the key space, a
 * bottom level's are dense, and a dictionary trained on one compresses the other's blocks
 * worse (a 2M-key fill's compacted tables by up to 7%, as if without one). So the share
 * keeps one dictionary per slot, the output level; slots past the last share it. */
#define ZSTD_DICT_SLOTS 8

/* Empty slots. @return NULL when out of memory. */
zstd_dict_share *zstd_dict_share_new(void);
/* Frees s and drops its dictionary (builders holding it keep their references). NULL ignored. */
void zstd_dict_share_free(zstd_dict_share *s);

/* Slot slot's current dictionary with a reference for the caller, when it was made for level and
 * max_bytes and has compressed fewer than retrain_bytes raw bytes since; else NULL, and the
 * caller should train one and zstd_dict_share_put it. When the current one has served its
 * bytes, only this caller gets NULL: the count restarts, so the builders that ask while it
 * trains keep the old dictionary instead of all training at once (and if its table turns
 * out too small to train on, the old one serves another round). */
zstd_dict *zstd_dict_share_get(zstd_dict_share *s, int slot, int level, size_t max_bytes,
                               uint64_t retrain_bytes);
/* Makes d (a new training; s takes its own reference) slot's current dictionary, and counts
 * the training. */
void zstd_dict_share_put(zstd_dict_share *s, int slot, zstd_dict *d);
/* Counts raw_bytes compressed with d, when d is still slot's current dictionary. */
void zstd_dict_share_served(zstd_dict_share *s, int slot, const zstd_dict *d, uint64_t raw_bytes);
/* Dictionaries put since s was made; 0 for NULL s. */
uint64_t zstd_dict_share_trainings(zstd_dict_share *s);

#endif /* SHALE_SSTABLE_ZSTD_DICT_H */
