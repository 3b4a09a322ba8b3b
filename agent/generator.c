/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The data generator (agent/generator.h). At init every field of the
 * schema gets a plan chosen from its type and its name (a "temperature"
 * double drifts around a per-device base, an "email" string is built from
 * the person's name, an enum draws its symbols with a skew). Filling
 * record i then runs the plans with no state carried between records.
 *
 * Randomness is counter-based: every draw is splitmix64 of the seed, the
 * record index (or the entity, below), the field number and a salt. So
 * record i depends on (schema, seed, i, start_ms, interval_ms) only, and
 * a daemon restarted at a committed i carries on with exactly the records
 * it would have produced.
 *
 * Entities: a record belongs to an entity (a device, a user, a session)
 * drawn from a pool sized by the key field's name; fields that describe
 * the entity (name, email, city, ip...) are drawn from the entity, not
 * from the record, so that the updates of one key agree with each other.
 * Keys that are unique per record (order_id, event_id) make every record
 * its own entity.
 */
#include "agent/generator.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum plan_kind {
    P_SKIP,        /* not generated: the schema default applies */
    P_EVENT_TIME,  /* start_ms + i * interval_ms */
    P_TIME_BEFORE, /* some time before the event (created_at) */
    P_TIME_AFTER,  /* some time after the event (shipped_at) */
    P_TIME_ENTITY, /* fixed per entity, before start (signup_at) */
    P_DEVICE_ID,   /* dev-000123 */
    P_UNIQUE_ID,   /* ord-0000000042: from the index */
    P_UUID,        /* 8-4-4-4-12 hex */
    P_SESSION_ID,
    P_HEX_ID,
    P_PERSON, /* "Ada Lovelace" */
    P_FIRST_NAME,
    P_LAST_NAME,
    P_EMAIL,
    P_CITY,
    P_COUNTRY,
    P_PHONE,
    P_SKU,
    P_URL,
    P_PATH,
    P_REFERRER,
    P_USER_AGENT,
    P_IP,
    P_COUPON,
    P_VERSION, /* firmware "2.4.17" */
    P_WORD,    /* any other string */
    P_BYTES,
    P_USER_NUM, /* 1..100000 */
    P_QUANTITY,
    P_PERCENT, /* battery */
    P_AGE,
    P_HTTP_STATUS,
    P_BYTE_COUNT,
    P_INT,
    P_LONG,
    P_TEMPERATURE,
    P_HUMIDITY,
    P_PRESSURE,
    P_AMOUNT,
    P_DURATION,
    P_DOUBLE,
    P_BOOL,
    P_ENUM,
};

struct field_plan {
    enum plan_kind kind;
    avro_type_t type;        /* value type to set */
    int per_entity;          /* draw from the entity, not the record */
    uint32_t null_per_mille; /* nullable fields: how often null */
    uint32_t true_per_mille; /* booleans */
    int n_symbols;           /* enums: cumulative weights out of 2^32 */
    uint64_t *cumulative;
};

struct plan {
    struct field_plan *f;
    size_t n;
    uint64_t entity_pool; /* 0: every record its own entity */
};

/* --- counter-based randomness --------------------------------------------- */

static inline uint64_t splitmix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

/* The draw number `salt` of field `field` for counter n (index or entity). */
static inline uint64_t draw(uint64_t seed, uint64_t n, size_t field, uint64_t salt)
{
    return splitmix64(seed ^ splitmix64(n ^ splitmix64(((uint64_t)field << 8) ^ salt)));
}

static inline double unit(uint64_t r)
{
    return (double)(r >> 11) * 0x1.0p-53;
}

/* --- word lists ------------------------------------------------------------ */

