/* error.c — error codes and detail strings; see error.h. */
#include "util/error.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static void vformat(char *msg, const char *fmt, va_list ap) {
  if (msg) vsnprintf(msg, ERRMSG_SIZE, fmt, ap);
}

int err_set(char *msg, int rc, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vformat(msg, fmt, ap);
  va_end(ap);
  return rc;
}

int err_corrupt(char *msg, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vformat(msg, fmt, ap);
  va_end(ap);
  return SHALE_CORRUPTION; /* set a breakpoint here to catch every corruption */
}

int err_errno(char *msg, int e, const char *what, const char *path) {
  int rc = SHALE_IOERR;
  if (e == ENOSPC || e == EDQUOT)
    rc = SHALE_NOSPACE;
  else if (e == ENOMEM)
    rc = SHALE_NOMEM;
  char ebuf[128];
  const char *etxt = strerror_r(e, ebuf, sizeof ebuf);
  return err_set(msg, rc, "%s %s: %s", what, path ? path : "", etxt);
}
