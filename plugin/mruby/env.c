/* env.c: the per-loop interpreter and the Rack env it builds for a request (H2O 2.2's keys and values). */
#include <inttypes.h>
#include <netdb.h>
#include <mruby.h>
#include <mruby/array.h>
#include <mruby/class.h>
#include <mruby/hash.h>
#include <mruby/string.h>
#include <mruby/variable.h>
#include "mruby/internal.h"

static const char *const fixed_key_names[BOOKA_MRUBY_NUM_FIXED_KEYS] = {
    [BOOKA_MRUBY_KEY_REQUEST_METHOD] = "REQUEST_METHOD",
    [BOOKA_MRUBY_KEY_SCRIPT_NAME] = "SCRIPT_NAME",
    [BOOKA_MRUBY_KEY_PATH_INFO] = "PATH_INFO",
    [BOOKA_MRUBY_KEY_QUERY_STRING] = "QUERY_STRING",
    [BOOKA_MRUBY_KEY_SERVER_NAME] = "SERVER_NAME",
    [BOOKA_MRUBY_KEY_SERVER_ADDR] = "SERVER_ADDR",
    [BOOKA_MRUBY_KEY_SERVER_PORT] = "SERVER_PORT",
    [BOOKA_MRUBY_KEY_SERVER_PROTOCOL] = "SERVER_PROTOCOL",
    [BOOKA_MRUBY_KEY_SERVER_SOFTWARE] = "SERVER_SOFTWARE",
    [BOOKA_MRUBY_KEY_REMOTE_ADDR] = "REMOTE_ADDR",
    [BOOKA_MRUBY_KEY_REMOTE_PORT] = "REMOTE_PORT",
    [BOOKA_MRUBY_KEY_CONTENT_LENGTH] = "CONTENT_LENGTH",
    [BOOKA_MRUBY_KEY_HTTP_HOST] = "HTTP_HOST",
    [BOOKA_MRUBY_KEY_RACK_URL_SCHEME] = "rack.url_scheme",
    [BOOKA_MRUBY_KEY_RACK_INPUT] = "rack.input",
    [BOOKA_MRUBY_KEY_RACK_ERRORS] = "rack.errors",
    [BOOKA_MRUBY_KEY_RACK_MULTITHREAD] = "rack.multithread",
    [BOOKA_MRUBY_KEY_RACK_MULTIPROCESS] = "rack.multiprocess",
    [BOOKA_MRUBY_KEY_RACK_RUN_ONCE] = "rack.run_once",
    [BOOKA_MRUBY_KEY_RACK_HIJACK_P] = "rack.hijack?",
};

booka_mruby_thread_t *booka_mruby_thread_create(void)
{
    booka_mruby_thread_t *t = h2o_mem_alloc(sizeof(*t));
    mrb_state *mrb;
    int arena;

    if ((t->mrb = mrb = booka_mruby_open()) == NULL) {
        free(t);
        return NULL;
    }
    arena = mrb_gc_arena_save(mrb);
    t->keys = mrb_ary_new_capa(mrb, BOOKA_MRUBY_NUM_FIXED_KEYS + H2O_MAX_TOKENS);
    for (int i = 0; i != BOOKA_MRUBY_NUM_FIXED_KEYS; ++i)
        mrb_ary_set(mrb, t->keys, i, mrb_obj_freeze(mrb, mrb_str_new_cstr(mrb, fixed_key_names[i])));
    mrb_gc_register(mrb, t->keys);
    t->helper = mrb_obj_value(mrb_module_get(mrb, "BookaMruby"));
    t->rack_input_class = mrb_class_get_under(mrb, mrb_class_ptr(t->helper), "RackInput");
    t->sym_call = mrb_intern_lit(mrb, "call");
    t->sym_each = mrb_intern_lit(mrb, "each");
    t->sym_each_to_array = mrb_intern_lit(mrb, "each_to_array");
    t->sym_body_chunks = mrb_intern_lit(mrb, "body_chunks");
    mrb_gc_arena_restore(mrb, arena);
    return t;
}

