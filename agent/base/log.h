/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Structured logging to stderr: one logfmt line per event
 *   ts=2026-11-24T02:54:13.120Z level=info msg="spool opened" path=x.db
 * or one JSON object per line with `log_format: json`. The message is a
 * fixed phrase; variable facts go into key=value pairs so that the lines
 * can be grepped and parsed. Thread-safe: a line is written with one call.
 */
#ifndef SA_BASE_LOG_H
#define SA_BASE_LOG_H

enum sa_log_level { SA_LOG_DEBUG, SA_LOG_INFO, SA_LOG_WARN, SA_LOG_ERROR };
enum sa_log_format { SA_LOG_LOGFMT, SA_LOG_JSON };

void sa_log_setup(enum sa_log_level min_level, enum sa_log_format format);
enum sa_log_level sa_log_min_level(void);

/*
 * Log `msg` with key/value pairs given as alternating const char * keys
 * and values, ending with NULL:
 *   sa_log(SA_LOG_INFO, "spool opened", "path", path, "segments", "12", NULL);
 * Values are quoted when needed. Use sa_logf for a printf-built kv tail.
 */
void sa_log(enum sa_log_level level, const char *msg, ...);

/* Log `msg` followed by a pre-formatted logfmt tail: kvfmt is a printf
 * format such as "path=%s segments=%d" (values must not need quoting, or
 * quote them with %Q-free care; prefer sa_log for untrusted strings). */
void sa_logf(enum sa_log_level level, const char *msg, const char *kvfmt, ...)
    __attribute__((format(printf, 3, 4)));

#define sa_log_debug(...) sa_log(SA_LOG_DEBUG, __VA_ARGS__, (const char *)0)
#define sa_log_info(...) sa_log(SA_LOG_INFO, __VA_ARGS__, (const char *)0)
#define sa_log_warn(...) sa_log(SA_LOG_WARN, __VA_ARGS__, (const char *)0)
#define sa_log_error(...) sa_log(SA_LOG_ERROR, __VA_ARGS__, (const char *)0)

#endif
