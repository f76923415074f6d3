/* get.h — deciding a point lookup over a read view. engine/lookup.h includes it, so whoever
 * fills a lookup has the functions that decide it. */
#ifndef SHALE_ENGINE_GET_H
#define SHALE_ENGINE_GET_H

#include "engine/read_view.h"
#include "shale.h"

typedef struct lookup lookup; /* engine/lookup.h */

/* Decide the lookup: deleted, or found with a copy of v. Both return 1 ("decided"). */
int lookup_deleted(lookup *lk);
int lookup_found_copy(lookup *lk, const void *v, size_t vlen);
/* Runs the lookup over every component of v; returns lk->rc. */
int view_lookup(shale_db *db, read_view *v, lookup *lk);

#endif
