/* internal.h: what the mruby module's files share: compiled code, the interpreter of each event loop, the Rack env and
 * the reading of a Rack response. */
#ifndef BOOKA_MRUBY_INTERNAL_H
#define BOOKA_MRUBY_INTERNAL_H

#include <mruby.h>
#include "h2o.h"

/* The status that hands the request to the next handler of the same path (H2O 2.2's contract). */
#define BOOKA_MRUBY_STATUS_FALLTHROUGH 399

/* Ruby source and where it came from, so every diagnostic and backtrace names the right file and line. */
struct booka_mruby_code {
    char *source; /* malloc'd, NUL-terminated */
    size_t source_len;
    char *name;          /* malloc'd: the file reported in errors and backtraces */
    unsigned first_line; /* line of `name` that holds the first line of `source` */
    int has_column;      /* whether parser columns are columns of `name` (false for code inlined in YAML) */
};

/* booka_mruby_code_free: releases what `code` owns; safe on a zeroed struct. */
void booka_mruby_code_free(struct booka_mruby_code *code);

/* booka_mruby_open: a new interpreter with the module's Ruby helpers (BookaMruby) loaded; NULL when memory runs out. */
mrb_state *booka_mruby_open(void);

/* booka_mruby_compile: parses and runs `code` at the top level of `mrb` and returns what it evaluates to, which responds
 * to #call. On error, nil is returned, `err` holds "FILE:LINE[:COLUMN]: what went wrong" and mrb->exc is cleared.
 * Objects it creates stay in the GC arena: the caller saves and restores the arena around it. */
mrb_value booka_mruby_compile(mrb_state *mrb, const struct booka_mruby_code *code, char *err, size_t err_size);

/* booka_mruby_describe_exception: one line "message (Class) at FILE:LINE <- FILE:LINE ..." for `exc`, into `buf`.
 * Never raises; returns buf. */
const char *booka_mruby_describe_exception(mrb_state *mrb, mrb_value exc, char *buf, size_t size);

/* Env keys created once per interpreter and shared (frozen) by every env it builds. */
enum booka_mruby_env_key {
    BOOKA_MRUBY_KEY_REQUEST_METHOD,
    BOOKA_MRUBY_KEY_SCRIPT_NAME,
    BOOKA_MRUBY_KEY_PATH_INFO,
    BOOKA_MRUBY_KEY_QUERY_STRING,
    BOOKA_MRUBY_KEY_SERVER_NAME,
    BOOKA_MRUBY_KEY_SERVER_ADDR,
    BOOKA_MRUBY_KEY_SERVER_PORT,
    BOOKA_MRUBY_KEY_SERVER_PROTOCOL,
    BOOKA_MRUBY_KEY_SERVER_SOFTWARE,
    BOOKA_MRUBY_KEY_REMOTE_ADDR,
    BOOKA_MRUBY_KEY_REMOTE_PORT,
    BOOKA_MRUBY_KEY_CONTENT_LENGTH,
    BOOKA_MRUBY_KEY_HTTP_HOST,
    BOOKA_MRUBY_KEY_RACK_URL_SCHEME,
    BOOKA_MRUBY_KEY_RACK_INPUT,
    BOOKA_MRUBY_KEY_RACK_ERRORS,
    BOOKA_MRUBY_KEY_RACK_MULTITHREAD,
    BOOKA_MRUBY_KEY_RACK_MULTIPROCESS,
    BOOKA_MRUBY_KEY_RACK_RUN_ONCE,
    BOOKA_MRUBY_KEY_RACK_HIJACK_P,
    BOOKA_MRUBY_NUM_FIXED_KEYS
};

/* The interpreter of one event loop, shared by every mruby handler that loop runs. */
typedef struct booka_mruby_thread {
    mrb_state *mrb;
    mrb_value keys;   /* Array: the fixed env keys, then "HTTP_*" per header token, created on first use */
    mrb_value helper; /* the BookaMruby module */
    mrb_sym sym_call, sym_each, sym_each_to_array, sym_body_chunks;
    struct RClass *rack_input_class;
} booka_mruby_thread_t;

/* booka_mruby_thread_create: an interpreter ready to build envs; NULL when memory runs out. */
booka_mruby_thread_t *booka_mruby_thread_create(void);
void booka_mruby_thread_destroy(booka_mruby_thread_t *thread);

/* booka_mruby_split_path: SCRIPT_NAME is the matched path without its trailing slash; PATH_INFO the rest of the path
 * as the client sent it (not decoded: the app decides on decoding), without the query. PATH_INFO is empty or starts
 * with "/", also when the client percent-encoded the slash that follows the mount point (H2O 2.2 would start it one
 * byte into "%2F"). */
void booka_mruby_split_path(h2o_req_t *req, h2o_iovec_t *script_name, h2o_iovec_t *path_info);

/* booka_mruby_env_key_for_header: "HTTP_" + the name upper-cased with '-' as '_' (CONTENT_TYPE and CONTENT_LENGTH
 * without the prefix, as CGI has them), in req->pool. */
h2o_iovec_t booka_mruby_env_key_for_header(h2o_mem_pool_t *pool, const char *name, size_t len);

/* booka_mruby_build_env: the Rack env of `req`. May raise (call it under mrb_protect_error). */
mrb_value booka_mruby_build_env(booka_mruby_thread_t *thread, h2o_req_t *req);

/* What a Rack response became, its headers already in req->res.headers. */
typedef struct booka_mruby_response {
    int status;
    h2o_iovec_t body; /* in req->pool; empty for the fall-through status */
} booka_mruby_response_t;

/* booka_mruby_read_response: checks `[status, headers, body]` and converts it: headers into req->res.headers (names
 * looked up as tokens, so filters such as reproxy find them; hop-by-hop ones dropped; a value with "\n" becomes one
 * header per line; `x-fallthru-set-NAME` sets the request env NAME instead), the body (an Array of Strings, or anything
 * with #each yielding Strings, closed afterwards when it has #close) flattened into req->pool. For the fall-through
 * status the body is not read. May raise (call it under mrb_protect_error). */
void booka_mruby_read_response(booka_mruby_thread_t *thread, h2o_req_t *req, mrb_value response, booka_mruby_response_t *out);

/* booka_mruby_register_handler: adds the handler running `code` to `pathconf` (taking ownership of `code`), with the
 * shared response headers (booka_http_attach). */
void booka_mruby_register_handler(h2o_pathconf_t *pathconf, struct booka_mruby_code *code);

#endif
