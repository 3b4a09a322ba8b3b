/* SPDX-License-Identifier: Apache-2.0 */
/* The housekeeping thread; see housekeeper.h. */
#include "agent/housekeeper.h"

#include "agent/base/clock.h"
#include "agent/base/log.h"
#include "agent/base/thread.h"

#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define CHECKPOINT_EVERY_MS 30000 /* a TRUNCATE checkpoint: the WAL file shrinks */
#define SLOW_PASS_EVERY_MS 5000  /* malloc_trim and the reserve: see pass() */
#define WAL_TICK_MS 100            /* how often the WAL size is looked at */
#define WAL_CHECKPOINT_BYTES (2 << 20) /* ... and the size that checkpoints */
/* Past this the WAL is started over (sa_spool_checkpoint_restart), well
 * before the writer's own backstop (SA_SPOOL_WAL_BACKSTOP_PAGES, 16 MiB),
 * which would stall ingest; holding the writer off for a moment instead. */
#define WAL_RESTART_BYTES (4 << 20)
#define WAL_RESTART_WAIT_MS 10

struct sa_housekeeper {
    const struct sa_config *cfg;
    struct sa_spool *spool;
    struct sa_subscription *subs;
    struct sa_spool *watched; /* the writer's, sa_housekeeper_watch_wal */
    int64_t interval_ms;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stop, kicked, wal_grew, started;
    int64_t wal_bytes; /* the WAL's length at the last wal_grew */
    int64_t last_slow_pass; /* mono ms */
};

static void pass(struct sa_housekeeper *hk, int checkpoint)
{
    struct sa_err err = {0};
    int64_t trimmed = 0;

    if (sa_spool_trim(hk->spool, hk->subs, hk->cfg->n_sinks, &trimmed, &err))
        sa_log_warn("spool trim failed", "error", err.msg);
    else if (trimmed > 0 && sa_log_min_level() <= SA_LOG_DEBUG)
        sa_logf(SA_LOG_DEBUG, "spool trimmed", "segments=%lld", (long long)trimmed);
    if (checkpoint && sa_spool_checkpoint(hk->spool, &err))
        sa_log_warn("spool checkpoint failed", "error", err.msg);
    if (sa_mono_ms() - hk->last_slow_pass < SLOW_PASS_EVERY_MS)
        return;
    hk->last_slow_pass = sa_mono_ms();
    /* Put the disk-full reserve back once there is plenty of room again. */
    sa_spool_keep_reserve(hk->spool);
#ifdef __GLIBC__
    /* Give back to the system what a burst left free (a full send window
     * after an outage, a drained backlog): glibc returns only the top of a
     * heap by itself, so without this RSS stays at the highest it has been
     * (I5). It walks the free lists, well under a millisecond here. */
    malloc_trim(0);
#endif
}

static void *run(void *arg)
{
    struct sa_housekeeper *hk = arg;
    int64_t last_checkpoint = sa_mono_ms(), last_pass = sa_mono_ms();

    sa_thread_name("housekeeper");
    pthread_mutex_lock(&hk->mu);
    while (!hk->stop) {
        struct timespec deadline;
        struct sa_err err = {0};
        int64_t now;

        clock_gettime(CLOCK_MONOTONIC, &deadline);
        sa_timespec_add_ms(&deadline, WAL_TICK_MS);
        while (!hk->stop && !hk->kicked && !hk->wal_grew &&
               pthread_cond_timedwait(&hk->cv, &hk->mu, &deadline) == 0)
            ;
        if (hk->stop)
            break;
        int kicked = hk->kicked;
        int restart = hk->wal_grew && hk->wal_bytes >= WAL_RESTART_BYTES;
        hk->kicked = hk->wal_grew = 0;
        pthread_mutex_unlock(&hk->mu);

        int64_t wal_used = 0;
        int rc = restart ? SA_OK
                         : sa_spool_checkpoint_if_large(hk->spool, WAL_CHECKPOINT_BYTES,
                                                        &wal_used, &err);
        /* The WAL also grows without ingest (cursor saves and trims while
         * sinks drain, ingest paused on a full disk) and must start over
         * then too: each frame appended past its end takes a new block. */
        if (!rc && (restart || wal_used >= WAL_RESTART_BYTES))
            rc = sa_spool_checkpoint_restart(hk->spool, WAL_RESTART_WAIT_MS, &err);
        if (rc)
            sa_log_warn("spool checkpoint failed", "error", err.msg);
        /* A full disk the checkpoint cannot grow the database on: the WAL
         * can then never start over, and every cursor save and trim, which
         * would make room, is one more frame past its end. That is what
         * the reserve is for (kept again once there is plenty of room). */
        if (rc == SA_EFULL && sa_spool_release_reserve(hk->cfg->spool.path))
            sa_logf(SA_LOG_WARN, "disk full: gave up the spool's reserve so that "
                    "the WAL can be checkpointed", "bytes=%d", SA_SPOOL_RESERVE_BYTES);
        now = sa_mono_ms();
        if (kicked || now - last_pass >= hk->interval_ms) {
            int checkpoint = now - last_checkpoint >= CHECKPOINT_EVERY_MS;
            pass(hk, checkpoint);
            last_pass = sa_mono_ms();
            if (checkpoint)
                last_checkpoint = last_pass;
        }
        pthread_mutex_lock(&hk->mu);
    }
    pthread_mutex_unlock(&hk->mu);
    return NULL;
}

