/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Schema registry client (see registry.h): one libcurl easy handle per
 * client, reused for every request so that the connection stays open,
 * and a cache of the ids already obtained.
 *
 * Protocol (Confluent's REST API, which Apicurio serves under
 * /apis/ccompat/v7 and Karapace at its root):
 *   POST <url>/subjects/<subject>/versions
 *   Content-Type: application/vnd.schemaregistry.v1+json
 *   {"schema": "<the .avsc text, as one JSON string>"}
 *   -> 200 {"id": N}
 * The registry answers with the id the schema already has when it is
 * registered under that subject (no new version), so registering is also
 * the lookup. We send the definition as written, not its Parsing
 * Canonical Form: the canonical form drops defaults and logical types,
 * which the registry's compatibility check and readers need.
 *
 * Cache: (subject, fingerprint, definition) -> id, a plain array searched
 * linearly (a process holds a few schemas per stream). The fingerprint is
 * of the canonical form, so two definitions that differ only in a default
 * share it; the definition is compared too, so each gets the registry's
 * own answer. Only successes are cached.
 *
 * Errors (sa_err.msg names the request URL without credentials, the HTTP
 * status and the registry's {"error_code", "message"}):
 *   connection refused, DNS, timeouts, resets, 408, 429, 5xx  SA_EAGAIN
 *   409 (incompatible), 422 (invalid schema)                 SA_ESCHEMA
 *   401, 403, 404 (wrong URL path), bad URL, TLS trust       SA_ECONFIG
 *   response over RESPONSE_MAX                               SA_ETOOBIG
 *   2xx without a usable id                                  SA_EPARSE
 *   any other status                                         SA_EIO
 * What comes back is read by sa_registry_parse_response (status and body
 * in, id or error out), so that the unit tests and the fuzz target reach
 * every answer without a network. The body is parsed strictly
 * (sync/json_in.h), and the registry's text goes into a message as one
 * line of valid UTF-8 (agent/base/text.h).
 * A DNS failure counts as transient: a resolver hiccup must not fail
 * records, and a misspelt host keeps failing loudly in the logs.
 *
 * Credentials come from opts (username/password) or from the URL's
 * userinfo; they go to libcurl as basic auth and never into a message or
 * a log line. The password is wiped when the client is freed.
 *
 * Not thread-safe, like the easy handle it wraps: one client per thread.
 */
#include "sync/registry.h"

#include "agent/base/buf.h"
#include "agent/base/log.h"
#include "agent/base/text.h"
#include "sync/json_in.h"

#include <curl/curl.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RESPONSE_MAX (1024 * 1024)
#define DEFAULT_TIMEOUT_MS 10000
#define CONTENT_TYPE "application/vnd.schemaregistry.v1+json"
#define ERROR_BODY_SHOWN 121 /* a non-JSON error body is quoted up to 120 bytes */

struct cached_id {
    char *subject;
    uint64_t fingerprint;
    char *definition;
    int32_t id;
};

struct sa_registry {
    CURL *curl;
    struct curl_slist *headers;
    char *base_url; /* without credentials, query or trailing slash */
    char *username;
    char *password;
    struct sa_buf response;
    int write_rc; /* why the write callback refused data */
    struct cached_id *cached;
    size_t n_cached;
    size_t cap_cached;
    char curl_err[CURL_ERROR_SIZE];
};

/* curl_global_init is not thread-safe on every libcurl: run it once. It is
 * never undone; the process keeps libcurl until it exits. */
static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static char *dup_str(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* Copy `url` into out (size n) with any userinfo replaced by "***", for a
 * message about a URL that curl could not parse. */
static void redact_userinfo(const char *url, char *out, size_t n)
{
    const char *host = strstr(url, "://");
    const char *at, *slash;

    host = host ? host + 3 : url;
    slash = strchr(host, '/');
    at = NULL;
    for (const char *p = host; *p && (!slash || p < slash); p++)
        if (*p == '@')
            at = p;
    if (!at)
        snprintf(out, n, "%s", url);
    else
        snprintf(out, n, "%.*s***%s", (int)(host - url), url, at);
}

/* Fill reg->base_url (and the credentials when opts has none) from url. */
static int parse_url(struct sa_registry *reg, const char *url, struct sa_err *err)
{
    CURLU *u = NULL;
    CURLUcode uc;
    char *scheme = NULL, *host = NULL, *query = NULL, *fragment = NULL;
    char *user = NULL, *password = NULL, *full = NULL;
    char shown[200];
    size_t len;
    int rc = SA_OK;

    if (!url || !*url)
        return sa_err_set(err, SA_ECONFIG, "schema registry: no url given");
    redact_userinfo(url, shown, sizeof shown);
    u = curl_url();
    if (!u) {
        rc = sa_err_set(err, SA_ENOMEM, "schema registry: out of memory");
        goto out;
    }
    uc = curl_url_set(u, CURLUPART_URL, url, 0);
    if (uc) {
        rc = sa_err_set(err, SA_ECONFIG,
                        "schema registry url \"%s\" is not a valid URL: %s "
                        "(expected http[s]://host:port[/path])",
                        shown, curl_url_strerror(uc));
        goto out;
    }
    if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) ||
        (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0)) {
        rc = sa_err_set(err, SA_ECONFIG,
                        "schema registry url \"%s\": the scheme must be http or https",
                        shown);
        goto out;
    }
    if (curl_url_get(u, CURLUPART_HOST, &host, 0) || !*host) {
        rc = sa_err_set(err, SA_ECONFIG, "schema registry url \"%s\" has no host",
                        shown);
        goto out;
    }
    if (!curl_url_get(u, CURLUPART_QUERY, &query, 0) ||
        !curl_url_get(u, CURLUPART_FRAGMENT, &fragment, 0)) {
        rc = sa_err_set(err, SA_ECONFIG,
                        "schema registry url \"%s\": a query or fragment cannot "
                        "take /subjects/... after it",
                        shown);
        goto out;
    }
    if (!curl_url_get(u, CURLUPART_USER, &user, CURLU_URLDECODE) && !reg->username) {
        reg->username = dup_str(user);
        if (!curl_url_get(u, CURLUPART_PASSWORD, &password, CURLU_URLDECODE))
            reg->password = dup_str(password);
    }
    if (curl_url_set(u, CURLUPART_USER, NULL, 0) ||
        curl_url_set(u, CURLUPART_PASSWORD, NULL, 0) ||
        curl_url_get(u, CURLUPART_URL, &full, 0) || !(reg->base_url = strdup(full))) {
        rc = sa_err_set(err, SA_ENOMEM, "schema registry: out of memory");
        goto out;
    }
    len = strlen(reg->base_url);
    while (len > 0 && reg->base_url[len - 1] == '/')
        reg->base_url[--len] = '\0';
out:
    if (password)
        memset(password, 0, strlen(password));
    curl_free(scheme);
    curl_free(host);
    curl_free(query);
    curl_free(fragment);
    curl_free(user);
    curl_free(password);
    curl_free(full);
    curl_url_cleanup(u);
    return rc;
}