void booka_mruby_thread_destroy(booka_mruby_thread_t *t)
{
    mrb_close(t->mrb);
    free(t);
}

void booka_mruby_split_path(h2o_req_t *req, h2o_iovec_t *script_name, h2o_iovec_t *path_info)
{
    h2o_iovec_t mount = req->pathconf != NULL ? req->pathconf->path : h2o_iovec_init(NULL, 0);
    size_t end = req->query_at != SIZE_MAX ? req->query_at : req->path.len, start;

    if (mount.len != 0 && mount.base[mount.len - 1] == '/')
        --mount.len;
    if (mount.len == 0 || req->path_normalized.len < mount.len || memcmp(req->path_normalized.base, mount.base, mount.len) != 0) {
        /* mounted at "/" (or not reached through a path match): everything is PATH_INFO */
        *script_name = h2o_iovec_init("", 0);
        *path_info = h2o_iovec_init(req->path.base, end);
        return;
    }
    *script_name = mount;
    if (req->path_normalized.len == mount.len) {
        *path_info = h2o_iovec_init("", 0);
        return;
    }
    if (req->norm_indexes == NULL) {
        /* the path needed no normalisation: it is its own normalised form */
        *path_info = h2o_iovec_init(req->path.base + mount.len, end - mount.len);
        return;
    }
    /* norm_indexes[i] is where the source of normalised byte i ends; byte mount.len is the "/" after the mount point,
     * sent either as "/" or as "%2F" */
    start = req->norm_indexes[mount.len];
    if (start != 0 && req->path.base[start - 1] == '/')
        *path_info = h2o_iovec_init(req->path.base + start - 1, end - (start - 1));
    else
        *path_info = h2o_concat(&req->pool, h2o_iovec_init(H2O_STRLIT("/")), h2o_iovec_init(req->path.base + start, end - start));
}

h2o_iovec_t booka_mruby_env_key_for_header(h2o_mem_pool_t *pool, const char *name, size_t len)
{
    static const char prefix[] = "HTTP_";
    int cgi_name = h2o_lcstris(name, len, H2O_STRLIT("content-type")) || h2o_lcstris(name, len, H2O_STRLIT("content-length"));
    size_t prefix_len = cgi_name ? 0 : sizeof(prefix) - 1;
    h2o_iovec_t key = h2o_iovec_init(h2o_mem_alloc_pool(pool, prefix_len + len), prefix_len + len);

    memcpy(key.base, prefix, prefix_len);
    for (size_t i = 0; i != len; ++i)
        key.base[prefix_len + i] = name[i] == '-' ? '_' : h2o_toupper(name[i]);
    return key;
}

/* header_key: the env key of header `name`, shared per token, created per request for other names. */
static mrb_value header_key(booka_mruby_thread_t *t, h2o_req_t *req, const h2o_iovec_t *name)
{
    mrb_state *mrb = t->mrb;
    mrb_int slot;
    mrb_value key;

    if (h2o_iovec_is_token(name)) {
        slot = BOOKA_MRUBY_NUM_FIXED_KEYS + (mrb_int)((const h2o_token_t *)name - h2o__tokens);
        key = mrb_ary_entry(t->keys, slot);
        if (mrb_nil_p(key)) {
            h2o_iovec_t k = booka_mruby_env_key_for_header(&req->pool, name->base, name->len);
            key = mrb_obj_freeze(mrb, mrb_str_new(mrb, k.base, k.len));
            mrb_ary_set(mrb, t->keys, slot, key);
        }
        return key;
    }
    h2o_iovec_t k = booka_mruby_env_key_for_header(&req->pool, name->base, name->len);
    return mrb_str_new(mrb, k.base, k.len);
}

/* add_headers: HTTP_* per request header; repeated headers joined with ", " ("; " for cookie), as CGI does. Host comes
 * from the authority, and the framing headers (content-length, transfer-encoding) from the server. */
