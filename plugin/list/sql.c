/* sql.c: the SQL of one list request: the templates of docs/LIST-SQL.md (plugin/list/README.md lists the differences).
 * Text comes only from the fixed fragments below, chosen by the request's enums and field set; every value from the
 * request is a parameter ($n). */
#include <stdio.h>
#include <string.h>
#include "list/list.h"

/* The page is read in two steps: the keys of one page from a sort index (index-only, so a deep OFFSET skips index
 * entries, not rows), then the requested columns of those rows by primary key. */

/* each sort's keys, ending in user_id DESC so that ties break on id desc and pages never overlap or skip */
static const char *const sort_keys[LIST_NUM_SORTS][4] = {
    [LIST_SORT_NEWEST] = {"created_at DESC", "user_id DESC"},
    [LIST_SORT_MOST_BOOKED] = {"book_count DESC", "user_id DESC"},
    [LIST_SORT_TOP_RATED] = {"rating_avg DESC NULLS LAST", "rating_count DESC", "user_id DESC"},
    [LIST_SORT_PRICE_LOW] = {"min_price ASC NULLS LAST", "user_id DESC"},
    [LIST_SORT_PRICE_HIGH] = {"min_price DESC NULLS LAST", "user_id DESC"},
};

/* timestamps travel as microseconds since the Unix epoch (exact, whatever the session's TimeZone and DateStyle) and
 * render.c writes them as RFC 3339 UTC */
#define EPOCH_MICROSECONDS(column) "(extract(epoch FROM " column ") * 1000000)::int8"

/* one select-list expression per field (id and user_id both come from the leading p.user_id): `p` is the provider's
 * service_provider_profiles row, `d` its booka.providers row (the counters and the avatar version token the triggers of
 * schema/ keep) */
static const char *const field_columns[LIST_NUM_FIELDS] = {
    [LIST_FIELD_BUSINESS_NAME] = "p.business_name",
    [LIST_FIELD_CUSTOM_SUBTITLE] = "p.custom_subtitle",
    [LIST_FIELD_PROFILE_PICTURE_URL] = "d.picture_version",
    [LIST_FIELD_HOURLY_RATE] = "p.hourly_rate",
    [LIST_FIELD_PRICE_VISIBLE] = "p.price_visible",
    [LIST_FIELD_RATING] = "d.rating_avg",
    [LIST_FIELD_RATING_COUNT] = "d.rating_count",
    [LIST_FIELD_BOOK_COUNT] = "d.book_count",
    [LIST_FIELD_LOCATION] = "p.location",
    [LIST_FIELD_SERVICE_CATEGORIES] =
        "(SELECT array_to_json(array_agg(c.name ORDER BY c.name COLLATE \"C\")) FROM booka.provider_categories pc "
        "JOIN service_categories c ON c.id = pc.category_id WHERE pc.user_id = p.user_id)",
    [LIST_FIELD_CREATED_AT] = EPOCH_MICROSECONDS("p.created_at"),
    [LIST_FIELD_UPDATED_AT] = EPOCH_MICROSECONDS("p.updated_at"),
    [LIST_FIELD_USER_FIRST_NAME] = "u.first_name",
    [LIST_FIELD_USER_LAST_NAME] = "u.last_name",
};

/* the fields read from booka.providers (`d`) */
static const uint32_t list_data_fields = LIST_FIELD_BIT(LIST_FIELD_PROFILE_PICTURE_URL) | LIST_FIELD_BIT(LIST_FIELD_RATING) |
                                         LIST_FIELD_BIT(LIST_FIELD_RATING_COUNT) | LIST_FIELD_BIT(LIST_FIELD_BOOK_COUNT);

/* statement_builder: appends text to one statement and numbers its parameters. */
typedef struct statement_builder {
    booka_buf_t *text;
    booka_db_statement_t *statement;
} statement_builder_t;

static void text(statement_builder_t *b, const char *fragment)
{
    booka_buf_append_str(b->text, fragment);
}

/* param: appends "$n::type" and binds `value` (which must outlive the statement) to it. */
static void param(statement_builder_t *b, const char *value, const char *type)
{
    char number[4] = {'$', (char)('0' + (b->statement->num_params + 1) / 10), (char)('0' + (b->statement->num_params + 1) % 10)};
    b->statement->values[b->statement->num_params++] = value;
    if (number[1] == '0') /* BOOKA_DB_MAX_PARAMS is below 100 */
        number[1] = number[2], number[2] = '\0';
    text(b, number);
    text(b, "::");
    text(b, type);
}

/* sort_key_columns: "t.created_at, t.user_id": the columns of the sort's keys, as the page subquery selects them. */
static void sort_key_columns(statement_builder_t *b, list_sort_t sort)
{
    for (size_t i = 0; i != 4 && sort_keys[sort][i] != NULL; ++i) {
        text(b, i == 0 ? "t." : ", t.");
        booka_buf_append(b->text, sort_keys[sort][i], strcspn(sort_keys[sort][i], " "));
    }
}

