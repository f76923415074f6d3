/* shale_ldb_main.c — shale-ldb's command line and the commands that go through the engine
 * (put, get, delete, deleterange, scan, flush, compact, stats, checkpoint, backup, restore,
 * list_backups, purge_backups, updates_since). Usage,
 * in RocksDB ldb style: shale-ldb --db=PATH [--hex|--key_hex|--value_hex] COMMAND [ARGS]
 * [--options] Output formats: doc/shale-ldb.md. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shale.h"
#include "shale_ldb.h"
#include "util/ikey.h"

typedef struct ldb_command {
  const char *name;
  const char *args;
  const char *help;
  int (*fn)(ldb_opts *o);
} ldb_command;

static int cmd_get(ldb_opts *o);
static int cmd_put(ldb_opts *o);
static int cmd_batchput(ldb_opts *o);
static int cmd_delete(ldb_opts *o);
static int cmd_deleterange(ldb_opts *o);
static int cmd_scan(ldb_opts *o);
static int cmd_flush(ldb_opts *o);
static int cmd_compact(ldb_opts *o);
static int cmd_stats(ldb_opts *o);
static int cmd_checkpoint(ldb_opts *o);
static int cmd_updates_since(ldb_opts *o);
static int cmd_get_property(ldb_opts *o);
static int cmd_backup(ldb_opts *o);
static int cmd_restore(ldb_opts *o);
static int cmd_list_backups(ldb_opts *o);
static int cmd_purge_backups(ldb_opts *o);
static int cmd_ingest_extern_sst(ldb_opts *o);

static const ldb_command commands[] = {
    {"get", "<key>", "print the value of key (engine, read-only; direct file read if busy)",
     cmd_get},
    {"put", "<key> <value> [--create_if_missing] [--sync]", "store a value (engine)", cmd_put},
    {"batchput", "<key> <value> [<key> <value>]... [--create_if_missing] [--sync]",
     "store several values in one atomic batch (engine)", cmd_batchput},
    {"delete", "<key> [--sync]", "delete a key (engine)", cmd_delete},
    {"deleterange", "<begin> <end> [--sync]", "delete the keys in [begin, end) (engine)",
     cmd_deleterange},
    {"scan", "[--from=K] [--to=K] [--max_keys=N]",
     "print 'KEY ==> VALUE' for live keys in [from, to) (engine, read-only; direct if busy)",
     cmd_scan},
    {"dump", "[--from] [--to] [--max_keys=N] [--include_deleted]",
     "newest version of each key, from the files: KEY SEQ KIND STATE VALUE", ldb_cmd_dump},
    {"idump", "[--from] [--to] [--max_keys=N]",
     "every internal entry of every table and WAL: SOURCE KEY SEQ KIND VALUE", ldb_cmd_idump},
    {"approxsize", "[--from] [--to]", "bytes of the tables overlapping [from, to)",
     ldb_cmd_approxsize},
    {"compact", "[--from] [--to]", "compact [from, to) to the last level (engine)", cmd_compact},
    {"flush", "", "flush the memtable to a table (engine)", cmd_flush},
    {"stats", "[--property=NAME]", "print shale.stats, or one property (engine, read-only)",
     cmd_stats},
    {"checkpoint", "--dir=DIR [--flush]",
     "an openable copy of the DB in new DIR, tables hard-linked (engine, read-only unless --flush)",
     cmd_checkpoint},
    {"backup", "--backup_dir=DIR [--flush]",
     "add an incremental backup of the DB to DIR (engine, read-only unless --flush)", cmd_backup},
    {"restore", "--backup_dir=DIR [--backup_id=N] [--overwrite]",
     "restore backup N (default: the latest) of DIR into --db, every file verified first",
     cmd_restore},
    {"list_backups", "--backup_dir=DIR", "the backups of DIR: id, sequence, time, size, files",
     cmd_list_backups},
    {"purge_backups", "--backup_dir=DIR --keep=N",
     "delete all but the newest N backups of DIR and the tables only they used", cmd_purge_backups},
    {"updates_since", "--seq=N [--print_value]",
     "every WAL batch with sequences from N on: the WAL tail a follower applies (engine, "
     "read-only)",
     cmd_updates_since},
    {"write_extern_sst", "OUTPUT [INPUT]",
     "an external table from 'KEY VALUE' lines, scan's or dump's output (stdin without INPUT)",
     ldb_cmd_write_extern_sst},
    {"ingest_extern_sst", "FILE... [--move]",
     "add external tables to the DB in one step (engine; --move: link and remove them)",
     cmd_ingest_extern_sst},
    {"lsm", "", "levels, files, key ranges, sizes, tombstones, as text bars", ldb_cmd_lsm},
    {"manifest_dump", "[--path=MANIFEST] [--json] [--verbose]", "every version edit",
     ldb_cmd_manifest_dump},
    {"dump_wal", "[--walfile=FILE | FILE] [--print_value]",
     "every WAL record: batches and their entries (all WALs of --db without a file)",
     ldb_cmd_dump_wal},
    {"sst_dump",
     "FILE|DIR [--command=check|scan|raw|verify] [--show_properties] [--output_hex]\n"
     "                     [--read_num=N] [--count_only]",
     "inspect SSTables (--from/--to/--max_keys=--read_num for scan; --count_only: how many)",
     ldb_cmd_sst_dump},
    {"checkconsistency", "",
     "live files exist with their MANIFEST sizes, every block verifies (orphans: a note)",
     ldb_cmd_checkconsistency},
    {"tombstones", "", "per file: tombstones, their age, what pins them, bytes they would free",
     ldb_cmd_tombstones},
    {"repair", "", "rebuild the MANIFEST from the tables present (see doc/shale-ldb.md)",
     ldb_cmd_repair},
    {"get_property", "<name>", "print one property, e.g. shale.sstables (engine, read-only)",
     cmd_get_property},
    {"list_live_files_metadata", "",
     "one line per live table: level, size, counts, sequences, key range (MANIFEST)",
     ldb_cmd_list_live_files_metadata},
    {"dump_live_files", "[--print_value]",
     "every live file's contents: each table as sst_dump scan, each live WAL, the MANIFEST",
     ldb_cmd_dump_live_files},
    {"list_file_range_deletes", "[--from] [--to] [--max_keys=N]",
     "the range tombstones of every live table: LEVEL FILE BEGIN SEQ RANGE_DEL END",
     ldb_cmd_list_file_range_deletes},
    {"file_checksum_dump", "", "per live table: its size and the XXH3-64 of the whole file",
     ldb_cmd_file_checksum_dump},
    {"query", "[--create_if_missing] [--sync]",
     "read get/put/delete/scan lines from stdin, answer each on stdout (engine)", ldb_cmd_query},
    {"load", "[FILE|-] [--create_if_missing] [--sync]",
     "put the live entries of dump's output (stdin without FILE) into the DB (engine)",
     ldb_cmd_load},
    {"identify", "FILE|DIR...", "is each file a Shale table, of which format version",
     ldb_cmd_identify},
    {"recompress", "FILE|DIR...",
     "data bytes and file size with no compression and zstd levels 1 3 9 19 (file unchanged)",
     ldb_cmd_recompress},
};
#define NCOMMANDS (sizeof commands / sizeof commands[0])

static void usage(FILE *out) {
  fprintf(out,
          "shale-ldb - Shale inspection and repair tool (shale %s)\n\n"
          "usage: shale-ldb --db=PATH [options] COMMAND [ARGS] [options]\n\n"
          "Keys and values are given and printed as text, or as hex (0x...) with:\n"
          "  --key_hex     keys in hex\n"
          "  --value_hex   values in hex\n"
          "  --hex         both\n"
          "Text output escapes bytes outside '!'..'~', '\\' and '\"' as \\xHH; \"\" is empty.\n"
          "Text input reads them the same way, so a printed key can be given back.\n\n"
          "Common options: --from=KEY --to=KEY (range [from, to)), --max_keys=N\n"
          "Engine options (commands that open the DB): --write_buffer_size=N,\n"
          "  --auto_compaction=false (writing commands: no L0 compaction triggers while the\n"
          "  tool has the DB open)\n\n"
          "Commands:\n",
          shale_version());
  for (size_t i = 0; i < NCOMMANDS; i++)
    fprintf(out, "  %-16s %s\n  %-16s   %s\n", commands[i].name, commands[i].args, "",
            commands[i].help);
  fprintf(out,
          "\nRead-only commands change no file of the DB, not even by a flush or compaction,\n"
          "and work in a read-only directory. get, scan, stats, get_property and\n"
          "updates_since open it read-only (no lock, WALs replayed in memory, no background\n"
          "work), beside a process that has the DB open or not; should a writer keep\n"
          "removing the files such an open reads (\"PATH is busy\"), get and scan read the\n"
          "files directly instead, and the others refuse. dump, idump,\n"
          "approxsize, lsm, manifest_dump, dump_wal, sst_dump, checkconsistency, tombstones,\n"
          "list_live_files_metadata, dump_live_files, list_file_range_deletes,\n"
          "file_checksum_dump, identify and recompress always read the files directly, and\n"
          "work whoever holds the DB. Only put, batchput, delete, deleterange, flush,\n"
          "compact, query, load, ingest_extern_sst and repair write (and refuse a DB another\n"
          "process holds for writing); write_extern_sst writes only its OUTPUT;\n"
          "checkpoint writes only its --dir (and flushes the DB with --flush), backup only\n"
          "its --backup_dir (the same); restore writes --db, which must not hold a DB unless\n"
          "--overwrite.\n"
          "'COMMAND --help' for one command.\n"
          "Exit status: 0 success, 1 error or problems found, 2 bad command line.\n");
}

/* Flags without a value; the rest take =VALUE. */
static int parse_flag(ldb_opts *o, const char *a) {
  const char *eq = strchr(a, '=');
  size_t n = eq ? (size_t)(eq - a) : strlen(a);
  const char *v = eq ? eq + 1 : NULL;
#define IS(s) (n == strlen(s) && !strncmp(a, s, n))
#define BOOLF(s, field)                                                         \
  if (IS(s)) {                                                                  \
    o->field = !v || !strcmp(v, "true") || !strcmp(v, "1");                     \
    if (v && !o->field && strcmp(v, "false") && strcmp(v, "0")) goto bad_value; \
    return 0;                                                                   \
  }
#define STRF(s, field) \
  if (IS(s)) {         \
    if (!v) goto need; \
    o->field = v;      \
    return 0;          \
  }
  if (IS("hex")) {
    o->key_hex = o->value_hex = 1;
    return 0;
  }
  BOOLF("key_hex", key_hex)
  BOOLF("value_hex", value_hex)
  BOOLF("include_deleted", include_deleted)
  BOOLF("json", json)
  BOOLF("print_value", print_value)
  BOOLF("show_properties", show_properties)
  BOOLF("create_if_missing", create_if_missing)
  BOOLF("verbose", verbose)
  BOOLF("sync", sync)
  BOOLF("flush", flush)
  BOOLF("count_only", count_only)
  if (IS("output_hex")) {
    o->key_hex = o->value_hex = 1;
    return 0;
  }
  BOOLF("move", move)
  STRF("dir", dir)
  STRF("backup_dir", backup_dir)
  BOOLF("overwrite", overwrite)
  if (IS("backup_id") || IS("keep")) {
    char *end;
    if (!v) goto need;
    long long x = strtoll(v, &end, 10);
    if (!*v || *end || x < 0 || x > (long long)UINT32_MAX) goto bad_value;
    if (IS("keep"))
      o->keep = x;
    else
      o->backup_id = (uint32_t)x;
    return 0;
  }
  STRF("db", db)
  STRF("from", from)
  STRF("to", to)
  STRF("command", command)
  STRF("path", path)
  STRF("walfile", path)
  STRF("file", path)
  STRF("property", property)
  if (IS("auto_compaction")) {
    if (v && strcmp(v, "true") && strcmp(v, "false")) goto bad_value;
    o->no_auto_compaction = v && !strcmp(v, "false");
    return 0;
  }
  if (IS("write_buffer_size")) {
    char *end;
    if (!v) goto need;
    long long bytes = strtoll(v, &end, 10);
    if (!*v || *end || bytes < 4096) goto bad_value;
    o->write_buffer_size = (size_t)bytes;
    return 0;
  }
  if (IS("seq")) {
    char *end;
    if (!v) goto need;
    o->seq = strtoull(v, &end, 10);
    if (!*v || *end || *v == '-') goto bad_value;
    o->has_seq = 1;
    return 0;
  }
  if (IS("max_keys") || IS("read_num")) {
    char *end;
    if (!v) goto need;
    o->max_keys = strtoll(v, &end, 10);
    if (!*v || *end || o->max_keys < 0) goto bad_value;
    return 0;
  }
  ldb_err("unknown option --%.*s (see --help)", (int)n, a);
  return -1;
need:
  ldb_err("--%.*s needs a value: --%.*s=VALUE", (int)n, a, (int)n, a);
  return -1;
bad_value:
  ldb_err("--%.*s: bad value '%s'", (int)n, a, v);
  return -1;
#undef IS
#undef BOOLF
#undef STRF
}

