/* leveldb_status.c — LevelDB's Status prefixes for Shale's codes. LevelDB has no codes for a
 * full disk, a lock held elsewhere, a read-only DB or no memory: its Env reports those as
 * "IO error: ", so they map there. */
#include "leveldb_status.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shale.h"

const char *ldbc_prefix(int rc) {
  switch (rc) {
    case SHALE_NOTFOUND:
      return "NotFound: ";
    case SHALE_CORRUPTION:
      return "Corruption: ";
    case SHALE_INVALID:
    case SHALE_EXISTS:
      return "Invalid argument: ";
    case SHALE_NOTSUP:
      return "Not implemented: ";
    default:
      return "IO error: ";
  }
}

char *ldbc_error_string(int rc, const char *detail) {
  const char *prefix = ldbc_prefix(rc);
  if (!detail || !*detail) detail = shale_strerror(rc);
  size_t n = strlen(prefix) + strlen(detail) + 1;
  char *msg = malloc(n);
  if (msg) snprintf(msg, n, "%s%s", prefix, detail);
  return msg;
}

void ldbc_set_error(char **errptr, int rc, const char *detail) {
  if (!errptr) return;
  free(*errptr);
  *errptr = ldbc_error_string(rc, detail);
}

void ldbc_set_errorf(char **errptr, int rc, const char *fmt, ...) {
  char detail[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(detail, sizeof detail, fmt, ap);
  va_end(ap);
  ldbc_set_error(errptr, rc, detail);
}
