/* errmsg.h — what engine/errmsg.c keeps: the per-thread, per-handle detail behind
 * shale_errmsg, and the brackets around every public call. */
#ifndef SHALE_ENGINE_ERRMSG_H
#define SHALE_ENGINE_ERRMSG_H

#include "shale.h"

/* This thread's buffer for the detail of calls made without a handle (a failed shale_open,
 * shale_destroy, shale_repair): what shale_errmsg(NULL) returns. */
char *db_handleless_errmsg(void);
/* Records msg (NULL or "": rc's strerror text) as this thread's detail for the handle and
 * returns rc (for `return db_fail(...)`); SHALE_OK and SHALE_NOTFOUND record nothing.
 */
int db_fail(shale_db *db, int rc, const char *msg);
/* Bracket every public call on a handle: begin clears this thread's detail for it, end
 * returns rc after giving a failure that recorded no detail its strerror text. */
void db_call_begin(const shale_db *db);
int db_call_end(shale_db *db, int rc);

#endif
