/* shale_ldb_query.c — commands that feed lines to the engine: query (an interactive prompt of
 * get/put/delete/scan lines, which a script can drive through a pipe) and load (reads dump's
 * output back into a DB). Both open the DB for writing, so they refuse a DB another process
 * holds. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shale.h"
#include "shale_ldb.h"
#include "util/ikey.h"

/* A line split on blanks, in place. Keys and values as the tool prints them hold none. */
#define MAX_WORDS 8
typedef struct words {
  int n;
  char *w[MAX_WORDS];
} words;

static void split(char *line, words *ws) {
  ws->n = 0;
  for (char *t = strtok(line, " \t\r\n"); t; t = strtok(NULL, " \t\r\n")) {
    if (ws->n == MAX_WORDS) {
      ws->n = MAX_WORDS + 1; /* too many: no command takes this many */
      return;
    }
    ws->w[ws->n++] = t;
  }
}

/* ---- query ---- */

static const char query_help[] =
    "# get KEY                 -> KEY ==> VALUE, or KEY NOT_FOUND\n"
    "# put KEY VALUE           -> OK\n"
    "# delete KEY              -> OK\n"
    "# scan [FROM [TO [MAX]]]  -> KEY ==> VALUE per live key in [FROM, TO), then # N key(s)\n"
    "# help, quit              (a failed line prints ERROR MESSAGE and the prompt goes on)\n";

/* Each answer goes to stdout, errors included, so a script reads them in order. */
static int query_error(const char *fmt, const char *arg) {
  fputs("ERROR ", stdout);
  printf(fmt, arg);
  putchar('\n');
  return 1;
}

static int query_get(ldb_opts *o, shale_db *db, const buf *k) {
  void *v;
  size_t vl;
  int rc = shale_get(db, NULL, k->data, k->len, &v, &vl);
  ldb_print_bytes(stdout, k->data, k->len, o->key_hex);
  if (rc == SHALE_NOTFOUND) {
    puts(" NOT_FOUND");
    return 0;
  }
  if (rc) {
    putchar('\n');
    return query_error("get: %s", shale_errmsg(db));
  }
  fputs(" ==> ", stdout);
  ldb_print_bytes(stdout, v, vl, o->value_hex);
  putchar('\n');
  shale_free(v);
  return 0;
}

static int query_scan(ldb_opts *o, shale_db *db, const words *ws, buf *from, buf *to) {
  long long max = -1, n = 0;
  if (ws->n > 4) return query_error("%s", "usage: scan [FROM [TO [MAX]]]");
  if ((ws->n > 1 && ldb_parse_bytes(ws->w[1], o->key_hex, from, "FROM")) ||
      (ws->n > 2 && ldb_parse_bytes(ws->w[2], o->key_hex, to, "TO")))
    return query_error("%s", "scan: bad key");
  if (ws->n > 3) {
    char *end;
    max = strtoll(ws->w[3], &end, 10);
    if (*end || max < 0) return query_error("scan: MAX '%s' is not a count", ws->w[3]);
  }
  shale_iter *it;
  if (shale_iter_new(db, NULL, &it)) return query_error("scan: %s", shale_errmsg(db));
  if (ws->n > 1)
    shale_iter_seek(it, from->data, from->len);
  else
    shale_iter_seek_first(it);
  for (; shale_iter_valid(it) && (max < 0 || n < max); shale_iter_next(it), n++) {
    size_t kl, vl;
    const void *k = shale_iter_key(it, &kl), *v = shale_iter_value(it, &vl);
    if (ws->n > 2 && ukey_compare(k, kl, to->data, to->len) >= 0) break;
    ldb_print_bytes(stdout, k, kl, o->key_hex);
    fputs(" ==> ", stdout);
    ldb_print_bytes(stdout, v, vl, o->value_hex);
    putchar('\n');
  }
  int rc = shale_iter_status(it);
  shale_iter_free(it);
  if (rc) return query_error("scan: %s", shale_errmsg(db));
  printf("# %lld key(s)\n", n);
  return 0;
}

/* One line; returns 1 when it failed, -1 to stop. */
static int query_line(ldb_opts *o, shale_db *db, words *ws, buf *k, buf *v) {
  const char *c = ws->w[0];
  unsigned sync = o->sync ? SHALE_SYNC : 0;
  int keyed = !strcmp(c, "get") || !strcmp(c, "delete") || !strcmp(c, "put");
  if (!strcmp(c, "quit") || !strcmp(c, "exit")) return -1;
  if (!strcmp(c, "help")) {
    fputs(query_help, stdout);
    return 0;
  }
  if (!strcmp(c, "scan")) return query_scan(o, db, ws, k, v);
  if (!keyed) return query_error("unknown command '%s' (help lists them)", c);
  if (ws->n != (strcmp(c, "put") ? 2 : 3))
    return query_error("%s", strcmp(c, "put") ? "usage: get|delete KEY" : "usage: put KEY VALUE");
  if (ldb_parse_bytes(ws->w[1], o->key_hex, k, "key") ||
      (ws->n == 3 && ldb_parse_bytes(ws->w[2], o->value_hex, v, "value")))
    return query_error("%s: bad key or value", c);
  if (!strcmp(c, "get")) return query_get(o, db, k);
  int rc = !strcmp(c, "put") ? shale_put(db, k->data, k->len, v->data, v->len, sync)
                             : shale_delete(db, k->data, k->len, sync);
  if (rc) return query_error("%s", *shale_errmsg(db) ? shale_errmsg(db) : shale_strerror(rc));
  puts("OK");
  return 0;
}

