/* tags_test.c: the tag headers of list and avatar responses, the slug spelling shared with the schema, stale-if-error. */
#include <stdlib.h>
#include "unit.h"
#include "edge/internal.h"

/* header_value: the response's header `name`, or NULL. */
static const char *header_value(h2o_req_t *req, const char *name)
{
    for (size_t i = 0; i != req->res.headers.size; ++i)
        if (h2o_memis(req->res.headers.entries[i].name->base, req->res.headers.entries[i].name->len, name, strlen(name)))
            return h2o_strdup(&req->pool, req->res.headers.entries[i].value.base, req->res.headers.entries[i].value.len).base;
    return NULL;
}

static void test_slug_spelling(void)
{
    booka_buf_t b = {NULL};

    edge_tag_append_slug(&b, H2O_STRLIT("sound_service"));
    booka_buf_append(&b, "|", 1);
    edge_tag_append_slug(&b, H2O_STRLIT("mc_&_host"));
    booka_buf_append(&b, "|", 1);
    edge_tag_append_slug(&b, H2O_STRLIT("caf\xc3\xa9,2.0%"));
    booka_buf_append(&b, "", 1);
    CHECK_STR_EQ(b.base, "sound_service|mc_%26_host|caf%C3%A9%2C2.0%25");
    booka_buf_free(&b);
}

static void test_list_tags(void)
{
    h2o_req_t req = {0};
    const booka_edge_tags_t *all, *dj, *again, *odd;

    h2o_mem_init_pool(&req.pool);
    CHECK(booka_edge_list_tags("", 0, &req.pool) == NULL); /* no tag header configured: nothing */

    edge_settings.headers = EDGE_HEADER_CACHE_TAG | EDGE_HEADER_XKEY | EDGE_HEADER_SURROGATE_KEY;
    all = booka_edge_list_tags("", 0, &req.pool);
    dj = booka_edge_list_tags("dj", 2, &req.pool);
    again = booka_edge_list_tags("dj", 2, &req.pool);
    CHECK(dj == again); /* built once per category, not per response */
    CHECK(dj != all);
    booka_edge_set_tags(&req, dj);
    CHECK_STR_EQ(header_value(&req, "cache-tag"), "booka-list,booka-list-cat-dj");
    CHECK_STR_EQ(header_value(&req, "xkey"), "booka-list booka-list-cat-dj");
    CHECK_STR_EQ(header_value(&req, "surrogate-key"), "booka-list booka-list-cat-dj");

    req.res.headers = (h2o_headers_t){NULL};
    booka_edge_set_tags(&req, all);
    CHECK_STR_EQ(header_value(&req, "xkey"), "booka-list booka-list-all");

    req.res.headers = (h2o_headers_t){NULL};
    odd = booka_edge_list_tags("mc_&_host", 9, &req.pool);
    booka_edge_set_tags(&req, odd);
    CHECK_STR_EQ(header_value(&req, "cache-tag"), "booka-list,booka-list-cat-mc_%26_host");

    /* clients can name any category: past a few hundred, tags are built per request instead of kept */
    for (int i = 0; i != 1000; ++i) {
        char slug[16];
        int n = snprintf(slug, sizeof(slug), "made-up-%d", i);
        const booka_edge_tags_t *t = booka_edge_list_tags(slug, (size_t)n, &req.pool);
        req.res.headers = (h2o_headers_t){NULL};
        booka_edge_set_tags(&req, t);
        CHECK(strstr(header_value(&req, "xkey"), slug + 8) != NULL);
    }
    CHECK(booka_edge_list_tags("dj", 2, &req.pool) == dj);

    /* only the configured headers */
    edge_settings.headers = EDGE_HEADER_XKEY;
    req.res.headers = (h2o_headers_t){NULL};
    booka_edge_tag_avatar(&req, 1234);
    CHECK_STR_EQ(header_value(&req, "xkey"), "booka-avatar booka-avatar-1234");
    CHECK(header_value(&req, "cache-tag") == NULL);
    CHECK_INT_EQ(req.res.headers.size, 1);
    h2o_mem_clear_pool(&req.pool);
}

static void test_cache_control(void)
{
    h2o_iovec_t cc = h2o_iovec_init(H2O_STRLIT("public, max-age=30, s-maxage=3600"));
    h2o_iovec_t with;

    CHECK(booka_edge_cache_control(cc).base == cc.base);
    edge_settings.stale_if_error = 86400;
    with = booka_edge_cache_control(cc);
    CHECK(with.len == strlen("public, max-age=30, s-maxage=3600, stale-if-error=86400") &&
          memcmp(with.base, "public, max-age=30, s-maxage=3600, stale-if-error=86400", with.len) == 0);
    free(with.base);
}

int main(void)
{
    test_slug_spelling();
    test_list_tags();
    test_cache_control();
    return unit_report("edge tags");
}
