/* request.c: the avatar request's parts that need no I/O: the provider id, the query (FastAPI-shaped 422s), its
 * signature, the output side (allowed sides), content negotiation by Accept, and the variant's cache key and ETag. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <openssl/crypto.h>
#include "avatar/internal.h"
#include "cache/store.h"
#include "http/query.h"
#include "http/etag.h"

/* Bumped whenever the pipeline may produce different bytes for the same inputs, so strong ETags stay truthful. */
#define AVATAR_PIPELINE_VERSION "1"

enum param { P_W, P_DPR, P_Q, P_FMT, P_V, P_SIG, NUM_PARAMS };
static const char *const param_names[NUM_PARAMS] = {"w", "dpr", "q", "fmt", "v", "sig"};

int avatar_parse_id(h2o_iovec_t rest, int64_t *id)
{
    int64_t value = 0;

    if (rest.len < 2 || rest.len > 20 || rest.base[0] != '/')
        return -1;
    for (size_t i = 1; i != rest.len; ++i) {
        int digit = rest.base[i] - '0';
        if (digit < 0 || digit > 9 || value > (INT64_MAX - digit) / 10)
            return -1;
        value = value * 10 + digit;
    }
    *id = value;
    return 0;
}

/* add_error: one FastAPI-style entry for parameter `p` (see booka_validation_error). */
static void add_error(booka_buf_t *errors, const char *type, enum param p, const char *msg, const char *input, size_t input_len,
                      const char *ctx_json)
{
    booka_validation_error(errors, type, param_names[p], msg, input, input_len, ctx_json);
}

/* add_range_error: the greater_than_equal / less_than_equal entry for a value outside [min, max]. */
static void add_range_error(booka_buf_t *errors, enum param p, int below, int bound, const char *input, size_t input_len)
{
    char msg[64], ctx[32];
    snprintf(msg, sizeof(msg), "Input should be %s than or equal to %d", below ? "greater" : "less", bound);
    snprintf(ctx, sizeof(ctx), "{\"%s\": %d}", below ? "ge" : "le", bound);
    add_error(errors, below ? "greater_than_equal" : "less_than_equal", p, msg, input, input_len, ctx);
}

/* parse_int: [+-]digits within [min, max] (booka_query_int). Returns 0 with *out set, or -1 after adding the error. */
static int parse_int(enum param p, const char *v, size_t len, int min, int max, int *out, booka_buf_t *errors)
{
    int64_t value;

    if (booka_query_int(errors, param_names[p], v, len, min, max, &value) != 0)
        return -1;
    *out = (int)value;
    return 0;
}

/* is_decimal_number: [+-](digits[.digits*] | .digits)([eE][+-]digits): what Python's float() reads, minus inf and nan. */
static int is_decimal_number(const char *v, size_t len)
{
    size_t i = 0, digits = 0;

    if (i < len && (v[i] == '+' || v[i] == '-'))
        ++i;
    for (; i < len && v[i] >= '0' && v[i] <= '9'; ++i)
        ++digits;
    if (i < len && v[i] == '.')
        for (++i; i < len && v[i] >= '0' && v[i] <= '9'; ++i)
            ++digits;
    if (digits == 0)
        return 0;
    if (i < len && (v[i] == 'e' || v[i] == 'E')) {
        size_t exp_digits = 0;
        if (++i < len && (v[i] == '+' || v[i] == '-'))
            ++i;
        for (; i < len && v[i] >= '0' && v[i] <= '9'; ++i)
            ++exp_digits;
        if (exp_digits == 0)
            return 0;
    }
    return i == len;
}

/* parse_number: a decimal within [min, max]; `v` is NUL-terminated at `len`. Returns 0 with *out set, or -1 after adding
 * the error. */
static int parse_number(enum param p, const char *v, size_t len, int min, int max, double *out, booka_buf_t *errors)
{
    double value;

    if (!is_decimal_number(v, len)) {
        add_error(errors, "float_parsing", p, "Input should be a valid number, unable to parse string as a number", v, len, NULL);
        return -1;
    }
    value = strtod(v, NULL);
    if (!(value >= min) || !(value <= max)) {
        add_range_error(errors, p, !(value >= min), !(value >= min) ? min : max, v, len);
        return -1;
    }
    *out = value;
    return 0;
}

