/* SPDX-License-Identifier: Apache-2.0 */
/* Error codes and messages; see error.h. */
#include "agent/base/error.h"

#include "agent/base/text.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int sa_err_set(struct sa_err *err, int rc, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        int n;
        err->rc = rc;
        va_start(ap, fmt);
        n = vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        /* A long message is cut at a byte count: not inside a character,
         * or it is no longer valid UTF-8 (upstreams' text goes in here). */
        if (n >= (int)sizeof err->msg)
            sa_text_trim_partial_utf8(err->msg);
    }
    return rc;
}

int sa_err_prefix(struct sa_err *err, const char *fmt, ...)
{
    char prefix[SA_ERR_MSG_MAX];
    char old[SA_ERR_MSG_MAX];
    va_list ap;

    if (!err)
        return SA_EINVAL;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof old);
    if (snprintf(err->msg, sizeof err->msg, "%s%s", prefix, old) >=
        (int)sizeof err->msg)
        sa_text_trim_partial_utf8(err->msg);
    return err->rc;
}

void sa_err_clear(struct sa_err *err)
{
    if (err) {
        err->rc = SA_OK;
        err->msg[0] = '\0';
    }
}

const char *sa_strerror(int rc)
{
    switch (rc) {
    case SA_OK: return "ok";
    case SA_EOF: return "end of input";
#define XX(name, msg) case SA_##name: return msg;
    SA_RC_MAP(XX)
#undef XX
    default: return "unknown error";
    }
}

const char *sa_rc_name(int rc)
{
    switch (rc) {
    case SA_OK: return "OK";
    case SA_EOF: return "EOF";
#define XX(name, msg) case SA_##name: return #name;
    SA_RC_MAP(XX)
#undef XX
    default: return "UNKNOWN";
    }
}