static void free_hk(struct sa_housekeeper *hk)
{
    free(hk->subs);
    sa_spool_close(hk->spool);
    pthread_mutex_destroy(&hk->mu);
    pthread_cond_destroy(&hk->cv);
    free(hk);
}

int sa_housekeeper_start(struct sa_housekeeper **out, const struct sa_config *cfg,
                         int64_t interval_ms, struct sa_err *err)
{
    struct sa_housekeeper *hk;
    pthread_condattr_t attr;
    int rc;

    *out = NULL;
    hk = calloc(1, sizeof *hk);
    if (!hk)
        return sa_err_set(err, SA_ENOMEM, "out of memory");
    hk->cfg = cfg;
    hk->interval_ms = interval_ms;
    pthread_mutex_init(&hk->mu, NULL);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&hk->cv, &attr);
    pthread_condattr_destroy(&attr);

    hk->subs = calloc(cfg->n_sinks + 1, sizeof *hk->subs);
    if (!hk->subs) {
        rc = sa_err_set(err, SA_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < cfg->n_sinks; i++) {
        const struct sa_sink_conf *sc = &cfg->sinks[i];
        hk->subs[i].sink = sc->name;
        hk->subs[i].n_streams = sc->streams.n;
        hk->subs[i].streams = (const char *const *)sc->streams.v;
    }
    rc = sa_spool_open(&hk->spool, &cfg->spool, 0, err);
    if (rc)
        goto out;
    rc = pthread_create(&hk->thread, NULL, run, hk);
    if (rc) {
        rc = sa_err_set(err, SA_ENOMEM, "cannot start the housekeeping thread");
        goto out;
    }
    hk->started = 1;
    *out = hk;
out:
    if (rc)
        free_hk(hk);
    return rc;
}

void sa_housekeeper_kick(struct sa_housekeeper *hk)
{
    if (!hk)
        return;
    pthread_mutex_lock(&hk->mu);
    hk->kicked = 1;
    pthread_cond_signal(&hk->cv);
    pthread_mutex_unlock(&hk->mu);
}

/* The writer's commit left WAL_CHECKPOINT_BYTES or more in the WAL: wake
 * up and checkpoint now rather than at the next tick. Runs on the
 * committer. */
static void wal_grew(void *arg, int64_t wal_bytes)
{
    struct sa_housekeeper *hk = arg;

    pthread_mutex_lock(&hk->mu);
    hk->wal_bytes = wal_bytes;
    if (!hk->wal_grew) {
        hk->wal_grew = 1;
        pthread_cond_signal(&hk->cv);
    }
    pthread_mutex_unlock(&hk->mu);
}

void sa_housekeeper_watch_wal(struct sa_housekeeper *hk, struct sa_spool *writer)
{
    hk->watched = writer;
    sa_spool_on_wal_growth(writer, WAL_CHECKPOINT_BYTES, wal_grew, hk);
}

void sa_housekeeper_stop(struct sa_housekeeper *hk)
{
    if (!hk)
        return;
    if (hk->watched)
        sa_spool_on_wal_growth(hk->watched, 0, NULL, NULL);
    pthread_mutex_lock(&hk->mu);
    hk->stop = 1;
    pthread_cond_signal(&hk->cv);
    pthread_mutex_unlock(&hk->mu);
    if (hk->started)
        pthread_join(hk->thread, NULL);
    pass(hk, 1);
    free_hk(hk);
}