/* parse_format: exactly `webp`, `jpeg` or `auto` (no case folding, as for every enum of the API). */
static int parse_format(const char *v, size_t len, avatar_format_t *out, booka_buf_t *errors)
{
#define EXPECTED_FORMATS "'webp', 'jpeg' or 'auto'"
    static const char *const names[] = {"auto", "webp", "jpeg"}; /* in avatar_format_t order */

    for (size_t i = 0; i != sizeof(names) / sizeof(names[0]); ++i) {
        if (strlen(names[i]) == len && memcmp(v, names[i], len) == 0) {
            *out = (avatar_format_t)i;
            return 0;
        }
    }
    add_error(errors, "enum", P_FMT, "Input should be " EXPECTED_FORMATS, v, len, "{\"expected\": \"" EXPECTED_FORMATS "\"}");
    return -1;
#undef EXPECTED_FORMATS
}

/* param_named: the known parameter a decoded name is, or NUM_PARAMS (a switch on the length and letters: comparing with
 * every name in turn was 1.5% of a HIT's CPU); booka_query_scan's param_of. */
static size_t param_named(const char *name, size_t len)
{
    if (len == 1) {
        switch (name[0]) {
        case 'w':
            return P_W;
        case 'q':
            return P_Q;
        case 'v':
            return P_V;
        }
    } else if (len == 3) {
        if (memcmp(name, "dpr", 3) == 0)
            return P_DPR;
        if (memcmp(name, "fmt", 3) == 0)
            return P_FMT;
        if (memcmp(name, "sig", 3) == 0)
            return P_SIG;
    }
    return NUM_PARAMS;
}

#define DECODED_ON_STACK 512

/* decode_values: each present raw value percent-decoded into one buffer, NUL-terminated, in values[p] / lens[p]. A
 * decoded value is never longer than its raw form, so the query's length plus a NUL per value holds them all: `stack`
 * (DECODED_ON_STACK bytes) for everyday queries (the allocation was 2% of an avatar HIT's CPU), else allocated. Returns
 * the buffer used; free it unless it is `stack`. */
static char *decode_values(const h2o_iovec_t raw[NUM_PARAMS], size_t query_len, const char *values[NUM_PARAMS],
                           size_t lens[NUM_PARAMS], char *stack)
{
    char *decoded = query_len + NUM_PARAMS <= DECODED_ON_STACK ? stack : h2o_mem_alloc(query_len + NUM_PARAMS);

    for (size_t p = 0, used = 0; p != NUM_PARAMS; ++p) {
        values[p] = NULL;
        lens[p] = 0;
        if (raw[p].base == NULL)
            continue;
        values[p] = decoded + used;
        lens[p] = booka_form_decode(raw[p].base, raw[p].len, decoded + used, raw[p].len);
        decoded[used + lens[p]] = '\0';
        used += lens[p] + 1;
    }
    return decoded;
}

int avatar_params_parse(avatar_params_t *params, const char *query, size_t len, booka_buf_t *errors)
{
    /* the last occurrence of each known parameter, raw; decoded whole afterwards (never cut: a value is judged on every
     * byte the client sent, so `w=<127 zeros>64garbage` is the int_parsing error it is) */
    h2o_iovec_t raw[NUM_PARAMS];
    const char *values[NUM_PARAMS];
    size_t value_lens[NUM_PARAMS];
    char stack[DECODED_ON_STACK], *decoded;
    int ok = 1;

    *params = (avatar_params_t){AVATAR_DEFAULT_WIDTH, 1, AVATAR_DEFAULT_QUALITY, AVATAR_FORMAT_AUTO, ""};
    booka_query_scan(query, len, param_named, NUM_PARAMS, raw);
    decoded = decode_values(raw, len, values, value_lens, stack);

    if (value_lens[P_W] != 0) {
        int width;
        if (parse_int(P_W, values[P_W], value_lens[P_W], AVATAR_MIN_WIDTH, AVATAR_MAX_WIDTH, &width, errors) == 0)
            params->width = (uint32_t)width;
        else
            ok = 0;
    }
    if (value_lens[P_DPR] != 0 && parse_number(P_DPR, values[P_DPR], value_lens[P_DPR], 1, 4, &params->dpr, errors) != 0)
        ok = 0;
    if (value_lens[P_Q] != 0 && parse_int(P_Q, values[P_Q], value_lens[P_Q], 1, 100, &params->quality, errors) != 0)
        ok = 0;
    if (value_lens[P_FMT] != 0 && parse_format(values[P_FMT], value_lens[P_FMT], &params->format, errors) != 0)
        ok = 0;
    if (value_lens[P_V] != 0 && value_lens[P_V] <= AVATAR_TOKEN_MAX)
        memcpy(params->version, values[P_V], value_lens[P_V] + 1);
    if (decoded != stack)
        free(decoded);
    if (!ok)
        booka_buf_append_str(errors, "]");
    return ok ? 0 : -1;
}

