/* SPDX-License-Identifier: Apache-2.0 */
/* Small file-system helpers every layer may use. */
#ifndef SA_BASE_FSUTIL_H
#define SA_BASE_FSUTIL_H

#include <sys/types.h>

/* mkdir -p: create path and its missing parents with mode. 0 or -1 with
 * errno set; *failed (may be NULL) names the component that failed, in a
 * static-free caller buffer of failed_len bytes. */
int sa_mkdirs(const char *path, mode_t mode, char *failed, size_t failed_len);

#endif