/* order_by: " ORDER BY " and the sort's keys, qualified by `alias`. */
static void order_by(statement_builder_t *b, list_sort_t sort, const char *alias)
{
    for (size_t i = 0; i != 4 && sort_keys[sort][i] != NULL; ++i) {
        text(b, i == 0 ? " ORDER BY " : ", ");
        text(b, alias);
        text(b, ".");
        text(b, sort_keys[sort][i]);
    }
}

static int has_filters(const list_request_t *req)
{
    return req->location[0] != '\0' || req->min_price[0] != '\0' || req->max_price[0] != '\0' || req->when[0] != '\0';
}

static int has_price_filter(const list_request_t *req)
{
    return req->min_price[0] != '\0' || req->max_price[0] != '\0';
}

/* price_bounds: " AND s.price >= $n" and/or " AND s.price <= $n" for the request's price range. */
static void price_bounds(statement_builder_t *b, const list_request_t *req)
{
    if (req->min_price[0] != '\0') {
        text(b, " AND s.price >= ");
        param(b, req->min_price, "numeric");
    }
    if (req->max_price[0] != '\0') {
        text(b, " AND s.price <= ");
        param(b, req->max_price, "numeric");
    }
}

/* price_range: the conditions of an approved service `s` of provider `t` in the price range (and t's category). */
static void price_range(statement_builder_t *b, const list_request_t *req)
{
    text(b, "s.artist_id = t.user_id AND s.status = 'approved'");
    if (req->category[0] != '\0')
        text(b, " AND s.service_category_id = t.category_id");
    price_bounds(b, req);
}

/* counts_key: the booka.provider_list_counts key of the request's set: 0 for the whole set, else the id of the category
 * whose name has the slug (the lowest id if several names normalise alike; NULL for an unknown slug, which matches
 * nothing). The slug is computed from the name: an adopted service_categories table has no slug column, and it has a
 * few dozen rows. */
static void counts_key(statement_builder_t *b, const list_request_t *req)
{
    if (req->category[0] == '\0') {
        text(b, "0");
        return;
    }
    text(b, "(SELECT min(c.id) FROM service_categories c WHERE booka.category_slug(c.name) = ");
    param(b, req->category, "text");
    text(b, ")");
}

enum {
    SET_OFFSET_GUARD = 1, /* only when the offset is below the set's maintained count: a page past the end reads nothing */
    SET_NO_FILTERS = 2,   /* the category alone */
    SET_NO_PRICE = 4,     /* the price range is applied by the caller */
};

/* filtered_set: "FROM ... t WHERE ...": the providers matching the filters, as `t`: booka.provider_categories of the
 * category (one row per member, with copies of the sort keys, its lowest price in the category and location) or
 * booka.providers (one row per provider, with its sort keys and location). */
static void filtered_set(statement_builder_t *b, const list_request_t *req, list_sql_t *sql, int flags)
{
    const char *and = " WHERE ";

    if (req->category[0] != '\0') {
        text(b, " FROM booka.provider_categories t WHERE t.category_id = ");
        counts_key(b, req);
        and = " AND ";
    } else {
        text(b, " FROM booka.providers t");
    }
    if ((flags & SET_OFFSET_GUARD) != 0) {
        text(b, and);
        param(b, sql->params[1], "bigint");
        text(b, " < (SELECT coalesce(sum(n), 0) FROM booka.provider_list_counts WHERE category_id = ");
        counts_key(b, req);
        text(b, ")");
        and = " AND ";
    }
    if ((flags & SET_NO_FILTERS) != 0)
        return;
    if (req->location[0] != '\0') {
        text(b, and);
        text(b, "t.location ILIKE ");
        param(b, sql->location_pattern, "text");
        and = " AND ";
    }
    if (has_price_filter(req) && (flags & SET_NO_PRICE) == 0) {
        text(b, and);
        text(b, "EXISTS (SELECT 1 FROM services s WHERE ");
        price_range(b, req);
        text(b, ")");
        and = " AND ";
    }
    if (req->when[0] != '\0') {
        text(b, and);
        text(b, "NOT EXISTS (SELECT 1 FROM bookings bk WHERE bk.artist_id = t.user_id AND bk.event_date = ");
        param(b, req->when, "date");
        text(b, " AND bk.status IN ('pending', 'confirmed'))");
    }
}