static const char *const first_names[] = {
    "Ada",     "Alan",   "Grace", "Linus",  "Margaret", "Dennis", "Barbara",   "Ken",
    "Frances", "Edsger", "Radia", "Donald", "Hedy",     "John",   "Katherine", "Tim",
    "Sophie",  "Lukas",  "Emma",  "Noah",   "Mia",      "Liam",   "Yuki",      "Aarav",
    "Chloe",   "Mateo",  "Amara", "Olga",   "Kwame",    "Ines",   "Pablo",     "Freya",
};
static const char *const last_names[] = {
    "Lovelace", "Turing",   "Hopper",  "Torvalds",    "Hamilton", "Ritchie",
    "Liskov",   "Thompson", "Allen",   "Dijkstra",    "Perlman",  "Knuth",
    "Lamarr",   "McCarthy", "Johnson", "Berners-Lee", "Muller",   "Schmidt",
    "Rossi",    "Garcia",   "Tanaka",  "Nguyen",      "Okafor",   "Novak",
    "Silva",    "Jensen",   "Dubois",  "Kowalski",
};
static const char *const cities[] = {
    "Berlin",    "Paris",     "London",    "Madrid",        "Rome",    "Amsterdam",
    "Vienna",    "Zurich",    "Stockholm", "Oslo",          "Lisbon",  "Prague",
    "Warsaw",    "Dublin",    "New York",  "San Francisco", "Toronto", "Tokyo",
    "Seoul",     "Singapore", "Sydney",    "Sao Paulo",     "Nairobi", "Mumbai",
    "Cape Town", "Helsinki",
};
static const char *const countries[] = {
    "DE", "FR", "GB", "ES", "IT", "NL", "AT", "CH", "SE", "NO", "PT", "CZ",
    "PL", "IE", "US", "US", "CA", "JP", "KR", "SG", "AU", "BR", "KE", "IN",
};
static const char *const domains[] = {
    "example.com",
    "example.org",
    "mail.example.net",
    "corp.example",
};
static const char *const paths[] = {
    "/",      "/products",      "/products/",     "/cart",          "/checkout",
    "/login", "/search",        "/api/v1/orders", "/api/v1/users/", "/blog/",
    "/help",  "/static/app.js",
};
static const char *const user_agents[] = {
    "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Version/17.5 Safari/605.1.15",
    "curl/8.8.0",
    "Googlebot/2.1 (+http://www.google.com/bot.html)",
};
static const char *const referrers[] = {
    "https://www.google.com/",   "https://duckduckgo.com/",
    "https://news.example.com/", "https://social.example/feed",
    "https://shop.example.com/",
};
static const char *const coupons[] = {"WELCOME10", "SPRING24", "FREESHIP", "VIP20"};
static const char *const words[] = {
    "alpha", "bravo",  "charlie", "delta", "echo", "foxtrot",  "golf",  "hotel",
    "india", "juliet", "kilo",    "lima",  "mike", "november", "oscar", "papa",
};
static const int http_statuses[] = {200, 200, 200, 200, 200, 200, 200, 200,
                                    200, 200, 200, 200, 201, 204, 301, 304,
                                    304, 400, 401, 403, 404, 404, 500, 503};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))
#define PICK(list, r) ((list)[(r) % COUNT(list)])

/* --- plan ------------------------------------------------------------------ */

static int has(const char *name, const char *part)
{
    return strstr(name, part) != NULL;
}
static int is(const char *name, const char *word)
{
    return strcmp(name, word) == 0;
}

static enum plan_kind string_plan(const char *n, int is_key)
{
    if (has(n, "device"))
        return P_DEVICE_ID;
    if (has(n, "session"))
        return P_SESSION_ID;
    if (has(n, "event_id") || has(n, "uuid") || has(n, "request_id") || has(n, "trace"))
        return P_UUID;
    if (has(n, "order_id") || has(n, "invoice") || has(n, "txn") ||
        has(n, "transaction"))
        return P_UNIQUE_ID;
    if (has(n, "email") || has(n, "mail"))
        return P_EMAIL;
    if (is(n, "first_name") || is(n, "firstname") || is(n, "given_name"))
        return P_FIRST_NAME;
    if (is(n, "last_name") || is(n, "lastname") || is(n, "surname") ||
        is(n, "family_name"))
        return P_LAST_NAME;
    if (is(n, "name") || has(n, "full_name") || has(n, "customer") || has(n, "person"))
        return P_PERSON;
    if (has(n, "city") || has(n, "town") || has(n, "location"))
        return P_CITY;
    if (has(n, "country"))
        return P_COUNTRY;
    if (has(n, "phone") || has(n, "mobile"))
        return P_PHONE;
    if (has(n, "sku") || has(n, "product"))
        return P_SKU;
    if (has(n, "referrer") || has(n, "referer"))
        return P_REFERRER;
    if (has(n, "url") || has(n, "uri") || has(n, "link"))
        return P_URL;
    if (has(n, "path") || has(n, "route") || has(n, "endpoint"))
        return P_PATH;
    if (has(n, "agent"))
        return P_USER_AGENT;
    if (is(n, "ip") || has(n, "ip_addr") || has(n, "address") || has(n, "_ip") ||
        has(n, "ip_"))
        return P_IP;
    if (has(n, "coupon") || has(n, "promo") || has(n, "voucher"))
        return P_COUPON;
    if (has(n, "firmware") || has(n, "version"))
        return P_VERSION;
    if (has(n, "_id") || is(n, "id") || is_key)
        return P_HEX_ID;
    return P_WORD;
}

