/* options.h — option validation shared by open and the tools. */
#ifndef SHALE_ENGINE_OPTIONS_H
#define SHALE_ENGINE_OPTIONS_H

#include <stddef.h>

#include "shale.h"
#include "sstable/sst_reader.h"
#include "util/error.h"

/* SHALE_INVALID (with a message) for a comparator shale_comparator's contract rejects: no
 * compare, or a name that is NULL, empty, too long or Shale's own. */
int comparator_check(const shale_comparator *c, char *errmsg);

/* Fills dst from src (NULL: defaults), checking ranges; SHALE_INVALID with a message. */
int options_copy_checked(shale_options *dst, const shale_options *src, char *errmsg);

/* The size of the first shale_read_options (snapshot and bounds): callers built against it
 * keep working as fields are added, which then take their defaults. */
#define READ_OPTIONS_V1_SIZE (offsetof(shale_read_options, upper_bound_len) + sizeof(size_t))
/* The size with fill_cache and verify_checksums (V2). */
#define READ_OPTIONS_V2_SIZE (offsetof(shale_read_options, verify_checksums) + sizeof(int))

/* The SST_READ_* flags ro asks for: fill_cache and verify_checksums read as 1 when ro is NULL
 * or older than V2. REQUIRES: ro NULL or ro->size >= READ_OPTIONS_V1_SIZE. */
unsigned read_options_flags(const shale_read_options *ro);

#endif
