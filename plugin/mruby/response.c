/* response.c: a Rack response, [status, headers, body], read into the h2o response of the request. */
#include <mruby.h>
#include <mruby/array.h>
#include <mruby/hash.h>
#include <mruby/string.h>
#include "mruby/internal.h"

/* is_token_char: RFC 7230 3.2.6, tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." / "^" / "_" / "`" /
 * "|" / "~" / DIGIT / ALPHA */
static int is_token_char(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != '\0' && strchr("!#$%&'*+-.^_`|~", c));
}

/* read_status: response[0] as an Integer from 100 to 999. Raises otherwise. */
static int read_status(mrb_state *mrb, mrb_value response)
{
    mrb_value v = mrb_to_int(mrb, mrb_ary_entry(response, 0));
    mrb_int status = mrb_integer(v);

    if (status < 100 || status > 999)
        mrb_raisef(mrb, E_RANGE_ERROR, "status %i returned by the app is out of range (100..999)", status);
    return (int)status;
}

/* add_header: one header line. The name is lower-case and both are in req->pool. */
static void add_header(h2o_req_t *req, h2o_iovec_t name, h2o_iovec_t value)
{
    static const h2o_iovec_t fallthru_set = {H2O_STRLIT("x-fallthru-set-")};
    const h2o_token_t *token;

    if (name.len > fallthru_set.len && memcmp(name.base, fallthru_set.base, fallthru_set.len) == 0) {
        /* sets a request env variable for the handlers after a fall-through (H2O 2.2), instead of a header */
        h2o_iovec_t var = h2o_iovec_init(name.base + fallthru_set.len, name.len - fallthru_set.len);
        for (size_t i = 0; i != var.len; ++i)
            var.base[i] = var.base[i] == '-' ? '_' : h2o_toupper(var.base[i]);
        *h2o_req_getenv(req, var.base, var.len, 1) = value;
        return;
    }
    if ((token = h2o_lookup_token(name.base, name.len)) != NULL) {
        /* hop-by-hop headers and the framing belong to the server: the length is the body's */
        if (token->proxy_should_drop_for_res || token == H2O_TOKEN_CONTENT_LENGTH)
            return;
        if (token == H2O_TOKEN_LINK && (value = h2o_push_path_in_link_header(req, value.base, value.len)).len == 0)
            return;
    }
    /* maybe_token=1: a token name is stored as the token, which is how filters (reproxy: x-reproxy-url) look it up */
    h2o_add_header_by_str(&req->pool, &req->res.headers, name.base, name.len, 1, NULL, value.base, value.len);
}

/* add_header_lines: the pair (name, value), both converted with #to_s; a value holding "\n" is one header per line
 * (Rack). Raises on a name that is not an HTTP token or a value with control characters. */
static void add_header_lines(mrb_state *mrb, h2o_req_t *req, mrb_value name, mrb_value value)
{
    h2o_iovec_t n;
    const char *p, *end;

    name = mrb_obj_as_string(mrb, name);
    value = mrb_obj_as_string(mrb, value);
    n = h2o_strdup(&req->pool, RSTRING_PTR(name), RSTRING_LEN(name));
    if (n.len == 0)
        mrb_raise(mrb, E_ARGUMENT_ERROR, "empty header name in the app's response");
    for (size_t i = 0; i != n.len; ++i) {
        if (!is_token_char((unsigned char)n.base[i]))
            mrb_raisef(mrb, E_ARGUMENT_ERROR, "invalid header name %!v in the app's response", name);
        n.base[i] = h2o_tolower(n.base[i]);
    }
    p = RSTRING_PTR(value);
    end = p + RSTRING_LEN(value);
    for (;;) {
        const char *eol = memchr(p, '\n', end - p);
        if (eol == NULL)
            eol = end;
        for (const char *c = p; c != eol; ++c)
            if ((unsigned char)*c < 0x20 && *c != '\t')
                mrb_raisef(mrb, E_ARGUMENT_ERROR, "control character in the value of header %!v", name);
        add_header(req, n, h2o_strdup(&req->pool, p, eol - p));
        if (eol == end)
            break;
        p = eol + 1;
    }
}