static void add_headers(booka_mruby_thread_t *t, h2o_req_t *req, mrb_value env)
{
    mrb_state *mrb = t->mrb;

    for (size_t i = 0; i != req->headers.size; ++i) {
        const h2o_header_t *h = req->headers.entries + i;
        mrb_value key, value, prev;
        if (h->name == &H2O_TOKEN_HOST->buf || h->name == &H2O_TOKEN_CONTENT_LENGTH->buf ||
            h->name == &H2O_TOKEN_TRANSFER_ENCODING->buf)
            continue;
        key = header_key(t, req, h->name);
        value = mrb_str_new(mrb, h->value.base, h->value.len);
        prev = mrb_hash_fetch(mrb, env, key, mrb_nil_value());
        if (mrb_string_p(prev)) {
            prev = mrb_str_dup(mrb, prev);
            mrb_str_cat_cstr(mrb, prev, h->name == &H2O_TOKEN_COOKIE->buf ? "; " : ", ");
            value = mrb_str_cat_str(mrb, prev, value);
        }
        mrb_hash_set(mrb, env, key, value);
    }
}

/* A connection's own and peer addresses, as text, remembered per thread for the last connections seen. Each HTTP/2
 * stream is a request of its own, and building them (getsockname, getnameinfo, sprintf) was an eighth of the CPU of a
 * rewritten request (perf, issue 15). Connection ids are unique for the process's life, so an entry is never found by
 * a later connection. */
#define ADDRESS_MEMO_SLOTS 32
#define ADDRESS_TEXT_MAX 64 /* longer (a UNIX socket path) is not remembered */

struct address_text {
    char host[ADDRESS_TEXT_MAX];
    size_t host_len; /* SIZE_MAX: none */
    char port[12];
    size_t port_len; /* 0: none */
};

struct address_memo {
    uint64_t conn_id; /* 0: empty (libh2o's ids start at 1) */
    struct address_text sock, peer;
};

static __thread struct address_memo address_memo[ADDRESS_MEMO_SLOTS];

/* address_text: the text of the connection's socket or peer address; 0, or -1 when it has none or it does not fit. */
static int address_text(h2o_conn_t *conn, socklen_t (*get)(h2o_conn_t *, struct sockaddr *), struct address_text *out)
{
    struct sockaddr_storage ss;
    socklen_t sslen;
    char buf[NI_MAXHOST];
    int32_t port;

    if (get == NULL || (sslen = get(conn, (struct sockaddr *)&ss)) == 0)
        return -1;
    out->host_len = h2o_socket_getnumerichost((struct sockaddr *)&ss, sslen, buf);
    if (out->host_len != SIZE_MAX) {
        if (out->host_len >= ADDRESS_TEXT_MAX)
            return -1;
        memcpy(out->host, buf, out->host_len);
    }
    port = h2o_socket_getport((struct sockaddr *)&ss);
    out->port_len = port == -1 ? 0 : (size_t)snprintf(out->port, sizeof(out->port), "%" PRId32, port);
    return 0;
}

static void set_address(booka_mruby_thread_t *t, mrb_value env, const struct address_text *a, int host_key, int port_key)
{
    if (a->host_len != SIZE_MAX)
        mrb_hash_set(t->mrb, env, mrb_ary_entry(t->keys, host_key), mrb_str_new(t->mrb, a->host, a->host_len));
    if (a->port_len != 0)
        mrb_hash_set(t->mrb, env, mrb_ary_entry(t->keys, port_key), mrb_str_new(t->mrb, a->port, a->port_len));
}

/* add_addresses: SERVER_ADDR/SERVER_PORT and REMOTE_ADDR/REMOTE_PORT, for the connections that have them. */
static void add_addresses(booka_mruby_thread_t *t, mrb_value env, h2o_conn_t *conn)
{
    struct address_memo *m = address_memo + conn->id % ADDRESS_MEMO_SLOTS, fresh = {conn->id};

    if (m->conn_id != conn->id || conn->id == 0) {
        if (address_text(conn, conn->callbacks->get_sockname, &fresh.sock) != 0)
            fresh.sock = (struct address_text){.host_len = SIZE_MAX}, fresh.conn_id = 0;
        if (address_text(conn, conn->callbacks->get_peername, &fresh.peer) != 0)
            fresh.peer = (struct address_text){.host_len = SIZE_MAX}, fresh.conn_id = 0;
        if (fresh.conn_id != 0)
            *m = fresh;
        m = &fresh;
    }
    set_address(t, env, &m->sock, BOOKA_MRUBY_KEY_SERVER_ADDR, BOOKA_MRUBY_KEY_SERVER_PORT);
    set_address(t, env, &m->peer, BOOKA_MRUBY_KEY_REMOTE_ADDR, BOOKA_MRUBY_KEY_REMOTE_PORT);
}

