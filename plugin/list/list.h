/* list.h: GET /api/v1/service-provider-profiles/ (API.md): the normalised request, its canonical string, the SQL built
 * from it, the body fetched from Postgres, and the handler. One list_request_t drives the SQL, the cache key and (through
 * the body) the ETag, so they cannot disagree. */
#ifndef BOOKA_LIST_H
#define BOOKA_LIST_H

#include <stdint.h>
#include "h2o.h"
#include "db/db.h"
#include "http/json.h"
#include "http/query.h"

#define LIST_QUERY_MAX BOOKA_QUERY_MAX /* bytes of query string; longer is 414 */
#define LIST_TEXT_MAX_CHARS 200        /* category and location, in characters */
#define LIST_TEXT_MAX_BYTES (LIST_TEXT_MAX_CHARS * 4)
#define LIST_DECIMAL_MAX_DIGITS 30
#define LIST_FIELDS_MAX_ITEMS 100
#define LIST_PAGE_MAX 1000000000
#define LIST_LIMIT_MAX 100
#define LIST_LIMIT_DEFAULT 20

typedef enum list_sort {
    LIST_SORT_NEWEST, /* the default */
    LIST_SORT_MOST_BOOKED,
    LIST_SORT_TOP_RATED,
    LIST_SORT_PRICE_LOW,
    LIST_SORT_PRICE_HIGH,
    LIST_NUM_SORTS
} list_sort_t;

/* The fields, in the one order items list their keys (API.md's order). */
typedef enum list_field {
    LIST_FIELD_ID,
    LIST_FIELD_USER_ID,
    LIST_FIELD_BUSINESS_NAME,
    LIST_FIELD_CUSTOM_SUBTITLE,
    LIST_FIELD_PROFILE_PICTURE_URL,
    LIST_FIELD_HOURLY_RATE,
    LIST_FIELD_PRICE_VISIBLE,
    LIST_FIELD_RATING,
    LIST_FIELD_RATING_COUNT,
    LIST_FIELD_BOOK_COUNT,
    LIST_FIELD_LOCATION,
    LIST_FIELD_SERVICE_CATEGORIES,
    LIST_FIELD_CREATED_AT,
    LIST_FIELD_UPDATED_AT,
    LIST_FIELD_USER_FIRST_NAME,
    LIST_FIELD_USER_LAST_NAME,
    LIST_NUM_FIELDS
} list_field_t;

#define LIST_FIELD_BIT(f) (1u << (f))
#define LIST_ALL_FIELDS ((1u << LIST_NUM_FIELDS) - 1)
/* the lean path: only these columns are read, without joins */
#define LIST_LEAN_FIELDS                                                                                                           \
    (LIST_FIELD_BIT(LIST_FIELD_ID) | LIST_FIELD_BIT(LIST_FIELD_USER_ID) | LIST_FIELD_BIT(LIST_FIELD_BUSINESS_NAME) |               \
     LIST_FIELD_BIT(LIST_FIELD_PROFILE_PICTURE_URL) | LIST_FIELD_BIT(LIST_FIELD_CREATED_AT) |                                      \
     LIST_FIELD_BIT(LIST_FIELD_UPDATED_AT))

extern const char *const list_field_names[LIST_NUM_FIELDS];
extern const char *const list_sort_names[LIST_NUM_SORTS];

/* list_request_t: a parsed, validated and normalised request; strings are "" when the parameter is absent. Plain data
 * (no pointers), so it can be copied and kept. */
typedef struct list_request {
    char category[LIST_TEXT_MAX_BYTES + 1]; /* slug: trimmed, A-Z lower-cased, runs of space/tab/hyphen as one '_' */
    char location[LIST_TEXT_MAX_BYTES + 1]; /* A-Z lower-cased (the match is case-insensitive anyway) */
    char min_price[LIST_DECIMAL_MAX_DIGITS + 2], max_price[LIST_DECIMAL_MAX_DIGITS + 2]; /* canonical decimals */
    char when[11];                                                                       /* YYYY-MM-DD */
    list_sort_t sort;
    uint32_t fields; /* LIST_FIELD_BIT set; LIST_ALL_FIELDS when `fields` is absent */
    uint64_t page;
    unsigned limit;
    int include_price_distribution;
} list_request_t;