/* read_headers: a Hash, an Array of [name, value] pairs, or anything whose #each yields such pairs. */
static void read_headers(booka_mruby_thread_t *t, h2o_req_t *req, mrb_value headers)
{
    mrb_state *mrb = t->mrb;

    if (mrb_hash_p(headers)) {
        mrb_value keys = mrb_hash_keys(mrb, headers);
        for (mrb_int i = 0; i != RARRAY_LEN(keys); ++i) {
            mrb_value k = mrb_ary_entry(keys, i);
            add_header_lines(mrb, req, k, mrb_hash_get(mrb, headers, k));
        }
        return;
    }
    if (!mrb_array_p(headers)) {
        if (!mrb_respond_to(mrb, headers, t->sym_each))
            mrb_raise(mrb, E_TYPE_ERROR, "the app's headers are not a Hash, an Array of pairs, or anything with #each");
        headers = mrb_funcall_argv(mrb, t->helper, t->sym_each_to_array, 1, &headers);
    }
    for (mrb_int i = 0; i != RARRAY_LEN(headers); ++i) {
        mrb_value pair = mrb_ary_entry(headers, i);
        if (!mrb_array_p(pair) || RARRAY_LEN(pair) != 2)
            mrb_raise(mrb, E_TYPE_ERROR, "an element of the app's headers is not a [name, value] pair");
        add_header_lines(mrb, req, mrb_ary_entry(pair, 0), mrb_ary_entry(pair, 1));
    }
}

/* read_body: the Strings of an Array body, or those #each yields (then #close, per Rack), flattened into req->pool. */
static h2o_iovec_t read_body(booka_mruby_thread_t *t, h2o_req_t *req, mrb_value body)
{
    mrb_state *mrb = t->mrb;
    h2o_iovec_t out = {NULL};
    size_t len = 0;

    if (!mrb_array_p(body)) {
        if (!mrb_respond_to(mrb, body, t->sym_each))
            mrb_raise(mrb, E_TYPE_ERROR, "the app's body is not an Array of Strings, nor anything with #each");
        body = mrb_funcall_argv(mrb, t->helper, t->sym_body_chunks, 1, &body);
    }
    for (mrb_int i = 0; i != RARRAY_LEN(body); ++i) {
        mrb_value chunk = mrb_ary_entry(body, i);
        if (!mrb_string_p(chunk))
            mrb_raisef(mrb, E_TYPE_ERROR, "the app's body holds a %C, not a String", mrb_obj_class(mrb, chunk));
        len += RSTRING_LEN(chunk);
    }
    out.base = h2o_mem_alloc_pool(&req->pool, len + 1);
    for (mrb_int i = 0; i != RARRAY_LEN(body); ++i) {
        mrb_value chunk = mrb_ary_entry(body, i);
        memcpy(out.base + out.len, RSTRING_PTR(chunk), RSTRING_LEN(chunk));
        out.len += RSTRING_LEN(chunk);
    }
    return out;
}

void booka_mruby_read_response(booka_mruby_thread_t *t, h2o_req_t *req, mrb_value response, booka_mruby_response_t *out)
{
    mrb_state *mrb = t->mrb;

    if (!mrb_array_p(response) || RARRAY_LEN(response) != 3)
        mrb_raise(mrb, E_TYPE_ERROR, "the app did not return [status, headers, body]");
    out->status = read_status(mrb, response);
    read_headers(t, req, mrb_ary_entry(response, 1));
    out->body = h2o_iovec_init("", 0);
    if (out->status != BOOKA_MRUBY_STATUS_FALLTHROUGH)
        out->body = read_body(t, req, mrb_ary_entry(response, 2));
}