int ldb_open_db(ldb_opts *o, int mode, shale_db **db) {
  shale_options opt;
  shale_options_init(&opt);
  opt.create_if_missing = mode == LDB_OPEN_CREATE;
  opt.read_only = mode == LDB_OPEN_READ;
  if (o->write_buffer_size) opt.write_buffer_size = o->write_buffer_size;
  /* SHALE_IO=pwrite and SHALE_MMAP=0 as the library once read them: the tests run the tool
   * under both */
  const char *io = getenv("SHALE_IO"), *mm = getenv("SHALE_MMAP");
  if (io && !strcmp(io, "pwrite")) opt.io_mode = SHALE_IO_PWRITE;
  if (mm && !strcmp(mm, "0")) opt.use_mmap = 0;
  if (o->no_auto_compaction)
    opt.level0_compaction_trigger = opt.level0_slowdown_trigger = opt.level0_stop_trigger = 1 << 20;
  if (!o->db || !*o->db) {
    ldb_err("--db=PATH is required for this command");
    return SHALE_INVALID;
  }
  int rc = shale_open(o->db, &opt, db);
  if (rc == SHALE_BUSY && opt.read_only)
    ldb_err("%s is busy: %s", o->db, shale_errmsg(NULL));
  else if (rc == SHALE_BUSY)
    ldb_err("%s is locked: the DB is open in another process (%s)", o->db, shale_errmsg(NULL));
  else if (rc == SHALE_NOTFOUND && mode != LDB_OPEN_CREATE)
    ldb_err("%s: no DB there (%s); put accepts --create_if_missing", o->db, shale_errmsg(NULL));
  else if (rc)
    ldb_err("cannot open %s: %s: %s", o->db, shale_strerror(rc), shale_errmsg(NULL));
  return rc;
}

