/* version_edit.h — a delta between versions and its MANIFEST encoding (doc/format-manifest.md).
 * Tags are never reused: a retired tag stays reserved with a comment where it was. */
#ifndef SHALE_ENGINE_VERSION_EDIT_H
#define SHALE_ENGINE_VERSION_EDIT_H

#include <stdint.h>

#include "engine/version.h"
#include "util/buf.h"
#include "util/ikey.h"

/* 2: TAG_COMPARATOR. Written only by a DB with a comparator (shale_options.comparator): a
 * bytewise DB still writes 1, so builds before 2 keep opening it, and refuse the others. */
#define MANIFEST_FORMAT_VERSION 2
#define MANIFEST_FORMAT_VERSION_BYTEWISE 1

enum edit_tag {
  TAG_FORMAT_VERSION = 1, /* varint: the MANIFEST format version, first edit of a file */
  TAG_LOG_NUMBER = 2,     /* varint: WALs below this are fully in tables */
  TAG_NEXT_FILE = 3,      /* varint */
  TAG_LAST_SEQ = 4,       /* varint */
  TAG_DELETED_FILE = 5,   /* varint level, varint number */
  TAG_NEW_FILE = 6,       /* varint level, file record (see doc) */
  TAG_COMPARATOR = 7,     /* varint length, name: the user-key order (version 2) */
};

typedef struct edit_file {
  int level;
  file_meta *f; /* referenced by the edit */
} edit_file;

typedef struct edit_del {
  int level;
  uint64_t number;
} edit_del;

typedef struct version_edit {
  int has_format, has_log, has_next_file, has_last_seq, has_comparator;
  char comparator[COMPARATOR_NAME_MAX + 1]; /* NUL-terminated */
  uint32_t format_version;
  uint64_t log_number, next_file, last_seq;
  edit_file *added;
  int nadded, cap_added;
  edit_del *deleted;
  int ndeleted, cap_deleted;
} version_edit;

void edit_init(version_edit *e);
void edit_free(version_edit *e);
int edit_add_file(version_edit *e, int level, file_meta *f); /* takes a reference */
int edit_delete_file(version_edit *e, int level, uint64_t number);
void edit_encode(const version_edit *e, buf *out);
/* SHALE_CORRUPTION on malformed input (errmsg says what). */
int edit_decode(version_edit *e, const uint8_t *p, size_t len, char *errmsg);

#endif
