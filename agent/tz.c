/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Time zones (agent/tz.h): a fixed offset, or an IANA zone from a TZif
 * file (RFC 8536).
 *
 * A TZif file holds the UTC instants at which the zone's offset changed
 * (transitions), the offset after each, and a footer: a POSIX TZ string
 * ("CET-1CEST,M3.5.0,M10.5.0/3") for the instants after the last
 * transition. "Slim" files end their transitions early and leave the
 * rest to the footer, so both are read. Only the version 2+ data (64-bit
 * instants) is used; a version 1 file is read as it is. Files with leap
 * seconds (the right/ zones) are refused: their instants are not POSIX
 * seconds.
 *
 * Local time to UTC: the offsets in force a day before and a day after
 * the wall-clock time are the candidates (no zone changes its offset
 * twice in two days); the first that maps the time back to itself wins,
 * so an hour that occurs twice is read as the first one, and an hour that
 * was skipped is read with the offset of before the change.
 */
#include "agent/tz.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TZIF_MAX (1 << 20) /* the largest zone file is under 10 KB */

/* One date of a POSIX TZ rule: Jn (1..365, no Feb 29), n (0..365) or
 * Mm.w.d (day d of week w of month m; week 5 is the last), and the local
 * time of day it takes effect. */
struct rule_date {
    char kind; /* 'J', 'n', 'M' */
    int n, m, w, d;
    int32_t time;
};

struct posix_tz {
    int valid;
    int has_dst;
    int32_t std_off, dst_off; /* seconds east of UTC */
    struct rule_date start, end;
};

struct sa_tz {
    char *name;
    int fixed;
    int32_t fixed_off;
    int64_t *trans; /* n_trans UTC instants, ascending */
    uint8_t *idx;   /* the type after each transition */
    size_t n_trans;
    int32_t *type_off; /* n_types offsets, seconds east of UTC */
    size_t n_types;
    struct posix_tz footer;
};

/* --- calendar ---------------------------------------------------------- */

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static int64_t year_of_days(int64_t z)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    return (int64_t)yoe + era * 400 + (mp >= 10);
}

static int is_leap(int64_t y)
{
    return y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
}

static int64_t floor_div(int64_t a, int64_t b)
{
    return a >= 0 ? a / b : -((-a + b - 1) / b);
}

/* Seconds since the epoch (local) at which rule date r of year starts. */
static int64_t rule_local(const struct rule_date *r, int64_t year)
{
    static const unsigned mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int64_t day;

    if (r->kind == 'J') {
        day = days_from_civil(year, 1, 1) + r->n - 1 + (is_leap(year) && r->n >= 60);
    } else if (r->kind == 'n') {
        day = days_from_civil(year, 1, 1) + r->n;
    } else {
        int64_t first = days_from_civil(year, (unsigned)r->m, 1);
        int wday = (int)(((first + 4) % 7 + 7) % 7); /* 1970-01-01 was a Thursday */
        int dom = 1 + (r->d - wday + 7) % 7 + (r->w - 1) * 7;
        int len = (int)mdays[r->m - 1] + (r->m == 2 && is_leap(year));
        while (dom > len)
            dom -= 7;
        day = first + dom - 1;
    }
    return day * 86400 + r->time;
}

static int32_t footer_offset(const struct posix_tz *p, int64_t utc)
{
    int64_t year, start, end;

    if (!p->has_dst)
        return p->std_off;
    year = year_of_days(floor_div(utc + p->std_off, 86400));
    start = rule_local(&p->start, year) - p->std_off;
    end = rule_local(&p->end, year) - p->dst_off;
    if (start < end)
        return utc >= start && utc < end ? p->dst_off : p->std_off;
    return utc >= end && utc < start ? p->std_off : p->dst_off;
}

/* --- POSIX TZ strings -------------------------------------------------- */

static int parse_tz_name(const char **s)
{
    const char *p = *s;
    if (*p == '<') {
        while (*p && *p != '>')
            p++;
        if (*p != '>')
            return -1;
        *s = p + 1;
        return 0;
    }
    while ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z'))
        p++;
    if (p - *s < 3)
        return -1;
    *s = p;
    return 0;
}

