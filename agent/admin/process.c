/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The standard process_* metrics (as the Prometheus client libraries name
 * them) read from /proc/self at each scrape, and syncagent_build_info.
 */
#include "agent/admin/admin.h"
#include "agent/base/log.h"
#include "agent/base/metrics.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

static struct {
    struct sa_gauge *cpu, *rss, *vsize, *fds, *max_fds, *start, *threads;
    double boot_time;
} proc;

static double read_boot_time(void)
{
    FILE *f = fopen("/proc/stat", "r");
    char line[256];
    double btime = 0;

    if (!f)
        return 0;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "btime ", 6) == 0) {
            btime = strtod(line + 6, NULL);
            break;
        }
    fclose(f);
    return btime;
}

static void collect(void *arg)
{
    char buf[2048], *p;
    FILE *f;
    size_t n;
    double ticks = (double)sysconf(_SC_CLK_TCK), page = (double)sysconf(_SC_PAGESIZE);
    unsigned long long utime = 0, stime = 0, start = 0, vsize = 0;
    long long rss = 0, threads = 0;
    DIR *dir;
    struct rlimit rl;
    (void)arg;

    f = fopen("/proc/self/stat", "r");
    if (f) {
        n = fread(buf, 1, sizeof buf - 1, f);
        buf[n] = '\0';
        fclose(f);
        /* The command name may hold spaces and parentheses: fields count
         * from the last ')'. Field 14 is utime; after ") " comes field 3. */
        p = strrchr(buf, ')');
        if (p && sscanf(p + 2,
                        "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d "
                        "%*d %*d %lld %*d %llu %llu %lld",
                        &utime, &stime, &threads, &start, &vsize, &rss) == 6) {
            sa_gauge_set(proc.cpu, (double)(utime + stime) / ticks);
            sa_gauge_set(proc.threads, (double)threads);
            sa_gauge_set(proc.start, proc.boot_time + (double)start / ticks);
            sa_gauge_set(proc.vsize, (double)vsize);
            sa_gauge_set(proc.rss, (double)rss * page);
        }
    }
    dir = opendir("/proc/self/fd");
    if (dir) {
        long long fds = 0;
        struct dirent *e;
        while ((e = readdir(dir)))
            fds += e->d_name[0] != '.';
        closedir(dir);
        sa_gauge_set(proc.fds, (double)(fds - 1)); /* less the directory's own */
    }
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
        sa_gauge_set(proc.max_fds, (double)rl.rlim_cur);
}

int sa_admin_process_metrics(struct sa_err *err)
{
    struct sa_metrics *m = sa_metrics_global();
    static int done;
    struct sa_gauge *build;
    int rc;

    if (done)
        return SA_OK;
    proc.boot_time = read_boot_time();
    rc = sa_metrics_float_counter(m, "process_cpu_seconds_total",
                                  "Total user and system CPU time spent in seconds.",
                                  NULL, &proc.cpu, err);
    if (rc == SA_OK)
        rc = sa_metrics_gauge(m, "process_resident_memory_bytes",
                              "Resident memory size in bytes.", NULL, &proc.rss, err);
    if (rc == SA_OK)
        rc = sa_metrics_gauge(m, "process_virtual_memory_bytes",
                              "Virtual memory size in bytes.", NULL, &proc.vsize, err);
    if (rc == SA_OK)
        rc = sa_metrics_gauge(m, "process_open_fds", "Number of open file descriptors.",
                              NULL, &proc.fds, err);
    if (rc == SA_OK)
        rc = sa_metrics_gauge(m, "process_max_fds",
                              "Maximum number of open file descriptors.", NULL,
                              &proc.max_fds, err);
    if (rc == SA_OK)
        rc = sa_metrics_gauge(m, "process_start_time_seconds",
                              "Start time of the process since unix epoch in seconds.",
                              NULL, &proc.start, err);
    if (rc == SA_OK)
        rc = sa_metrics_gauge(m, "process_threads", "Number of OS threads.", NULL,
                              &proc.threads, err);
    if (rc == SA_OK)
        rc = sa_metrics_gauge(
            m, "syncagent_build_info", "Always 1; the version is the label.",
            (const char *[]){"version", SA_VERSION, NULL}, &build, err);
    if (rc)
        return rc;
    sa_gauge_set(build, 1);
    if (sa_metrics_add_collector(m, collect, NULL) < 0)
        return sa_err_set(err, SA_ENOMEM, "too many metrics collectors");
    collect(NULL);
    done = 1;
    return SA_OK;
}