/* append_side_list: "64, 128, 256 or 512". */
static void append_side_list(booka_buf_t *out, const avatar_config_t *conf)
{
    for (size_t i = 0; i != conf->num_allowed_sides; ++i) {
        if (i != 0)
            booka_buf_append_str(out, i + 1 == conf->num_allowed_sides ? " or " : ", ");
        booka_buf_append_uint(out, conf->allowed_sides[i]);
    }
}

int avatar_params_side(avatar_params_t *params, const avatar_config_t *conf, booka_buf_t *errors)
{
    uint32_t side = booka_image_output_side(params->width, params->dpr, UINT32_MAX, conf->limits.max_output_side), best = 0;
    booka_buf_t msg = {NULL}, ctx = {NULL};
    char input[16];

    params->side = side;
    if (conf->num_allowed_sides == 0)
        return 0;
    for (size_t i = 0; i != conf->num_allowed_sides; ++i) {
        uint32_t s = conf->allowed_sides[i]; /* ascending: on a tie the later, larger side wins */
        if (s == side)
            return 0;
        if (i == 0 || (s > side ? s - side : side - s) <= (best > side ? best - side : side - best))
            best = s;
    }
    if (conf->snap_sides) {
        params->side = best;
        return 0;
    }
    booka_buf_append_str(&msg, "Input should make a side (w*dpr, rounded) of ");
    append_side_list(&msg, conf);
    booka_buf_append_str(&msg, "; it makes ");
    booka_buf_append_uint(&msg, side);
    booka_buf_append(&msg, "", 1);
    booka_buf_append_str(&ctx, "{\"expected\": \"");
    append_side_list(&ctx, conf);
    booka_buf_append_str(&ctx, "\"}");
    booka_buf_append(&ctx, "", 1);
    snprintf(input, sizeof(input), "%" PRIu32, params->width);
    booka_buf_or_abort(&msg); /* bounded by the configuration's sides (http/json.h, out of memory) */
    booka_buf_or_abort(&ctx);
    booka_validation_error(errors, "enum", param_names[P_W], msg.base, input, strlen(input), ctx.base);
    booka_buf_append_str(errors, "]");
    booka_buf_free(&msg);
    booka_buf_free(&ctx);
    return -1;
}

