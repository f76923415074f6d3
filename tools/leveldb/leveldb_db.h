/* leveldb_db.h — what the other files of libshale-leveldb need from the DB handle. */
#ifndef SHALE_LEVELDB_DB_H
#define SHALE_LEVELDB_DB_H

#include "leveldb_types.h"

/* Report the failure @p rc of a call on @p db through @p errptr, with Shale's detail. */
void ldbc_db_error(leveldb_t *db, char **errptr, int rc);
/* Add @p it to / remove it from the iterators @p db releases at close. */
void ldbc_db_track_iterator(leveldb_t *db, leveldb_iterator_t *it);
void ldbc_db_untrack_iterator(leveldb_t *db, leveldb_iterator_t *it);

#endif
