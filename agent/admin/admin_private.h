/* SPDX-License-Identifier: Apache-2.0 */
/* What admin.c shares with its handlers (api.c); nothing outside
 * agent/admin/ includes this. */
#ifndef SA_ADMIN_PRIVATE_H
#define SA_ADMIN_PRIVATE_H

#include "agent/admin/admin.h"
#include "agent/base/metrics.h"
#include "agent/status.h"

#include <pthread.h>

struct sa_admin {
    struct sa_admin_conf conf; /* copied at start; strings owned */
    struct sa_health_conf health;
    char address[80]; /* what it listens on, for logs and tests */
    int announced;    /* "admin server listening" was logged */
    struct MHD_Daemon *daemon;
    int listen_fd;

    /* The running agent (sa_admin_set_runtime), under rt_lock, with the
     * server's own read-only spool handle (opened at first use, closed when
     * the runtime changes) and the spool gauges' last refresh. */
    pthread_mutex_t rt_lock;
    struct sa_admin_runtime rt;
    int have_rt;
    struct sa_spool *spool;
    int64_t gauges_mono_ms;
    struct sa_gauge *spool_bytes, *spool_max_bytes;
    struct sa_gauge **sink_lag_records, **sink_lag_seconds; /* per cfg sink */
    struct sa_gauge **deadletters;                          /* per cfg stream */
    char **deadletter_streams;
    size_t n_sinks, n_streams;
    int collector_id;

    /* Reload over HTTP: requests set *reload_flag and wait on reload_cv for
     * reload_gen to move (sa_admin_reload_done). */
    atomic_int *reload_flag;
    pthread_mutex_t reload_lock;
    pthread_cond_t reload_cv;
    uint64_t reload_gen;
    int reload_rc;
    char reload_why[SA_ERR_MSG_MAX];
};

/* Ask the main loop for a reload and wait up to timeout_ms for it: SA_OK,
 * the reload's error (why filled), or SA_EAGAIN on timeout. */
int sa_admin_request_reload(struct sa_admin *a, int64_t timeout_ms, char *why,
                            size_t why_size);

#endif
