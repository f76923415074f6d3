/* kv_fsm.c — the Raft state machine of the replicated example: a Shale DB.
 *
 * Layout of the DB: the service's keys are stored under the prefix "d" (so "d" + key), and
 * the FSM's bookkeeping under "m": "m:applied" holds the last Raft index applied, written in
 * the same batch as the command, so the DB and the index never disagree after a crash.
 *
 * A snapshot is a header (magic, applied index) followed by the bytes of one SST file built
 * with shale_sst_writer_*: a range delete of the whole "d" prefix, then every key of the DB
 * in order. Restoring it is one shale_ingest: the ingested table is newer than everything in
 * the DB, so its range delete hides every key the replica held before and its puts are the
 * new state — atomically, also across a crash. */
#define _GNU_SOURCE
#include "kv_fsm.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DATA_PREFIX 'd'
#define DATA_END "e" /* the key after every "d..." key: the end of the range delete */
#define APPLIED_KEY "m:applied"
#define SNAPSHOT_MAGIC UINT64_C(0x31504e534c414853) /* "SHALSNP1" read little-endian */
#define SNAPSHOT_HEADER 16                          /* magic, applied index */
#define COMMAND_HEADER 12 /* opcode, 3 bytes unused, key length, value length */

static void put_u64(unsigned char *p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get_u64(const unsigned char *p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
  return v;
}

static void put_u32(unsigned char *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get_u32(const unsigned char *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Prints a failed Shale call on @p handle (NULL: one without a handle, as the SST
 * writer's); returns @p rc. */
static int report(const struct kv_fsm *f, const shale_db *handle, const char *what, int rc) {
  fprintf(stderr, "kv_fsm %s: %s: %s (%s)\n", f->dir, what, shale_strerror(rc),
          shale_errmsg(handle));
  return rc;
}

/* A failed Shale call as raft sees it: printed, then RAFT_IOERR. */
static int io_failure(const struct kv_fsm *f, const shale_db *handle, const char *what, int rc) {
  report(f, handle, what, rc);
  return RAFT_IOERR;
}

/* The applied index the DB recorded; 0 for a new DB. */
static int read_applied(struct kv_fsm *f) {
  unsigned char buf[8];
  size_t vlen;
  shale_read_options ro;
  shale_read_options_init(&ro);
  int rc = shale_get_opts(f->db, &ro, APPLIED_KEY, strlen(APPLIED_KEY), buf, sizeof buf, &vlen);
  if (rc == SHALE_NOTFOUND) {
    f->applied = 0;
    return SHALE_OK;
  }
  if (rc != SHALE_OK) return report(f, f->db, "read applied index", rc);
  if (vlen != sizeof buf)
    return report(f, f->db, "applied index has a bad length", SHALE_CORRUPTION);
  f->applied = get_u64(buf);
  return SHALE_OK;
}

int kv_command_encode(const void *key, size_t klen, const void *val, size_t vlen,
                      struct raft_buffer *buf) {
  if (klen > KV_MAX_KEY || vlen > SHALE_MAX_VALUE_SIZE) return RAFT_INVALID;
  if (val == NULL) vlen = 0;
  /* A multiple of 8 bytes: libraft 0.15's TCP transport sends an entry's bytes unpadded
   * while the receiver steps over them as if padded to 8, which shifts every later entry of
   * the message (and reads past its end). */
  size_t used = COMMAND_HEADER + klen + vlen;
  buf->len = (used + 7) & ~(size_t)7;
  buf->base = raft_calloc(1, buf->len);
  if (buf->base == NULL) return RAFT_NOMEM;
  unsigned char *p = buf->base;
  p[0] = val != NULL ? KV_OP_PUT : KV_OP_DELETE;
  put_u32(p + 4, (uint32_t)klen);
  put_u32(p + 8, (uint32_t)vlen);
  if (klen > 0) memcpy(p + COMMAND_HEADER, key, klen);
  if (vlen > 0) memcpy(p + COMMAND_HEADER + klen, val, vlen);
  return 0;
}

/* Adds the command in @p buf to the batch, the key under the data prefix. A command that
 * does not decode is not this service's: it is reported and skipped (its index still counts
 * as applied, so every replica skips it alike). */
static int add_command(struct kv_fsm *f, const struct raft_buffer *buf) {
  const unsigned char *p = buf->base;
  uint64_t klen = buf->len >= COMMAND_HEADER ? get_u32(p + 4) : 0;
  uint64_t vlen = buf->len >= COMMAND_HEADER ? get_u32(p + 8) : 0;
  uint64_t used = COMMAND_HEADER + klen + vlen;
  if (buf->len < COMMAND_HEADER || klen > KV_MAX_KEY || used > buf->len || buf->len - used >= 8 ||
      (p[0] != KV_OP_PUT && p[0] != KV_OP_DELETE) || (p[0] == KV_OP_DELETE && vlen != 0)) {
    fprintf(stderr, "kv_fsm %s: malformed command of %zu bytes skipped\n", f->dir, buf->len);
    return SHALE_OK;
  }
  char key[1 + KV_MAX_KEY];
  key[0] = DATA_PREFIX;
  memcpy(key + 1, p + COMMAND_HEADER, klen);
  if (p[0] == KV_OP_DELETE) return shale_batch_delete(f->batch, key, 1 + klen);
  return shale_batch_put(f->batch, key, 1 + klen, p + COMMAND_HEADER + klen, vlen);
}

/* raft 0.15 does not pass the entry's index to apply; it applies entries in order and
 * advances last_applied after each, so the entry being applied is the next one. */
static int fsm_apply(struct raft_fsm *fsm, const struct raft_buffer *buf, void **result) {
  struct kv_fsm *f = fsm->data;
  uint64_t index = raft_last_applied(f->raft) + 1;
  *result = NULL;
  /* Replayed after a restart: the DB already holds this entry's effect. */
  if (index <= f->applied) return 0;
  shale_batch_clear(f->batch);
  int rc = add_command(f, buf);
  unsigned char idx[8];
  put_u64(idx, index);
  if (rc == SHALE_OK) rc = shale_batch_put(f->batch, APPLIED_KEY, strlen(APPLIED_KEY), idx, 8);
  if (rc == SHALE_OK) rc = shale_write(f->db, f->batch, 0);
  if (rc != SHALE_OK) {
    return io_failure(f, f->db, "apply", rc);
  }
  f->applied = index;
  return 0;
}

/* Copies every key of the DB (as of one iterator's pinned state) into the table. */
static int write_table(struct kv_fsm *f, shale_sst_writer *w) {
  int rc = shale_sst_writer_delete_range(w, "d", 1, DATA_END, 1);
  shale_iter *it = NULL;
  if (rc == SHALE_OK) rc = shale_iter_new(f->db, NULL, &it);
  if (rc != SHALE_OK) return rc;
  for (shale_iter_seek_first(it); rc == SHALE_OK && shale_iter_valid(it); shale_iter_next(it)) {
    size_t klen, vlen;
    const void *key = shale_iter_key(it, &klen);
    const void *val = shale_iter_value(it, &vlen);
    rc = shale_sst_writer_put(w, key, klen, val, vlen);
  }
  if (rc == SHALE_OK) rc = shale_iter_status(it);
  shale_iter_free(it);
  return rc;
}

/* Reads the file at @p path into a raft_malloc'd buffer after a header of @p header bytes. */
static int slurp(const char *path, size_t header, struct raft_buffer *buf) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return RAFT_IOERR;
  struct stat st;
  int rv = fstat(fd, &st) == 0 ? 0 : RAFT_IOERR;
  if (rv == 0) {
    buf->len = header + (size_t)st.st_size;
    buf->base = raft_malloc(buf->len);
    if (buf->base == NULL) rv = RAFT_NOMEM;
  }
  for (size_t off = header; rv == 0 && off < buf->len;) {
    ssize_t n = read(fd, (char *)buf->base + off, buf->len - off);
    if (n == 0 || (n < 0 && errno != EINTR)) rv = RAFT_IOERR;
    if (n > 0) off += (size_t)n;
  }
  if (rv != 0 && buf->base != NULL) raft_free(buf->base);
  close(fd);
  return rv;
}

static int fsm_snapshot(struct raft_fsm *fsm, struct raft_buffer *bufs[], unsigned *n_bufs) {
  struct kv_fsm *f = fsm->data;
  char path[600];
  snprintf(path, sizeof path, "%s/snapshot.sst", f->dir);
  /* Uncompressed: a zstd table first trains a dictionary on its blocks, tens of
   * milliseconds that would stall every replica sharing the loop, to save bytes that only
   * cross the loopback and raft's snapshot file. */
  shale_options table_options = f->options;
  table_options.compression = SHALE_COMPRESSION_NONE;
  shale_sst_writer *w;
  int rc = shale_sst_writer_open(path, &table_options, &w);
  if (rc != SHALE_OK) return io_failure(f, NULL, "snapshot table", rc);
  rc = write_table(f, w);
  if (rc != SHALE_OK) {
    shale_sst_writer_abandon(w);
    return io_failure(f, f->db, "snapshot", rc);
  }
  rc = shale_sst_writer_finish(w, NULL);
  if (rc != SHALE_OK) return io_failure(f, NULL, "snapshot finish", rc);
  struct raft_buffer buf = {0};
  int rv = slurp(path, SNAPSHOT_HEADER, &buf);
  unlink(path);
  if (rv != 0) return rv;
  put_u64(buf.base, SNAPSHOT_MAGIC);
  /* The DB's applied index, which may be past raft's last_applied while a restarted replica
   * replays entries its DB already holds: the table holds the state at this index. */
  put_u64((unsigned char *)buf.base + 8, f->applied);
  *bufs = raft_malloc(sizeof **bufs);
  if (*bufs == NULL) {
    raft_free(buf.base);
    return RAFT_NOMEM;
  }
  (*bufs)[0] = buf;
  *n_bufs = 1;
  f->snapshots_taken++;
  return 0;
}

static int write_file(const char *path, const void *data, size_t len) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return -1;
  for (size_t off = 0; off < len;) {
    ssize_t n = write(fd, (const char *)data + off, len - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      close(fd);
      return -1;
    }
    off += (size_t)n;
  }
  return close(fd);
}

/* On success the buffer is the FSM's to free (raft's contract); on failure it stays raft's. */
static int fsm_restore(struct raft_fsm *fsm, struct raft_buffer *buf) {
  struct kv_fsm *f = fsm->data;
  const unsigned char *p = buf->base;
  if (buf->len < SNAPSHOT_HEADER || get_u64(p) != SNAPSHOT_MAGIC) return RAFT_MALFORMED;
  uint64_t index = get_u64(p + 8);
  /* raft_start restores the replica's own latest snapshot; a DB already past it keeps its
   * state, and the entries after the snapshot are skipped by apply up to f->applied. */
  if (index > f->applied) {
    char path[600];
    snprintf(path, sizeof path, "%s/install.sst", f->dir);
    if (write_file(path, p + SNAPSHOT_HEADER, buf->len - SNAPSHOT_HEADER) != 0) {
      fprintf(stderr, "kv_fsm %s: write %s: %s\n", f->dir, path, strerror(errno));
      return RAFT_IOERR;
    }
    const char *files[] = {path};
    int rc = shale_ingest(f->db, files, 1, SHALE_INGEST_MOVE);
    if (rc != SHALE_OK) {
      unlink(path);
      return io_failure(f, f->db, "restore", rc);
    }
    f->applied = index;
    f->installs++;
  }
  raft_free(buf->base);
  return 0;
}

int kv_fsm_open(struct kv_fsm *f, const char *dir, struct raft *raft) {
  memset(f, 0, sizeof *f);
  snprintf(f->dir, sizeof f->dir, "%s", dir);
  f->raft = raft;
  shale_options_init(&f->options);
  /* Three replicas share the machine: small caches and buffers are plenty for the test. */
  f->options.write_buffer_size = 4u << 20;
  f->options.block_cache_size = 4u << 20;
  f->options.max_background_jobs = 1;
  char path[600];
  snprintf(path, sizeof path, "%s/db", dir);
  int rc = shale_open(path, &f->options, &f->db);
  if (rc != SHALE_OK) {
    fprintf(stderr, "kv_fsm: open %s: %s\n", path, shale_errmsg(NULL));
    return rc;
  }
  rc = shale_batch_new(&f->batch);
  if (rc == SHALE_OK) rc = read_applied(f);
  if (rc != SHALE_OK) {
    kv_fsm_close(f);
    return rc;
  }
  f->fsm.version = 1;
  f->fsm.data = f;
  f->fsm.apply = fsm_apply;
  f->fsm.snapshot = fsm_snapshot;
  f->fsm.restore = fsm_restore;
  return SHALE_OK;
}

void kv_fsm_close(struct kv_fsm *f) {
  shale_batch_free(f->batch);
  f->batch = NULL;
  if (f->db != NULL) {
    int rc = shale_close(f->db);
    if (rc != SHALE_OK) fprintf(stderr, "kv_fsm %s: close: %s\n", f->dir, shale_strerror(rc));
  }
  f->db = NULL;
}

int kv_iter_new(struct kv_fsm *f, const shale_snapshot *snap, shale_iter **it) {
  shale_read_options ro;
  shale_read_options_init(&ro);
  ro.snapshot = snap;
  ro.lower_bound = "d";
  ro.lower_bound_len = 1;
  ro.upper_bound = DATA_END;
  ro.upper_bound_len = 1;
  return shale_iter_new_opts(f->db, &ro, it);
}

const void *kv_iter_key(shale_iter *it, size_t *klen) {
  const char *key = shale_iter_key(it, klen);
  *klen -= 1;
  return key + 1;
}
