/* tags.c: the cache tags responses carry (plugin/edge/README.md, "Tags"), built once per kind of response. */
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include "edge/internal.h"

const char *const edge_header_names[EDGE_NUM_HEADERS] = {"cache-tag", "xkey", "surrogate-key"};

/* Cloudflare splits Cache-Tag on commas; xkey and Surrogate-Key split on spaces. */
static const char *const header_separators[EDGE_NUM_HEADERS] = {",", " ", " "};

struct booka_edge_tags {
    h2o_iovec_t values[EDGE_NUM_HEADERS]; /* one per header of edge_settings.headers; empty for the others */
    size_t key_len;                       /* the category slug the list tags were built for */
    char key[];
};

void edge_tag_append_slug(booka_buf_t *out, const char *slug, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";

    for (size_t i = 0; i != len; ++i) {
        unsigned char c = (unsigned char)slug[i];
        if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.') {
            booka_buf_append(out, &slug[i], 1);
        } else {
            char escaped[3] = {'%', hex[c >> 4], hex[c & 15]};
            booka_buf_append(out, escaped, sizeof(escaped));
        }
    }
}

/* tags_new: the header values for `tags` (unprefixed) with the key they were built for, in one block from `pool`, or
 * from malloc when pool is NULL. */
static booka_edge_tags_t *tags_new(const h2o_iovec_t *tags, size_t num_tags, const char *key, size_t key_len, h2o_mem_pool_t *pool)
{
    size_t one_value = 0, size;
    booka_edge_tags_t *t;
    char *p;

    for (size_t i = 0; i != num_tags; ++i)
        one_value += edge_settings.prefix_len + tags[i].len + 1;
    size = sizeof(*t) + key_len + EDGE_NUM_HEADERS * one_value;
    t = pool != NULL ? h2o_mem_alloc_pool(pool, size) : h2o_mem_alloc(size);
    t->key_len = key_len;
    if (key_len != 0)
        memcpy(t->key, key, key_len);
    p = t->key + key_len;
    for (size_t h = 0; h != EDGE_NUM_HEADERS; ++h) {
        t->values[h] = h2o_iovec_init(p, 0);
        if ((edge_settings.headers & (1u << h)) == 0)
            continue;
        for (size_t i = 0; i != num_tags; ++i) {
            if (i != 0)
                *p++ = header_separators[h][0];
            memcpy(p, edge_settings.prefix, edge_settings.prefix_len);
            p += edge_settings.prefix_len;
            memcpy(p, tags[i].base, tags[i].len);
            p += tags[i].len;
        }
        t->values[h].len = (size_t)(p - t->values[h].base);
    }
    return t;
}

/* list_tags_new: "list" and "list-all" (no category) or "list-cat-<slug>". */
static booka_edge_tags_t *list_tags_new(const char *slug, size_t len, h2o_mem_pool_t *pool)
{
    booka_buf_t second = {NULL};
    booka_edge_tags_t *t;

    if (len == 0) {
        booka_buf_append_str(&second, "list-all");
    } else {
        booka_buf_append_str(&second, "list-cat-");
        edge_tag_append_slug(&second, slug, len);
    }
    if (second.oom)
        h2o_fatal("no memory");
    t = tags_new((h2o_iovec_t[]){h2o_iovec_init(H2O_STRLIT("list")), h2o_iovec_init(second.base, second.len)}, 2, slug, len, pool);
    booka_buf_free(&second);
    return t;
}

/* The list tags per category, for the process: an open-addressed table that only grows (entries are never freed, so a
 * response may hold one as long as it likes), filled lock-free: a slot is claimed with a compare-and-swap. */
#define MEMO_SLOTS 512
#define MEMO_MAX 384 /* past this many categories (clients can name any), tags are built per request instead */
static _Atomic(booka_edge_tags_t *) memo[MEMO_SLOTS];
static atomic_size_t memo_size;

static size_t slug_hash(const char *s, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a */
    for (size_t i = 0; i != len; ++i)
        h = (h ^ (unsigned char)s[i]) * 0x100000001b3ULL;
    return (size_t)h;
}

static int is_for(const booka_edge_tags_t *t, const char *slug, size_t len)
{
    return t->key_len == len && memcmp(t->key, slug, len) == 0;
}

const booka_edge_tags_t *booka_edge_list_tags(const char *slug, size_t len, h2o_mem_pool_t *pool)
{
    size_t i = slug_hash(slug, len) % MEMO_SLOTS;
    booka_edge_tags_t *made = NULL;

    if (edge_settings.headers == 0)
        return NULL;
    for (size_t probes = 0; probes != MEMO_SLOTS; ++probes, i = (i + 1) % MEMO_SLOTS) {
        booka_edge_tags_t *t = atomic_load_explicit(&memo[i], memory_order_acquire);
        if (t == NULL) {
            if (atomic_load(&memo_size) >= MEMO_MAX)
                break;
            if (made == NULL)
                made = list_tags_new(slug, len, NULL);
            if (atomic_compare_exchange_strong_explicit(&memo[i], &t, made, memory_order_acq_rel, memory_order_acquire)) {
                atomic_fetch_add(&memo_size, 1);
                return made;
            }
            /* another thread took the slot first: t is its entry */
        }
        if (is_for(t, slug, len)) {
            free(made);
            return t;
        }
    }
    free(made);
    return list_tags_new(slug, len, pool);
}

void booka_edge_set_tags(h2o_req_t *req, const booka_edge_tags_t *tags)
{
    if (tags == NULL)
        return;
    for (size_t h = 0; h != EDGE_NUM_HEADERS; ++h)
        if ((edge_settings.headers & (1u << h)) != 0)
            h2o_add_header_by_str(&req->pool, &req->res.headers, edge_header_names[h], strlen(edge_header_names[h]), 0, NULL,
                                  tags->values[h].base, tags->values[h].len);
}

void booka_edge_tag_avatar(h2o_req_t *req, int64_t provider_id)
{
    char id_tag[32];
    int n;

    if (edge_settings.headers == 0)
        return;
    n = snprintf(id_tag, sizeof(id_tag), "avatar-%" PRId64, provider_id);
    booka_edge_set_tags(req, tags_new((h2o_iovec_t[]){h2o_iovec_init(H2O_STRLIT("avatar")), h2o_iovec_init(id_tag, (size_t)n)}, 2,
                                      NULL, 0, &req->pool));
}

h2o_iovec_t booka_edge_cache_control(h2o_iovec_t cache_control)
{
    char *s;
    int n;

    if (edge_settings.stale_if_error == 0)
        return cache_control;
    s = h2o_mem_alloc(cache_control.len + 48);
    n = snprintf(s, cache_control.len + 48, "%.*s, stale-if-error=%" PRIu64, (int)cache_control.len, cache_control.base,
                 edge_settings.stale_if_error);
    return h2o_iovec_init(s, (size_t)n);
}
