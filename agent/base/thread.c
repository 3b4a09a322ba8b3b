/* SPDX-License-Identifier: Apache-2.0 */
#include "agent/base/thread.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>

void sa_thread_name(const char *fmt, ...)
{
    char name[16]; /* TASK_COMM_LEN */
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    pthread_setname_np(pthread_self(), name);
}