avatar_signature_t avatar_signature_check(const avatar_config_t *conf, int64_t provider_id, const char *query, size_t len)
{
    /* the signed parameters in the signing text's order, by this file's enum */
    static const enum param signed_params[BOOKA_AVATAR_SIGNED_NUM] = {[BOOKA_AVATAR_SIGNED_DPR] = P_DPR,
                                                                      [BOOKA_AVATAR_SIGNED_FMT] = P_FMT,
                                                                      [BOOKA_AVATAR_SIGNED_Q] = P_Q,
                                                                      [BOOKA_AVATAR_SIGNED_V] = P_V,
                                                                      [BOOKA_AVATAR_SIGNED_W] = P_W};
    h2o_iovec_t raw[NUM_PARAMS], signed_values[BOOKA_AVATAR_SIGNED_NUM];
    const char *values[NUM_PARAMS];
    size_t lens[NUM_PARAMS];
    char id[24], expected[BOOKA_AVATAR_SIG_LEN + 1], stack[DECODED_ON_STACK], *decoded;
    booka_buf_t text = {NULL};
    avatar_signature_t result = AVATAR_SIGNATURE_WRONG;

    if (conf->signers[0] == NULL)
        return AVATAR_SIGNATURE_OK;
    booka_query_scan(query, len, param_named, NUM_PARAMS, raw);
    decoded = decode_values(raw, len, values, lens, stack);
    if (lens[P_SIG] == 0) {
        result = AVATAR_SIGNATURE_MISSING;
        goto Exit;
    }
    if (lens[P_SIG] != BOOKA_AVATAR_SIG_LEN)
        goto Exit;
    for (size_t i = 0; i != BOOKA_AVATAR_SIGNED_NUM; ++i)
        signed_values[i] = h2o_iovec_init(values[signed_params[i]], lens[signed_params[i]]);
    booka_avatar_signing_text(&text, h2o_iovec_init(conf->signing_path, strlen(conf->signing_path)),
                              h2o_iovec_init(id, (size_t)snprintf(id, sizeof(id), "%" PRId64, provider_id)), signed_values);
    booka_buf_or_abort(&text); /* bounded by the query string: no 403 for a lack of memory (http/json.h) */
    /* every configured key is tried, each compared in constant time: the answer's timing tells nothing of the bytes */
    for (size_t k = 0; k != sizeof(conf->signers) / sizeof(conf->signers[0]) && conf->signers[k] != NULL; ++k)
        if (booka_avatar_sign(conf->signers[k], text.base, text.len, expected) == 0 &&
            CRYPTO_memcmp(expected, values[P_SIG], BOOKA_AVATAR_SIG_LEN) == 0)
            result = AVATAR_SIGNATURE_OK;
Exit:
    booka_buf_free(&text);
    if (decoded != stack)
        free(decoded);
    return result;
}

static int is_ows(char c)
{
    return c == ' ' || c == '\t';
}

/* trim: the slice without leading and trailing spaces and tabs. */
static h2o_iovec_t trim(const char *s, size_t len)
{
    while (len != 0 && is_ows(*s))
        ++s, --len;
    while (len != 0 && is_ows(s[len - 1]))
        --len;
    return h2o_iovec_init(s, len);
}

/* parse_qvalue: RFC 9110 12.4.2's weight: "0" ["." 0*3DIGIT] or "1" ["." 0*3("0")], as thousandths. Returns -1 when
 * malformed. */
static int parse_qvalue(h2o_iovec_t v)
{
    int value, scale = 100;

    if (v.len == 0 || v.len > 5 || (v.base[0] != '0' && v.base[0] != '1') || (v.len > 1 && v.base[1] != '.'))
        return -1;
    value = (v.base[0] - '0') * 1000;
    for (size_t i = 2; i < v.len; ++i, scale /= 10) {
        if (v.base[i] < '0' || v.base[i] > '9')
            return -1;
        value += (v.base[i] - '0') * scale;
    }
    return value <= 1000 ? value : -1;
}

/* media_range_weight: for one member of an Accept list ("type/subtype *(; parameter)"), its weight in thousandths (1000
 * without a q parameter) when the range is `want`, else -1. A malformed q makes the member count as absent. */
static int media_range_weight(h2o_iovec_t member, const char *want)
{
    const char *semi = memchr(member.base, ';', member.len);
    h2o_iovec_t range = trim(member.base, semi != NULL ? (size_t)(semi - member.base) : member.len);
    int weight = 1000;

    if (range.len != strlen(want) || strncasecmp(range.base, want, range.len) != 0)
        return -1;
    while (semi != NULL) {
        const char *param = semi + 1, *end = member.base + member.len;
        semi = memchr(param, ';', end - param);
        h2o_iovec_t p = trim(param, (semi != NULL ? semi : end) - param);
        if (p.len >= 2 && (p.base[0] == 'q' || p.base[0] == 'Q')) {
            h2o_iovec_t after = trim(p.base + 1, p.len - 1);
            if (after.len != 0 && after.base[0] == '=') {
                weight = parse_qvalue(trim(after.base + 1, after.len - 1));
                break; /* what follows q is accept-ext, not media type parameters */
            }
        }
    }
    return weight;
}

int avatar_accept_names_webp(const char *value, size_t len)
{
    size_t start = 0;
    int in_quotes = 0;

    for (size_t i = 0; i <= len; ++i) {
        if (i < len && value[i] == '"')
            in_quotes = !in_quotes;
        else if (i < len && value[i] == '\\' && in_quotes)
            ++i;
        else if (i == len || (value[i] == ',' && !in_quotes)) {
            if (media_range_weight(h2o_iovec_init(value + start, i - start), "image/webp") > 0)
                return 1;
            start = i + 1;
        }
    }
    return 0;
}

