/* render.c: the list body, written with our JSON writer straight from the rows' text values (no DOM, one pass).
 *
 * Page rows hold `user_id` first, then one column per requested field other than id/user_id, in list_field_t order
 * (user.first_name and user.last_name are columns too); see sql.c. The body is compact JSON, as FastAPI emits it. */
#include <stdlib.h>
#include <string.h>
#include "list/avatar_token.h"
#include "list/list.h"

static const struct {
    int min, max; /* max -1: open */
} price_buckets[] = {{0, 500}, {500, 1000}, {1000, 2000}, {2000, 5000}, {5000, 10000}, {10000, -1}};

/* append_rating: numeric(3,2) text as a JSON number without superfluous zeros ("4.50" is 4.5, "5.00" is 5.0). */
static void append_rating(booka_buf_t *out, const char *v, size_t len)
{
    const char *dot = memchr(v, '.', len);
    if (dot != NULL) {
        while (len > (size_t)(dot - v) + 2 && v[len - 1] == '0')
            --len;
    }
    booka_buf_append(out, v, len);
}

/* put_digits: writes v as exactly `width` decimal digits (zero-padded) at p; returns the end. */
static char *put_digits(char *p, long v, int width)
{
    for (int i = width - 1; i >= 0; --i, v /= 10)
        p[i] = (char)('0' + v % 10);
    return p + width;
}

/* append_timestamp: microseconds since the Unix epoch (sql.c) as an RFC 3339 UTC string: "2024-01-02T03:04:05.12Z",
 * the fraction without trailing zeros and left out when zero. Formatted by hand (civil date from the day number, as in
 * H. Hinnant's days_from_civil inverse): this runs twice per item and printf-style formatting dominated the profile. */
static void append_timestamp(booka_buf_t *out, const char *v)
{
    long long us = strtoll(v, NULL, 10);
    long long seconds = us / 1000000 - (us % 1000000 < 0), days = seconds / 86400 - (seconds % 86400 < 0);
    long fraction = (long)(us - seconds * 1000000), second_of_day = (long)(seconds - days * 86400);
    long long z = days + 719468, era = (z >= 0 ? z : z - 146096) / 146097;
    long doe = (long)(z - era * 146097), yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    long doy = doe - (365 * yoe + yoe / 4 - yoe / 100), mp = (5 * doy + 2) / 153;
    long day = doy - (153 * mp + 2) / 5 + 1, month = mp < 10 ? mp + 3 : mp - 9, year = (long)(yoe + era * 400) + (month <= 2);
    char text[40], *p = text;

    *p++ = '"';
    p = put_digits(p, year, 4);
    *p++ = '-';
    p = put_digits(p, month, 2);
    *p++ = '-';
    p = put_digits(p, day, 2);
    *p++ = 'T';
    p = put_digits(p, second_of_day / 3600, 2);
    *p++ = ':';
    p = put_digits(p, second_of_day / 60 % 60, 2);
    *p++ = ':';
    p = put_digits(p, second_of_day % 60, 2);
    if (fraction != 0) {
        *p++ = '.';
        p = put_digits(p, fraction, 6);
        while (p[-1] == '0')
            --p;
    }
    *p++ = 'Z';
    *p++ = '"';
    booka_buf_append(out, text, p - text);
}

/* append_value: one field's value from its column. */
static void append_value(booka_buf_t *out, list_field_t f, const PGresult *res, int row, int col)
{
    const char *v = PQgetvalue(res, row, col);
    size_t len = PQgetlength(res, row, col);

    if (PQgetisnull(res, row, col)) {
        booka_buf_append_str(out, f == LIST_FIELD_SERVICE_CATEGORIES ? "[]" : "null");
        return;
    }
    switch (f) {
    case LIST_FIELD_HOURLY_RATE:
    case LIST_FIELD_BUSINESS_NAME:
    case LIST_FIELD_CUSTOM_SUBTITLE:
    case LIST_FIELD_LOCATION:
    case LIST_FIELD_USER_FIRST_NAME:
    case LIST_FIELD_USER_LAST_NAME:
        booka_json_string(out, v, len);
        break;
    case LIST_FIELD_PRICE_VISIBLE:
        booka_buf_append_str(out, v[0] == 't' ? "true" : "false");
        break;
    case LIST_FIELD_RATING:
        append_rating(out, v, len);
        break;
    case LIST_FIELD_CREATED_AT:
    case LIST_FIELD_UPDATED_AT:
        append_timestamp(out, v);
        break;
    case LIST_FIELD_PROFILE_PICTURE_URL:
        booka_avatar_url_json(out, PQgetvalue(res, row, 0), PQgetlength(res, row, 0), v, len);
        break;
    default: /* integers, and service_categories (a JSON array built by Postgres from text) */
        booka_buf_append(out, v, len);
        break;
    }
}