static enum plan_kind integer_plan(const char *n, int logical, int is_event_time)
{
    if (logical == SA_LOGICAL_TIMESTAMP_MILLIS || has(n, "_at") || has(n, "time") ||
        is(n, "ts") || has(n, "timestamp")) {
        if (is_event_time)
            return P_EVENT_TIME;
        if (has(n, "signup") || has(n, "registered") || has(n, "birth") ||
            has(n, "joined"))
            return P_TIME_ENTITY;
        if (has(n, "ship") || has(n, "deliver") || has(n, "end") || has(n, "expire") ||
            has(n, "due"))
            return P_TIME_AFTER;
        return P_TIME_BEFORE;
    }
    if (has(n, "user") || has(n, "customer") || has(n, "account"))
        return P_USER_NUM;
    if (has(n, "quantity") || has(n, "qty") || has(n, "count") || has(n, "items"))
        return P_QUANTITY;
    if (has(n, "battery") || has(n, "percent") || has(n, "level"))
        return P_PERCENT;
    if (has(n, "age"))
        return P_AGE;
    if (has(n, "status"))
        return P_HTTP_STATUS;
    if (has(n, "bytes") || has(n, "size") || has(n, "length"))
        return P_BYTE_COUNT;
    if (has(n, "duration") || has(n, "latency") || has(n, "elapsed"))
        return P_DURATION;
    return P_INT;
}

static enum plan_kind double_plan(const char *n)
{
    if (has(n, "temp"))
        return P_TEMPERATURE;
    if (has(n, "humid"))
        return P_HUMIDITY;
    if (has(n, "pressure"))
        return P_PRESSURE;
    if (has(n, "amount") || has(n, "price") || has(n, "total") || has(n, "cost") ||
        has(n, "revenue") || has(n, "balance"))
        return P_AMOUNT;
    if (has(n, "duration") || has(n, "latency") || has(n, "elapsed") || has(n, "_ms"))
        return P_DURATION;
    if (has(n, "battery") || has(n, "percent"))
        return P_PERCENT;
    return P_DOUBLE;
}

static uint32_t bool_true_per_mille(const char *n)
{
    if (has(n, "bot") || has(n, "deleted") || has(n, "fraud") || has(n, "error"))
        return 50;
    if (has(n, "gift"))
        return 100;
    if (has(n, "active") || has(n, "enabled") || has(n, "verified") || has(n, "ok"))
        return 900;
    if (has(n, "calibrat"))
        return 700;
    return 500;
}

static int is_entity_field(enum plan_kind k)
{
    switch (k) {
    case P_PERSON:
    case P_FIRST_NAME:
    case P_LAST_NAME:
    case P_EMAIL:
    case P_CITY:
    case P_COUNTRY:
    case P_PHONE:
    case P_USER_AGENT:
    case P_IP:
    case P_VERSION:
    case P_AGE:
    case P_TIME_ENTITY:
        return 1;
    default:
        return 0;
    }
}

static void plan_free(struct plan *p)
{
    if (!p)
        return;
    for (size_t i = 0; p->f && i < p->n; i++)
        free(p->f[i].cumulative);
    free(p->f);
    free(p);
}

/* Zipf-like weights 1/(k+1): the first symbols (OK, PENDING, GET, EUR)
 * are the common ones, as they are listed first in the sample schemas. */