static void set_key(booka_mruby_thread_t *t, mrb_value env, int key, mrb_value value)
{
    mrb_hash_set(t->mrb, env, mrb_ary_entry(t->keys, key), value);
}

static mrb_value new_str(booka_mruby_thread_t *t, h2o_iovec_t v)
{
    return mrb_str_new(t->mrb, v.base, v.len);
}

mrb_value booka_mruby_build_env(booka_mruby_thread_t *t, h2o_req_t *req)
{
    mrb_state *mrb = t->mrb;
    mrb_value env = mrb_hash_new_capa(mrb, 32);
    h2o_iovec_t script_name, path_info, query = h2o_iovec_init("", 0);
    char version[sizeof("HTTP/1.1")];

    booka_mruby_split_path(req, &script_name, &path_info);
    if (req->query_at != SIZE_MAX)
        query = h2o_iovec_init(req->path.base + req->query_at + 1, req->path.len - req->query_at - 1);
    set_key(t, env, BOOKA_MRUBY_KEY_REQUEST_METHOD, new_str(t, req->method));
    set_key(t, env, BOOKA_MRUBY_KEY_SCRIPT_NAME, new_str(t, script_name));
    set_key(t, env, BOOKA_MRUBY_KEY_PATH_INFO, new_str(t, path_info));
    set_key(t, env, BOOKA_MRUBY_KEY_QUERY_STRING, new_str(t, query));
    set_key(t, env, BOOKA_MRUBY_KEY_SERVER_NAME, new_str(t, req->hostconf->authority.host));
    set_key(t, env, BOOKA_MRUBY_KEY_SERVER_PROTOCOL,
            mrb_str_new(mrb, version, h2o_stringify_protocol_version(version, req->version)));
    set_key(t, env, BOOKA_MRUBY_KEY_SERVER_SOFTWARE, new_str(t, req->conn->ctx->globalconf->server_name));
    add_addresses(t, env, req->conn);
    set_key(t, env, BOOKA_MRUBY_KEY_HTTP_HOST, new_str(t, req->authority));
    if (req->entity.base != NULL) {
        char len[32];
        mrb_value body = new_str(t, req->entity);
        set_key(t, env, BOOKA_MRUBY_KEY_CONTENT_LENGTH, mrb_str_new(mrb, len, (size_t)sprintf(len, "%zu", req->entity.len)));
        set_key(t, env, BOOKA_MRUBY_KEY_RACK_INPUT, mrb_obj_new(mrb, t->rack_input_class, 1, &body));
    }
    for (size_t i = 0; i + 1 < req->env.size; i += 2)
        mrb_hash_set(mrb, env, new_str(t, req->env.entries[i]), new_str(t, req->env.entries[i + 1]));
    add_headers(t, req, env);
    set_key(t, env, BOOKA_MRUBY_KEY_RACK_URL_SCHEME, new_str(t, req->scheme->name));
    set_key(t, env, BOOKA_MRUBY_KEY_RACK_ERRORS, mrb_gv_get(mrb, mrb_intern_lit(mrb, "$stderr")));
    /* one interpreter per loop thread and nothing shared between them: a multiprocess server, in Rack's terms (as H2O) */
    set_key(t, env, BOOKA_MRUBY_KEY_RACK_MULTITHREAD, mrb_false_value());
    set_key(t, env, BOOKA_MRUBY_KEY_RACK_MULTIPROCESS, mrb_true_value());
    set_key(t, env, BOOKA_MRUBY_KEY_RACK_RUN_ONCE, mrb_false_value());
    set_key(t, env, BOOKA_MRUBY_KEY_RACK_HIJACK_P, mrb_false_value());
    return env;
}