/* append_key: sep, then "name": */
static void append_key(booka_buf_t *out, const char *sep, const char *name)
{
    booka_buf_append_str(out, sep);
    booka_buf_append(out, "\"", 1);
    booka_buf_append_str(out, name);
    booka_buf_append(out, "\":", 2);
}

static void append_item(booka_buf_t *out, const list_request_t *req, const PGresult *res, int row)
{
    int col = 1, user_open = 0;
    const char *sep = "{";

    for (int f = 0; f != LIST_NUM_FIELDS; ++f) {
        if ((req->fields & LIST_FIELD_BIT(f)) == 0)
            continue;
        if (f == LIST_FIELD_ID || f == LIST_FIELD_USER_ID) {
            append_key(out, sep, list_field_names[f]);
            booka_buf_append(out, PQgetvalue(res, row, 0), PQgetlength(res, row, 0));
        } else if (f == LIST_FIELD_USER_FIRST_NAME || f == LIST_FIELD_USER_LAST_NAME) {
            if (!user_open) {
                append_key(out, sep, "user");
                booka_buf_append(out, "{", 1);
            }
            append_key(out, user_open ? "," : "", list_field_names[f] + sizeof("user.") - 1);
            user_open = 1;
            append_value(out, f, res, row, col++);
        } else {
            append_key(out, sep, list_field_names[f]);
            append_value(out, f, res, row, col++);
        }
        sep = ",";
    }
    booka_buf_append_str(out, user_open ? "}}" : "}");
}

/* expected_columns: user_id plus one per requested field other than id and user_id. */
static int expected_columns(uint32_t fields)
{
    int n = 1;
    for (int f = LIST_FIELD_USER_ID + 1; f != LIST_NUM_FIELDS; ++f)
        n += (fields & LIST_FIELD_BIT(f)) != 0;
    return n;
}

int list_render(const list_request_t *req, PGresult *const *results, size_t num_results, booka_buf_t *out)
{
    const PGresult *page = num_results == 2 ? results[0] : NULL, *counts = num_results == 2 ? results[1] : NULL;
    long long buckets[6] = {0}, total = 0;

    if (page == NULL || counts == NULL || PQnfields(page) != expected_columns(req->fields) || PQnfields(counts) != 2)
        return -1;
    for (int r = 0; r != PQntuples(counts); ++r) {
        long bucket = strtol(PQgetvalue(counts, r, 0), NULL, 10);
        long long n = strtoll(PQgetvalue(counts, r, 1), NULL, 10);
        total += n;
        if (bucket >= 0 && bucket < 6)
            buckets[bucket] += n;
    }

    booka_buf_reserve(out, 512 + (size_t)PQntuples(page) * 512); /* most bodies then need no reallocation */
    booka_buf_append_str(out, "{\"data\":[");
    for (int row = 0; row != PQntuples(page); ++row) {
        if (row != 0)
            booka_buf_append(out, ",", 1);
        append_item(out, req, page, row);
    }
    booka_buf_appendf(out, "],\"total\":%lld,\"page\":%llu,\"limit\":%u", total, (unsigned long long)req->page, req->limit);
    if (req->include_price_distribution) {
        booka_buf_append_str(out, ",\"price_distribution\":[");
        for (size_t i = 0; i != 6; ++i) {
            booka_buf_appendf(out, "%s{\"min\":%d,\"max\":", i == 0 ? "" : ",", price_buckets[i].min);
            if (price_buckets[i].max < 0)
                booka_buf_append_str(out, "null");
            else
                booka_buf_appendf(out, "%d", price_buckets[i].max);
            booka_buf_appendf(out, ",\"count\":%lld}", buckets[i]);
        }
        booka_buf_append_str(out, "]");
    }
    booka_buf_append_str(out, "}");
    return out->oom ? -1 : 0;
}
