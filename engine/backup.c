/* backup.c — shale_backup, shale_restore, shale_backup_list, shale_backup_purge: numbered,
 * incremental backups (RocksDB's BackupEngine, reduced). A backup is a shale_checkpoint
 * taken inside the backup directory, whose tables are then copied into shared/ (unless a
 * table of the same number, size and checksum is there already) and whose other files move
 * into private/<id>/; the backup's manifest, meta/<id>, is written last and lists every
 * file with its size and XXH3-64, so a backup exists whole or not at all, and a restore can
 * check every byte before it writes one. doc/format-backup.md gives the layout. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/db_impl.h"
#include "engine/db_log.h"
#include "engine/errmsg.h"
#include "engine/filename.h"
#include "io/io.h"
#include "util/checksum.h"
#include "util/clock.h"

#define BACKUP_FORMAT 1
#define COPY_CHUNK (256u << 10)

typedef struct backup_file {
  char *path;    /* relative to the backup directory */
  uint64_t size; /* bytes */
  uint64_t hash; /* XXH3-64 of the bytes */
} backup_file;

typedef struct backup_meta {
  uint32_t id;
  uint64_t seq, time_us;
  backup_file *files;
  size_t n, cap;
} backup_meta;

static void meta_free(backup_meta *m) {
  for (size_t i = 0; i < m->n; i++) free(m->files[i].path);
  free(m->files);
  *m = (backup_meta){0};
}

static int meta_add(backup_meta *m, const char *path, uint64_t size, uint64_t hash) {
  if (m->n == m->cap) {
    size_t cap = m->cap ? 2 * m->cap : 16;
    backup_file *f = realloc(m->files, cap * sizeof *f);
    if (!f) return SHALE_NOMEM;
    m->files = f;
    m->cap = cap;
  }
  char *p = strdup(path);
  if (!p) return SHALE_NOMEM;
  m->files[m->n++] = (backup_file){p, size, hash};
  return SHALE_OK;
}

/* ---- files ---- */

static void meta_path(char *out, const char *dir, uint32_t id) {
  snprintf(out, FILENAME_MAX_LEN, "%s/meta/%06" PRIu32, dir, id);
}

/* Reads the file at path, hashing it and, when out >= 0, writing the bytes to out. */
static int hash_copy(const char *path, int out, uint64_t *size, uint64_t *hash, char *errmsg) {
  int in = open(path, O_RDONLY | O_CLOEXEC);
  if (in < 0) return err_errno(errmsg, errno, "open", path);
  char *chunk = malloc(COPY_CHUNK);
  if (!chunk) {
    close(in);
    return err_set(errmsg, SHALE_NOMEM, "backup: out of memory");
  }
  XXH3_state_t st;
  XXH3_64bits_reset(&st);
  *size = 0;
  int rc = SHALE_OK;
  ssize_t n;
  while (!rc && (n = read(in, chunk, COPY_CHUNK)) != 0) {
    if (n < 0) {
      if (errno == EINTR) continue;
      rc = err_errno(errmsg, errno, "read", path);
      break;
    }
    XXH3_64bits_update(&st, chunk, (size_t)n);
    *size += (uint64_t)n;
    for (ssize_t off = 0; out >= 0 && off < n && !rc;) {
      ssize_t w = write(out, chunk + off, (size_t)(n - off));
      if (w < 0 && errno != EINTR) rc = err_errno(errmsg, errno, "write the copy of", path);
      if (w > 0) off += w;
    }
  }
  *hash = XXH3_64bits_digest(&st);
  free(chunk);
  close(in);
  return rc;
}

/* Copies src to dst (made fresh and synced), checking the bytes read hash to want (unless
 * want_size is UINT64_MAX). A mismatch removes dst and is SHALE_CORRUPTION naming name. */
static int copy_checked(const char *src, const char *dst, const char *name, uint64_t want_size,
                        uint64_t want_hash, char *errmsg) {
  int out = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (out < 0) return err_errno(errmsg, errno, "create", dst);
  uint64_t size, hash;
  int rc = hash_copy(src, out, &size, &hash, errmsg);
  if (!rc && want_size != UINT64_MAX && (size != want_size || hash != want_hash))
    rc = err_set(errmsg, SHALE_CORRUPTION, "%s changed while it was copied", name);
  if (!rc && fsync(out)) rc = err_errno(errmsg, errno, "fsync", dst);
  close(out);
  if (rc) unlink(dst);
  return rc;
}