int ldb_close_db(shale_db *db, int status) {
  int rc = shale_close(db);
  if (rc && !status) {
    ldb_err("close: %s", shale_strerror(rc));
    return 1;
  }
  return status;
}

static int need_args(ldb_opts *o, int n, const char *usage_line) {
  if (o->npos == n) return 0;
  ldb_err("expected %d argument(s): %s", n, usage_line);
  return -1;
}

int ldb_report(shale_db *db, const char *what, int rc) {
  if (!rc) return 0;
  const char *detail = shale_errmsg(db);
  ldb_err("%s failed: %s: %s", what, shale_strerror(rc),
          *detail ? detail : "no detail recorded; 'checkconsistency' finds a damaged file");
  return 1;
}

static int cmd_ingest_extern_sst(ldb_opts *o) {
  if (o->npos < 1) {
    ldb_err("expected ingest_extern_sst FILE... [--move]");
    return 2;
  }
  shale_db *db;
  if (ldb_open_db(o, LDB_OPEN_WRITE, &db)) return 1;
  int status = ldb_report(db, "ingest",
                          shale_ingest(db, (const char *const *)o->pos, (size_t)o->npos,
                                       o->move ? SHALE_INGEST_MOVE : 0));
  if (!status) {
    char *seq = NULL;
    shale_property(db, "shale.sequence", &seq);
    printf("OK ingested %d file(s) at sequence %s\n", o->npos, seq ? seq : "?");
    shale_free(seq);
  }
  return ldb_close_db(db, status);
}

