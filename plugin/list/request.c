/* request.c: the list endpoint's query string: parsed, validated with FastAPI-shaped errors, normalised, and written
 * back as the canonical string. */
#include <stdio.h>
#include <string.h>
#include "http/query.h"
#include "list/list.h"

const char *const list_field_names[LIST_NUM_FIELDS] = {
    "id",
    "user_id",
    "business_name",
    "custom_subtitle",
    "profile_picture_url",
    "hourly_rate",
    "price_visible",
    "rating",
    "rating_count",
    "book_count",
    "location",
    "service_categories",
    "created_at",
    "updated_at",
    "user.first_name",
    "user.last_name",
};

const char *const list_sort_names[LIST_NUM_SORTS] = {"newest", "most_booked", "top_rated", "price_low", "price_high"};

/* The parameters, in the order their errors are reported (API.md's table). */
enum param {
    P_CATEGORY,
    P_SORT,
    P_PAGE,
    P_LIMIT,
    P_FIELDS,
    P_LOCATION,
    P_MIN_PRICE,
    P_MAX_PRICE,
    P_WHEN,
    P_INCLUDE_PRICE_DISTRIBUTION,
    NUM_PARAMS
};

static const char *const param_names[NUM_PARAMS] = {"category", "sort",      "page",      "limit", "fields",
                                                    "location", "min_price", "max_price", "when",  "include_price_distribution"};

/* param_of: booka_query_scan's lookup of a decoded name among param_names. */
static size_t param_of(const char *name, size_t len)
{
    return booka_query_param_of(param_names, NUM_PARAMS, name, len);
}