/* Removes dir and what it holds, one level of subdirectories deep (the deepest the backup
 * layout and a checkpoint in tmp/ go). */
static void remove_tree(const char *dir, int depth) {
  DIR *d = opendir(dir);
  if (d) {
    struct dirent *e;
    char sub[FILENAME_MAX_LEN];
    while ((e = readdir(d))) {
      if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
      if (!unlinkat(dirfd(d), e->d_name, 0) || errno != EISDIR) continue;
      if (depth > 0) {
        filename_join(sub, dir, e->d_name);
        remove_tree(sub, depth - 1);
      }
    }
    closedir(d);
  }
  rmdir(dir);
}

/* The names of dir's entries, sorted; *n of them. NULL on failure (errno set). */
static char **list_dir(const char *dir, size_t *n) {
  *n = 0;
  DIR *d = opendir(dir);
  if (!d) return NULL;
  char **v = NULL;
  size_t cap = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
    if (*n == cap) {
      cap = cap ? 2 * cap : 16;
      char **nv = realloc(v, cap * sizeof *nv);
      if (!nv) goto oom;
      v = nv;
    }
    if (!(v[*n] = strdup(e->d_name))) goto oom;
    (*n)++;
  }
  closedir(d);
  if (!v) v = malloc(sizeof *v); /* an empty list, told apart from failure */
  return v;
oom:
  for (size_t i = 0; i < *n; i++) free(v[i]);
  free(v);
  closedir(d);
  errno = ENOMEM;
  return NULL;
}

static int by_name(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static void free_names(char **v, size_t n) {
  for (size_t i = 0; i < n; i++) free(v[i]);
  free(v);
}

/* A backup id from a name of meta/ or private/: six or more digits, nothing else. */
static uint32_t parse_id(const char *name) {
  size_t len = strlen(name);
  if (len < 6 || len > 9 || strspn(name, "0123456789") != len) return 0;
  return (uint32_t)strtoul(name, NULL, 10);
}

/* The ids of the backups (those with a manifest), ascending. */
static int list_ids(const char *dir, uint32_t **ids, size_t *n, char *errmsg) {
  char path[FILENAME_MAX_LEN];
  filename_join(path, dir, "meta");
  *ids = NULL;
  *n = 0;
  size_t count;
  char **names = list_dir(path, &count);
  if (!names && errno == ENOENT) return SHALE_OK;
  if (!names) return err_errno(errmsg, errno, "list", path);
  qsort(names, count, sizeof *names, by_name);
  *ids = malloc((count ? count : 1) * sizeof **ids);
  if (!*ids) {
    free_names(names, count);
    return err_set(errmsg, SHALE_NOMEM, "backup: out of memory");
  }
  for (size_t i = 0; i < count; i++)
    if (parse_id(names[i])) (*ids)[(*n)++] = parse_id(names[i]);
  free_names(names, count);
  return SHALE_OK;
}

/* ---- the manifest ---- */

static int meta_text(const backup_meta *m, buf *out) {
  char line[FILENAME_MAX_LEN + 128];
  buf_append(out, line,
             (size_t)snprintf(line, sizeof line,
                              "shale-backup %d\nid %" PRIu32 "\nsequence %" PRIu64
                              "\ntime_us %" PRIu64 "\n",
                              BACKUP_FORMAT, m->id, m->seq, m->time_us));
  for (size_t i = 0; i < m->n; i++)
    buf_append(out, line,
               (size_t)snprintf(line, sizeof line, "file %s %" PRIu64 " %016" PRIx64 "\n",
                                m->files[i].path, m->files[i].size, m->files[i].hash));
  if (!buf_ok(out)) return SHALE_NOMEM;
  uint64_t sum = XXH3_64bits(out->data, out->len);
  buf_append(out, line, (size_t)snprintf(line, sizeof line, "checksum %016" PRIx64 "\n", sum));
  return buf_ok(out) ? SHALE_OK : SHALE_NOMEM;
}

/* meta/<id> through a temp file, fsynced and renamed: the backup's commit point. */
static int write_meta(const char *dir, const backup_meta *m, char *errmsg) {
  buf text;
  buf_init(&text);
  int rc = meta_text(m, &text);
  char metadir[FILENAME_MAX_LEN], name[16];
  filename_join(metadir, dir, "meta");
  snprintf(name, sizeof name, "%06" PRIu32, m->id);
  if (rc)
    err_set(errmsg, rc, "backup: out of memory");
  else
    rc = io_write_file_atomic(io_ctx_default(), metadir, name, text.data, text.len, errmsg);
  buf_free(&text);
  return rc;
}

/* A path the manifest may name: shared/<name> or private/<id>/<name>, no "..". */
static int safe_path(const char *p) {
  if (strstr(p, "..") || strchr(p, ' ')) return 0;
  return !strncmp(p, "shared/", 7) || !strncmp(p, "private/", 8);
}

static int parse_lines(char *text, backup_meta *m) {
  char *save = NULL;
  int format = 0;
  for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
    char path[FILENAME_MAX_LEN];
    uint64_t size, hash;
    if (sscanf(line, "shale-backup %d", &format) == 1 || sscanf(line, "id %" SCNu32, &m->id) == 1 ||
        sscanf(line, "sequence %" SCNu64, &m->seq) == 1 ||
        sscanf(line, "time_us %" SCNu64, &m->time_us) == 1)
      continue;
    if (sscanf(line, "file %4095s %" SCNu64 " %" SCNx64, path, &size, &hash) != 3 ||
        !safe_path(path))
      return 0;
    if (meta_add(m, path, size, hash)) return -1;
  }
  return format == BACKUP_FORMAT && m->id ? 1 : 0;
}