static int cmd_get(ldb_opts *o) {
  buf k;
  buf_init(&k);
  int status = 2;
  if (need_args(o, 1, "get <key>") || ldb_parse_bytes(o->pos[0], o->key_hex, &k, "key")) goto done;
  shale_db *db;
  int rc = ldb_open_db(o, LDB_OPEN_READ, &db);
  if (rc == SHALE_BUSY) {
    ldb_err("reading the files directly instead (a snapshot of what is on disk)");
    status = ldb_direct_get(o, &k);
    goto done;
  }
  status = 1;
  if (rc) goto done;
  void *val;
  size_t vlen;
  rc = shale_get(db, NULL, k.data, k.len, &val, &vlen);
  if (rc == SHALE_NOTFOUND) {
    ldb_err("key not found");
  } else if (!ldb_report(db, "get", rc)) {
    ldb_print_bytes(stdout, val, vlen, o->value_hex);
    putchar('\n');
    shale_free(val);
    status = 0;
  }
  status = ldb_close_db(db, status);
done:
  buf_free(&k);
  return status;
}

static int cmd_put(ldb_opts *o) {
  buf k, v;
  buf_init(&k);
  buf_init(&v);
  int status = 2;
  if (need_args(o, 2, "put <key> <value>") || ldb_parse_bytes(o->pos[0], o->key_hex, &k, "key") ||
      ldb_parse_bytes(o->pos[1], o->value_hex, &v, "value"))
    goto done;
  shale_db *db;
  status = 1;
  if (ldb_open_db(o, o->create_if_missing ? LDB_OPEN_CREATE : LDB_OPEN_WRITE, &db)) goto done;
  status = ldb_report(
      db, "put",
      shale_put(db, k.data, k.len, v.data ? v.data : (void *)"", v.len, o->sync ? SHALE_SYNC : 0));
  if (!status) puts("OK");
  status = ldb_close_db(db, status);
done:
  buf_free(&k);
  buf_free(&v);
  return status;
}

