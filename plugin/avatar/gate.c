/* gate.c: what stands between a fill and a fetch of its source (see internal.h, "the fetch gate"): a cap on the fetches
 * in flight per handler, and a short memory (shared by the threads) of sources that just failed, so a burst of variants of one
 * broken or hostile URL costs one fetch, not one per variant and per request. */
#include <string.h>
#include "avatar/internal.h"

_Atomic uint64_t avatar_stat_fetch_busy, avatar_stat_fetch_failure_hits, avatar_stat_originals_hits;

/* is_dot_component: ".", "..", or either spelled with %2e, which a storage server may decode before resolving. */
static int is_dot_component(const char *c, size_t n)
{
    size_t dots = 0;

    for (size_t i = 0; i != n; ++dots) {
        if (c[i] == '.')
            i += 1;
        else if (n - i >= 3 && c[i] == '%' && c[i + 1] == '2' && (c[i + 2] == 'e' || c[i + 2] == 'E'))
            i += 3;
        else
            return 0;
    }
    return dots == 1 || dots == 2;
}

char *avatar_media_url(const char *base, const char *path, size_t path_len, size_t *len)
{
    size_t base_len = strlen(base), start = 0;
    char *url;

    for (size_t i = 0; i <= path_len; ++i) {
        if (i != path_len && path[i] != '/') {
            if ((unsigned char)path[i] <= 0x20 || path[i] == 0x7f || path[i] == '\\')
                return NULL;
            /* an encoded '/' would make a component the server splits in two */
            if (path[i] == '%' && path_len - i >= 3 && path[i + 1] == '2' && (path[i + 2] == 'f' || path[i + 2] == 'F'))
                return NULL;
            continue;
        }
        if (i == start || is_dot_component(path + start, i - start))
            return NULL;
        start = i + 1;
    }
    url = h2o_mem_alloc(base_len + path_len + 1);
    memcpy(url, base, base_len);
    memcpy(url + base_len, path, path_len);
    url[ *len = base_len + path_len] = '\0';
    return url;
}

/* url_hash: 64-bit FNV-1a of the URL; the failure table keeps only hashes (a collision costs one wrong recall within
 * fetch-failure-ttl, at odds of 2^-64). */
static uint64_t url_hash(const char *url, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ULL;

    for (size_t i = 0; i != len; ++i)
        h = (h ^ (unsigned char)url[i]) * 0x100000001b3ULL;
    return h != 0 ? h : 1; /* 0 marks an empty slot */
}

int avatar_gate_recall(avatar_context_t *actx, const char *url, size_t len, int *status, const char **message)
{
    uint64_t h = url_hash(url, len);
    avatar_handler_t *handler = actx->handler;
    avatar_failed_source_t slot;

    pthread_mutex_lock(&handler->failed_mutex);
    slot = handler->failed[h % AVATAR_FAILED_SOURCES];
    pthread_mutex_unlock(&handler->failed_mutex);
    if (slot.hash != h || booka_clock_us() >= slot.until)
        return 0;
    *status = slot.status;
    *message = slot.message;
    atomic_fetch_add(&avatar_stat_fetch_failure_hits, 1);
    return 1;
}

void avatar_gate_remember(avatar_context_t *actx, const char *url, size_t len, int status, const char *message)
{
    uint64_t h = url_hash(url, len);
    avatar_handler_t *handler = actx->handler;

    if (handler->conf.fetch_failure_ttl == 0)
        return;
    pthread_mutex_lock(&handler->failed_mutex);
    handler->failed[h % AVATAR_FAILED_SOURCES] = (avatar_failed_source_t){
        .hash = h, .until = booka_clock_us() + handler->conf.fetch_failure_ttl * 1000, .status = status, .message = message};
    pthread_mutex_unlock(&handler->failed_mutex);
}

int avatar_gate_enter(avatar_handler_t *handler)
{
    if (atomic_fetch_add(&handler->fetches_in_flight, 1) >= handler->conf.fetch_concurrency) {
        atomic_fetch_sub(&handler->fetches_in_flight, 1);
        atomic_fetch_add(&avatar_stat_fetch_busy, 1);
        return -1;
    }
    return 0;
}

void avatar_gate_leave(avatar_handler_t *handler)
{
    atomic_fetch_sub(&handler->fetches_in_flight, 1);
}