/* Reads meta/<id>: its trailing checksum line must match the bytes before it. */
static int read_meta(const char *dir, uint32_t id, backup_meta *m, char *errmsg) {
  *m = (backup_meta){0};
  char path[FILENAME_MAX_LEN];
  meta_path(path, dir, id);
  struct stat st;
  if (stat(path, &st) && errno == ENOENT)
    return err_set(errmsg, SHALE_NOTFOUND, "backup %" PRIu32 " not found in %s", id, dir);
  buf b;
  buf_init(&b);
  int rc = io_read_file(io_ctx_default(), path, &b, errmsg);
  if (!rc) buf_append_byte(&b, 0);
  if (!rc && !buf_ok(&b)) rc = err_set(errmsg, SHALE_NOMEM, "backup: out of memory");
  if (rc) {
    buf_free(&b);
    return rc;
  }
  char *text = (char *)b.data;
  size_t len = b.len - 1;
  char *last = len >= 2 ? memrchr(text, '\n', len - 1) : NULL;
  size_t body = last ? (size_t)(last - text) + 1 : 0;
  uint64_t want;
  int ok = last && sscanf(text + body, "checksum %" SCNx64, &want) == 1 &&
           XXH3_64bits(text, body) == want && text[len - 1] == '\n';
  if (ok) {
    text[body] = 0;
    ok = parse_lines(text, m);
  }
  buf_free(&b);
  if (ok == 1 && m->id == id) return SHALE_OK;
  meta_free(m);
  if (ok < 0) return err_set(errmsg, SHALE_NOMEM, "backup: out of memory");
  return err_set(errmsg, SHALE_CORRUPTION, "%s: backup manifest damaged (checksum or format)",
                 path);
}

/* ---- the backup directory's lock ---- */

/* Backups and purges take it exclusively (SHALE_BUSY when held); restores and lists share
 * it, waiting for a running backup, and do without it when the directory has none. */
static int lock_backup_dir(const char *dir, int exclusive, int *fd, char *errmsg) {
  char path[FILENAME_MAX_LEN];
  filename_join(path, dir, "LOCK");
  *fd = open(path, exclusive ? O_RDWR | O_CREAT | O_CLOEXEC : O_RDONLY | O_CLOEXEC, 0644);
  if (*fd < 0) return exclusive ? err_errno(errmsg, errno, "open", path) : SHALE_OK;
  if (!flock(*fd, exclusive ? LOCK_EX | LOCK_NB : LOCK_SH)) return SHALE_OK;
  int e = errno;
  close(*fd);
  *fd = -1;
  if (e == EWOULDBLOCK)
    return err_set(errmsg, SHALE_BUSY, "%s: another backup or purge is running", dir);
  return err_errno(errmsg, e, "lock", path);
}