/* [+-]h[h][:mm[:ss]] into seconds (hours up to 167, RFC 8536). */
static int parse_hms(const char **s, int32_t *out)
{
    const char *p = *s;
    int sign = 1, h = 0, m = 0, sec = 0, n = 0;

    if (*p == '+' || *p == '-')
        sign = *p++ == '-' ? -1 : 1;
    while (*p >= '0' && *p <= '9' && n < 3)
        h = h * 10 + (*p++ - '0'), n++;
    if (n == 0 || h > 167)
        return -1;
    if (*p == ':') {
        p++;
        if (!(p[0] >= '0' && p[0] <= '5' && p[1] >= '0' && p[1] <= '9'))
            return -1;
        m = (p[0] - '0') * 10 + (p[1] - '0');
        p += 2;
        if (*p == ':') {
            p++;
            if (!(p[0] >= '0' && p[0] <= '5' && p[1] >= '0' && p[1] <= '9'))
                return -1;
            sec = (p[0] - '0') * 10 + (p[1] - '0');
            p += 2;
        }
    }
    *out = sign * (h * 3600 + m * 60 + sec);
    *s = p;
    return 0;
}

static int parse_num(const char **s, int lo, int hi, int *out)
{
    const char *p = *s;
    int v = 0, n = 0;
    while (*p >= '0' && *p <= '9' && n < 4)
        v = v * 10 + (*p++ - '0'), n++;
    if (n == 0 || v < lo || v > hi)
        return -1;
    *out = v;
    *s = p;
    return 0;
}

static int parse_rule_date(const char **s, struct rule_date *r)
{
    const char *p = *s;

    memset(r, 0, sizeof *r);
    r->time = 7200; /* 02:00 when not given */
    if (*p == 'J') {
        p++;
        r->kind = 'J';
        if (parse_num(&p, 1, 365, &r->n))
            return -1;
    } else if (*p == 'M') {
        p++;
        r->kind = 'M';
        if (parse_num(&p, 1, 12, &r->m) || *p++ != '.' || parse_num(&p, 1, 5, &r->w) ||
            *p++ != '.' || parse_num(&p, 0, 6, &r->d))
            return -1;
    } else {
        r->kind = 'n';
        if (parse_num(&p, 0, 365, &r->n))
            return -1;
    }
    if (*p == '/') {
        p++;
        if (parse_hms(&p, &r->time))
            return -1;
    }
    *s = p;
    return 0;
}

/* "STD offset [DST [offset] [,start[/time],end[/time]]]"; POSIX offsets
 * count west of UTC, ours east. */
static int parse_posix_tz(const char *s, struct posix_tz *out)
{
    int32_t off;

    memset(out, 0, sizeof *out);
    if (parse_tz_name(&s) || parse_hms(&s, &off))
        return -1;
    out->std_off = -off;
    if (*s) {
        if (parse_tz_name(&s))
            return -1;
        out->has_dst = 1;
        out->dst_off = out->std_off + 3600;
        if (*s && *s != ',') {
            if (parse_hms(&s, &off))
                return -1;
            out->dst_off = -off;
        }
        if (*s == ',') {
            s++;
            if (parse_rule_date(&s, &out->start) || *s++ != ',' ||
                parse_rule_date(&s, &out->end))
                return -1;
        } else {
            /* No rule: the US rule, as glibc assumes. */
            const char *dflt = "M3.2.0,M11.1.0";
            if (parse_rule_date(&dflt, &out->start) || *dflt++ != ',' ||
                parse_rule_date(&dflt, &out->end))
                return -1;
        }
    }
    if (*s)
        return -1;
    out->valid = 1;
    return 0;
}