/* put_text / put_number: `text` or the decimal digits of `n` at p; returns the end. */
static char *put_text(char *p, const char *text, size_t len)
{
    memcpy(p, text, len);
    return p + len;
}

static char *put_number(char *p, uint64_t n)
{
    char digits[20];
    size_t len = 0;

    do
        digits[sizeof(digits) - ++len] = (char)('0' + n % 10);
    while ((n /= 10) != 0);
    return put_text(p, digits + sizeof(digits) - len, len);
}

/* put_parameters: "<token><sep><side><sep><fmt><sep><quality>" at p; returns the end. */
static char *put_parameters(char *p, const avatar_variant_t *variant, size_t token_len, char sep)
{
    const char *fmt = variant->format == BOOKA_IMAGE_OUTPUT_WEBP ? "webp" : "jpeg";

    p = put_text(p, variant->token, token_len);
    *p++ = sep;
    p = put_number(p, variant->side);
    *p++ = sep;
    p = put_text(p, fmt, 4);
    *p++ = sep;
    return put_number(p, (uint64_t)variant->quality);
}

/* An ETag is the SHA-256 of its material, which a HIT of the same variant hashes over and over (5% of a HIT's CPU):
 * each thread remembers the last ones, by the material's hash (direct-mapped; a collision only costs a hash). */
#define ETAG_MEMO_SLOTS 64

struct etag_memo {
    size_t material_len; /* 0: empty */
    char material[AVATAR_TOKEN_MAX + 64];
    char etag[BOOKA_ETAG_MAX];
    size_t etag_len;
};

static __thread struct etag_memo etag_memo[ETAG_MEMO_SLOTS];

/* etag_of_material: the variant's strong ETag into out (BOOKA_ETAG_MAX bytes); returns its length. */
static size_t etag_of_material(const char *material, size_t len, char *out)
{
    struct etag_memo *m = &etag_memo[booka_cache_key_hash(material, len) % ETAG_MEMO_SLOTS];

    if (m->material_len != len || memcmp(m->material, material, len) != 0) {
        m->etag_len = booka_etag_of_body(material, len, 0, m->etag);
        m->material_len = len;
        memcpy(m->material, material, len);
    }
    memcpy(out, m->etag, m->etag_len + 1);
    return m->etag_len;
}

/* Written by hand rather than with snprintf, which was 6% of an avatar HIT's CPU (perf, issue 15); the bytes are those of
 * "avatar:<pipeline>:%lld:%s:%u:%s:%d" and "avatar/<pipeline>|%s|%u|%s|%d" (test/unit/avatar/request_test.c). */
void avatar_variant_init(avatar_variant_t *variant, int64_t provider_id, const char *token, size_t token_len, uint32_t side,
                         booka_image_output_format_t format, int quality)
{
    char material[AVATAR_TOKEN_MAX + 64], *p;

    if (token_len > AVATAR_TOKEN_MAX)
        token_len = AVATAR_TOKEN_MAX;
    *variant = (avatar_variant_t){.provider_id = provider_id, .side = side, .format = format, .quality = quality};
    memcpy(variant->token, token, token_len);
    variant->token[token_len] = '\0';
    p = put_text(variant->key, H2O_STRLIT("avatar:" AVATAR_PIPELINE_VERSION ":"));
    if (provider_id < 0) /* ids are parsed from digits: never, but the key must stay what %lld would write */
        *p++ = '-';
    p = put_number(p, provider_id < 0 ? -(uint64_t)provider_id : (uint64_t)provider_id);
    *p++ = ':';
    p = put_parameters(p, variant, token_len, ':');
    *p = '\0';
    variant->key_len = (size_t)(p - variant->key);
    /* The tag names the bytes: the picture (its token) and every output-affecting parameter, not the provider; it is
     * known before any pixel is decoded, so a revalidation costs one lookup. */
    p = put_text(material, H2O_STRLIT("avatar/" AVATAR_PIPELINE_VERSION "|"));
    p = put_parameters(p, variant, token_len, '|');
    variant->etag_len = etag_of_material(material, (size_t)(p - material), variant->etag);
}