static void unlock_backup_dir(int fd) {
  if (fd >= 0) close(fd);
}

/* ---- shale_backup ---- */

static int make_dir(const char *path, char *errmsg) {
  if (mkdir(path, 0755) && errno != EEXIST) return err_errno(errmsg, errno, "mkdir", path);
  return SHALE_OK;
}

static int make_layout(const char *dir, char *errmsg) {
  static const char *const subs[] = {"meta", "private", "shared", "tmp"};
  char path[FILENAME_MAX_LEN];
  int rc = make_dir(dir, errmsg);
  for (size_t i = 0; !rc && i < sizeof subs / sizeof *subs; i++) {
    filename_join(path, dir, subs[i]);
    rc = make_dir(path, errmsg);
  }
  return rc;
}

/* Removes the *.tmp files of dir/sub: copies and manifests a crash cut short. */
static void remove_temps(const char *dir, const char *sub) {
  char path[FILENAME_MAX_LEN], file[FILENAME_MAX_LEN];
  filename_join(path, dir, sub);
  size_t n;
  char **names = list_dir(path, &n);
  for (size_t i = 0; names && i < n; i++) {
    size_t len = strlen(names[i]);
    filename_join(file, path, names[i]);
    if (len > 4 && !strcmp(names[i] + len - 4, ".tmp")) unlink(file);
  }
  free_names(names, n);
}

/* What a failed or interrupted backup left: tmp/'s contents, private/<id> without a
 * manifest, temp files in shared/ and meta/. */
static void remove_leftovers(const char *dir, const uint32_t *ids, size_t nids) {
  char path[FILENAME_MAX_LEN], sub[FILENAME_MAX_LEN];
  filename_join(path, dir, "tmp");
  remove_tree(path, 2);
  mkdir(path, 0755);
  filename_join(path, dir, "private");
  size_t n;
  char **names = list_dir(path, &n);
  for (size_t i = 0; names && i < n; i++) {
    uint32_t id = parse_id(names[i]);
    int has_meta = 0;
    for (size_t j = 0; j < nids; j++) has_meta |= ids[j] == id;
    filename_join(sub, path, names[i]);
    if (!has_meta) remove_tree(sub, 0);
  }
  free_names(names, n);
  remove_temps(dir, "shared");
  remove_temps(dir, "meta");
}

typedef struct backup_job {
  const char *dir;
  char ckpt[FILENAME_MAX_LEN]; /* tmp/ckpt: the checkpoint */
  backup_meta meta;
  uint32_t copied;
  uint64_t copied_bytes;
  char *errmsg;
} backup_job;

/* A table into shared/, unless the same one (number, size, checksum) is there. */
static int add_table(backup_job *b, const char *name, uint64_t number) {
  char src[FILENAME_MAX_LEN], shared[128], dst[FILENAME_MAX_LEN], tmp[FILENAME_MAX_LEN + 8];
  filename_join(src, b->ckpt, name);
  uint64_t size, hash;
  int rc = hash_copy(src, -1, &size, &hash, b->errmsg);
  if (rc) return rc;
  snprintf(shared, sizeof shared, "shared/%06" PRIu64 "-%" PRIu64 "-%016" PRIx64 ".sst", number,
           size, hash);
  filename_join(dst, b->dir, shared);
  struct stat st;
  if (stat(dst, &st) || (uint64_t)st.st_size != size) {
    snprintf(tmp, sizeof tmp, "%s.tmp", dst);
    if ((rc = copy_checked(src, tmp, name, size, hash, b->errmsg))) return rc;
    if (rename(tmp, dst)) {
      rc = err_errno(b->errmsg, errno, "rename", tmp);
      unlink(tmp);
      return rc;
    }
    b->copied++;
    b->copied_bytes += size;
  }
  return meta_add(&b->meta, shared, size, hash) ? err_set(b->errmsg, SHALE_NOMEM, "out of memory")
                                                : SHALE_OK;
}