static size_t on_response_data(char *data, size_t size, size_t nmemb, void *userdata)
{
    struct sa_registry *reg = userdata;
    size_t n = size * nmemb;
    int rc = sa_buf_append(&reg->response, data, n);

    if (rc) {
        reg->write_rc = rc;
        return 0; /* curl fails the transfer with CURLE_WRITE_ERROR */
    }
    return n;
}

int sa_registry_new(struct sa_registry **out, const struct sa_registry_opts *opts,
                    struct sa_err *err)
{
    struct sa_registry *reg = NULL;
    int64_t timeout_ms = opts->timeout_ms > 0 ? opts->timeout_ms : DEFAULT_TIMEOUT_MS;
    CURLcode cc = CURLE_OK;
    int rc = SA_OK;

    *out = NULL;
    pthread_once(&curl_once, curl_init);
    if (curl_init_rc != CURLE_OK)
        return sa_err_set(err, SA_EIO, "schema registry: curl_global_init: %s",
                          curl_easy_strerror(curl_init_rc));
    reg = calloc(1, sizeof *reg);
    if (!reg)
        return sa_err_set(err, SA_ENOMEM, "schema registry: out of memory");
    sa_buf_init(&reg->response, RESPONSE_MAX);
    if ((opts->username && !(reg->username = strdup(opts->username))) ||
        (opts->password && !(reg->password = strdup(opts->password)))) {
        rc = sa_err_set(err, SA_ENOMEM, "schema registry: out of memory");
        goto out;
    }
    rc = parse_url(reg, opts->url, err);
    if (rc)
        goto out;
    reg->curl = curl_easy_init();
    reg->headers = curl_slist_append(NULL, "Content-Type: " CONTENT_TYPE);
    if (reg->headers)
        reg->headers = curl_slist_append(reg->headers, "Accept: " CONTENT_TYPE
                                                       ", application/json;q=0.9");
    if (!reg->curl || !reg->headers) {
        rc = sa_err_set(err, SA_ENOMEM, "schema registry: out of memory");
        goto out;
    }
    /* Redirects are not followed: a registry does not send them, and
     * following one would send the credentials elsewhere. */
    if ((cc = curl_easy_setopt(reg->curl, CURLOPT_NOSIGNAL, 1L)) ||
        (cc = curl_easy_setopt(reg->curl, CURLOPT_PROTOCOLS_STR, "http,https")) ||
        (cc = curl_easy_setopt(reg->curl, CURLOPT_FOLLOWLOCATION, 0L)) ||
        (cc = curl_easy_setopt(reg->curl, CURLOPT_TIMEOUT_MS, (long)timeout_ms)) ||
        (cc = curl_easy_setopt(reg->curl, CURLOPT_CONNECTTIMEOUT_MS,
                               (long)timeout_ms)) ||
        (cc = curl_easy_setopt(reg->curl, CURLOPT_HTTPHEADER, reg->headers)) ||
        (cc =
             curl_easy_setopt(reg->curl, CURLOPT_USERAGENT, "syncagent/" SA_VERSION)) ||
        (cc = curl_easy_setopt(reg->curl, CURLOPT_WRITEFUNCTION, on_response_data)) ||
        (cc = curl_easy_setopt(reg->curl, CURLOPT_WRITEDATA, reg)) ||
        (cc = curl_easy_setopt(reg->curl, CURLOPT_ERRORBUFFER, reg->curl_err)) ||
        (cc = curl_easy_setopt(reg->curl, CURLOPT_TCP_KEEPALIVE, 1L))) {
        rc = sa_err_set(err, SA_EIO, "schema registry %s: curl_easy_setopt: %s",
                        reg->base_url, curl_easy_strerror(cc));
        goto out;
    }
    if (reg->username) {
        if ((cc =
                 curl_easy_setopt(reg->curl, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC)) ||
            (cc = curl_easy_setopt(reg->curl, CURLOPT_USERNAME, reg->username)) ||
            (cc = curl_easy_setopt(reg->curl, CURLOPT_PASSWORD,
                                   reg->password ? reg->password : ""))) {
            rc = sa_err_set(err, SA_EIO, "schema registry %s: curl_easy_setopt: %s",
                            reg->base_url, curl_easy_strerror(cc));
            goto out;
        }
    }
    *out = reg;
    reg = NULL;
out:
    sa_registry_free(reg);
    return rc;
}

