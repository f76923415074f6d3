/* leveldb_options.h — LevelDB's option objects turned into Shale's at use. */
#ifndef SHALE_LEVELDB_OPTIONS_H
#define SHALE_LEVELDB_OPTIONS_H

#include "leveldb_types.h"

/* Fill @p out from @p in (NULL: LevelDB's defaults). @return SHALE_OK, or SHALE_INVALID with
 * the reason in @p why (a comparator without a name or compare function, one named
 * "leveldb.BytewiseComparator" that is not bytewise, an unknown compression). A comparator
 * other than bytewise becomes out->comparator, which points into it. */
int ldbc_options_to_shale(const leveldb_options_t *in, shale_options *out, char *why,
                          size_t whylen);
/* Fill @p out from @p in (NULL: the defaults), the snapshot included. */
void ldbc_read_options(const leveldb_readoptions_t *in, shale_read_options *out);
/* The flags of a write with @p in (NULL: not synced). */
unsigned ldbc_write_flags(const leveldb_writeoptions_t *in);

#endif