static int cmd_batchput(ldb_opts *o) {
  if (o->npos < 2 || o->npos % 2) {
    ldb_err("batchput needs key/value pairs: batchput <key> <value> [<key> <value>]...");
    return 2;
  }
  shale_batch *b;
  buf k, v;
  buf_init(&k);
  buf_init(&v);
  int status = 2;
  if (shale_batch_new(&b)) return 1;
  for (int i = 0; i < o->npos; i += 2) {
    if (ldb_parse_bytes(o->pos[i], o->key_hex, &k, "key") ||
        ldb_parse_bytes(o->pos[i + 1], o->value_hex, &v, "value"))
      goto done;
    if (shale_batch_put(b, k.data, k.len, v.data ? v.data : (void *)"", v.len)) {
      ldb_err("batchput: bad key or value at argument %d", i + 1);
      goto done;
    }
  }
  shale_db *db;
  status = 1;
  if (ldb_open_db(o, o->create_if_missing ? LDB_OPEN_CREATE : LDB_OPEN_WRITE, &db)) goto done;
  status = ldb_report(db, "batchput", shale_write(db, b, o->sync ? SHALE_SYNC : 0));
  if (!status) puts("OK");
  status = ldb_close_db(db, status);
done:
  shale_batch_free(b);
  buf_free(&k);
  buf_free(&v);
  return status;
}

static int cmd_delete(ldb_opts *o) {
  buf k;
  buf_init(&k);
  int status = 2;
  if (need_args(o, 1, "delete <key>") || ldb_parse_bytes(o->pos[0], o->key_hex, &k, "key"))
    goto done;
  shale_db *db;
  status = 1;
  if (ldb_open_db(o, LDB_OPEN_WRITE, &db)) goto done;
  status = ldb_report(db, "delete", shale_delete(db, k.data, k.len, o->sync ? SHALE_SYNC : 0));
  if (!status) puts("OK");
  status = ldb_close_db(db, status);
done:
  buf_free(&k);
  return status;
}

static int cmd_deleterange(ldb_opts *o) {
  buf b, e;
  buf_init(&b);
  buf_init(&e);
  int status = 2;
  if (need_args(o, 2, "deleterange <begin> <end>") ||
      ldb_parse_bytes(o->pos[0], o->key_hex, &b, "begin key") ||
      ldb_parse_bytes(o->pos[1], o->key_hex, &e, "end key"))
    goto done;
  shale_db *db;
  status = 1;
  if (ldb_open_db(o, LDB_OPEN_WRITE, &db)) goto done;
  status =
      ldb_report(db, "deleterange",
                 shale_delete_range(db, b.data, b.len, e.data, e.len, o->sync ? SHALE_SYNC : 0));
  if (!status) puts("OK");
  status = ldb_close_db(db, status);
done:
  buf_free(&b);
  buf_free(&e);
  return status;
}

