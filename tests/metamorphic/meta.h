/* meta.h — the metamorphic test (issue 19): random op histories replayed under option sets
 * that must never change a result, each run compared with an in-memory model and with the
 * other runs. A history is a list of ops over keys named by index; key(i) < key(j) iff
 * i < j, so the model works on indexes. Bounds, seeks and range ends are "points": 2i is
 * key(i), 2i+1 a key just above key(i) and below key(i+1), -1 no bound (NULL). */
#ifndef SHALE_META_H
#define SHALE_META_H

#include <stddef.h>
#include <stdint.h>

#define META_SNAPS 4   /* snapshot slots */
#define META_ITERS 3   /* live iterator slots */
#define META_MOVES 24  /* next/prev steps of one move op */
#define META_MGET 8    /* keys of one multi_get */
#define META_BATCH 8   /* writes of one batch */
#define META_KEYMAX 16 /* bytes of the longest key or point */
#define META_CKPTS 2   /* checkpoint slots */

enum meta_kind {
  M_PUT,
  M_DEL,
  M_RDEL,
  M_BATCH,
  M_SNAP,
  M_SNAPFREE,
  M_ITER,
  M_ITERFREE,
  M_MOVE,
  M_GET,
  M_GETO,
  M_MGET,
  M_SCAN,
  M_FLUSH,
  M_COMPACT,
  M_REOPEN,
  M_CRASH,
  M_CKPT,    /* a checkpoint into slot's directory */
  M_CKREAD,  /* opens slot's checkpoint and scans it whole */
  M_INGEST,  /* an external table of ws[0..nw) written and ingested */
  M_WALMARK, /* notes the DB's sequence: the next waltail walks the WAL from there */
  M_WALTAIL, /* walks the updates since the mark; they must be the writes made since */
  M_ROOPEN,  /* opens a read_only handle beside the writer */
  M_ROREAD,  /* scans the read_only handle (a=dir): the DB as it was at its open */
  M_KINDS
};

/* How a move op positions its iterator before stepping. */
enum meta_seek { S_NONE, S_FIRST, S_LAST, S_SEEK, S_SEEK_PREV };

/* One write: a put (key, vseed, vlen), a delete (key) or a range delete [a, b). */
typedef struct meta_wr {
  int kind;
  int key, a, b;
  uint32_t vseed, vlen;
} meta_wr;

typedef struct meta_op {
  int kind;
  meta_wr w; /* put, del, rdel */
  int nw;    /* batch, ingest: puts and deletes in increasing key order, range deletes */
  meta_wr ws[META_BATCH];
  int sync;     /* writes: SHALE_SYNC; ckpt: SHALE_CHECKPOINT_FLUSH; ingest: MOVE */
  int slot;     /* snap/snapfree: snapshot slot; iter/iterfree/move: iterator slot; ckpt/ckread */
  int snap;     /* reads and iter: the snapshot slot read at, -1 the latest */
  int key;      /* get, geto */
  int a, b;     /* iter bounds, compact range; move: seek kind and target; scan: a=dir */
  uint32_t cap; /* geto buffer */
  int n, keys[META_MGET];     /* mget */
  char moves[META_MOVES + 1]; /* move: 'n' and 'p' */
} meta_op;

typedef struct meta_hist {
  uint64_t seed;
  int known_bug; /* a regression of an open engine bug: replayed, its failure not counted */
  int nkeys;
  int n, cap;
  meta_op *ops;
} meta_hist;

/* Option sets: each must leave every result as the model says. */
typedef struct meta_optset {
  const char *name;
  size_t block_size, write_buffer_size, target_file_size, block_cache_size;
  int compression, compression_level, bloom_bits, l0_trigger, max_open_files, bg_jobs;
  int max_imm;
  double delete_persist_seconds;
  const char *env_io,
      *env_mmap; /* io_mode and use_mmap, as the values of SHALE_IO and SHALE_MMAP; NULL: default */
  int no_wal;    /* every write SHALE_NO_WAL */
  int read_only_end; /* the final reads through a read_only reopen */
  int comparator;    /* a comparator of the caller's giving bytewise order; open range ends
                        become the empty key and 0xff, as such a DB takes none */
  int filter;        /* a compaction filter that gives half the values back as new values;
                        2: and that removes every marked value (meta_marked) */
  int reverse;       /* a comparator of reverse bytewise order: the DB is given keys whose
                        bytes run against the model's order (meta_db.c's key translation) */
  uint64_t wal_keep; /* wal_retention_bytes, so that a waltail finds its WALs */
  size_t dict_bytes; /* compression_max_dict_bytes, trained on 32 times as many bytes; 0: none */
} meta_optset;

/* A growing text buffer: results are lines, one per read op. */
typedef struct sbuf {
  char *p;
  size_t n, cap;
} sbuf;

void sb_printf(sbuf *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sb_free(sbuf *s);

/* meta_hist.c: keys, values, result tokens, the generator and the text format. */
size_t meta_key(int i, char *out);
size_t meta_point(int pt, char *out);
void meta_value(uint32_t vseed, uint32_t vlen, char *out);
uint64_t meta_hash(const void *p, size_t n);
void meta_tok_key(sbuf *s, const void *k, size_t klen);
void meta_tok_val(sbuf *s, int rc, const void *v, size_t vlen);
int meta_marked(size_t vlen);
void meta_tok_write(sbuf *s, int kind, int a, int b, const void *v, size_t vlen);
void meta_wal_expect(const meta_hist *h, int from, int to, sbuf *s);
void meta_hist_push(meta_hist *h, const meta_op *op);
void meta_hist_free(meta_hist *h);
void meta_generate(meta_hist *h, uint64_t seed, int nops);
int meta_hist_write(const meta_hist *h, const char *path, const char *comment);
int meta_hist_read(meta_hist *h, const char *path);

/* meta_model.c: the expected results of a history, as the DB runs print them. */
void meta_model_run(const meta_hist *h, int to, sbuf *out);

/* meta_db.c: runs ops [0, to) of a history on a DB in dir under os (crashes through the
 * power-loss environment, in forked children) and appends the results. 0, or -1 when a
 * child died otherwise (its reason appended). */
int meta_db_run(const meta_hist *h, int to, const meta_optset *os, const char *dir, sbuf *out);
/* The WAL walks the runs made so far, how many of them found a WAL gone (SHALE_NOTFOUND),
 * and how many values the removing compaction filter removed. */
void meta_db_counts(long *wal_walks, long *wal_absent, long *filter_removed);

#endif