static void build_page(statement_builder_t *b, const list_request_t *req, list_sql_t *sql)
{
    /* with only id/user_id asked for, the keys are the answer: no join at all */
    int needs_row = (req->fields & ~(LIST_FIELD_BIT(LIST_FIELD_ID) | LIST_FIELD_BIT(LIST_FIELD_USER_ID))) != 0;

    text(b, needs_row ? "SELECT p.user_id" : "SELECT k.user_id");
    for (int f = LIST_FIELD_USER_ID + 1; f != LIST_NUM_FIELDS; ++f) {
        if ((req->fields & LIST_FIELD_BIT(f)) != 0) {
            text(b, ", ");
            text(b, field_columns[f]);
        }
    }
    text(b, " FROM (SELECT ");
    sort_key_columns(b, req->sort);
    filtered_set(b, req, sql, SET_OFFSET_GUARD);
    order_by(b, req->sort, "t");
    text(b, " LIMIT ");
    param(b, sql->params[0], "integer");
    text(b, " OFFSET ");
    param(b, sql->params[1], "bigint");
    text(b, ") k");
    if (needs_row)
        text(b, " JOIN service_provider_profiles p ON p.user_id = k.user_id");
    if ((req->fields & list_data_fields) != 0)
        text(b, " JOIN booka.providers d ON d.user_id = k.user_id");
    if ((req->fields & (LIST_FIELD_BIT(LIST_FIELD_USER_FIRST_NAME) | LIST_FIELD_BIT(LIST_FIELD_USER_LAST_NAME))) != 0)
        text(b, " JOIN users u ON u.id = p.user_id");
    order_by(b, req->sort, "k");
}

/* build_counts: rows (bucket, n) over the filtered set, bucket = booka.price_bucket of the lowest matching approved
 * price (6: none); the total is the sum of n, the price distribution buckets 0..5. */
static void build_counts(statement_builder_t *b, const list_request_t *req, list_sql_t *sql)
{
    if (!has_filters(req)) {
        /* the counts the triggers keep */
        text(b, "SELECT bucket, sum(n)::bigint FROM booka.provider_list_counts WHERE category_id = ");
        counts_key(b, req);
        text(b, " GROUP BY bucket");
    } else if (req->when[0] != '\0' && req->location[0] == '\0' && !has_price_filter(req)) {
        /* the kept counts less the few providers busy that day */
        text(b, "SELECT bucket, sum(n)::bigint FROM (SELECT bucket, n FROM booka.provider_list_counts WHERE category_id = ");
        counts_key(b, req);
        text(b, " UNION ALL SELECT booka.price_bucket(t.min_price), -count(*)");
        filtered_set(b, req, sql, SET_NO_FILTERS);
        text(b, req->category[0] != '\0' ? " AND " : " WHERE ");
        text(b, "t.user_id IN (SELECT bk.artist_id FROM bookings bk WHERE bk.event_date = ");
        param(b, req->when, "date");
        text(b, " AND bk.status IN ('pending', 'confirmed')) GROUP BY 1) x GROUP BY bucket");
    } else if (has_price_filter(req)) {
        /* from the approved services in the range, grouped by provider: each provider's lowest matching price is its
         * bucket; the list rows are joined only for location or when (every artist is a provider, and with a category the
         * services are already restricted to it) */
        text(b, "SELECT booka.price_bucket(f.price), count(*) FROM (SELECT s.artist_id, min(s.price) AS price FROM services s "
                "WHERE s.status = 'approved'");
        if (req->category[0] != '\0') {
            text(b, " AND s.service_category_id = ");
            counts_key(b, req);
        }
        price_bounds(b, req);
        text(b, " GROUP BY s.artist_id) f");
        if (req->location[0] != '\0' || req->when[0] != '\0') {
            text(b, " JOIN (SELECT t.user_id");
            filtered_set(b, req, sql, SET_NO_PRICE);
            text(b, ") t ON t.user_id = f.artist_id");
        }
        text(b, " GROUP BY 1");
    } else {
        text(b, "SELECT booka.price_bucket(t.min_price), count(*)");
        filtered_set(b, req, sql, 0);
        text(b, " GROUP BY 1");
    }
}

/* like_pattern: '%' + value with %, _ and \ escaped + '%': the value is matched literally (ILIKE's escape is '\'). */
static void like_pattern(const char *value, char *out)
{
    size_t n = 0;
    out[n++] = '%';
    for (; *value != '\0'; ++value) {
        if (*value == '%' || *value == '_' || *value == '\\')
            out[n++] = '\\';
        out[n++] = *value;
    }
    out[n++] = '%';
    out[n] = '\0';
}

void list_sql_build(const list_request_t *req, list_sql_t *sql)
{
    void (*const builders[])(statement_builder_t *, const list_request_t *, list_sql_t *) = {build_page, build_counts};

    memset(sql, 0, sizeof(*sql));
    snprintf(sql->params[0], sizeof(sql->params[0]), "%u", req->limit);
    snprintf(sql->params[1], sizeof(sql->params[1]), "%llu", (unsigned long long)(req->page - 1) * req->limit);
    like_pattern(req->location, sql->location_pattern);
    sql->num_statements = 2;
    for (size_t i = 0; i != sql->num_statements; ++i) {
        statement_builder_t b = {&sql->text[i], &sql->statements[i]};
        booka_buf_reserve(&sql->text[i], 2048);
        builders[i](&b, req, sql);
        booka_buf_append(&sql->text[i], "", 1);
        booka_buf_or_abort(&sql->text[i]); /* fixed fragments: memory running out aborts (http/json.h) */
        sql->statements[i].sql = sql->text[i].base;
    }
}

void list_sql_dispose(list_sql_t *sql)
{
    for (size_t i = 0; i != sizeof(sql->text) / sizeof(sql->text[0]); ++i)
        booka_buf_free(&sql->text[i]);
}