static int enum_weights(struct field_plan *fp, avro_schema_t es)
{
    double total = 0, acc = 0;
    fp->n_symbols = avro_schema_enum_number_of_symbols(es);
    if (fp->n_symbols <= 0)
        return SA_ESCHEMA;
    fp->cumulative = malloc((size_t)fp->n_symbols * sizeof *fp->cumulative);
    if (!fp->cumulative)
        return SA_ENOMEM;
    for (int k = 0; k < fp->n_symbols; k++)
        total += 1.0 / (k + 1);
    for (int k = 0; k < fp->n_symbols; k++) {
        acc += 1.0 / (k + 1) / total;
        fp->cumulative[k] = k == fp->n_symbols - 1
                                ? UINT64_MAX
                                : (uint64_t)(acc * 18446744073709551615.0);
    }
    return SA_OK;
}

static int plan_field(const struct sa_schema *schema, size_t i, struct field_plan *fp,
                      struct sa_err *err)
{
    const struct sa_schema_field *f = &schema->fields[i];
    const char *n = f->name;
    int is_key = (int)i == schema->key_field;

    fp->type = f->kind;
    /* Nullable fields are null one time in ten; optional extras more. */
    fp->null_per_mille = !f->nullable                            ? 0
                         : has(n, "coupon") || has(n, "promo")   ? 800
                         : has(n, "referrer") || has(n, "phone") ? 300
                                                                 : 100;
    switch (f->kind) {
    case AVRO_STRING:
        fp->kind = string_plan(n, is_key);
        break;
    case AVRO_BYTES:
    case AVRO_FIXED:
        fp->kind = f->kind == AVRO_BYTES ? P_BYTES : P_SKIP;
        break;
    case AVRO_INT32:
    case AVRO_INT64:
        fp->kind = integer_plan(n, f->logical, (int)i == schema->event_time_field);
        if (fp->kind == P_DURATION)
            fp->kind = P_INT;
        if (fp->kind == P_INT && f->kind == AVRO_INT64)
            fp->kind = P_LONG;
        if (f->kind == AVRO_INT32 &&
            (fp->kind == P_EVENT_TIME || fp->kind == P_TIME_BEFORE ||
             fp->kind == P_TIME_AFTER || fp->kind == P_TIME_ENTITY))
            fp->kind = P_INT; /* an int cannot hold epoch ms */
        break;
    case AVRO_FLOAT:
    case AVRO_DOUBLE:
        fp->kind = double_plan(n);
        break;
    case AVRO_BOOLEAN:
        fp->kind = P_BOOL;
        fp->true_per_mille = bool_true_per_mille(n);
        break;
    case AVRO_ENUM:
        fp->kind = P_ENUM;
        if (enum_weights(fp, f->value))
            return sa_err_set(err, SA_ENOMEM, "generator: out of memory");
        break;
    case AVRO_NULL:
        fp->kind = P_SKIP;
        fp->null_per_mille = 1000;
        break;
    default:
        fp->kind = P_SKIP;
        break;
    }
    if (fp->kind == P_SKIP && !f->default_json && f->kind != AVRO_NULL)
        return sa_err_set(err, SA_ESCHEMA,
                          "generator: schema %s: field '%s' has a type the generator "
                          "cannot fill (%s) and no default",
                          schema->subject, n, avro_schema_type_name(f->value));
    fp->per_entity = is_key || is_entity_field(fp->kind);
    if (is_key)
        fp->null_per_mille = 0; /* a record keeps its key */
    if (fp->kind == P_EVENT_TIME)
        fp->null_per_mille = 0;
    return SA_OK;
}

int sa_generator_init(struct sa_generator *gen, const struct sa_schema *schema,
                      uint64_t seed, int64_t start_ms, int64_t interval_ms,
                      struct sa_err *err)
{
    struct plan *p;
    int rc = SA_OK;

    memset(gen, 0, sizeof *gen);
    p = calloc(1, sizeof *p);
    if (!p || !(p->f = calloc(schema->n_fields ? schema->n_fields : 1, sizeof *p->f))) {
        plan_free(p);
        return sa_err_set(err, SA_ENOMEM, "generator: out of memory");
    }
    p->n = schema->n_fields;
    for (size_t i = 0; i < p->n; i++)
        if ((rc = plan_field(schema, i, &p->f[i], err)))
            goto out;

