/* compaction_job.h — running one picked compaction. */
#ifndef SHALE_ENGINE_COMPACTION_JOB_H
#define SHALE_ENGINE_COMPACTION_JOB_H

#include "engine/compaction.h"

/* Runs c and installs the result. mu is released during I/O, held again on return. */
int compaction_run(shale_db *db, compaction *c, char *errmsg) SH_REQUIRES(db->mu);

#endif