static int is_ascii_space(int c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

/* utf8_chars: the number of code points in s, or -1 when s is not well-formed UTF-8 (RFC 3629). */
static long utf8_chars(const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str, *end = s + len;
    long chars = 0;
    size_t n;

    for (; s < end; s += n, ++chars)
        if ((n = booka_utf8_sequence_length(s, end - s)) == 0)
            return -1;
    return chars;
}

/* add_error: one FastAPI-style entry for parameter `p` (see booka_validation_error). */
static void add_error(booka_buf_t *errors, const char *type, enum param p, const char *msg, const char *input, size_t input_len,
                      const char *ctx_json)
{
    booka_validation_error(errors, type, param_names[p], msg, input, input_len, ctx_json);
}

size_t list_normalize_slug(const char *in, size_t len, char *out)
{
    size_t n = 0;
    int in_run = 0;

    while (len != 0 && is_ascii_space((unsigned char)in[0]))
        ++in, --len;
    while (len != 0 && is_ascii_space((unsigned char)in[len - 1]))
        --len;
    for (size_t i = 0; i != len; ++i) {
        char c = in[i];
        if (c == ' ' || c == '\t' || c == '-') {
            if (!in_run)
                out[n++] = '_';
            in_run = 1;
        } else {
            out[n++] = c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
            in_run = 0;
        }
    }
    out[n] = '\0';
    return n;
}

/* parse_bounded_int: an integer ([+-]digits) within [min, max] (booka_query_int). Returns 0 with *out set, or -1 after
 * adding the error. */
static int parse_bounded_int(enum param p, const char *v, size_t len, int64_t min, int64_t max, int64_t *out, booka_buf_t *errors)
{
    return booka_query_int(errors, param_names[p], v, len, min, max, out);
}

/* parse_price: a non-negative decimal ([+-]digits[.digits] or .digits) into its canonical form (no sign, no leading
 * zeros, no trailing fractional zeros: "0500.50" is "500.5"). Returns 0, or -1 after adding the error. */
static int parse_price(enum param p, const char *v, size_t len, char *out, booka_buf_t *errors)
{
    size_t i = 0, int_start, int_end, frac_start, frac_end, n = 0;
    int negative = 0;
    char ctx[48];

    if (i < len && (v[i] == '+' || v[i] == '-'))
        negative = v[i++] == '-';
    int_start = i;
    while (i < len && v[i] >= '0' && v[i] <= '9')
        ++i;
    int_end = frac_start = frac_end = i;
    if (i < len && v[i] == '.') {
        frac_start = ++i;
        while (i < len && v[i] >= '0' && v[i] <= '9')
            ++i;
        frac_end = i;
    }
    if (i != len || (int_end == int_start && frac_end == frac_start)) {
        add_error(errors, "decimal_parsing", p, "Input should be a valid decimal", v, len, NULL);
        return -1;
    }
    while (int_start < int_end && v[int_start] == '0')
        ++int_start;
    while (frac_end > frac_start && v[frac_end - 1] == '0')
        --frac_end;
    if ((int_end - int_start) + (frac_end - frac_start) > LIST_DECIMAL_MAX_DIGITS) {
        snprintf(ctx, sizeof(ctx), "{\"max_digits\": %d}", LIST_DECIMAL_MAX_DIGITS);
        add_error(errors, "decimal_max_digits", p, "Decimal input should have no more than 30 digits in total", v, len, ctx);
        return -1;
    }
    if (negative && (int_end > int_start || frac_end > frac_start)) {
        add_error(errors, "greater_than_equal", p, "Input should be greater than or equal to 0", v, len, "{\"ge\": 0}");
        return -1;
    }
    if (int_end == int_start)
        out[n++] = '0';
    memcpy(out + n, v + int_start, int_end - int_start);
    n += int_end - int_start;
    if (frac_end > frac_start) {
        out[n++] = '.';
        memcpy(out + n, v + frac_start, frac_end - frac_start);
        n += frac_end - frac_start;
    }
    out[n] = '\0';
    return 0;
}

/* decimal_compare: compares two canonical decimals; <0, 0, >0. */
static int decimal_compare(const char *a, const char *b)
{
    size_t ai = strcspn(a, "."), bi = strcspn(b, ".");
    int c;

    if (ai != bi)
        return ai < bi ? -1 : 1;
    if ((c = strncmp(a, b, ai)) != 0)
        return c;
    /* fractions without trailing zeros compare as strings */
    return strcmp(a[ai] == '.' ? a + ai + 1 : "", b[bi] == '.' ? b + bi + 1 : "");
}

/* parse_date: exactly YYYY-MM-DD naming a real date; errors worded as pydantic's date_parsing. */
static int parse_date(const char *v, size_t len, char *out, booka_buf_t *errors)
{
    static const unsigned char days_in_month[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    const char *reason = NULL;
    int year = 0, month = 0, day = 0;
    char msg[128];

    for (size_t i = 0; reason == NULL && i != (len < 10 ? len : 10); ++i) {
        int is_digit = v[i] >= '0' && v[i] <= '9';
        if (i == 4 || i == 7)
            reason = v[i] == '-' ? NULL : "invalid date separator, expected `-`";
        else if (!is_digit)
            reason = i < 4 ? "invalid character in year" : i < 7 ? "invalid character in month" : "invalid character in day";
    }
    if (reason == NULL && len < 10)
        reason = "input is too short";
    if (reason == NULL && len > 10)
        reason = "unexpected extra characters at the end of the input";
    if (reason == NULL) {
        year = (v[0] - '0') * 1000 + (v[1] - '0') * 100 + (v[2] - '0') * 10 + (v[3] - '0');
        month = (v[5] - '0') * 10 + (v[6] - '0');
        day = (v[8] - '0') * 10 + (v[9] - '0');
        if (year == 0)
            reason = "year value is outside expected range";
        else if (month < 1 || month > 12)
            reason = "month value is outside expected range";
        else if (day < 1 || day > days_in_month[month - 1] + (month == 2 && year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)))
            reason = "day value is outside expected range";
    }
    if (reason != NULL) {
        snprintf(msg, sizeof(msg), "Input should be a valid date in the format YYYY-MM-DD, %s", reason);
        add_error(errors, "date_parsing", P_WHEN, msg, v, len, NULL);
        return -1;
    }
    memcpy(out, v, 10);
    out[10] = '\0';
    return 0;
}

/* parse_bool: true/false/1/0/yes/no/on/off in any case. */
static int parse_bool(enum param p, const char *v, size_t len, int *out, booka_buf_t *errors)
{
    static const char *const words[] = {"false", "true", "0", "1", "no", "yes", "off", "on"};
    for (size_t i = 0; i != sizeof(words) / sizeof(words[0]); ++i) {
        if (strlen(words[i]) == len && strncasecmp(v, words[i], len) == 0) {
            *out = (int)(i % 2);
            return 0;
        }
    }
    add_error(errors, "bool_parsing", p, "Input should be a valid boolean, unable to interpret input", v, len, NULL);
    return -1;
}

static int parse_sort(const char *v, size_t len, list_sort_t *out, booka_buf_t *errors)
{
    static const char expected[] = "'most_booked', 'top_rated', 'newest', 'price_low' or 'price_high'";
    char msg[sizeof(expected) + 32];
    booka_buf_t ctx = {NULL};

    for (int i = 0; i != LIST_NUM_SORTS; ++i) {
        if (strlen(list_sort_names[i]) == len && memcmp(v, list_sort_names[i], len) == 0) {
            *out = (list_sort_t)i;
            return 0;
        }
    }
    snprintf(msg, sizeof(msg), "Input should be %s", expected);
    booka_buf_append_str(&ctx, "{\"expected\": ");
    booka_json_string(&ctx, expected, sizeof(expected) - 1);
    booka_buf_append(&ctx, "}", 2);
    booka_buf_or_abort(&ctx); /* fixed size (http/json.h, out of memory) */
    add_error(errors, "enum", P_SORT, msg, v, len, ctx.base);
    booka_buf_free(&ctx);
    return -1;
}

/* parse_fields: comma-separated names, each trimmed; empty items are skipped; duplicates and order do not matter. */
static int parse_fields(const char *v, size_t len, uint32_t *out, booka_buf_t *errors)
{
    uint32_t fields = 0;
    size_t items = 0;
    booka_buf_t unknown = {NULL}, msg = {NULL}, ctx = {NULL};
    int ret = 0;

    for (size_t start = 0; start <= len;) {
        size_t end = start, b, e;
        int f;
        while (end < len && v[end] != ',')
            ++end;
        for (b = start, e = end; b < e && is_ascii_space((unsigned char)v[b]); ++b)
            ;
        while (e > b && is_ascii_space((unsigned char)v[e - 1]))
            --e;
        if (e > b) {
            ++items;
            for (f = 0; f != LIST_NUM_FIELDS; ++f)
                if (strlen(list_field_names[f]) == e - b && memcmp(v + b, list_field_names[f], e - b) == 0)
                    break;
            if (f != LIST_NUM_FIELDS) {
                fields |= LIST_FIELD_BIT(f);
            } else if (unknown.len < 512) {
                booka_buf_appendf(&unknown, "%s'%.*s'", unknown.len == 0 ? "" : ", ", (int)(e - b), v + b);
            }
        }
        start = end + 1;
    }
    if (items > LIST_FIELDS_MAX_ITEMS) {
        char m[96], c[128];
        snprintf(m, sizeof(m), "List should have at most %d items after validation, not %zu", LIST_FIELDS_MAX_ITEMS, items);
        snprintf(c, sizeof(c), "{\"field_type\": \"List\", \"max_length\": %d, \"actual_length\": %zu}", LIST_FIELDS_MAX_ITEMS,
                 items);
        add_error(errors, "too_long", P_FIELDS, m, v, len, c);
        ret = -1;
    } else if (unknown.len != 0) {
        booka_buf_appendf(&msg,
                          "Value error, unknown field%s %.*s; allowed fields are: ", strchr(unknown.base, ',') != NULL ? "s" : "",
                          (int)unknown.len, unknown.base);
        booka_buf_append_str(&ctx, "{\"allowed\": [");
        for (int f = 0; f != LIST_NUM_FIELDS; ++f) {
            booka_buf_appendf(&msg, "%s%s", f == 0 ? "" : ", ", list_field_names[f]);
            booka_buf_appendf(&ctx, "%s\"%s\"", f == 0 ? "" : ", ", list_field_names[f]);
        }
        booka_buf_append(&msg, "", 1);
        booka_buf_append(&ctx, "]}", 3);
        booka_buf_or_abort(&msg); /* bounded by the query string (http/json.h, out of memory) */
        booka_buf_or_abort(&ctx);
        add_error(errors, "value_error", P_FIELDS, msg.base, v, len, ctx.base);
        ret = -1;
    } else {
        *out = fields != 0 ? fields : LIST_ALL_FIELDS;
    }
    booka_buf_free(&unknown);
    booka_buf_free(&msg);
    booka_buf_free(&ctx);
    return ret;
}

/* check_text_length: category or location: at most LIST_TEXT_MAX_CHARS characters. */
static int check_text_length(enum param p, const char *v, size_t len, long chars, booka_buf_t *errors)
{
    char msg[64], ctx[32];
    if (chars <= LIST_TEXT_MAX_CHARS)
        return 0;
    snprintf(msg, sizeof(msg), "String should have at most %d characters", LIST_TEXT_MAX_CHARS);
    snprintf(ctx, sizeof(ctx), "{\"max_length\": %d}", LIST_TEXT_MAX_CHARS);
    add_error(errors, "string_too_long", p, msg, v, len, ctx);
    return -1;
}

/* parse_value: one decoded, well-formed, non-empty value into req. */
static void parse_value(list_request_t *req, enum param p, const char *v, size_t len, long chars, booka_buf_t *errors)
{
    int64_t n;

    switch (p) {
    case P_CATEGORY:
        if (check_text_length(p, v, len, chars, errors) == 0)
            list_normalize_slug(v, len, req->category);
        break;
    case P_SORT:
        parse_sort(v, len, &req->sort, errors);
        break;
    case P_PAGE:
        if (parse_bounded_int(p, v, len, 1, LIST_PAGE_MAX, &n, errors) == 0)
            req->page = (uint64_t)n;
        break;
    case P_LIMIT:
        if (parse_bounded_int(p, v, len, 1, LIST_LIMIT_MAX, &n, errors) == 0)
            req->limit = (unsigned)n;
        break;
    case P_FIELDS:
        parse_fields(v, len, &req->fields, errors);
        break;
    case P_LOCATION:
        if (check_text_length(p, v, len, chars, errors) == 0) {
            for (size_t i = 0; i != len; ++i)
                req->location[i] = v[i] >= 'A' && v[i] <= 'Z' ? v[i] - 'A' + 'a' : v[i];
            req->location[len] = '\0';
        }
        break;
    case P_MIN_PRICE:
        parse_price(p, v, len, req->min_price, errors);
        break;
    case P_MAX_PRICE:
        parse_price(p, v, len, req->max_price, errors);
        break;
    case P_WHEN:
        parse_date(v, len, req->when, errors);
        break;
    case P_INCLUDE_PRICE_DISTRIBUTION:
        parse_bool(p, v, len, &req->include_price_distribution, errors);
        break;
    default:
        break;
    }
}

list_parse_result_t list_request_parse(list_request_t *req, const char *query, size_t len, booka_buf_t *errors)
{
    h2o_iovec_t found[NUM_PARAMS];
    char decoded[LIST_QUERY_MAX];

    memset(req, 0, sizeof(*req));
    req->sort = LIST_SORT_NEWEST;
    req->fields = LIST_ALL_FIELDS;
    req->page = 1;
    req->limit = LIST_LIMIT_DEFAULT;
    if (len > LIST_QUERY_MAX)
        return LIST_PARSE_TOO_LONG;
    booka_query_scan(query, len, param_of, NUM_PARAMS, found);

    for (int p = 0; p != NUM_PARAMS; ++p) {
        size_t vlen;
        long chars;
        if (found[p].base == NULL)
            continue;
        vlen = booka_form_decode(found[p].base, found[p].len, decoded, SIZE_MAX);
        if (vlen == 0)
            continue; /* present but empty: absent */
        if ((chars = utf8_chars(decoded, vlen)) < 0) {
            add_error(errors, "string_unicode", p, "Input should be a valid string, unable to parse raw data as a unicode string",
                      decoded, vlen, NULL);
            continue;
        }
        if (memchr(decoded, '\0', vlen) != NULL) {
            add_error(errors, "value_error", p, "Value error, the value must not contain NUL characters", decoded, vlen, NULL);
            continue;
        }
        parse_value(req, p, decoded, vlen, chars, errors);
    }

    if (req->min_price[0] != '\0' && req->max_price[0] != '\0' && decimal_compare(req->min_price, req->max_price) > 0)
        add_error(errors, "value_error", P_MIN_PRICE, "Value error, min_price must not be greater than max_price", req->min_price,
                  strlen(req->min_price), NULL);
    /* an error that could not be written (memory ran out) still makes the query invalid: its parameter holds no value
     * (booka_http_send_validation_errors then aborts, http/json.h) */
    if (errors->len == 0 && !errors->oom)
        return LIST_PARSE_OK;
    booka_buf_append_str(errors, "]");
    return LIST_PARSE_INVALID;
}

/* append_encoded: percent-encodes every byte outside RFC 3986's unreserved set, with upper-case hex. */
static void append_encoded(booka_buf_t *out, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (; *s != '\0'; ++s) {
        unsigned char c = *s;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
            c == '~') {
            booka_buf_append(out, s, 1);
        } else {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};
            booka_buf_append(out, e, 3);
        }
    }
}