typedef enum list_parse_result {
    LIST_PARSE_OK,
    LIST_PARSE_INVALID,  /* 422: errors holds the FastAPI-style `detail` array */
    LIST_PARSE_TOO_LONG, /* 414: the query string exceeds LIST_QUERY_MAX */
} list_parse_result_t;

/* list_request_parse: parses a raw query string (without '?'; NULL or empty for none). Names and values are
 * percent-decoded with '+' as space; unknown names are ignored; the last occurrence of a name wins; an empty value counts
 * as absent. On LIST_PARSE_INVALID, `errors` receives a JSON array with one entry per bad parameter. */
list_parse_result_t list_request_parse(list_request_t *req, const char *query, size_t len, booka_buf_t *errors);

/* list_request_canonical: appends the stable canonical form of `req`, e.g.
 * `category=dj&fields=id,business_name&limit=12&page=1&sort=most_booked`: names in byte order, defaults spelled out,
 * absent filters and an all-fields `fields` left out, values percent-encoded (RFC 3986 unreserved bytes kept). Equal
 * requests give equal strings; it is the cache key. */
void list_request_canonical(const list_request_t *req, booka_buf_t *out);

/* list_memo_get / list_memo_put (memo.c): the parsed request and canonical form of a raw query string this thread saw
 * before, so that a HIT neither parses nor normalises. get returns NULL when the string is not remembered; the entry
 * stays valid until this thread's next put. put remembers a query string that parsed (LIST_PARSE_OK) to `request` and
 * `canonical`; long ones are not remembered. */
typedef struct list_memo_entry {
    list_request_t request;
    h2o_iovec_t canonical;
} list_memo_entry_t;
const list_memo_entry_t *list_memo_get(const char *query, size_t len);
void list_memo_put(const char *query, size_t len, const list_request_t *request, const char *canonical, size_t canonical_len);

/* list_normalize_slug: the category slug of `in` (API.md): trim ASCII white space, lower-case A-Z, turn each run of
 * ASCII spaces, tabs and hyphens into one '_'. Writes at most len+1 bytes to out (NUL-terminated); returns the length. */
size_t list_normalize_slug(const char *in, size_t len, char *out);

/* ---- SQL ---- */

/* list_sql_t: the statements of one request, sent as one pipeline: the page, and the set's providers counted per price
 * bucket (rows bucket, n: their sum is the total, buckets 0..5 the price distribution). */
typedef struct list_sql {
    booka_db_statement_t statements[2];
    size_t num_statements;
    booka_buf_t text[2]; /* owns each statement's SQL */
    char params[6][64];  /* owns the numeric parameters */
    char location_pattern[LIST_TEXT_MAX_BYTES * 2 + 3];
} list_sql_t;

/* list_sql_build: the SQL of `req`, built only from fixed fragments chosen by its enums and field set; every value from
 * the request is a parameter; memory running out aborts (http/json.h). Release with list_sql_dispose. */
void list_sql_build(const list_request_t *req, list_sql_t *sql);
void list_sql_dispose(list_sql_t *sql);

/* ---- rendering ---- */

/* list_render: appends the response body built from the query's results (page rows, then counts per bucket). Returns 0,
 * or -1 when a result does not have the expected shape. */
int list_render(const list_request_t *req, PGresult *const *results, size_t num_results, booka_buf_t *out);

/* ---- fetching ---- */

typedef struct list_response {
    int status;       /* 200, or 500/503/504 with a JSON error body (db/answer.h says which) */
    h2o_iovec_t body; /* valid during the callback only */
} list_response_t;

typedef void (*list_fetch_cb)(void *data, const list_response_t *response);
typedef struct list_fetch list_fetch_t;

/* list_fetch: builds the body of `req` from Postgres and hands it to `cb`, once. When the database refuses at once
 * (queue full, down), `cb` runs before list_fetch returns and NULL is returned; otherwise the returned handle can be
 * abandoned with list_fetch_abandon until the callback has run. A cache sits between the canonical key and this call.
 * The database time goes to `trace`, and a failure is logged with its request id (the trace must live until `cb`). */
list_fetch_t *list_fetch(h2o_context_t *ctx, const list_request_t *req, booka_trace_t *trace, list_fetch_cb cb, void *data);
void list_fetch_abandon(list_fetch_t *fetch);

/* ---- configuration ---- */

/* booka_list_register_configurator: `booka.list` (see plugin/list/README.md). */
void booka_list_register_configurator(h2o_globalconf_t *conf);

#endif