void sa_registry_free(struct sa_registry *reg)
{
    if (!reg)
        return;
    curl_easy_cleanup(reg->curl);
    curl_slist_free_all(reg->headers);
    for (size_t i = 0; i < reg->n_cached; i++) {
        free(reg->cached[i].subject);
        free(reg->cached[i].definition);
    }
    free(reg->cached);
    sa_buf_fini(&reg->response);
    if (reg->password)
        explicit_bzero(reg->password, strlen(reg->password));
    free(reg->password);
    free(reg->username);
    free(reg->base_url);
    free(reg);
}

static const struct cached_id *cache_find(const struct sa_registry *reg,
                                          const char *subject,
                                          const struct sa_schema *schema)
{
    for (size_t i = 0; i < reg->n_cached; i++) {
        const struct cached_id *c = &reg->cached[i];
        if (c->fingerprint == schema->fingerprint && strcmp(c->subject, subject) == 0 &&
            strcmp(c->definition, schema->definition) == 0)
            return c;
    }
    return NULL;
}

/* A failed cache insert only costs another request later. */
static void cache_add(struct sa_registry *reg, const char *subject,
                      const struct sa_schema *schema, int32_t id)
{
    struct cached_id *c;

    if (reg->n_cached == reg->cap_cached) {
        size_t cap = reg->cap_cached ? reg->cap_cached * 2 : 8;
        c = realloc(reg->cached, cap * sizeof *c);
        if (!c)
            return;
        reg->cached = c;
        reg->cap_cached = cap;
    }
    c = &reg->cached[reg->n_cached];
    c->subject = strdup(subject);
    c->definition = strdup(schema->definition);
    c->fingerprint = schema->fingerprint;
    c->id = id;
    if (!c->subject || !c->definition) {
        free(c->subject);
        free(c->definition);
        return;
    }
    reg->n_cached++;
}