void list_request_canonical(const list_request_t *req, booka_buf_t *out)
{
    if (req->category[0] != '\0') {
        booka_buf_append_str(out, "category=");
        append_encoded(out, req->category);
        booka_buf_append_str(out, "&");
    }
    if (req->fields != LIST_ALL_FIELDS) {
        const char *sep = "fields=";
        for (int f = 0; f != LIST_NUM_FIELDS; ++f) {
            if ((req->fields & LIST_FIELD_BIT(f)) != 0) {
                booka_buf_append_str(out, sep);
                booka_buf_append_str(out, list_field_names[f]);
                sep = ",";
            }
        }
        booka_buf_append_str(out, "&");
    }
    if (req->include_price_distribution)
        booka_buf_append_str(out, "include_price_distribution=true&");
    booka_buf_append_str(out, "limit=");
    booka_buf_append_uint(out, req->limit);
    booka_buf_append_str(out, "&");
    if (req->location[0] != '\0') {
        booka_buf_append_str(out, "location=");
        append_encoded(out, req->location);
        booka_buf_append_str(out, "&");
    }
    if (req->max_price[0] != '\0') {
        booka_buf_append_str(out, "max_price=");
        booka_buf_append_str(out, req->max_price);
        booka_buf_append_str(out, "&");
    }
    if (req->min_price[0] != '\0') {
        booka_buf_append_str(out, "min_price=");
        booka_buf_append_str(out, req->min_price);
        booka_buf_append_str(out, "&");
    }
    booka_buf_append_str(out, "page=");
    booka_buf_append_uint(out, req->page);
    booka_buf_append_str(out, "&sort=");
    booka_buf_append_str(out, list_sort_names[req->sort]);
    if (req->when[0] != '\0') {
        booka_buf_append_str(out, "&when=");
        booka_buf_append_str(out, req->when);
    }
}