/* The checkpoint's own copies (MANIFEST, CURRENT, WALs) move into private/<id>/. */
static int add_private(backup_job *b, const char *name) {
  char src[FILENAME_MAX_LEN], rel[FILENAME_MAX_LEN], dst[FILENAME_MAX_LEN];
  filename_join(src, b->ckpt, name);
  snprintf(rel, sizeof rel, "private/%06" PRIu32 "/%s", b->meta.id, name);
  filename_join(dst, b->dir, rel);
  uint64_t size, hash;
  int rc = hash_copy(src, -1, &size, &hash, b->errmsg);
  if (!rc && rename(src, dst)) rc = err_errno(b->errmsg, errno, "rename", src);
  if (rc) return rc;
  b->copied++;
  b->copied_bytes += size;
  return meta_add(&b->meta, rel, size, hash) ? err_set(b->errmsg, SHALE_NOMEM, "out of memory")
                                             : SHALE_OK;
}

static int sync_layout(const backup_job *b) {
  char path[FILENAME_MAX_LEN];
  filename_join(path, b->dir, "shared");
  int rc = io_sync_dir(io_ctx_default(), path, b->errmsg);
  snprintf(path, sizeof path, "%s/private/%06" PRIu32, b->dir, b->meta.id);
  if (!rc) rc = io_sync_dir(io_ctx_default(), path, b->errmsg);
  filename_join(path, b->dir, "private");
  if (!rc) rc = io_sync_dir(io_ctx_default(), path, b->errmsg);
  return rc;
}

static int fill_backup(backup_job *b) {
  char priv[FILENAME_MAX_LEN];
  snprintf(priv, sizeof priv, "%s/private/%06" PRIu32, b->dir, b->meta.id);
  int rc = make_dir(priv, b->errmsg);
  size_t n = 0;
  char **names = rc ? NULL : list_dir(b->ckpt, &n);
  if (!rc && !names) return err_errno(b->errmsg, errno, "list", b->ckpt);
  qsort(names, n, sizeof *names, by_name);
  for (size_t i = 0; !rc && i < n; i++) {
    uint64_t number;
    rc = filename_parse(names[i], &number) == FT_TABLE ? add_table(b, names[i], number)
                                                       : add_private(b, names[i]);
  }
  free_names(names, n);
  return rc ? rc : sync_layout(b);
}

static void fill_info(const backup_meta *m, shale_backup_info *info) {
  *info = (shale_backup_info){.id = m->id, .sequence = m->seq, .time_us = m->time_us};
  info->files = (uint32_t)m->n;
  for (size_t i = 0; i < m->n; i++) info->size += m->files[i].size;
}

static int take_checkpoint(shale_db *db, backup_job *b, unsigned flags) {
  uint64_t seq;
  int rc = shale_checkpoint(db, b->ckpt, flags & SHALE_BACKUP_FLUSH ? SHALE_CHECKPOINT_FLUSH : 0,
                            &seq, NULL);
  if (rc) return err_set(b->errmsg, rc, "backup: checkpoint failed: %s", shale_errmsg(db));
  b->meta.seq = seq;
  b->meta.time_us = clock_wall_us();
  return SHALE_OK;
}

static int backup_locked(shale_db *db, backup_job *b, unsigned flags, shale_backup_info *info) {
  uint32_t *ids;
  size_t nids;
  int rc = list_ids(b->dir, &ids, &nids, b->errmsg);
  if (rc) return rc;
  remove_leftovers(b->dir, ids, nids);
  b->meta.id = nids ? ids[nids - 1] + 1 : 1;
  free(ids);
  snprintf(b->ckpt, sizeof b->ckpt, "%s/tmp/ckpt", b->dir);
  rc = take_checkpoint(db, b, flags);
  if (!rc) rc = fill_backup(b);
  if (!rc) rc = write_meta(b->dir, &b->meta, b->errmsg);
  char tmp[FILENAME_MAX_LEN];
  filename_join(tmp, b->dir, "tmp");
  remove_tree(tmp, 2);
  mkdir(tmp, 0755);
  if (rc) {
    snprintf(tmp, sizeof tmp, "%s/private/%06" PRIu32, b->dir, b->meta.id);
    remove_tree(tmp, 0);
    return rc;
  }
  db_log(db,
         "backup %" PRIu32 " at sequence %" PRIu64 " to %s: %zu files, %" PRIu32 " copied (%" PRIu64
         " bytes)",
         b->meta.id, b->meta.seq, b->dir, b->meta.n, b->copied, b->copied_bytes);
  if (info) {
    fill_info(&b->meta, info);
    info->files_copied = b->copied;
    info->bytes_copied = b->copied_bytes;
  }
  return SHALE_OK;
}

