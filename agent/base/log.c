/* SPDX-License-Identifier: Apache-2.0 */
/* logfmt / JSON lines on stderr; see log.h. */
#include "agent/base/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static enum sa_log_level min_level = SA_LOG_INFO;
static enum sa_log_format log_format = SA_LOG_LOGFMT;

static const char *level_names[] = {"debug", "info", "warn", "error"};

void sa_log_setup(enum sa_log_level level, enum sa_log_format format)
{
    min_level = level;
    log_format = format;
}

enum sa_log_level sa_log_min_level(void) { return min_level; }

struct line {
    char buf[4096];
    size_t len;
};

static void put(struct line *l, const char *s, size_t n)
{
    if (l->len + n >= sizeof l->buf - 2)
        n = sizeof l->buf - 2 - l->len;
    memcpy(l->buf + l->len, s, n);
    l->len += n;
}

static void puts_raw(struct line *l, const char *s) { put(l, s, strlen(s)); }

/* Append s quoted for logfmt (when it holds a space, quote or '=') or JSON. */
static void put_value(struct line *l, const char *s)
{
    int json = log_format == SA_LOG_JSON;
    int quote = json || s[0] == '\0' || strpbrk(s, " \"=\t\n\\") != NULL;
    if (quote)
        put(l, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char esc[8];
        if (*p == '"' || *p == '\\') {
            esc[0] = '\\';
            esc[1] = (char)*p;
            put(l, esc, 2);
        } else if (*p == '\n') {
            put(l, "\\n", 2);
        } else if (*p < 0x20) {
            snprintf(esc, sizeof esc, "\\u%04x", *p);
            put(l, esc, strlen(esc));
        } else {
            put(l, (const char *)p, 1);
        }
    }
    if (quote)
        put(l, "\"", 1);
}

static void put_key(struct line *l, const char *key)
{
    if (log_format == SA_LOG_JSON) {
        puts_raw(l, ",\"");
        puts_raw(l, key);
        puts_raw(l, "\":");
    } else {
        puts_raw(l, " ");
        puts_raw(l, key);
        puts_raw(l, "=");
    }
}

static void begin(struct line *l, enum sa_log_level level, const char *msg)
{
    struct timeval tv;
    struct tm tm;
    char ts[40];

    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    snprintf(ts, sizeof ts, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
             tm.tm_min, tm.tm_sec, (int)(tv.tv_usec / 1000));
    l->len = 0;
    if (log_format == SA_LOG_JSON) {
        puts_raw(l, "{\"ts\":\"");
        puts_raw(l, ts);
        puts_raw(l, "\"");
    } else {
        puts_raw(l, "ts=");
        puts_raw(l, ts);
    }
    put_key(l, "level");
    put_value(l, level_names[level]);
    put_key(l, "msg");
    put_value(l, msg);
}

static void end(struct line *l)
{
    if (log_format == SA_LOG_JSON)
        put(l, "}", 1);
    l->buf[l->len++] = '\n';
    /* One write() per line keeps lines whole across threads. */
    ssize_t n = write(STDERR_FILENO, l->buf, l->len);
    (void)n;
}

void sa_log(enum sa_log_level level, const char *msg, ...)
{
    struct line l;
    va_list ap;
    const char *key;

    if (level < min_level)
        return;
    begin(&l, level, msg);
    va_start(ap, msg);
    while ((key = va_arg(ap, const char *)) != NULL) {
        const char *value = va_arg(ap, const char *);
        put_key(&l, key);
        put_value(&l, value ? value : "");
    }
    va_end(ap);
    end(&l);
}

void sa_logf(enum sa_log_level level, const char *msg, const char *kvfmt, ...)
{
    struct line l;
    char tail[2048];
    va_list ap;

    if (level < min_level)
        return;
    va_start(ap, kvfmt);
    vsnprintf(tail, sizeof tail, kvfmt, ap);
    va_end(ap);
    begin(&l, level, msg);
    if (log_format == SA_LOG_JSON) {
        /* Turn "a=1 b=x" into JSON members; values become strings. */
        char *save = NULL;
        for (char *tok = strtok_r(tail, " ", &save); tok;
             tok = strtok_r(NULL, " ", &save)) {
            char *eq = strchr(tok, '=');
            if (!eq)
                continue;
            *eq = '\0';
            put_key(&l, tok);
            put_value(&l, eq + 1);
        }
    } else if (tail[0]) {
        puts_raw(&l, " ");
        puts_raw(&l, tail);
    }
    end(&l);
}