static int cmd_scan(ldb_opts *o) {
  if (need_args(o, 0, "scan [--from=K] [--to=K] [--max_keys=N]")) return 2;
  shale_db *db;
  int rc = ldb_open_db(o, LDB_OPEN_READ, &db);
  if (rc == SHALE_BUSY) {
    ldb_err("reading the files directly instead (a snapshot of what is on disk)");
    return ldb_direct_scan(o);
  }
  if (rc) return 1;
  shale_iter *it;
  if (ldb_report(db, "iterator", shale_iter_new(db, NULL, &it))) return ldb_close_db(db, 1);
  if (o->from)
    shale_iter_seek(it, o->from_key.data, o->from_key.len);
  else
    shale_iter_seek_first(it);
  long long n = 0;
  for (; shale_iter_valid(it) && (o->max_keys < 0 || n < o->max_keys); shale_iter_next(it), n++) {
    size_t kl, vl;
    const void *k = shale_iter_key(it, &kl), *v = shale_iter_value(it, &vl);
    if (o->to && ukey_compare(k, kl, o->to_key.data, o->to_key.len) >= 0) break;
    ldb_print_bytes(stdout, k, kl, o->key_hex);
    fputs(" ==> ", stdout);
    ldb_print_bytes(stdout, v, vl, o->value_hex);
    putchar('\n');
  }
  int status = ldb_report(db, "scan", shale_iter_status(it));
  shale_iter_free(it);
  return ldb_close_db(db, status);
}

static int cmd_flush(ldb_opts *o) {
  shale_db *db;
  if (need_args(o, 0, "flush")) return 2;
  if (ldb_open_db(o, LDB_OPEN_WRITE, &db)) return 1;
  int status = ldb_report(db, "flush", shale_flush(db));
  if (!status) puts("OK");
  return ldb_close_db(db, status);
}

static int cmd_compact(ldb_opts *o) {
  shale_db *db;
  if (need_args(o, 0, "compact [--from] [--to]")) return 2;
  if (ldb_open_db(o, LDB_OPEN_WRITE, &db)) return 1;
  int rc = shale_compact_range(db, o->from ? o->from_key.data : NULL, o->from_key.len,
                               o->to ? o->to_key.data : NULL, o->to_key.len);
  int status = 0;
  if (rc == SHALE_NOTSUP) {
    ldb_err("compact: not supported by this engine build (%s)%s%s", shale_strerror(rc),
            *shale_errmsg(db) ? ": " : "", shale_errmsg(db));
    status = 1;
  } else {
    status = ldb_report(db, "compact", rc);
  }
  if (!status) puts("OK");
  return ldb_close_db(db, status);
}

static int cmd_stats(ldb_opts *o) {
  shale_db *db;
  if (need_args(o, 0, "stats [--property=NAME]")) return 2;
  if (ldb_open_db(o, LDB_OPEN_READ, &db)) return 1;
  char *v = NULL;
  const char *name = o->property ? o->property : "shale.stats";
  int rc = shale_property(db, name, &v);
  int status = 0;
  if (rc == SHALE_NOTFOUND) {
    ldb_err("unknown property '%s'", name);
    status = 1;
  } else if (!(status = ldb_report(db, "stats", rc))) {
    fputs(v, stdout);
    if (!*v || v[strlen(v) - 1] != '\n') putchar('\n');
  }
  shale_free(v);
  return ldb_close_db(db, status);
}

static int cmd_get_property(ldb_opts *o) {
  if (need_args(o, 1, "get_property <name>")) return 2;
  o->property = o->pos[0];
  o->npos = 0;
  return cmd_stats(o);
}

/* Read-only unless --flush: the copy is made from what the open replayed, and the DB's
 * own files stay byte-identical. */