/* --- TZif ----------------------------------------------------------------- */

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const uint8_t *p)
{
    return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

struct tzif_counts {
    uint32_t isut, isstd, leap, time, type, chars;
};

static int read_counts(const uint8_t *p, size_t len, size_t at, struct tzif_counts *c)
{
    if (at + 44 > len || memcmp(p + at, "TZif", 4) != 0)
        return -1;
    c->isut = be32(p + at + 20);
    c->isstd = be32(p + at + 24);
    c->leap = be32(p + at + 28);
    c->time = be32(p + at + 32);
    c->type = be32(p + at + 36);
    c->chars = be32(p + at + 40);
    if (c->time > 100000 || c->type == 0 || c->type > 256 || c->chars > 100000 ||
        c->leap > 100000 || c->isut > 256 || c->isstd > 256)
        return -1;
    return 0;
}

static size_t block_size(const struct tzif_counts *c, size_t tsize)
{
    return (size_t)c->time * (tsize + 1) + (size_t)c->type * 6 + c->chars +
           (size_t)c->leap * (tsize + 4) + c->isstd + c->isut;
}

static int parse_tzif(struct sa_tz *tz, const uint8_t *p, size_t len, char *why,
                      size_t why_len)
{
    struct tzif_counts c;
    size_t at = 0, tsize = 4, data;

    if (read_counts(p, len, 0, &c))
        goto bad;
    if (p[4] >= '2') {
        at = 44 + block_size(&c, 4);
        tsize = 8;
        if (read_counts(p, len, at, &c))
            goto bad;
    }
    data = at + 44;
    if (data + block_size(&c, tsize) > len)
        goto bad;
    if (c.leap) {
        snprintf(why, why_len,
                 "it counts leap seconds (a right/ zone): use the zone "
                 "without right/");
        return -1;
    }
    tz->n_trans = c.time;
    tz->n_types = c.type;
    tz->trans = calloc(c.time ? c.time : 1, sizeof *tz->trans);
    tz->idx = calloc(c.time ? c.time : 1, 1);
    tz->type_off = calloc(c.type, sizeof *tz->type_off);
    if (!tz->trans || !tz->idx || !tz->type_off) {
        snprintf(why, why_len, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < c.time; i++) {
        const uint8_t *t = p + data + i * tsize;
        tz->trans[i] = tsize == 8 ? be64(t) : (int64_t)(int32_t)be32(t);
        if (i && tz->trans[i] <= tz->trans[i - 1])
            goto bad;
    }
    data += (size_t)c.time * tsize;
    for (size_t i = 0; i < c.time; i++) {
        tz->idx[i] = p[data + i];
        if (tz->idx[i] >= c.type)
            goto bad;
    }
    data += c.time;
    for (size_t i = 0; i < c.type; i++) {
        int32_t off = (int32_t)be32(p + data + i * 6);
        if (off < -89999 || off > 93599)
            goto bad;
        tz->type_off[i] = off;
    }
    data +=
        (size_t)c.type * 6 + c.chars + (size_t)c.leap * (tsize + 4) + c.isstd + c.isut;
    /* The footer: "\nTZ string\n" (version 2+). */
    if (tsize == 8 && data < len && p[data] == '\n') {
        const uint8_t *end = memchr(p + data + 1, '\n', len - data - 1);
        char footer[256];
        size_t n = end ? (size_t)(end - (p + data + 1)) : 0;
        if (!end || n >= sizeof footer)
            goto bad;
        memcpy(footer, p + data + 1, n);
        footer[n] = '\0';
        if (n && parse_posix_tz(footer, &tz->footer)) {
            snprintf(why, why_len, "its rule '%s' cannot be read", footer);
            return -1;
        }
    }
    return 0;
bad:
    snprintf(why, why_len, "not a valid TZif file");
    return -1;
}

/* --- loading --------------------------------------------------------------- */

/* UTC, GMT, Z, or [+-]hh[[:]mm]: 0 with *off, -1 otherwise. */
static int parse_fixed(const char *s, int32_t *off)
{
    size_t len = strlen(s);
    int h, m = 0, sign;

    if (strcmp(s, "UTC") == 0 || strcmp(s, "utc") == 0 || strcmp(s, "GMT") == 0 ||
        strcmp(s, "Z") == 0) {
        *off = 0;
        return 0;
    }
    if ((s[0] != '+' && s[0] != '-') || len < 3)
        return -1;
    sign = s[0] == '-' ? -1 : 1;
    for (size_t i = 1; i < len; i++)
        if (!(s[i] >= '0' && s[i] <= '9') && !(i == 3 && s[i] == ':'))
            return -1;
    h = (s[1] - '0') * 10 + (s[2] - '0');
    if (len == 5 && s[3] != ':')
        m = (s[3] - '0') * 10 + (s[4] - '0');
    else if (len == 6 && s[3] == ':')
        m = (s[4] - '0') * 10 + (s[5] - '0');
    else if (len != 3)
        return -1;
    if (h > 23 || m > 59)
        return -1;
    *off = sign * (h * 3600 + m * 60);
    return 0;
}

/* An IANA name: letters, digits, _ + - and / between parts; no "..". */
static int is_zone_name(const char *s)
{
    size_t len = strlen(s);
    if (len == 0 || len > 200 || s[0] == '/' || s[0] == '-' || s[len - 1] == '/' ||
        strstr(s, "..") || strstr(s, "//"))
        return 0;
    for (; *s; s++)
        if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') ||
              (*s >= '0' && *s <= '9') || *s == '_' || *s == '+' || *s == '-' ||
              *s == '/' || *s == '.'))
            return 0;
    return 1;
}