static int curl_code_rc(CURLcode cc, int write_rc)
{
    switch (cc) {
    case CURLE_WRITE_ERROR:
        return write_rc ? write_rc : SA_EIO;
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_LOGIN_DENIED:
    case CURLE_OUT_OF_MEMORY:
        return cc == CURLE_OUT_OF_MEMORY ? SA_ENOMEM : SA_ECONFIG;
    default:
        /* Refused, reset, timed out, DNS, TLS handshake, empty reply: the
         * registry or the way to it is down for now. */
        return SA_EAGAIN;
    }
}

static int http_status_rc(long status)
{
    if (status == 401 || status == 403 || status == 404)
        return SA_ECONFIG;
    if (status == 409 || status == 422)
        return SA_ESCHEMA;
    if (status == 408 || status == 429 || status >= 500)
        return SA_EAGAIN;
    return SA_EIO;
}

/* The registry's error as "message (error_code N)" (the code only when it
 * says more than the HTTP status), or the start of a body that is not its
 * JSON as one line, into out. */
static void describe_error_body(const void *body, size_t len, long status, char *out,
                                size_t n)
{
    json_t *root = NULL;
    const json_t *message, *code;
    char why[SA_ERR_MSG_MAX];
    char text[SA_ERR_MSG_MAX];

    if (sa_json_in_object(body, len, &root, why, sizeof why) == SA_OK &&
        json_is_string(message = json_object_get(root, "message")) &&
        sa_text_line(text, sizeof text, json_string_value(message),
                     json_string_length(message)) > 0) {
        code = json_object_get(root, "error_code");
        if (json_is_integer(code) && json_integer_value(code) != status)
            snprintf(out, n, "%s (error_code %" JSON_INTEGER_FORMAT ")", text,
                     json_integer_value(code));
        else
            snprintf(out, n, "%s", text);
    } else if (sa_text_line(out, n < ERROR_BODY_SHOWN ? n : ERROR_BODY_SHOWN, body,
                            len) == 0) {
        snprintf(out, n, len ? "(%zu bytes, none printable)" : "(empty body)", len);
    }
    json_decref(root);
}

