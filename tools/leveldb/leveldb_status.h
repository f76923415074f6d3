/* leveldb_status.h — Shale's status codes as LevelDB's `char **errptr` messages. */
#ifndef SHALE_LEVELDB_STATUS_H
#define SHALE_LEVELDB_STATUS_H

/* LevelDB's prefix for Shale code @p rc ("IO error: ", ...). */
const char *ldbc_prefix(int rc);
/* Replace *errptr (freeing the old one) with prefix(rc) + @p detail, or + shale_strerror(rc)
 * when @p detail is NULL or empty. A NULL @p errptr is ignored. */
void ldbc_set_error(char **errptr, int rc, const char *detail);
/* As ldbc_set_error with a printf-formatted detail. */
void ldbc_set_errorf(char **errptr, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* A malloc'd copy of the message ldbc_set_error would make; NULL when out of memory. */
char *ldbc_error_string(int rc, const char *detail);

#endif