int ldb_cmd_query(ldb_opts *o) {
  if (o->npos) {
    ldb_err("query takes no arguments: it reads commands from stdin ('help' lists them)");
    return 2;
  }
  shale_db *db;
  if (ldb_open_db(o, o->create_if_missing ? LDB_OPEN_CREATE : LDB_OPEN_WRITE, &db)) return 1;
  int tty = isatty(STDIN_FILENO), failed = 0;
  char *line = NULL;
  size_t cap = 0;
  buf k, v;
  buf_init(&k);
  buf_init(&v);
  for (;;) {
    if (tty) fputs("> ", stdout);
    fflush(stdout);
    if (getline(&line, &cap, stdin) < 0) break;
    words ws;
    split(line, &ws);
    if (!ws.n || ws.w[0][0] == '#') continue;
    int r = ws.n > MAX_WORDS ? query_error("%s", "too many words on the line")
                             : query_line(o, db, &ws, &k, &v);
    if (r < 0) break;
    failed |= r;
  }
  free(line);
  buf_free(&k);
  buf_free(&v);
  return ldb_close_db(db, failed);
}

/* ---- load ---- */

/* Entries per batch: a long dump goes in as a few large writes. */
#define LOAD_BATCH 4096

typedef struct load_counts {
  unsigned long long line, loaded, skipped;
} load_counts;

/* One line of dump's output: KEY SEQ KIND STATE VALUE. A live PUT goes into b; the versions
 * --include_deleted adds (and its range tombstone lines) are skipped: an empty DB has nothing
 * they would hide. Returns 1 on a malformed line. */
static int load_line(ldb_opts *o, char *line, shale_batch *b, buf *k, buf *v, load_counts *c) {
  words ws;
  split(line, &ws);
  if (!ws.n || ws.w[0][0] == '#') return 0;
  if (ws.n != 5 || strspn(ws.w[1], "0123456789") != strlen(ws.w[1])) {
    ldb_err("load: line %llu: expected KEY SEQ KIND STATE VALUE, as dump prints", c->line);
    return 1;
  }
  if (strcmp(ws.w[2], "PUT") || strcmp(ws.w[3], "live")) {
    if (strcmp(ws.w[2], "PUT") && strcmp(ws.w[2], "DEL") && strcmp(ws.w[2], "RANGE_DEL")) {
      ldb_err("load: line %llu: unknown kind '%s'", c->line, ws.w[2]);
      return 1;
    }
    c->skipped++;
    return 0;
  }
  if (ldb_parse_bytes(ws.w[0], o->key_hex, k, "key") ||
      ldb_parse_bytes(ws.w[4], o->value_hex, v, "value")) {
    ldb_err("load: line %llu: bad key or value", c->line);
    return 1;
  }
  if (shale_batch_put(b, k->data, k->len, v->data, v->len)) {
    ldb_err("load: line %llu: the key or value is too large, or out of memory", c->line);
    return 1;
  }
  c->loaded++;
  return 0;
}

static int load_flush(ldb_opts *o, shale_db *db, shale_batch *b) {
  if (!shale_batch_count(b)) return 0;
  int status = ldb_report(db, "load", shale_write(db, b, o->sync ? SHALE_SYNC : 0));
  shale_batch_clear(b);
  return status;
}

static int load_stream(ldb_opts *o, shale_db *db, FILE *in, load_counts *c) {
  shale_batch *b;
  if (shale_batch_new(&b)) return ldb_report(db, "load", SHALE_NOMEM);
  char *line = NULL;
  size_t cap = 0;
  buf k, v;
  buf_init(&k);
  buf_init(&v);
  int status = 0;
  while (!status && getline(&line, &cap, in) >= 0) {
    c->line++;
    status = load_line(o, line, b, &k, &v, c);
    if (!status && shale_batch_count(b) >= LOAD_BATCH) status = load_flush(o, db, b);
  }
  if (!status && ferror(in)) {
    ldb_err("load: read error after line %llu", c->line);
    status = 1;
  }
  if (status) {
    c->loaded -= shale_batch_count(b); /* the failed batch is not written */
  } else {
    status = load_flush(o, db, b);
  }
  free(line);
  buf_free(&k);
  buf_free(&v);
  shale_batch_free(b);
  return status;
}

int ldb_cmd_load(ldb_opts *o) {
  if (o->npos > 1) {
    ldb_err("load takes at most one FILE (none or '-': stdin)");
    return 2;
  }
  const char *path = o->npos && strcmp(o->pos[0], "-") ? o->pos[0] : NULL;
  FILE *in = path ? fopen(path, "r") : stdin;
  if (!in) {
    ldb_err("load: cannot open %s", path);
    return 1;
  }
  shale_db *db;
  int status = 1;
  if (!ldb_open_db(o, o->create_if_missing ? LDB_OPEN_CREATE : LDB_OPEN_WRITE, &db)) {
    load_counts c = {0, 0, 0};
    status = load_stream(o, db, in, &c);
    if (status)
      ldb_err(
          "load: stopped at line %llu: %llu entries of earlier batches (of %d) are in the DB, "
          "none from that batch on",
          c.line, c.loaded, LOAD_BATCH);
    else
      printf("OK loaded=%llu skipped=%llu\n", c.loaded, c.skipped);
    status = ldb_close_db(db, status);
  }
  if (path) fclose(in);
  return status;
}
