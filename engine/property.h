/* property.h — the figures behind shale_property that other modules report too. */
#ifndef SHALE_ENGINE_PROPERTY_H
#define SHALE_ENGINE_PROPERTY_H

#include <stdint.h>

#include "engine/read_view.h"

/* "shale.deletes-persisted-before-us" of v: every delete older than the oldest tombstone
 * v still holds is physically gone; with none held, the wall clock now. */
uint64_t db_deletes_persisted_before(read_view *v);

#endif