    /* Entity pool by what the key names. */
    p->entity_pool = 0;
    if (schema->key_field >= 0) {
        const char *k = schema->fields[schema->key_field].name;
        enum plan_kind kk = p->f[schema->key_field].kind;
        if (kk == P_DEVICE_ID)
            p->entity_pool = 1000;
        else if (kk == P_SESSION_ID)
            p->entity_pool = 20000;
        else if (kk == P_USER_NUM || has(k, "user") || has(k, "customer"))
            p->entity_pool = 100000;
        else if (kk == P_UNIQUE_ID || kk == P_UUID)
            p->entity_pool = 0;
        else
            p->entity_pool = 10000;
        if (kk == P_QUANTITY || kk == P_INT || kk == P_LONG)
            p->f[schema->key_field].kind = P_USER_NUM;
    }
out:
    if (rc) {
        plan_free(p);
        return rc;
    }
    gen->schema = schema;
    gen->seed = seed;
    gen->start_ms = start_ms;
    gen->interval_ms = interval_ms;
    gen->plan = p;
    return SA_OK;
}

void sa_generator_fini(struct sa_generator *gen)
{
    if (!gen)
        return;
    plan_free(gen->plan);
    gen->plan = NULL;
}

/* --- filling ---------------------------------------------------------------- */

struct text {
    char b[256];
    size_t n;
};

static void put(struct text *t, const char *s)
{
    size_t len = strlen(s);
    if (len > sizeof t->b - 1 - t->n)
        len = sizeof t->b - 1 - t->n;
    memcpy(t->b + t->n, s, len);
    t->n += len;
}

static void put_lower(struct text *t, const char *s)
{
    for (; *s && t->n < sizeof t->b - 1; s++)
        if (*s != ' ' && *s != '-')
            t->b[t->n++] = (char)(*s >= 'A' && *s <= 'Z' ? *s + 32 : *s);
}

/* v in decimal, zero-padded to width. */
static void put_num(struct text *t, uint64_t v, int width)
{
    char tmp[24];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v && n < 20);
    while (n < width && n < 20)
        tmp[n++] = '0';
    while (n && t->n < sizeof t->b - 1)
        t->b[t->n++] = tmp[--n];
}

static void put_hex(struct text *t, uint64_t v, int digits)
{
    static const char hex[] = "0123456789abcdef";
    for (int i = digits - 1; i >= 0 && t->n < sizeof t->b - 1; i--)
        t->b[t->n++] = hex[(v >> (4 * i)) & 15];
}

static double round_to(double v, double scale)
{
    return round(v * scale) / scale;
}

#define DAY_MS 86400000.0
#define TWO_PI 6.283185307179586

int sa_generator_fill(struct sa_generator *gen, uint64_t index, struct sa_record *rec,
                      struct sa_err *err)
{
    const struct plan *p = gen->plan;
    const uint64_t seed = gen->seed;
    const int64_t ts = gen->start_ms + (int64_t)index * gen->interval_ms;
    const uint64_t entity =
        p->entity_pool ? draw(seed, index, 0xfff, 0xe1) % p->entity_pool : index;
    /* The hour of day as a phase: sensor values follow a daily cycle. */
    const double day_phase = sin(TWO_PI * fmod((double)ts, DAY_MS) / DAY_MS);
    int rc = SA_OK;