static int cmd_checkpoint(ldb_opts *o) {
  if (need_args(o, 0, "checkpoint --dir=DIR [--flush]")) return 2;
  if (!o->dir || !*o->dir) {
    ldb_err("checkpoint needs --dir=DIR: the new directory to create");
    return 2;
  }
  shale_db *db;
  if (ldb_open_db(o, o->flush ? LDB_OPEN_WRITE : LDB_OPEN_READ, &db)) return 1;
  uint64_t seq;
  int status =
      ldb_report(db, "checkpoint",
                 shale_checkpoint(db, o->dir, o->flush ? SHALE_CHECKPOINT_FLUSH : 0, &seq, NULL));
  if (!status) printf("OK checkpoint %s at sequence %llu\n", o->dir, (unsigned long long)seq);
  return ldb_close_db(db, status);
}

static int need_backup_dir(const ldb_opts *o, const char *usage_line) {
  if (o->backup_dir && *o->backup_dir) return 0;
  ldb_err("%s: --backup_dir=DIR is required", usage_line);
  return -1;
}

/* Read-only unless --flush, as checkpoint, on which it is built. */
static int cmd_backup(ldb_opts *o) {
  const char *use = "backup --backup_dir=DIR [--flush]";
  if (need_args(o, 0, use) || need_backup_dir(o, use)) return 2;
  shale_db *db;
  if (ldb_open_db(o, o->flush ? LDB_OPEN_WRITE : LDB_OPEN_READ, &db)) return 1;
  shale_backup_info b;
  int status = ldb_report(db, "backup",
                          shale_backup(db, o->backup_dir, o->flush ? SHALE_BACKUP_FLUSH : 0, &b));
  if (!status)
    printf("OK backup %u at sequence %llu: %u files, %llu bytes; %u copied, %llu bytes\n", b.id,
           (unsigned long long)b.sequence, b.files, (unsigned long long)b.size, b.files_copied,
           (unsigned long long)b.bytes_copied);
  return ldb_close_db(db, status);
}

static int report_handleless(const char *what, int rc) {
  if (!rc) return 0;
  ldb_err("%s failed: %s: %s", what, shale_strerror(rc), shale_errmsg(NULL));
  return 1;
}

static int cmd_restore(ldb_opts *o) {
  const char *use = "restore --backup_dir=DIR [--backup_id=N] [--overwrite]";
  if (need_args(o, 0, use) || need_backup_dir(o, use)) return 2;
  if (!o->db || !*o->db) {
    ldb_err("--db=PATH is required: the directory to restore into");
    return 2;
  }
  int rc =
      shale_restore(o->backup_dir, o->backup_id, o->db, o->overwrite ? SHALE_RESTORE_OVERWRITE : 0);
  if (report_handleless("restore", rc)) return 1;
  if (o->backup_id)
    printf("OK restore of backup %u of %s to %s\n", o->backup_id, o->backup_dir, o->db);
  else
    printf("OK restore of the latest backup of %s to %s\n", o->backup_dir, o->db);
  return 0;
}

static int cmd_list_backups(ldb_opts *o) {
  const char *use = "list_backups --backup_dir=DIR";
  if (need_args(o, 0, use) || need_backup_dir(o, use)) return 2;
  shale_backup_info *list;
  size_t n;
  if (report_handleless("list_backups", shale_backup_list(o->backup_dir, &list, &n))) return 1;
  for (size_t i = 0; i < n; i++)
    printf("backup %u sequence=%llu time=%llu.%06llu size=%llu files=%u\n", list[i].id,
           (unsigned long long)list[i].sequence, (unsigned long long)(list[i].time_us / 1000000),
           (unsigned long long)(list[i].time_us % 1000000), (unsigned long long)list[i].size,
           list[i].files);
  shale_free(list);
  return 0;
}

static int cmd_purge_backups(ldb_opts *o) {
  const char *use = "purge_backups --backup_dir=DIR --keep=N";
  if (need_args(o, 0, use) || need_backup_dir(o, use)) return 2;
  if (o->keep < 0) {
    ldb_err("%s: --keep=N is required", use);
    return 2;
  }
  if (report_handleless("purge_backups", shale_backup_purge(o->backup_dir, (size_t)o->keep)))
    return 1;
  printf("OK purge_backups kept the newest %lld\n", o->keep);
  return 0;
}

typedef struct op_printer {
  uint64_t seq; /* of the operation printed next */
  int key_hex, value_hex, print_value;
} op_printer;

