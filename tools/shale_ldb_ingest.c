/* shale_ldb_ingest.c — write_extern_sst: an external table (shale_sst_writer) from lines of
 * text, for ingest_extern_sst (shale_ldb_main.c) to add to a DB. The lines are what other
 * commands print, so one DB's contents can be carried into another:
 *   KEY VALUE                    a put
 *   KEY ==> VALUE                a put (scan's output)
 *   KEY SEQ KIND STATE VALUE     dump's output: a live PUT is a put, a deleted DEL a delete,
 *                                an older version (shadowed, covered) is skipped
 *   BEGIN SEQ RANGE_DEL range END  dump --include_deleted's range tombstones
 * Blank lines and lines starting with '#' are skipped. Keys and values are read as the
 * other commands take them (--key_hex, --value_hex). Puts and deletes must come in
 * increasing key order, as scan and dump print them. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "shale.h"
#include "shale_ldb.h"

#define MAX_TOKENS 6

typedef struct line_parse {
  char *tok[MAX_TOKENS];
  int n;
} line_parse;

static void tokenize(char *line, line_parse *p) {
  p->n = 0;
  for (char *s = strtok(line, " \t\r\n"); s; s = strtok(NULL, " \t\r\n"))
    if (p->n < MAX_TOKENS)
      p->tok[p->n++] = s;
    else
      p->n = MAX_TOKENS + 1;
}

typedef struct extern_counts {
  uint64_t puts, deletes, range_deletes, skipped;
} extern_counts;

static int add_put(ldb_opts *o, shale_sst_writer *w, const char *k, const char *v, buf *kb, buf *vb,
                   long line) {
  if (ldb_parse_bytes(k, o->key_hex, kb, "key") || ldb_parse_bytes(v, o->value_hex, vb, "value"))
    return 2;
  if (!shale_sst_writer_put(w, kb->data, kb->len, vb->data ? vb->data : (void *)"", vb->len))
    return 0;
  ldb_err("line %ld: %s", line, shale_errmsg(NULL));
  return 1;
}

/* One parsed line into the writer; 0, or the exit status. */
static int add_line(ldb_opts *o, shale_sst_writer *w, const line_parse *p, buf *kb, buf *vb,
                    long line, extern_counts *c) {
  int rc;
  if (p->n == 2 || (p->n == 3 && !strcmp(p->tok[1], "==>"))) {
    if (!(rc = add_put(o, w, p->tok[0], p->tok[p->n - 1], kb, vb, line))) c->puts++;
    return rc;
  }
  if (p->n != 5) {
    ldb_err(
        "line %ld: expected 'KEY VALUE', 'KEY ==> VALUE' or dump's 'KEY SEQ KIND STATE "
        "VALUE'",
        line);
    return 2;
  }
  const char *kind = p->tok[2], *st = p->tok[3];
  if (!strcmp(kind, "PUT") && !strcmp(st, "live")) {
    if (!(rc = add_put(o, w, p->tok[0], p->tok[4], kb, vb, line))) c->puts++;
    return rc;
  }
  if (!strcmp(kind, "DEL") && !strcmp(st, "deleted")) {
    if (ldb_parse_bytes(p->tok[0], o->key_hex, kb, "key")) return 2;
    if (shale_sst_writer_delete(w, kb->data, kb->len)) {
      ldb_err("line %ld: %s", line, shale_errmsg(NULL));
      return 1;
    }
    c->deletes++;
    return 0;
  }
  if (!strcmp(kind, "RANGE_DEL")) {
    if (ldb_parse_bytes(p->tok[0], o->key_hex, kb, "begin") ||
        ldb_parse_bytes(p->tok[4], o->key_hex, vb, "end"))
      return 2;
    if (shale_sst_writer_delete_range(w, kb->data, kb->len, vb->data, vb->len)) {
      ldb_err("line %ld: %s", line, shale_errmsg(NULL));
      return 1;
    }
    c->range_deletes++;
    return 0;
  }
  c->skipped++; /* an older version: the newest of its key came before */
  return 0;
}

static int write_lines(ldb_opts *o, FILE *in, shale_sst_writer *w, extern_counts *c) {
  char *line = NULL;
  size_t cap = 0;
  long lineno = 0;
  int status = 0;
  buf kb, vb;
  buf_init(&kb);
  buf_init(&vb);
  while (!status && getline(&line, &cap, in) >= 0) {
    lineno++;
    if (line[0] == '#') continue;
    line_parse p;
    tokenize(line, &p);
    if (p.n) status = add_line(o, w, &p, &kb, &vb, lineno, c);
  }
  if (!status && ferror(in)) {
    ldb_err("reading the input failed");
    status = 1;
  }
  free(line);
  buf_free(&kb);
  buf_free(&vb);
  return status;
}

int ldb_cmd_write_extern_sst(ldb_opts *o) {
  if (o->npos < 1 || o->npos > 2) {
    ldb_err("expected write_extern_sst OUTPUT [INPUT] (INPUT: '-' or none for stdin)");
    return 2;
  }
  const char *out = o->pos[0], *src = o->npos == 2 ? o->pos[1] : "-";
  FILE *in = strcmp(src, "-") ? fopen(src, "r") : stdin;
  if (!in) {
    ldb_err("cannot open %s", src);
    return 1;
  }
  shale_sst_writer *w;
  int status = 1;
  if (shale_sst_writer_open(out, NULL, &w)) {
    ldb_err("cannot write %s: %s", out, shale_errmsg(NULL));
    goto done;
  }
  extern_counts c = {0, 0, 0, 0};
  status = write_lines(o, in, w, &c);
  shale_sst_info info;
  if (status) {
    shale_sst_writer_abandon(w);
  } else if (shale_sst_writer_finish(w, &info)) {
    ldb_err("%s: %s", out, shale_errmsg(NULL));
    status = 1;
  } else {
    printf("OK %s puts=%" PRIu64 " deletes=%" PRIu64 " range_deletes=%" PRIu64 " skipped=%" PRIu64
           " size=%" PRIu64 "\n",
           out, c.puts, c.deletes, c.range_deletes, c.skipped, info.file_size);
  }
done:
  if (in != stdin) fclose(in);
  return status;
}
