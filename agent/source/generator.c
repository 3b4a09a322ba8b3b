/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The data generator (agent/source/generator.h). At init every field of the
 * schema gets a plan chosen from its type and its name (a "temperature"
 * double drifts around a per-device base, an "email" string is built from
 * the person's name, an enum draws its symbols with a skew). Filling
 * record i then runs the plans with no state carried between records.
 *
 * Randomness is counter-based: every draw is splitmix64 of a hash of the
 * seed and the record index (or the entity, below), mixed with a hash of
 * the field number and a salt. So
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
#include "agent/source/generator.h"

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

/* The unit a time plan's value is set in: the field's logical type. */
enum time_unit { TU_MILLIS, TU_MICROS, TU_DAYS };

struct field_plan {
    enum plan_kind kind;
    enum time_unit unit;     /* time plans: ms, us or days since the epoch */
    avro_type_t type;        /* value type to set */
    int per_entity;          /* draw from the entity, not the record */
    uint32_t null_per_mille; /* nullable fields: how often null */
    uint32_t true_per_mille; /* booleans */
    int n_symbols;           /* enums: cumulative weights out of 2^64 */
    uint64_t *cumulative;
    /* salt_key(field, salt) of the draws this field makes (see draw) */
    uint64_t key_value, key_null, key_hi, key_lo, key_base;
};

struct plan {
    struct field_plan *f;
    size_t n;
    uint64_t entity_pool; /* 0: every record its own entity */
    uint64_t key_entity;  /* salt_key of the entity draw */
    int name_field;       /* the person or first-name field emails use, or -1 */
    int daily;            /* some field follows the daily cycle */
};

/* --- counter-based randomness --------------------------------------------- */

static inline uint64_t splitmix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

/* The draw number `salt` of field `field` for counter n (index or
 * entity) is draw(counter_key(seed, n), salt_key(field, salt)): the
 * counter's key is computed once per record, the salt's once per schema
 * in the plan, and a draw is then a single splitmix64 round. */
static inline uint64_t salt_key(size_t field, uint64_t salt)
{
    return splitmix64(((uint64_t)field << 8) ^ salt);
}

static inline uint64_t counter_key(uint64_t seed, uint64_t n)
{
    return splitmix64(seed ^ splitmix64(n));
}

static inline uint64_t draw(uint64_t counter, uint64_t key)
{
    return splitmix64(counter ^ key);
}

static inline double unit(uint64_t r)
{
    return (double)(r >> 11) * 0x1.0p-53;
}

/* --- word lists ------------------------------------------------------------ */

/* A word and its length, so that filling a record needs no strlen. */
struct word {
    const char *s;
    size_t len;
};
#define W(literal)                                                                     \
    {                                                                                  \
        literal, sizeof(literal) - 1                                                   \
    }

static const struct word first_names[] = {
    W("Ada"),     W("Alan"),  W("Grace"),     W("Linus"),  W("Margaret"), W("Dennis"),
    W("Barbara"), W("Ken"),   W("Frances"),   W("Edsger"), W("Radia"),    W("Donald"),
    W("Hedy"),    W("John"),  W("Katherine"), W("Tim"),    W("Sophie"),   W("Lukas"),
    W("Emma"),    W("Noah"),  W("Mia"),       W("Liam"),   W("Yuki"),     W("Aarav"),
    W("Chloe"),   W("Mateo"), W("Amara"),     W("Olga"),   W("Kwame"),    W("Ines"),
    W("Pablo"),   W("Freya"),
};
static const struct word last_names[] = {
    W("Lovelace"),    W("Turing"), W("Hopper"),   W("Torvalds"), W("Hamilton"),
    W("Ritchie"),     W("Liskov"), W("Thompson"), W("Allen"),    W("Dijkstra"),
    W("Perlman"),     W("Knuth"),  W("Lamarr"),   W("McCarthy"), W("Johnson"),
    W("Berners-Lee"), W("Muller"), W("Schmidt"),  W("Rossi"),    W("Garcia"),
    W("Tanaka"),      W("Nguyen"), W("Okafor"),   W("Novak"),    W("Silva"),
    W("Jensen"),      W("Dubois"), W("Kowalski"),
};
static const struct word cities[] = {
    W("Berlin"),        W("Paris"),     W("London"),  W("Madrid"),    W("Rome"),
    W("Amsterdam"),     W("Vienna"),    W("Zurich"),  W("Stockholm"), W("Oslo"),
    W("Lisbon"),        W("Prague"),    W("Warsaw"),  W("Dublin"),    W("New York"),
    W("San Francisco"), W("Toronto"),   W("Tokyo"),   W("Seoul"),     W("Singapore"),
    W("Sydney"),        W("Sao Paulo"), W("Nairobi"), W("Mumbai"),    W("Cape Town"),
    W("Helsinki"),
};
static const struct word countries[] = {
    W("DE"), W("FR"), W("GB"), W("ES"), W("IT"), W("NL"), W("AT"), W("CH"),
    W("SE"), W("NO"), W("PT"), W("CZ"), W("PL"), W("IE"), W("US"), W("US"),
    W("CA"), W("JP"), W("KR"), W("SG"), W("AU"), W("BR"), W("KE"), W("IN"),
};
static const struct word domains[] = {
    W("example.com"),
    W("example.org"),
    W("mail.example.net"),
    W("corp.example"),
};
static const struct word paths[] = {
    W("/"),       W("/products"),      W("/products/"),
    W("/cart"),   W("/checkout"),      W("/login"),
    W("/search"), W("/api/v1/orders"), W("/api/v1/users/"),
    W("/blog/"),  W("/help"),          W("/static/app.js"),
};
static const struct word user_agents[] = {
    W("Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"),
    W("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like "
      "Gecko) "
      "Chrome/126.0 Safari/537.36"),
    W("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
      "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"),
    W("Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like "
      "Gecko) Version/17.5 Safari/605.1.15"),
    W("curl/8.8.0"),
    W("Googlebot/2.1 (+http://www.google.com/bot.html)"),
};
static const struct word referrers[] = {
    W("https://www.google.com/"),   W("https://duckduckgo.com/"),
    W("https://news.example.com/"), W("https://social.example/feed"),
    W("https://shop.example.com/"),
};
static const struct word coupons[] = {
    W("WELCOME10"),
    W("SPRING24"),
    W("FREESHIP"),
    W("VIP20"),
};
static const struct word words[] = {
    W("alpha"), W("bravo"),    W("charlie"), W("delta"),  W("echo"), W("foxtrot"),
    W("golf"),  W("hotel"),    W("india"),   W("juliet"), W("kilo"), W("lima"),
    W("mike"),  W("november"), W("oscar"),   W("papa"),
};
static const int http_statuses[] = {200, 200, 200, 200, 200, 200, 200, 200,
                                    200, 200, 200, 200, 201, 204, 301, 304,
                                    304, 400, 401, 403, 404, 404, 500, 503};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))
