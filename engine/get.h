/* get.h — running a point lookup (engine/lookup.h) over a read view. */
#ifndef SHALE_ENGINE_GET_H
#define SHALE_ENGINE_GET_H

#include "engine/read_view.h"
#include "shale.h"

typedef struct lookup lookup; /* engine/lookup.h */

/* Runs the lookup over every component of v; returns lk->rc. */
int view_lookup(shale_db *db, read_view *v, lookup *lk);

#endif