static int backup_call(shale_db *db, const char *dir, unsigned flags, shale_backup_info *info) {
  if (!dir || !*dir) return db_fail(db, SHALE_INVALID, "backup: backup_dir must not be empty");
  if (flags & ~SHALE_BACKUP_FLUSH) return db_fail(db, SHALE_INVALID, "backup: bad flags");
  if (strlen(dir) > FILENAME_MAX_LEN - 128) return db_fail(db, SHALE_INVALID, "path too long");
  char errmsg[ERRMSG_SIZE] = "";
  backup_job b = {.dir = dir, .errmsg = errmsg};
  int fd = -1;
  int rc = make_layout(dir, errmsg);
  if (!rc) rc = lock_backup_dir(dir, 1, &fd, errmsg);
  if (!rc) rc = backup_locked(db, &b, flags, info);
  unlock_backup_dir(fd);
  meta_free(&b.meta);
  return rc ? db_fail(db, rc, errmsg) : SHALE_OK;
}

int shale_backup(shale_db *db, const char *backup_dir, unsigned flags, shale_backup_info *info) {
  if (info) *info = (shale_backup_info){0};
  if (!db) return SHALE_INVALID;
  db_call_begin(db);
  return db_call_end(db, backup_call(db, backup_dir, flags, info));
}

/* ---- shale_restore ---- */

/* Every file the manifest lists, read whole: its size and checksum must match. */
static int verify_files(const char *dir, const backup_meta *m, char *errmsg) {
  char path[FILENAME_MAX_LEN];
  for (size_t i = 0; i < m->n; i++) {
    filename_join(path, dir, m->files[i].path);
    uint64_t size, hash;
    struct stat st;
    if (stat(path, &st) && errno == ENOENT)
      return err_set(errmsg, SHALE_CORRUPTION, "%s: missing from backup %" PRIu32, path, m->id);
    int rc = hash_copy(path, -1, &size, &hash, errmsg);
    if (rc) return rc;
    if (size != m->files[i].size)
      return err_set(errmsg, SHALE_CORRUPTION,
                     "%s: %" PRIu64 " bytes, backup %" PRIu32 " lists %" PRIu64, path, size, m->id,
                     m->files[i].size);
    if (hash != m->files[i].hash)
      return err_set(errmsg, SHALE_CORRUPTION,
                     "%s: checksum %016" PRIx64 ", backup %" PRIu32 " lists %016" PRIx64, path,
                     hash, m->id, m->files[i].hash);
  }
  return SHALE_OK;
}

/* The name a backup file takes in the DB directory. */
static void db_name(const backup_file *f, char *out, size_t cap) {
  const char *base = strrchr(f->path, '/') + 1;
  uint64_t number;
  if (!strncmp(f->path, "shared/", 7) && sscanf(base, "%" SCNu64 "-", &number) == 1)
    snprintf(out, cap, "%06" PRIu64 ".sst", number);
  else
    snprintf(out, cap, "%s", base);
}

static int is_shale_name(const char *name) {
  uint64_t n;
  return filename_parse(name, &n) != FT_UNKNOWN || !strcmp(name, "CURRENT.tmp");
}

/* 0: dir absent or empty; 1: it holds a Shale DB (only Shale's names); else refused (a
 * repaired DB's lost/ too: destroy might leave it, and the rename would then fail after
 * the old DB went). */
static int target_state(const char *dir, int *state, char *errmsg) {
  struct stat st;
  *state = 0;
  if (stat(dir, &st)) return errno == ENOENT ? SHALE_OK : err_errno(errmsg, errno, "stat", dir);
  if (!S_ISDIR(st.st_mode))
    return err_set(errmsg, SHALE_EXISTS, "restore: %s exists and is not a directory", dir);
  size_t n;
  char **names = list_dir(dir, &n);
  if (!names) return err_errno(errmsg, errno, "list", dir);
  int shale = 1;
  for (size_t i = 0; i < n; i++) shale &= is_shale_name(names[i]);
  free_names(names, n);
  if (n && !shale)
    return err_set(errmsg, SHALE_EXISTS,
                   "restore: %s holds files that are not Shale's; nothing was written", dir);
  *state = n ? 1 : 0;
  return SHALE_OK;
}