#define PICK(list, r) (&(list)[(r) % COUNT(list)])
#define PICK_INT(list, r) ((list)[(r) % COUNT(list)])

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
    if (logical != SA_LOGICAL_NONE || has(n, "_at") || has(n, "time") || is(n, "ts") ||
        has(n, "timestamp")) {
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
    for (size_t i = 0; p->f && i < p->n; i++) {
        free(p->f[i].cumulative);
    }
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
    fp->key_value = salt_key(i, 0x5a);
    fp->key_null = salt_key(i, 0x77);
    fp->key_hi = salt_key(i, 0x01);
    fp->key_lo = salt_key(i, 0x02);
    fp->key_base = salt_key(i, 0xba);
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
        fp->unit = f->logical == SA_LOGICAL_TIMESTAMP_MICROS ? TU_MICROS
                   : f->logical == SA_LOGICAL_DATE           ? TU_DAYS
                                                             : TU_MILLIS;
        if (f->kind == AVRO_INT32 && fp->unit != TU_DAYS &&
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
    if (fp->per_entity)
        fp->key_value = salt_key(i, 0xa5);
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
    p->key_entity = salt_key(0xfff, 0xe1);
    p->name_field = -1;
    for (size_t i = 0; i < p->n; i++)
        if ((rc = plan_field(schema, i, &p->f[i], err)))
            goto out;
    for (size_t i = 0; i < p->n; i++) {
        if (p->name_field < 0 &&
            (p->f[i].kind == P_PERSON || p->f[i].kind == P_FIRST_NAME))
            p->name_field = (int)i;
        if (p->f[i].kind == P_TEMPERATURE || p->f[i].kind == P_HUMIDITY)
            p->daily = 1;
    }

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

static void put_len(struct text *t, const char *s, size_t len)
{
    if (len > sizeof t->b - 1 - t->n)
        len = sizeof t->b - 1 - t->n;
    memcpy(t->b + t->n, s, len);
    t->n += len;
}

#define PUT(t, literal) put_len(t, literal, sizeof(literal) - 1)

static void put_word(struct text *t, const struct word *w)
{
    put_len(t, w->s, w->len);
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
    /* This runs several times per record: two digits per division, written
     * straight into place (copied from a scratch buffer, the 1-byte stores
     * stall the wider load that copies them). */
    static const char pairs[] = "00010203040506070809101112131415161718192021222324"
                                "25262728293031323334353637383940414243444546474849"
                                "50515253545556575859606162636465666768697071727374"
                                "75767778798081828384858687888990919293949596979899";
    size_t digits = 1, n;
    char *start, *d;

    for (uint64_t x = v; x >= 10; x /= 10)
        digits++;
    n = digits > (size_t)width ? digits : (size_t)width;
    if (n > 20)
        n = 20;
    if (t->n + n > sizeof t->b - 1) {
        /* No room: keep what fits, most significant digits first. */
        char tmp[24];
        int k = 0;
        do {
            tmp[k++] = (char)('0' + v % 10);
            v /= 10;
        } while (v && k < 20);
        while (k < width && k < 20)
            tmp[k++] = '0';
        while (k && t->n < sizeof t->b - 1)
            t->b[t->n++] = tmp[--k];
        return;
    }
    start = t->b + t->n;
    d = start + n;
    while (v >= 100) {
        const char *pr = pairs + 2 * (v % 100);
        v /= 100;
        *--d = pr[1];
        *--d = pr[0];
    }
    if (v >= 10) {
        *--d = pairs[2 * v + 1];
        *--d = pairs[2 * v];
    } else {
        *--d = (char)('0' + v);
    }
    while (d > start)
        *--d = '0';
    t->n += n;
}

static void put_hex(struct text *t, uint64_t v, int digits)
{
    static const char hex[] = "0123456789abcdef";
    for (int i = digits - 1; i >= 0 && t->n < sizeof t->b - 1; i--)
        t->b[t->n++] = hex[(v >> (4 * i)) & 15];
}

/*
 * Cheap stand-ins for libm, for the shape of the data only: they need to
 * be deterministic, not exact. All are plain arithmetic on doubles, so
 * record i stays a pure function of the generator's parameters.
 */

/* v rounded to 1/scale, halves away from zero (|v * scale| < 2^62). */
/* A time in ms as the field holds it: us, or the day (rounded down). */
static inline int64_t in_unit(const struct field_plan *fp, int64_t ms)
{
    switch (fp->unit) {
    case TU_MICROS:
        return ms * 1000;
    case TU_DAYS:
        return ms >= 0 ? ms / 86400000 : -((-ms + 86399999) / 86400000);
    default:
        return ms;
    }
}

static inline double round_to(double v, double scale)
{
    double x = v * scale;
    return (double)(int64_t)(x + (x < 0 ? -0.5 : 0.5)) / scale;
}

/* A sine-like wave of period 1 at phase t in [0, 1): two parabolas, off
 * from sin(2 pi t) by at most 0.06. */
static inline double wave(double t)
{
    double u = 2.0 * t;
    return u < 1.0 ? 4.0 * u * (1.0 - u) : -4.0 * (u - 1.0) * (2.0 - u);
}

/* The phase in [0, 1) of time ms in a period of period_ms. */
static inline double phase(int64_t ms, int64_t period_ms)
{
    int64_t r = ms % period_ms;
    return (double)(r < 0 ? r + period_ms : r) / (double)period_ms;
}

/* e^x for 0 <= x < 32: 2^(x / ln 2), the integer part as a power of two
 * and the fraction by its Taylor polynomial of degree 5 (relative error
 * below 1e-4). */
static inline double exp_small(double x)
{
    double y = x * 1.4426950408889634; /* log2(e) */
    int k = (int)y;
    double f = (y - k) * 0.6931471805599453; /* back to base e, in [0, ln 2) */
    double p = 1.0 + f * (1.0 + f * (0.5 + f * (1.0 / 6 + f * (1.0 / 24 + f / 120))));
    return p * (double)(1ULL << k);
}

#define DAY_MS 86400000LL

/* The symbol draw r picks: the first k with r <= cumulative[k]. The draw
 * is random, so a loop that stops at k mispredicts its branch about once
 * a record; for a short list, count the weights below r instead. */
static inline int pick_symbol(const struct field_plan *fp, uint64_t r)
{
    int lo = 0, hi = fp->n_symbols - 1;

    if (hi < 16) {
        int k = 0;
        for (int j = 0; j < hi; j++)
            k += r > fp->cumulative[j];
        return k;
    }
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        if (r > fp->cumulative[mid])
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

int sa_generator_fill(struct sa_generator *gen, uint64_t index, struct sa_record *rec,
                      struct sa_err *err)
{
    const struct plan *p = gen->plan;
    const uint64_t seed = gen->seed;
    const int64_t ts = gen->start_ms + (int64_t)index * gen->interval_ms;
    const uint64_t at_index = counter_key(seed, index);
    const uint64_t entity =
        p->entity_pool ? draw(at_index, p->key_entity) % p->entity_pool : index;
    const uint64_t at_entity = p->entity_pool ? counter_key(seed, entity) : at_index;
    /* The hour of day as a phase: sensor values follow a daily cycle. */
    const double day_phase = p->daily ? wave(phase(ts, DAY_MS)) : 0.0;
    int rc = SA_OK;

    sa_record_reset(rec);
    for (size_t i = 0; i < p->n && !rc; i++) {
        const struct field_plan *fp = &p->f[i];
        const struct word *word = NULL; /* a value from a list, set as it is */
        uint64_t r;
        struct text t;

        if (fp->kind == P_SKIP)
            continue;
        /* a per-record second draw decides null */
        if (fp->null_per_mille &&
            draw(at_index, fp->key_null) % 1000 < fp->null_per_mille) {
            rc = sa_record_set_null(rec, (int)i, err);
            continue;
        }
        r = draw(fp->per_entity ? at_entity : at_index, fp->key_value);
        t.n = 0;
        switch (fp->kind) {
        case P_EVENT_TIME:
            rc = sa_record_set_long(rec, (int)i, in_unit(fp, ts), err);
            break;
        case P_TIME_BEFORE:
            rc = sa_record_set_long(
                rec, (int)i, in_unit(fp, ts - (int64_t)(r % (7 * 86400000ULL))), err);
            break;
        case P_TIME_AFTER:
            rc = sa_record_set_long(
                rec, (int)i,
                in_unit(fp, ts + 3600000 + (int64_t)(r % (72 * 3600000ULL))), err);
            break;
        case P_TIME_ENTITY:
            rc = sa_record_set_long(
                rec, (int)i,
                in_unit(fp, gen->start_ms - (int64_t)(r % (730 * 86400000ULL))), err);
            break;
        case P_DEVICE_ID:
            PUT(&t, "dev-");
            put_num(&t, entity, 6);
            break;
        case P_UNIQUE_ID:
            PUT(&t, "ord-");
            put_num(&t, index, 10);
            break;
        case P_UUID: {
            uint64_t hi = draw(at_index, fp->key_hi), lo = draw(at_index, fp->key_lo);
            put_hex(&t, hi >> 32, 8);
            PUT(&t, "-");
            put_hex(&t, hi >> 16, 4);
            PUT(&t, "-4");
            put_hex(&t, hi, 3);
            PUT(&t, "-");
            put_hex(&t, 0x8 | ((lo >> 62) & 3), 1);
            put_hex(&t, lo >> 48, 3);
            PUT(&t, "-");
            put_hex(&t, lo, 12);
            break;
        }
        case P_SESSION_ID:
            PUT(&t, "s-");
            put_hex(&t, splitmix64(seed ^ entity), 12);
            break;
        case P_HEX_ID:
            put_hex(&t, r, 16);
            break;
        case P_PERSON:
            put_word(&t, PICK(first_names, r));
            PUT(&t, " ");
            put_word(&t, PICK(last_names, r >> 20));
            break;
        case P_FIRST_NAME:
            word = PICK(first_names, r);
            break;
        case P_LAST_NAME:
            word = PICK(last_names, r >> 20);
            break;
        case P_EMAIL: {
            /* Same draw as the person's name on the same entity. */
            uint64_t who =
                p->name_field >= 0 ? draw(at_entity, p->f[p->name_field].key_value) : r;
            put_lower(&t, PICK(first_names, who)->s);
            PUT(&t, ".");
            put_lower(&t, PICK(last_names, who >> 20)->s);
            put_num(&t, entity % 1000, 0);
            PUT(&t, "@");
            put_word(&t, PICK(domains, r >> 40));
            break;
        }
        case P_CITY:
            word = PICK(cities, r);
            break;
        case P_COUNTRY:
            word = PICK(countries, r);
            break;
        case P_PHONE:
            PUT(&t, "+1-555-");
            put_num(&t, r % 10000, 4);
            break;
        case P_SKU:
            PUT(&t, "SKU-");
            put_num(&t, r % 5000, 5);
            break;
        case P_URL:
            PUT(&t, "https://shop.example.com");
            put_word(&t, PICK(paths, r));
            if (t.b[t.n - 1] == '/' && t.n > 25)
                put_num(&t, (r >> 16) % 1000, 0);
            break;
        case P_PATH:
            put_word(&t, PICK(paths, r));
            if (t.b[t.n - 1] == '/' && t.n > 1)
                put_num(&t, (r >> 16) % 1000, 0);
            break;
        case P_REFERRER:
            word = PICK(referrers, r);
            break;
        case P_USER_AGENT:
            word = PICK(user_agents, r);
            break;
        case P_IP:
            put_num(&t, 1 + (r & 0xff) % 223, 0);
            for (int o = 1; o < 4; o++) {
                PUT(&t, ".");
                put_num(&t, (r >> (8 * o)) & 0xff, 0);
            }
            break;
        case P_COUPON:
            word = PICK(coupons, r);
            break;
        case P_VERSION:
            put_num(&t, 1 + r % 3, 0);
            PUT(&t, ".");
            put_num(&t, (r >> 8) % 10, 0);
            PUT(&t, ".");
            put_num(&t, (r >> 16) % 20, 0);
            break;
        case P_WORD:
            put_word(&t, PICK(words, r));
            PUT(&t, "-");
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
            rc = sa_record_set_long(rec, (int)i, PICK_INT(http_statuses, r), err);
            break;
        case P_BYTE_COUNT:
            /* Log-uniform between ~200 B and ~2 MB. */
            rc = sa_record_set_long(rec, (int)i,
                                    (int64_t)(200.0 * exp_small(9.2 * unit(r))), err);
            break;
        case P_INT:
            rc = sa_record_set_long(rec, (int)i, (int64_t)(r % 1000), err);
            break;
        case P_LONG:
            rc = sa_record_set_long(rec, (int)i, (int64_t)(r % 1000000), err);
            break;
        case P_TEMPERATURE: {
            /* A per-device base, a daily cycle, and noise. */
            double base = 12.0 + (double)(draw(at_entity, fp->key_base) % 1000) / 100.0;
            rc = sa_record_set_double(
                rec, (int)i, round_to(base + 6.0 * day_phase + (unit(r) - 0.5), 100),
                err);
            break;
        }
        case P_HUMIDITY: {
            double base = 45.0 + (double)(draw(at_entity, fp->key_base) % 2000) / 100.0;
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
            rc = sa_record_set_double(rec, (int)i,
                                      round_to(1013.0 +
                                                   8.0 * wave(phase(ts, 7 * DAY_MS)) +
                                                   2.0 * (unit(r) - 0.5),
                                               10),
                                      err);
            break;
        case P_AMOUNT:
            /* Log-uniform 5..500, two decimals. */
            rc = sa_record_set_double(
                rec, (int)i, round_to(5.0 * exp_small(4.6 * unit(r)), 100), err);
            break;
        case P_DURATION:
            rc = sa_record_set_double(
                rec, (int)i, round_to(2.0 * exp_small(6.9 * unit(r)), 1000), err);
            break;
        case P_DOUBLE:
            rc = sa_record_set_double(rec, (int)i, round_to(1000.0 * unit(r), 1000),
                                      err);
            break;
        case P_BOOL:
            rc = sa_record_set_bool(rec, (int)i, r % 1000 < fp->true_per_mille, err);
            break;
        case P_ENUM:
            rc = sa_record_set_enum_index(rec, (int)i, pick_symbol(fp, r), err);
            break;
        case P_SKIP:
            break;
        }
        if (!rc && word)
            rc = sa_record_set_string(rec, (int)i, word->s, word->len, err);
        else if (!rc && t.n)
            rc = sa_record_set_string(rec, (int)i, t.b, t.n, err);
    }
    if (rc)
        sa_err_prefix(err, "generator record %llu: ", (unsigned long long)index);
    return rc;
}
