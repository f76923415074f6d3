/* shale_ldb.h — shared pieces of shale-ldb, the inspection and repair tool (RocksDB's ldb and
 * sst_dump for Shale). Read-only commands read the files directly (CURRENT -> MANIFEST,
 * tables, WALs) through the module readers, so they never write to the DB and work while
 * another process holds its LOCK; commands that change the DB go through the public API.
 * Output formats are documented in doc/shale-ldb.md. */
#ifndef SHALE_TOOLS_SHALE_LDB_H
#define SHALE_TOOLS_SHALE_LDB_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "engine/version.h"
#include "sstable/sst_reader.h"
#include "util/buf.h"

/* Command-line options shared by every command (most commands use a few). */
typedef struct ldb_opts {
  const char *db;
  int key_hex, value_hex;
  const char *from, *to; /* as given; decoded into from_key/to_key */
  buf from_key, to_key;
  long long max_keys; /* < 0: no limit */
  int include_deleted, json, print_value, show_properties, create_if_missing, verbose, sync;
  int count_only;      /* sst_dump --command=scan: only how many entries */
  const char *command; /* sst_dump --command= */
  const char *path;    /* manifest_dump --path=, sst_dump --file=, dump_wal --walfile= */
  const char *property;
  const char *dir;        /* checkpoint --dir= */
  int flush;              /* checkpoint --flush */
  uint64_t seq;           /* updates_since --seq= */
  const char *backup_dir; /* backup, restore, list_backups, purge_backups --backup_dir= */
  uint32_t backup_id;     /* restore --backup_id=; 0: the latest */
  int overwrite;          /* restore --overwrite */
  long long keep;         /* purge_backups --keep=; < 0: not given */
  int move;               /* ingest_extern_sst --move */
  int has_seq;
  size_t write_buffer_size; /* engine options; 0: default */
  int no_auto_compaction;
  int npos;
  char **pos; /* positional arguments after the command name */
} ldb_opts;

/* ---- output helpers (shale_ldb_util.c) ---- */
/* Prints bytes as "0x" + uppercase hex when hex, else as text with every byte outside
 * '!'..'~', and '\\' and '"', written as \xHH (so a printed key never holds a space); the
 * empty string prints as "". */
void ldb_print_bytes(FILE *out, const void *p, size_t n, int hex);
/* The same as a JSON string literal (quotes included). */
void ldb_print_json_bytes(FILE *out, const void *p, size_t n, int hex);
/* Prints an internal key as KEY@SEQ:KIND. */
void ldb_print_ikey(FILE *out, const uint8_t *ik, size_t n, int hex);
/* The same, cut to max characters ending in "..." when longer. */
void ldb_print_ikey_max(FILE *out, const uint8_t *ik, size_t n, int hex, size_t max);
const char *ldb_kind_name(unsigned kind);
/* Decodes a key or value given on the command line: hex, "0x..." or bare hex digits; text,
 * as ldb_print_bytes prints it (\xHH is the byte HH, "" the empty string). */
int ldb_parse_bytes(const char *s, int hex, buf *out, const char *what);
/* Prints "shale-ldb: " + message to stderr. */
void ldb_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- the DB's files, read without the engine (shale_ldb_util.c) ---- */
typedef struct ldb_state {
  version *v; /* from the MANIFEST; files carry their MANIFEST metadata */
  uint64_t log_number, next_file, last_seq, manifest_number;
  int edits;
  char manifest[4096];
} ldb_state;

/* Checks that db is a directory. */
int ldb_check_dir(const char *db);
/* Checks that db is a directory and a Shale DB (engine/dir_check.h), printing why not. */
int ldb_check_shale_dir(const char *db);
/* Reads CURRENT and replays its MANIFEST (strict). Prints the error and returns non-zero on
 * failure. */
int ldb_load_state(const char *db, ldb_state *st);
void ldb_free_state(ldb_state *st);
/* Does [smallest, largest] of f (user keys) overlap [from, to) (empty buf: unbounded)? */
int ldb_file_overlaps(const file_meta *f, const buf *from, const buf *to);
/* The user-key part of an internal key held in b. */
static inline size_t ldb_ukey_len(const buf *b) { return b->len >= 8 ? b->len - 8 : 0; }

/* A range tombstone gathered from a table or a WAL. */
typedef struct ldb_rdel {
  uint8_t *begin, *end;
  size_t blen, elen;
  uint64_t seq;
  char src[32];
} ldb_rdel;