static int copy_out(const char *dir, const backup_meta *m, const char *tmp, char *errmsg) {
  char src[FILENAME_MAX_LEN], dst[FILENAME_MAX_LEN], name[256];
  for (size_t i = 0; i < m->n; i++) {
    filename_join(src, dir, m->files[i].path);
    db_name(&m->files[i], name, sizeof name);
    filename_join(dst, tmp, name);
    int rc = copy_checked(src, dst, src, m->files[i].size, m->files[i].hash, errmsg);
    if (rc) return rc;
  }
  return io_sync_dir(io_ctx_default(), tmp, errmsg);
}

/* Moves the verified copy in tmp to db_dir, destroying the DB there first when allowed. */
static int put_in_place(const char *tmp, const char *db_dir, int has_db, char *errmsg) {
  if (has_db) {
    int rc = shale_destroy(db_dir, NULL);
    if (rc)
      return err_set(errmsg, rc, "restore: removing the DB in %s failed: %s", db_dir,
                     shale_errmsg(NULL));
  }
  rmdir(db_dir); /* an empty directory left, or none: rename takes its place */
  if (rename(tmp, db_dir)) return err_errno(errmsg, errno, "rename to", db_dir);
  return io_sync_parent(io_ctx_default(), db_dir, errmsg);
}

static int latest_id(const char *dir, uint32_t *id, char *errmsg) {
  uint32_t *ids;
  size_t n;
  int rc = list_ids(dir, &ids, &n, errmsg);
  if (rc) return rc;
  *id = n ? ids[n - 1] : 0;
  free(ids);
  return n ? SHALE_OK : err_set(errmsg, SHALE_NOTFOUND, "%s holds no backup", dir);
}

static int restore_locked(const char *dir, uint32_t id, const char *db_dir, unsigned flags,
                          char *errmsg) {
  int has_db;
  int rc = target_state(db_dir, &has_db, errmsg);
  if (!rc && has_db && !(flags & SHALE_RESTORE_OVERWRITE))
    rc =
        err_set(errmsg, SHALE_EXISTS,
                "restore: %s holds a Shale DB; pass SHALE_RESTORE_OVERWRITE to replace it", db_dir);
  if (!rc && !id) rc = latest_id(dir, &id, errmsg);
  backup_meta m = {0};
  if (!rc) rc = read_meta(dir, id, &m, errmsg);
  if (!rc) rc = verify_files(dir, &m, errmsg);
  char tmp[FILENAME_MAX_LEN + 16];
  snprintf(tmp, sizeof tmp, "%s.restore.tmp", db_dir);
  if (!rc) {
    remove_tree(tmp, 0); /* one an interrupted restore left */
    if (mkdir(tmp, 0755)) rc = err_errno(errmsg, errno, "mkdir", tmp);
    if (!rc) rc = copy_out(dir, &m, tmp, errmsg);
    if (!rc) rc = put_in_place(tmp, db_dir, has_db, errmsg);
    if (rc) remove_tree(tmp, 0);
  }
  meta_free(&m);
  return rc;
}

int shale_restore(const char *backup_dir, uint32_t id, const char *db_dir, unsigned flags) {
  char *errmsg = db_handleless_errmsg();
  errmsg[0] = 0;
  if (!backup_dir || !*backup_dir || !db_dir || !*db_dir)
    return err_set(errmsg, SHALE_INVALID, "restore: paths must not be NULL or empty");
  if (flags & ~SHALE_RESTORE_OVERWRITE) return err_set(errmsg, SHALE_INVALID, "restore: bad flags");
  if (strlen(backup_dir) > FILENAME_MAX_LEN - 128 || strlen(db_dir) > FILENAME_MAX_LEN - 128)
    return err_set(errmsg, SHALE_INVALID, "path too long");
  struct stat st;
  if (stat(backup_dir, &st))
    return err_set(errmsg, SHALE_NOTFOUND, "restore: %s does not exist", backup_dir);
  int fd;
  int rc = lock_backup_dir(backup_dir, 0, &fd, errmsg);
  if (!rc) rc = restore_locked(backup_dir, id, db_dir, flags, errmsg);
  unlock_backup_dir(fd);
  return rc;
}

/* ---- shale_backup_list, shale_backup_purge ---- */

