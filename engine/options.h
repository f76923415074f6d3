/* options.h — option validation shared by open and the tools. */
#ifndef SHALE_ENGINE_OPTIONS_H
#define SHALE_ENGINE_OPTIONS_H

#include <stddef.h>

#include "shale.h"
#include "util/error.h"

/* Fills dst from src (NULL: defaults), checking ranges; SHALE_INVALID with a message. */
int options_copy_checked(shale_options *dst, const shale_options *src, char *errmsg);

#endif
