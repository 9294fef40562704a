/* request.c: one purge request on the event loop with libh2o's HTTP/1 client: Varnish's xkey purge or Cloudflare's
 * purge-by-tag API call, its status, Retry-After and the start of its body. */
#include <stdlib.h>
#include <string.h>
#include "edge/internal.h"

#define BODY_KEPT 512 /* of a response body, for the log line of a failure */

struct edge_request {
    h2o_http1client_t *client; /* NULL once the client is gone */
    h2o_iovec_t bytes;
    edge_response_t response;
    char body[BODY_KEPT];
    edge_request_cb cb;
    void *data;
    int *finished; /* while edge_request_start runs: set when the callback ran inside it */
};

size_t edge_tag_overhead(const edge_target_conf_t *target)
{
    /* Varnish: "<prefix><tag> "; Cloudflare: "\"<prefix><tag>\"," */
    return edge_settings.prefix_len + (target->kind == EDGE_VARNISH ? 1 : 3);
}

void edge_build_request(const edge_target_conf_t *target, const edge_tag_list_t *tags, booka_buf_t *out)
{
    booka_buf_t json = {NULL};

    if (target->kind == EDGE_VARNISH) {
        /* the VCL shipped beside this file (varnish.vcl) purges the keys of `xkey-purge`, separated by spaces */
        booka_buf_appendf(out, "PURGE %s HTTP/1.1\r\nHost: %.*s\r\nxkey-purge:", target->path, (int)target->url.authority.len,
                          target->url.authority.base);
        for (size_t i = 0; i != tags->size; ++i)
            booka_buf_appendf(out, " %s%s", edge_settings.prefix, tags->entries[i]);
        booka_buf_append_str(out, "\r\nContent-Length: 0\r\nUser-Agent: booka-origin\r\nConnection: close\r\n\r\n");
        return;
    }
    /* https://developers.cloudflare.com/api/resources/cache/methods/purge/: POST /zones/{zone_id}/purge_cache with
     * {"tags": [...]} and the API token as a bearer token */
    booka_buf_append_str(&json, "{\"tags\":[");
    for (size_t i = 0; i != tags->size; ++i) {
        booka_buf_t tag = {NULL};
        booka_buf_appendf(&tag, "%s%s", edge_settings.prefix, tags->entries[i]);
        if (i != 0)
            booka_buf_append_str(&json, ",");
        booka_json_string(&json, tag.base, tag.len);
        booka_buf_free(&tag);
    }
    booka_buf_append_str(&json, "]}");
    booka_buf_appendf(out,
                      "POST %s HTTP/1.1\r\nHost: %.*s\r\nAuthorization: %s\r\nContent-Type: application/json\r\n"
                      "Content-Length: %zu\r\nUser-Agent: booka-origin\r\nConnection: close\r\n\r\n",
                      target->path, (int)target->url.authority.len, target->url.authority.base, target->authorization, json.len);
    booka_buf_append(out, json.base, json.len);
    booka_buf_free(&json);
}

/* finish: reports once and frees the request; the client must be gone or is cancelled here. */
static void finish(edge_request_t *r)
{
    if (r->client != NULL) {
        h2o_http1client_cancel(r->client);
        r->client = NULL;
    }
    r->response.body = h2o_iovec_init(r->body, r->response.body.len);
    if (r->finished != NULL)
        *r->finished = 1;
    r->cb(r->data, &r->response);
    free(r->bytes.base);
    free(r);
}

static void fail(edge_request_t *r, const char *error)
{
    r->response.status = 0;
    r->response.error = error;
    finish(r);
}

static int on_body(h2o_http1client_t *client, const char *errstr)
{
    edge_request_t *r = client->data;

    if (client->sock != NULL) {
        h2o_buffer_t *input = client->sock->input;
        size_t keep = input->size < BODY_KEPT - r->response.body.len ? input->size : BODY_KEPT - r->response.body.len;
        if (keep != 0) /* an empty input buffer may have no bytes at all (NULL) */
            memcpy(r->body + r->response.body.len, input->bytes, keep);
        r->response.body.len += keep;
        h2o_buffer_consume(&client->sock->input, input->size);
    }
    if (errstr == NULL)
        return 0;
    r->client = NULL; /* the client closes itself after this call */
    if (errstr == h2o_http1client_error_is_eos)
        finish(r);
    else
        fail(r, errstr);
    return 0;
}

static h2o_http1client_body_cb on_head(h2o_http1client_t *client, const char *errstr, int minor_version, int status,
                                       h2o_iovec_t msg, h2o_header_t *headers, size_t num_headers, int rlen)
{
    edge_request_t *r = client->data;

    if (errstr != NULL && errstr != h2o_http1client_error_is_eos) {
        r->client = NULL;
        fail(r, errstr);
        return NULL;
    }
    r->response.status = status;
    for (size_t i = 0; i != num_headers; ++i)
        if (headers[i].name == &H2O_TOKEN_RETRY_AFTER->buf) {
            size_t seconds = h2o_strtosize(headers[i].value.base, headers[i].value.len);
            r->response.retry_after = seconds != SIZE_MAX ? seconds : 0;
        }
    if (errstr == h2o_http1client_error_is_eos) { /* no body; the client closes after this call */
        r->client = NULL;
        finish(r);
        return NULL;
    }
    return on_body;
}

static h2o_http1client_head_cb on_connect(h2o_http1client_t *client, const char *errstr, h2o_iovec_t **reqbufs, size_t *reqbufcnt,
                                          int *method_is_head)
{
    edge_request_t *r = client->data;

    if (errstr != NULL) {
        r->client = NULL;
        fail(r, errstr);
        return NULL;
    }
    *reqbufs = &r->bytes;
    *reqbufcnt = 1;
    *method_is_head = 0;
    return on_head;
}

edge_request_t *edge_request_start(h2o_http1client_ctx_t *cctx, const edge_target_conf_t *target, h2o_iovec_t bytes,
                                   edge_request_cb cb, void *data)
{
    edge_request_t *r = h2o_mem_alloc(sizeof(*r));
    int finished = 0;

    *r = (edge_request_t){.bytes = bytes, .cb = cb, .data = data, .finished = &finished};
    /* the host name is copied by the client (SNI) or used before this call returns (connect, resolver request); a
     * connect that fails at once calls back from inside */
    h2o_http1client_connect(&r->client, r, cctx, target->url.host, h2o_url_get_port(&target->url),
                            target->url.scheme == &H2O_URL_SCHEME_HTTPS, on_connect);
    if (finished)
        return NULL;
    r->finished = NULL;
    return r;
}

void edge_request_cancel(edge_request_t *r)
{
    if (r->client != NULL)
        h2o_http1client_cancel(r->client);
    free(r->bytes.base);
    free(r);
}
