/* SPDX-License-Identifier: Apache-2.0 */
/* The malloc the binary was built with (-DSA_MALLOC, agent/allocator.c)
 * and its tuning, applied first thing in main(). */
#ifndef SA_AGENT_ALLOCATOR_H
#define SA_AGENT_ALLOCATOR_H

#include <stddef.h>

/* Applies this build's allocator settings; call before any thread starts. */
void sa_allocator_init(void);

/* "mimalloc 2.0.9", "jemalloc 5.3.0" or "system malloc", written into buf
 * (caller-owned); returns buf. */
const char *sa_allocator_describe(char *buf, size_t size);

#endif