/* A merged, internal-key-ordered view of the live tables and the WALs not yet in tables:
 * the tool's stand-in for the engine's read path. */
typedef struct ldb_merge ldb_merge;
int ldb_merge_open(const char *db, const ldb_state *st, ldb_merge **m);
void ldb_merge_close(ldb_merge *m);
/* Positions at the first entry >= ukey (NULL: the first). */
void ldb_merge_seek(ldb_merge *m, const void *ukey, size_t n);
int ldb_merge_valid(ldb_merge *m);
void ldb_merge_next(ldb_merge *m);
/* Current entry: internal key, value, and the name of the file it came from. */
const uint8_t *ldb_merge_key(ldb_merge *m, size_t *n);
const void *ldb_merge_value(ldb_merge *m, size_t *n);
const char *ldb_merge_source(ldb_merge *m);
/* An error met while reading (message already printed), or 0. */
int ldb_merge_status(ldb_merge *m);
size_t ldb_merge_range_dels(ldb_merge *m, const ldb_rdel **out);
/* Is user key k at seq covered by a range tombstone with a higher sequence? */
int ldb_merge_covered(ldb_merge *m, const void *k, size_t n, uint64_t seq);

/* Deletes still in a WAL (in the engine's memtables, in no table yet). */
typedef struct ldb_wal_dels {
  uint64_t point, range;
} ldb_wal_dels;
/* Counts the deletes of WAL `number` of db, tolerantly; non-zero when it could not all be
 * read (a warning is printed). */
int ldb_wal_deletes(const char *db, uint64_t number, ldb_wal_dels *d);

/* ---- the engine, for commands that go through it (shale_ldb_main.c) ---- */
struct shale_db;
/* How a command opens the DB: reads never change a file, writes may create the DB. */
enum { LDB_OPEN_READ, LDB_OPEN_WRITE, LDB_OPEN_CREATE };
/* shale_open with the tool's options; prints why it failed ("PATH is locked: ..." when another
 * process holds the DB) and returns the SHALE_* code. */
int ldb_open_db(ldb_opts *o, int mode, struct shale_db **db);
/* shale_close; returns status, or 1 when the close fails where status was 0. */
int ldb_close_db(struct shale_db *db, int status);
/* 0 for SHALE_OK; otherwise prints "WHAT failed: CODE: detail" and returns 1. */
int ldb_report(struct shale_db *db, const char *what, int rc);

/* ---- commands: each returns the process exit code ---- */
int ldb_cmd_dump(ldb_opts *o);
int ldb_cmd_idump(ldb_opts *o);
int ldb_cmd_approxsize(ldb_opts *o);
int ldb_cmd_lsm(ldb_opts *o);
int ldb_cmd_manifest_dump(ldb_opts *o);
int ldb_cmd_dump_wal(ldb_opts *o);
int ldb_cmd_sst_dump(ldb_opts *o);
int ldb_cmd_checkconsistency(ldb_opts *o);
int ldb_cmd_tombstones(ldb_opts *o);
int ldb_cmd_repair(ldb_opts *o);
/* shale_ldb_files.c */
int ldb_cmd_list_live_files_metadata(ldb_opts *o);
int ldb_cmd_dump_live_files(ldb_opts *o);
int ldb_cmd_list_file_range_deletes(ldb_opts *o);
int ldb_cmd_file_checksum_dump(ldb_opts *o);
/* shale_ldb_sst.c: sst_dump-style commands on FILE..., a directory's tables, or --db's */
int ldb_cmd_identify(ldb_opts *o);
int ldb_cmd_recompress(ldb_opts *o);
/* sst_dump of one table, as o->command says. */
int ldb_sst_dump_file(ldb_opts *o, const char *path);
/* dump_wal of one WAL (shale_ldb_inspect.c). */
int ldb_dump_wal_file(ldb_opts *o, const char *path);
/* shale_ldb_query.c: through the engine */
int ldb_cmd_query(ldb_opts *o);
int ldb_cmd_load(ldb_opts *o);
int ldb_cmd_write_extern_sst(ldb_opts *o); /* shale_ldb_ingest.c */
/* get/scan straight from the files, for a DB another process holds. */
int ldb_direct_get(ldb_opts *o, const buf *key);
int ldb_direct_scan(ldb_opts *o);

#endif /* SHALE_TOOLS_SHALE_LDB_H */
