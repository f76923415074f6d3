/* error.h — how modules report failures: a SHALE_* code plus a detail string written into a
 * caller-provided buffer of ERRMSG_SIZE bytes (may be NULL). Every corruption goes through
 * err_corrupt, so one breakpoint there catches them all. */
#ifndef SHALE_UTIL_ERROR_H
#define SHALE_UTIL_ERROR_H

#include "shale.h"

#define ERRMSG_SIZE 512

#if defined(__GNUC__)
#define SHALE_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define SHALE_PRINTF(a, b)
#endif

/* Formats the detail into msg (if non-NULL) and returns rc. */
int err_set(char *msg, int rc, const char *fmt, ...) SHALE_PRINTF(3, 4);
/* Returns SHALE_CORRUPTION with the detail; say which file and offset. */
int err_corrupt(char *msg, const char *fmt, ...) SHALE_PRINTF(2, 3);
/* Maps errno e to a code (ENOSPC/EDQUOT -> NOSPACE, ENOMEM -> NOMEM, else IOERR) with
 * "what path: strerror(e)" as the detail. */
int err_errno(char *msg, int e, const char *what, const char *path);

#endif /* SHALE_UTIL_ERROR_H */
