/* version.h — an immutable set of live SSTables per level, refcounted. Read views hold a
 * version; a file leaves the disk only when the last version that lists it is released and
 * an edit has marked it obsolete (doc/DESIGN.md, invariant I4). */
#ifndef SHALE_ENGINE_VERSION_H
#define SHALE_ENGINE_VERSION_H

#include <stdatomic.h>
#include <stdint.h>

#include "shale.h"
#include "util/buf.h"

#define NUM_LEVELS 7

struct file_reaper;

/* What the mutex of the DB that lists a file guards: reached only through db_file_held()
 * (engine/db_impl.h), which takes the DB and SH_REQUIRES(db->mu). */
typedef struct file_db_mu_state {
  int dead_hint; /* overlaps a range iterators found dead (compaction.c) */
} file_db_mu_state;

/* One SSTable's metadata as the MANIFEST records it (the dirty summary included). */
typedef struct file_meta {
  atomic_int refs;
  atomic_int obsolete; /* an installed edit removed it: unlink at the last unref */
  file_db_mu_state under_db_mu;
  uint64_t number, file_size;
  buf smallest, largest; /* internal keys */
  uint64_t entries, point_tombstones, range_tombstones;
  uint64_t min_seq, max_seq, min_tomb_seq, max_tomb_seq;
  uint64_t oldest_tomb_us, newest_tomb_us;
  uint64_t raw_bytes;            /* key+value bytes before compression */
  uint64_t est_tomb_freed_bytes; /* advisory: bytes its tombstones would free below */
  struct file_reaper *reaper;    /* unlinks and evicts the file when obsolete */
} file_meta;

/* What the engine does with an obsolete file once nothing reaches it. */
typedef struct file_reaper {
  void (*reap)(struct file_reaper *r, uint64_t number);
} file_reaper;

file_meta *file_meta_new(void);
struct sst_meta;
/* Copies a finished table's summary (sstable/sst_format.h) into f; check buf_ok on the keys. */
void file_meta_set_from_sst(file_meta *f, const struct sst_meta *m);
void file_meta_ref(file_meta *f);
void file_meta_unref(file_meta *f);
/* Whether user key lies within f's smallest and largest keys in cmp's order (NULL: bytewise). */
int file_meta_spans_key(const file_meta *f, const shale_comparator *cmp, const void *key,
                        size_t klen);

typedef struct version {
  atomic_int refs;
  /* The DB's user-key order (NULL: bytewise): what deeper levels are sorted by, passed on
   * to every version made from this one, and recorded by each MANIFEST snapshot of it. */
  const shale_comparator *cmp;
  int nfiles[NUM_LEVELS];
  file_meta **files[NUM_LEVELS]; /* L0 newest first; deeper levels sorted by smallest key */
} version;

version *version_new(void);
void version_ref(version *v);
void version_unref(version *v);
/* Appends f (taking a reference) to level; REQUIRES: v not yet published. */
int version_add_file(version *v, int level, file_meta *f);
/* Sorts L0 by decreasing max_seq and deeper levels by smallest key. */
void version_sort(version *v);
uint64_t version_level_bytes(const version *v, int level);

#endif /* SHALE_ENGINE_VERSION_H */