    sa_record_reset(rec);
    for (size_t i = 0; i < p->n && !rc; i++) {
        const struct field_plan *fp = &p->f[i];
        const uint64_t r =
            fp->per_entity ? draw(seed, entity, i, 0xa5) : draw(seed, index, i, 0x5a);
        const uint64_t r2 = draw(seed, index, i, 0x77); /* a per-record second draw */
        struct text t;
        t.n = 0;

        if (fp->kind == P_SKIP)
            continue;
        if (fp->null_per_mille && r2 % 1000 < fp->null_per_mille) {
            rc = sa_record_set_null(rec, (int)i, err);
            continue;
        }
        switch (fp->kind) {
        case P_EVENT_TIME:
            rc = sa_record_set_long(rec, (int)i, ts, err);
            break;
        case P_TIME_BEFORE:
            rc = sa_record_set_long(rec, (int)i, ts - (int64_t)(r % (7 * 86400000ULL)),
                                    err);
            break;
        case P_TIME_AFTER:
            rc = sa_record_set_long(
                rec, (int)i, ts + 3600000 + (int64_t)(r % (72 * 3600000ULL)), err);
            break;
        case P_TIME_ENTITY:
            rc = sa_record_set_long(
                rec, (int)i, gen->start_ms - (int64_t)(r % (730 * 86400000ULL)), err);
            break;
        case P_DEVICE_ID:
            put(&t, "dev-");
            put_num(&t, entity, 6);
            break;
        case P_UNIQUE_ID:
            put(&t, "ord-");
            put_num(&t, index, 10);
            break;
        case P_UUID: {
            uint64_t hi = draw(seed, index, i, 0x01), lo = draw(seed, index, i, 0x02);
            put_hex(&t, hi >> 32, 8);
            put(&t, "-");
            put_hex(&t, hi >> 16, 4);
            put(&t, "-4");
            put_hex(&t, hi, 3);
            put(&t, "-");
            put_hex(&t, 0x8 | ((lo >> 62) & 3), 1);
            put_hex(&t, lo >> 48, 3);
            put(&t, "-");
            put_hex(&t, lo, 12);
            break;
        }
        case P_SESSION_ID:
            put(&t, "s-");
            put_hex(&t, splitmix64(seed ^ entity), 12);
            break;
        case P_HEX_ID:
            put_hex(&t, r, 16);
            break;
        case P_PERSON:
            put(&t, PICK(first_names, r));
            put(&t, " ");
            put(&t, PICK(last_names, r >> 20));
            break;
        case P_FIRST_NAME:
            put(&t, PICK(first_names, r));
            break;
        case P_LAST_NAME:
            put(&t, PICK(last_names, r >> 20));
            break;
        case P_EMAIL: {
            /* Same draw as the person's name on the same entity. */
            uint64_t who = p->f[i].per_entity ? draw(seed, entity, i, 0xa5) : r;
            for (size_t j = 0; j < p->n; j++)
                if (p->f[j].kind == P_PERSON || p->f[j].kind == P_FIRST_NAME) {
                    who = draw(seed, entity, j, 0xa5);
                    break;
                }
            put_lower(&t, PICK(first_names, who));
            put(&t, ".");
            put_lower(&t, PICK(last_names, who >> 20));
            put_num(&t, entity % 1000, 0);
            put(&t, "@");
            put(&t, PICK(domains, r >> 40));
            break;
        }
        case P_CITY:
            put(&t, PICK(cities, r));
            break;
        case P_COUNTRY:
            put(&t, PICK(countries, r));
            break;
        case P_PHONE:
            put(&t, "+1-555-");
            put_num(&t, r % 10000, 4);
            break;
        case P_SKU:
            put(&t, "SKU-");
            put_num(&t, r % 5000, 5);
            break;
        case P_URL:
            put(&t, "https://shop.example.com");
            put(&t, PICK(paths, r));
            if (t.b[t.n - 1] == '/' && t.n > 25)
                put_num(&t, (r >> 16) % 1000, 0);
            break;
        case P_PATH:
            put(&t, PICK(paths, r));
            if (t.b[t.n - 1] == '/' && t.n > 1)
                put_num(&t, (r >> 16) % 1000, 0);
            break;
        case P_REFERRER:
            put(&t, PICK(referrers, r));
            break;
        case P_USER_AGENT:
            put(&t, PICK(user_agents, r));
            break;
        case P_IP:
            put_num(&t, 1 + (r & 0xff) % 223, 0);
            for (int o = 1; o < 4; o++) {
                put(&t, ".");
                put_num(&t, (r >> (8 * o)) & 0xff, 0);
            }
            break;
        case P_COUPON:
            put(&t, PICK(coupons, r));
            break;
        case P_VERSION:
            put_num(&t, 1 + r % 3, 0);
            put(&t, ".");
            put_num(&t, (r >> 8) % 10, 0);
            put(&t, ".");
            put_num(&t, (r >> 16) % 20, 0);
            break;
        case P_WORD:
            put(&t, PICK(words, r));
            put(&t, "-");
            put_num(&t, (r >> 32) % 1000, 0);
            break;
        case P_BYTES:
            for (int b = 0; b < 8; b++)
                t.b[t.n++] = (char)(r >> (8 * b));
            break;
        case P_USER_NUM:
            rc = sa_record_set_long(
                rec, (int)i, (int64_t)(1 + (fp->per_entity ? entity : r % 100000)),
                err);
            break;
        case P_QUANTITY:
            /* Mostly 1, sometimes a few, rarely many. */
            rc = sa_record_set_long(
                rec, (int)i,
                r % 10 < 6 ? 1 : (int64_t)(2 + (r >> 8) % (r % 10 == 9 ? 20 : 4)), err);
            break;
        case P_PERCENT:
            if (fp->type == AVRO_INT32 || fp->type == AVRO_INT64)
                rc = sa_record_set_long(rec, (int)i, (int64_t)(5 + r % 96), err);
            else
                rc = sa_record_set_double(rec, (int)i, round_to(5 + 95 * unit(r), 10),
                                          err);
            break;
        case P_AGE:
            rc = sa_record_set_long(rec, (int)i, (int64_t)(18 + r % 62), err);
            break;
        case P_HTTP_STATUS:
            rc = sa_record_set_long(rec, (int)i, PICK(http_statuses, r), err);
            break;
        case P_BYTE_COUNT:
            /* Log-uniform between ~200 B and ~2 MB. */
            rc = sa_record_set_long(rec, (int)i, (int64_t)(200.0 * exp(9.2 * unit(r))),
                                    err);
            break;
        case P_INT:
            rc = sa_record_set_long(rec, (int)i, (int64_t)(r % 1000), err);
            break;
        case P_LONG:
            rc = sa_record_set_long(rec, (int)i, (int64_t)(r % 1000000), err);
            break;
        case P_TEMPERATURE: {
            /* A per-device base, a daily cycle, and noise. */
            double base = 12.0 + (double)(draw(seed, entity, i, 0xba) % 1000) / 100.0;
            rc = sa_record_set_double(
                rec, (int)i, round_to(base + 6.0 * day_phase + (unit(r) - 0.5), 100),
                err);
            break;
        }
        case P_HUMIDITY: {
            double base = 45.0 + (double)(draw(seed, entity, i, 0xba) % 2000) / 100.0;
            double v = base - 15.0 * day_phase + 4.0 * (unit(r) - 0.5);
            rc = sa_record_set_double(rec, (int)i,
                                      round_to(v < 0     ? 0
                                               : v > 100 ? 100
                                                         : v,
                                               10),
                                      err);
            break;
        }
        case P_PRESSURE:
            rc = sa_record_set_double(
                rec, (int)i,
                round_to(1013.0 + 8.0 * sin(TWO_PI * (double)ts / (7 * DAY_MS)) +
                             2.0 * (unit(r) - 0.5),
                         10),
                err);
            break;
        case P_AMOUNT:
            /* Log-uniform 5..500, two decimals. */
            rc = sa_record_set_double(rec, (int)i,
                                      round_to(5.0 * exp(4.6 * unit(r)), 100), err);
            break;
        case P_DURATION:
            rc = sa_record_set_double(rec, (int)i,
                                      round_to(2.0 * exp(6.9 * unit(r)), 1000), err);
            break;
        case P_DOUBLE:
            rc = sa_record_set_double(rec, (int)i, round_to(1000.0 * unit(r), 1000),
                                      err);
            break;
        case P_BOOL:
            rc = sa_record_set_bool(rec, (int)i, r % 1000 < fp->true_per_mille, err);
            break;
        case P_ENUM: {
            int k = 0;
            while (k < fp->n_symbols - 1 && r > fp->cumulative[k])
                k++;
            avro_schema_t es = gen->schema->fields[i].value;
            rc = sa_record_set_enum(rec, (int)i, avro_schema_enum_get(es, k), err);
            break;
        }
        case P_SKIP:
            break;
        }
        if (!rc && t.n)
            rc = sa_record_set_string(rec, (int)i, t.b, t.n, err);
    }
    if (rc)
        sa_err_prefix(err, "generator record %llu: ", (unsigned long long)index);
    return rc;
}