int shale_backup_list(const char *backup_dir, shale_backup_info **infos, size_t *n) {
  char *errmsg = db_handleless_errmsg();
  errmsg[0] = 0;
  if (infos) *infos = NULL;
  if (n) *n = 0;
  if (!backup_dir || !infos || !n)
    return err_set(errmsg, SHALE_INVALID, "backup_list: NULL argument");
  struct stat st;
  if (stat(backup_dir, &st))
    return err_set(errmsg, SHALE_NOTFOUND, "backup_list: %s does not exist", backup_dir);
  int fd;
  uint32_t *ids = NULL;
  size_t count = 0;
  int rc = lock_backup_dir(backup_dir, 0, &fd, errmsg);
  if (!rc) rc = list_ids(backup_dir, &ids, &count, errmsg);
  shale_backup_info *out = rc ? NULL : calloc(count ? count : 1, sizeof *out);
  if (!rc && !out) rc = err_set(errmsg, SHALE_NOMEM, "backup_list: out of memory");
  for (size_t i = 0; !rc && i < count; i++) {
    backup_meta m;
    if (!(rc = read_meta(backup_dir, ids[i], &m, errmsg))) fill_info(&m, &out[i]);
    meta_free(&m);
  }
  unlock_backup_dir(fd);
  free(ids);
  if (rc) {
    free(out);
    return rc;
  }
  if (!count) free(out);
  *infos = count ? out : NULL;
  *n = count;
  return SHALE_OK;
}

static int listed(const backup_meta *kept, size_t nkept, const char *rel) {
  for (size_t i = 0; i < nkept; i++)
    for (size_t j = 0; j < kept[i].n; j++)
      if (!strcmp(kept[i].files[j].path, rel)) return 1;
  return 0;
}

static void remove_unlisted_shared(const char *dir, const backup_meta *kept, size_t nkept) {
  char path[FILENAME_MAX_LEN], rel[FILENAME_MAX_LEN];
  filename_join(path, dir, "shared");
  size_t n;
  char **names = list_dir(path, &n);
  for (size_t i = 0; names && i < n; i++) {
    snprintf(rel, sizeof rel, "shared/%s", names[i]);
    if (listed(kept, nkept, rel)) continue;
    filename_join(rel, path, names[i]);
    unlink(rel);
  }
  free_names(names, n);
  io_sync_dir(io_ctx_default(), path, NULL);
}

/* The kept manifests are all read before anything goes: one that cannot be read might
 * list any shared table. */
static int purge_locked(const char *dir, size_t keep, char *errmsg) {
  uint32_t *ids;
  size_t n;
  int rc = list_ids(dir, &ids, &n, errmsg);
  if (rc) return rc;
  size_t drop = n > keep ? n - keep : 0;
  backup_meta *kept = calloc(n - drop + 1, sizeof *kept);
  if (!kept) rc = err_set(errmsg, SHALE_NOMEM, "purge: out of memory");
  for (size_t i = drop; !rc && i < n; i++) rc = read_meta(dir, ids[i], &kept[i - drop], errmsg);
  char path[FILENAME_MAX_LEN];
  for (size_t i = 0; !rc && i < drop; i++) {
    meta_path(path, dir, ids[i]);
    if (unlink(path)) rc = err_errno(errmsg, errno, "unlink", path);
  }
  if (!rc) {
    filename_join(path, dir, "meta");
    io_sync_dir(io_ctx_default(), path, NULL);
    remove_leftovers(dir, ids + drop, n - drop);
    remove_unlisted_shared(dir, kept, n - drop);
  }
  for (size_t i = 0; kept && i < n - drop; i++) meta_free(&kept[i]);
  free(kept);
  free(ids);
  return rc;
}

int shale_backup_purge(const char *backup_dir, size_t keep) {
  char *errmsg = db_handleless_errmsg();
  errmsg[0] = 0;
  if (!backup_dir || !*backup_dir)
    return err_set(errmsg, SHALE_INVALID, "purge: backup_dir must not be NULL or empty");
  struct stat st;
  if (stat(backup_dir, &st))
    return err_set(errmsg, SHALE_NOTFOUND, "purge: %s does not exist", backup_dir);
  int fd;
  int rc = lock_backup_dir(backup_dir, 1, &fd, errmsg);
  if (!rc) rc = purge_locked(backup_dir, keep, errmsg);
  unlock_backup_dir(fd);
  return rc;
}