static int print_op(void *arg, int op, const void *key, size_t klen, const void *val, size_t vlen) {
  op_printer *p = arg;
  static const char *names[] = {"", "PUT", "DEL", "RANGE_DEL"};
  printf("%llu %s ", (unsigned long long)p->seq++, names[op]);
  ldb_print_bytes(stdout, key, klen, p->key_hex);
  if (op == SHALE_OP_DELETE_RANGE || (op == SHALE_OP_PUT && p->print_value)) {
    putchar(' ');
    ldb_print_bytes(stdout, val, vlen, op == SHALE_OP_PUT ? p->value_hex : p->key_hex);
  }
  putchar('\n');
  return 0;
}

static int print_updates(shale_db *db, shale_updates *u, ldb_opts *o) {
  uint64_t first;
  const shale_batch *b;
  int rc;
  while ((rc = shale_updates_next(u, &first, &b)) == SHALE_OK) {
    printf("batch seq=%llu count=%zu\n", (unsigned long long)first, shale_batch_count(b));
    op_printer p = {first, o->key_hex, o->value_hex, o->print_value};
    if ((rc = shale_batch_iterate(b, print_op, &p))) break;
  }
  return ldb_report(db, "updates_since", rc == SHALE_NOTFOUND ? SHALE_OK : rc);
}

/* Read-only: the walk reads the WALs the DB holds, and leaves every file as it was. */
static int cmd_updates_since(ldb_opts *o) {
  if (need_args(o, 0, "updates_since --seq=N [--print_value]")) return 2;
  if (!o->has_seq) {
    ldb_err("updates_since needs --seq=N: the first sequence wanted");
    return 2;
  }
  shale_db *db;
  if (ldb_open_db(o, LDB_OPEN_READ, &db)) return 1;
  shale_updates *u;
  int rc = shale_updates_since(db, o->seq, &u);
  if (rc == SHALE_NOTFOUND) {
    ldb_err(
        "sequence %llu is older than the oldest WAL the DB holds (see its LOG; the "
        "wal_retention_seconds and wal_retention_bytes options keep more)",
        (unsigned long long)o->seq);
    return ldb_close_db(db, 1);
  }
  int status = ldb_report(db, "updates_since", rc);
  if (!status) status = print_updates(db, u, o);
  shale_updates_free(u);
  return ldb_close_db(db, status);
}

static const ldb_command *find_command(const char *name) {
  for (size_t i = 0; i < NCOMMANDS; i++)
    if (!strcmp(commands[i].name, name)) return &commands[i];
  return NULL;
}

int main(int argc, char **argv) {
  ldb_opts o;
  memset(&o, 0, sizeof o);
  o.max_keys = -1;
  o.keep = -1;
  buf_init(&o.from_key);
  buf_init(&o.to_key);
  const char *cmdname = NULL;
  int help = 0, status = 2;
  o.pos = calloc((size_t)argc + 1, sizeof *o.pos);
  if (!o.pos) return 1;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--help") || !strcmp(a, "-h") || !strcmp(a, "help")) {
      help = 1;
    } else if (!strncmp(a, "--", 2) && a[2]) {
      if (parse_flag(&o, a + 2)) goto done;
    } else if (!cmdname) {
      cmdname = a;
    } else {
      o.pos[o.npos++] = argv[i];
    }
  }
  if (!cmdname) {
    usage(help ? stdout : stderr);
    status = help ? 0 : 2;
    goto done;
  }
  const ldb_command *c = find_command(cmdname);
  if (!c) {
    ldb_err("unknown command '%s' (see --help)", cmdname);
    goto done;
  }
  if (help) {
    printf("shale-ldb --db=PATH %s %s\n  %s\nSee doc/shale-ldb.md for the output columns.\n",
           c->name, c->args, c->help);
    status = 0;
    goto done;
  }
  if ((o.from && ldb_parse_bytes(o.from, o.key_hex, &o.from_key, "--from")) ||
      (o.to && ldb_parse_bytes(o.to, o.key_hex, &o.to_key, "--to")))
    goto done;
  status = c->fn(&o);
done:
  fflush(stdout);
  buf_free(&o.from_key);
  buf_free(&o.to_key);
  free(o.pos);
  return status;
}