void sa_tz_free(struct sa_tz *tz)
{
    if (!tz)
        return;
    free(tz->name);
    free(tz->trans);
    free(tz->idx);
    free(tz->type_off);
    free(tz);
}

int sa_tz_load(const char *name, struct sa_tz **out, struct sa_err *err)
{
    const char *dir = getenv("TZDIR");
    struct sa_tz *tz = calloc(1, sizeof *tz);
    char path[512], why[160] = "";
    uint8_t *data = NULL;
    size_t len = 0;
    FILE *f = NULL;
    int rc = SA_OK;

    *out = NULL;
    if (!tz || !(tz->name = strdup(name))) {
        rc = sa_err_set(err, SA_ENOMEM, "out of memory");
        goto out;
    }
    if (parse_fixed(name, &tz->fixed_off) == 0) {
        tz->fixed = 1;
        goto out;
    }
    if (!is_zone_name(name)) {
        rc = sa_err_set(err, SA_ECONFIG,
                        "'%s' is not UTC, an offset such as +02:00 or "
                        "-0530, or a zone name such as Europe/Berlin",
                        name);
        goto out;
    }
    snprintf(path, sizeof path, "%s/%s", dir && *dir ? dir : "/usr/share/zoneinfo",
             name);
    if (!(f = fopen(path, "rb"))) {
        rc = sa_err_set(err, SA_ECONFIG,
                        "'%s' is not a time zone this system knows "
                        "(%s: %s; is tzdata installed?)",
                        name, path, strerror(errno));
        goto out;
    }
    if (!(data = malloc(TZIF_MAX))) {
        rc = sa_err_set(err, SA_ENOMEM, "out of memory");
        goto out;
    }
    len = fread(data, 1, TZIF_MAX, f);
    if (ferror(f) || len == TZIF_MAX || parse_tzif(tz, data, len, why, sizeof why)) {
        rc = sa_err_set(err, SA_ECONFIG, "time zone '%s' (%s): %s", name, path,
                        why[0] ? why : "cannot be read");
        goto out;
    }
out:
    if (f)
        fclose(f);
    free(data);
    if (rc)
        sa_tz_free(tz);
    else
        *out = tz;
    return rc;
}

const char *sa_tz_name(const struct sa_tz *tz)
{
    return tz->name;
}

int32_t sa_tz_offset_at(const struct sa_tz *tz, int64_t utc)
{
    size_t lo, hi;

    if (tz->fixed)
        return tz->fixed_off;
    if (tz->n_trans == 0)
        return tz->footer.valid ? footer_offset(&tz->footer, utc) : tz->type_off[0];
    if (utc < tz->trans[0])
        return tz->type_off[0];
    if (utc >= tz->trans[tz->n_trans - 1] && tz->footer.valid)
        return footer_offset(&tz->footer, utc);
    /* The last transition at or before utc. */
    lo = 0;
    hi = tz->n_trans;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (tz->trans[mid] <= utc)
            lo = mid;
        else
            hi = mid;
    }
    return tz->type_off[tz->idx[lo]];
}

int32_t sa_tz_offset_local(const struct sa_tz *tz, int64_t local)
{
    int32_t before, after;

    if (tz->fixed)
        return tz->fixed_off;
    before = sa_tz_offset_at(tz, local - 86400);
    after = sa_tz_offset_at(tz, local + 86400);
    if (sa_tz_offset_at(tz, local - before) == before)
        return before;
    if (after != before && sa_tz_offset_at(tz, local - after) == after)
        return after;
    return before;
}
