/* gate.c: what stands between a fill and a fetch of its source (see internal.h, "the fetch gate"): a cap on the fetches
 * in flight per handler and per host, and a short memory (shared by the threads) of sources and host names that just
 * failed, so a burst of variants of one broken or hostile URL, or of URLs on a host whose name does not resolve, costs one
 * fetch or lookup, not one per variant and per request. */
#include <stdlib.h>
#include <string.h>
#include "avatar/internal.h"

_Atomic uint64_t avatar_stat_fetch_busy, avatar_stat_fetch_failure_hits, avatar_stat_originals_hits,
    avatar_stat_originals_revalidated, avatar_stat_fetch_host_busy, avatar_stat_source_waits;

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

/* hex_digit: the value of a hexadecimal digit, or -1. */
static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
        return (c | 0x20) - 'a' + 10;
    return -1;
}

/* is_refused_byte: a byte that may not be in a media path, as it is or percent-encoded (`encoded`), because the storage
 * server (or a proxy in front of it) may read it as something else than a character of a file name: controls and NUL
 * (request-line injection, truncation), a backslash (a separator on Windows), ';' (path parameters: Tomcat and Spring drop
 * ";..." from a component, so "..;" climbs), and encoded: '/' (one component split in two), '%' (a server that decodes
 * twice), and 0xc0/0xc1, which only start overlong UTF-8 spellings of '.' and '/'. */
static int is_refused_byte(unsigned char c, int encoded)
{
    if (c <= 0x20 || c == 0x7f || c == '\\' || c == ';')
        return c != ' ' || !encoded; /* %20 is a space in a file name */
    return encoded && (c == '/' || c == '%' || c == 0xc0 || c == 0xc1);
}

char *avatar_media_url(const char *base, const char *path, size_t path_len, size_t *len)
{
    size_t base_len = strlen(base), start = 0;
    char *url;

    for (size_t i = 0; i <= path_len; ++i) {
        if (i != path_len && path[i] != '/') {
            if (path[i] == '%') {
                int hi = path_len - i >= 3 ? hex_digit(path[i + 1]) : -1, lo = hi != -1 ? hex_digit(path[i + 2]) : -1;
                if (lo == -1 || is_refused_byte((unsigned char)(hi << 4 | lo), 1))
                    return NULL;
                i += 2;
            } else if (is_refused_byte((unsigned char)path[i], 0)) {
                return NULL;
            }
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

/* failure_key: 64-bit FNV-1a of what failed: a URL, or a host name prefixed with a NUL byte (which no stored URL holds), so
 * that a host never takes a URL's place. The failure table keeps only hashes (a collision costs one wrong recall within
 * fetch-failure-ttl, at odds of 2^-64). */
static uint64_t failure_key(int is_host, const char *s, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ULL;

    if (is_host)
        h *= 0x100000001b3ULL; /* the NUL byte: h ^ 0 */
    for (size_t i = 0; i != len; ++i)
        h = (h ^ (unsigned char)s[i]) * 0x100000001b3ULL;
    return h != 0 ? h : 1; /* 0 marks an empty slot */
}

static int recall(avatar_handler_t *handler, uint64_t h, int *status, const char **message)
{
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

static void remember(avatar_handler_t *handler, uint64_t h, int status, const char *message)
{
    if (handler->conf.fetch_failure_ttl == 0)
        return;
    pthread_mutex_lock(&handler->failed_mutex);
    handler->failed[h % AVATAR_FAILED_SOURCES] = (avatar_failed_source_t){
        .hash = h, .until = booka_clock_us() + handler->conf.fetch_failure_ttl * 1000, .status = status, .message = message};
    pthread_mutex_unlock(&handler->failed_mutex);
}

int avatar_gate_recall(avatar_context_t *actx, const char *url, size_t len, int *status, const char **message)
{
    return recall(actx->handler, failure_key(0, url, len), status, message);
}

void avatar_gate_remember(avatar_context_t *actx, const char *url, size_t len, int status, const char *message)
{
    remember(actx->handler, failure_key(0, url, len), status, message);
}

int avatar_gate_recall_host(avatar_context_t *actx, const char *host, size_t len, int *status, const char **message)
{
    return recall(actx->handler, failure_key(1, host, len), status, message);
}

void avatar_gate_remember_host(avatar_context_t *actx, const char *host, size_t len, int status, const char *message)
{
    remember(actx->handler, failure_key(1, host, len), status, message);
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

/* The fetches in flight per host, process-wide: a chained table of (handler, host) with a count, a node living while its
 * count is not 0. Few hosts are fetched from at once (fetch-concurrency bounds them), so a small fixed table will do. */
#define HOST_BUCKETS 256

struct host_fetches {
    struct host_fetches *next;
    const avatar_handler_t *handler;
    uint64_t hash;
    size_t count;
};

static pthread_mutex_t hosts_mutex = PTHREAD_MUTEX_INITIALIZER;
static struct host_fetches *hosts[HOST_BUCKETS];

/* find_host: the link pointing at the (handler, host) node, or at the NULL ending its bucket. hosts_mutex held. */
static struct host_fetches **find_host(const avatar_handler_t *handler, uint64_t hash)
{
    struct host_fetches **slot = &hosts[hash % HOST_BUCKETS];

    while (*slot != NULL && ((*slot)->handler != handler || (*slot)->hash != hash))
        slot = &(*slot)->next;
    return slot;
}

int avatar_gate_enter_host(avatar_handler_t *handler, const char *host, size_t len)
{
    uint64_t hash = failure_key(1, host, len);
    struct host_fetches **slot;
    int entered = 1;

    pthread_mutex_lock(&hosts_mutex);
    if (*(slot = find_host(handler, hash)) == NULL) {
        *slot = h2o_mem_alloc(sizeof(**slot));
        **slot = (struct host_fetches){.handler = handler, .hash = hash};
    }
    if ((*slot)->count < handler->conf.fetch_per_host)
        ++(*slot)->count;
    else
        entered = 0;
    pthread_mutex_unlock(&hosts_mutex);
    if (entered)
        return 0;
    atomic_fetch_add(&avatar_stat_fetch_host_busy, 1);
    return -1;
}

void avatar_gate_leave_host(avatar_handler_t *handler, const char *host, size_t len)
{
    uint64_t hash = failure_key(1, host, len);
    struct host_fetches **slot, *gone = NULL;

    pthread_mutex_lock(&hosts_mutex);
    if (*(slot = find_host(handler, hash)) != NULL && --(*slot)->count == 0) {
        gone = *slot;
        *slot = gone->next;
    }
    pthread_mutex_unlock(&hosts_mutex);
    free(gone);
}