int sa_registry_parse_response(const char *url, long status, const void *body,
                               size_t len, int32_t *id /* out */, struct sa_err *err)
{
    char detail[SA_ERR_MSG_MAX];
    json_t *root = NULL;
    json_int_t value = 0;
    int rc;

    if (status < 200 || status > 299) {
        rc = http_status_rc(status);
        describe_error_body(body, len, status, detail, sizeof detail);
        /* The hint goes before the registry's text, which may be long. */
        return sa_err_set(err, rc, "schema registry %s: HTTP %ld%s: %s", url, status,
                          status == 404 ? " (is the url the root of the registry's "
                                          "Confluent-compatible API?)"
                          : status == 401 || status == 403
                              ? " (check username and password)"
                              : "",
                          detail);
    }
    rc = sa_json_in_object(body, len, &root, detail, sizeof detail);
    if (rc == SA_OK)
        rc = sa_json_in_int(root, "id", 0, INT32_MAX, &value, detail, sizeof detail);
    json_decref(root);
    if (rc)
        return sa_err_set(err, SA_EPARSE, "schema registry %s: HTTP %ld response %s",
                          url, status, detail);
    *id = (int32_t)value;
    return SA_OK;
}

int sa_registry_id(struct sa_registry *reg, const char *subject,
                   const struct sa_schema *schema, int32_t *id /* out */,
                   struct sa_err *err)
{
    const struct cached_id *hit;
    char *escaped = NULL, *url = NULL, *body = NULL;
    json_t *request = NULL;
    CURLcode cc;
    long status = 0;
    int rc = SA_OK;

    if (!subject || !*subject || !schema || !schema->definition)
        return sa_err_set(err, SA_EINVAL, "schema registry: no subject or schema");
    hit = cache_find(reg, subject, schema);
    if (hit) {
        *id = hit->id;
        return SA_OK;
    }

    escaped = curl_easy_escape(reg->curl, subject, 0);
    if (!escaped ||
        asprintf(&url, "%s/subjects/%s/versions", reg->base_url, escaped) < 0) {
        url = NULL;
        rc = sa_err_set(err, SA_ENOMEM, "schema registry: out of memory");
        goto out;
    }
    request = json_object();
    if (!request ||
        json_object_set_new(request, "schema", json_string(schema->definition)) != 0) {
        rc = sa_err_set(err, SA_ESCHEMA,
                        "schema registry %s: the schema of %s v%d is not valid UTF-8",
                        url, schema->subject, schema->version);
        goto out;
    }
    body = json_dumps(request, JSON_COMPACT);
    if (!body) {
        rc = sa_err_set(err, SA_ENOMEM, "schema registry: out of memory");
        goto out;
    }

    sa_buf_reset(&reg->response);
    reg->write_rc = SA_OK;
    reg->curl_err[0] = '\0';
    if ((cc = curl_easy_setopt(reg->curl, CURLOPT_URL, url)) ||
        (cc = curl_easy_setopt(reg->curl, CURLOPT_POSTFIELDS, body)) ||
        (cc = curl_easy_setopt(reg->curl, CURLOPT_POSTFIELDSIZE, (long)strlen(body)))) {
        rc = sa_err_set(err, SA_EIO, "schema registry %s: curl_easy_setopt: %s", url,
                        curl_easy_strerror(cc));
        goto out;
    }
    cc = curl_easy_perform(reg->curl);
    if (cc != CURLE_OK) {
        rc = curl_code_rc(cc, reg->write_rc);
        if (rc == SA_ETOOBIG)
            sa_err_set(err, rc, "schema registry %s: response larger than %d bytes",
                       url, RESPONSE_MAX);
        else
            sa_err_set(err, rc, "schema registry %s: %s", url,
                       reg->curl_err[0] ? reg->curl_err : curl_easy_strerror(cc));
        goto out;
    }
    if ((cc = curl_easy_getinfo(reg->curl, CURLINFO_RESPONSE_CODE, &status))) {
        rc = sa_err_set(err, SA_EIO, "schema registry %s: curl_easy_getinfo: %s", url,
                        curl_easy_strerror(cc));
        goto out;
    }
    rc = sa_registry_parse_response(url, status, reg->response.data, reg->response.len,
                                    id, err);
    if (rc)
        goto out;
    cache_add(reg, subject, schema, *id);
    sa_logf(SA_LOG_DEBUG, "schema registered", "subject=%s version=%d id=%" PRId32,
            escaped, schema->version, *id);
out:
    json_decref(request);
    free(body);
    free(url);
    curl_free(escaped);
    return rc;
}
