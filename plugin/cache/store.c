/* store.c: the in-process cache tier: sharded, mutex-guarded hash tables with per-shard LRU lists under one byte budget
 * for the whole store. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <xxhash.h>
#include "cache/store.h"

#define NUM_SHARDS 16 /* enough that 2..16 loop threads rarely meet on one lock */

struct entry {
    struct entry *next_in_bucket;
    h2o_linklist_t lru; /* most recently used first */
    uint64_t hash;
    booka_cache_value_t *value;
    size_t charge; /* bytes counted against the budget */
    uint64_t used; /* the store's clock when last put or got: orders least recent use across shards */
    size_t key_len;
    char key[1];
};

struct shard {
    pthread_mutex_t mutex;
    struct entry **buckets;
    size_t num_buckets, num_entries, bytes;
    h2o_linklist_t lru;
    uint64_t hits, misses, evictions;
};

/* The budget is the whole store's, not a sixteenth per shard: an entry may be up to a quarter of all of it (a shard's
 * quarter kept nothing over 1 MB in a 64 MiB store). `bytes` is the sum of the shards' (each changed under its shard's
 * lock); a put over budget evicts the least recently used entries of its own shard while that holds more than its
 * share, then the least recently used of all shards, one shard locked at a time (booka_cache_store_put). */
struct booka_cache_store {
    struct shard shards[NUM_SHARDS];
    size_t max_bytes;
    _Atomic size_t bytes;
    _Atomic uint64_t clock; /* advanced by each put (a get reads it: no write to a shared line on the hit path) */
};

uint64_t booka_cache_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* copy_into: `src` copied at *p (an empty one may have a NULL base: memcpy must not see it), *p advanced. */
static h2o_iovec_t copy_into(char **p, h2o_iovec_t src)
{
    h2o_iovec_t dst = h2o_iovec_init(*p, src.len);
    if (src.len != 0)
        memcpy(*p, src.base, src.len);
    *p += src.len;
    return dst;
}

booka_cache_value_t *booka_cache_value_new(h2o_iovec_t body, h2o_iovec_t etag, h2o_iovec_t content_type, int status,
                                           uint64_t created_at, uint64_t fresh_until, uint64_t stale_until)
{
    size_t size = sizeof(booka_cache_value_t);
    booka_cache_value_t *v;
    char *p;

    if (__builtin_add_overflow(size, body.len, &size) || __builtin_add_overflow(size, etag.len, &size) ||
        __builtin_add_overflow(size, content_type.len, &size) || (v = malloc(size)) == NULL)
        return NULL;
    p = (char *)(v + 1);
    v->body = copy_into(&p, body);
    v->etag = copy_into(&p, etag);
    v->content_type = copy_into(&p, content_type);
    v->status = status;
    v->created_at = created_at;
    v->fresh_until = fresh_until;
    v->stale_until = stale_until;
    atomic_init(&v->_refcnt, 1);
    v->_size = size;
    return v;
}

void booka_cache_value_retain(booka_cache_value_t *value)
{
    atomic_fetch_add(&value->_refcnt, 1);
}

void booka_cache_value_release(booka_cache_value_t *value)
{
    if (value != NULL && atomic_fetch_sub(&value->_refcnt, 1) == 1)
        free(value);
}

/* XXH3 (Debian's libxxhash): a list HIT hashes its ~80-byte key twice (memo, store); byte-at-a-time FNV-1a was 3.5% of
 * a HIT's CPU (perf, issue 15). Keys come from clients, but only ever select a bucket in a table a client can fill
 * anyway: collisions cost a compare, never a wrong answer. */
uint64_t booka_cache_key_hash(const char *key, size_t len)
{
    return XXH3_64bits(key, len);
}

static struct shard *shard_of(booka_cache_store_t *store, uint64_t hash)
{
    return store->shards + (hash >> 60) % NUM_SHARDS;
}

booka_cache_store_t *booka_cache_store_create(size_t max_bytes)
{
    booka_cache_store_t *store = calloc(1, sizeof(*store));
    if (store == NULL)
        return NULL;
    store->max_bytes = max_bytes;
    for (size_t i = 0; i != NUM_SHARDS; ++i) {
        struct shard *s = store->shards + i;
        pthread_mutex_init(&s->mutex, NULL);
        h2o_linklist_init_anchor(&s->lru);
    }
    return store;
}

/* find_slot: the link that points at the entry for (hash, key), or at the NULL ending its bucket. Shard locked. */
static struct entry **find_slot(struct shard *s, uint64_t hash, const char *key, size_t len)
{
    struct entry **slot = &s->buckets[hash & (s->num_buckets - 1)];
    for (; *slot != NULL; slot = &(*slot)->next_in_bucket)
        if ((*slot)->hash == hash && (*slot)->key_len == len && memcmp((*slot)->key, key, len) == 0)
            break;
    return slot;
}

/* unlink_entry: removes the entry *slot points at and frees it (its value keeps living while others hold it). */
static void unlink_entry(booka_cache_store_t *store, struct shard *s, struct entry **slot)
{
    struct entry *e = *slot;
    *slot = e->next_in_bucket;
    h2o_linklist_unlink(&e->lru);
    s->bytes -= e->charge;
    atomic_fetch_sub(&store->bytes, e->charge);
    --s->num_entries;
    booka_cache_value_release(e->value);
    free(e);
}

/* grow: doubles the bucket array once entries outnumber buckets; memory running out aborts (http/json.h, out of memory:
 * the table's size is bounded by the store's budget). */
static void grow(struct shard *s)
{
    size_t n = s->num_buckets == 0 ? 64 : s->num_buckets * 2;
    struct entry **buckets = h2o_mem_alloc(n * sizeof(*buckets));

    memset(buckets, 0, n * sizeof(*buckets));
    for (size_t i = 0; i != s->num_buckets; ++i) {
        struct entry *e = s->buckets[i], *next;
        for (; e != NULL; e = next) {
            next = e->next_in_bucket;
            e->next_in_bucket = buckets[e->hash & (n - 1)];
            buckets[e->hash & (n - 1)] = e;
        }
    }
    free(s->buckets);
    s->buckets = buckets;
    s->num_buckets = n;
}

booka_cache_value_t *booka_cache_store_get(booka_cache_store_t *store, const char *key, size_t key_len)
{
    uint64_t hash = booka_cache_key_hash(key, key_len);
    struct shard *s = shard_of(store, hash);
    booka_cache_value_t *v = NULL;
    struct entry **slot;

    pthread_mutex_lock(&s->mutex);
    if (s->num_buckets != 0 && *(slot = find_slot(s, hash, key, key_len)) != NULL) {
        if ((*slot)->value->stale_until <= booka_cache_now()) {
            unlink_entry(store, s, slot);
        } else {
            v = (*slot)->value;
            (*slot)->used = atomic_load_explicit(&store->clock, memory_order_relaxed);
            booka_cache_value_retain(v);
            h2o_linklist_unlink(&(*slot)->lru);
            h2o_linklist_insert(s->lru.next, &(*slot)->lru);
        }
    }
    if (v != NULL)
        ++s->hits;
    else
        ++s->misses;
    pthread_mutex_unlock(&s->mutex);
    return v;
}

/* evict_one: evicts the shard's least recently used entry unless it is `keep` (the entry just put, then the only one
 * left there). Returns whether it evicted. Shard locked. */
static int evict_one(booka_cache_store_t *store, struct shard *s, const struct entry *keep)
{
    struct entry *victim;

    if (h2o_linklist_is_empty(&s->lru) || (victim = H2O_STRUCT_FROM_MEMBER(struct entry, lru, s->lru.prev)) == keep)
        return 0;
    unlink_entry(store, s, find_slot(s, victim->hash, victim->key, victim->key_len));
    ++s->evictions;
    return 1;
}

/* evict_oldest: while the store is over its budget, evicts the least recently used entry of all shards (sparing `keep`):
 * each shard is locked alone to read its oldest entry's clock, then the oldest's shard to evict it, so two puts doing this
 * never hold two locks. Stops when nothing is left to evict. */
static void evict_oldest(booka_cache_store_t *store, const struct entry *keep)
{
    while (atomic_load(&store->bytes) > store->max_bytes) {
        struct shard *oldest = NULL;
        uint64_t oldest_used = UINT64_MAX;
        for (size_t i = 0; i != NUM_SHARDS; ++i) {
            struct shard *s = store->shards + i;
            pthread_mutex_lock(&s->mutex);
            if (!h2o_linklist_is_empty(&s->lru)) {
                struct entry *tail = H2O_STRUCT_FROM_MEMBER(struct entry, lru, s->lru.prev);
                if (tail != keep && tail->used < oldest_used) {
                    oldest = s;
                    oldest_used = tail->used;
                }
            }
            pthread_mutex_unlock(&s->mutex);
        }
        if (oldest == NULL)
            return;
        pthread_mutex_lock(&oldest->mutex);
        evict_one(store, oldest, keep); /* its oldest now: another thread may have used or evicted the one seen */
        pthread_mutex_unlock(&oldest->mutex);
    }
}

void booka_cache_store_put(booka_cache_store_t *store, const char *key, size_t key_len, booka_cache_value_t *value)
{
    uint64_t hash = booka_cache_key_hash(key, key_len);
    struct shard *s = shard_of(store, hash);
    size_t charge = sizeof(struct entry) + key_len + value->_size;
    struct entry *e, **slot;

    if (charge > store->max_bytes / 4)
        return;
    e = h2o_mem_alloc(offsetof(struct entry, key) + key_len + 1); /* a key: small, bounded by the request */
    e->hash = hash;
    e->value = value;
    e->charge = charge;
    e->used = atomic_fetch_add(&store->clock, 1) + 1;
    e->key_len = key_len;
    memcpy(e->key, key, key_len);
    booka_cache_value_retain(value);

    pthread_mutex_lock(&s->mutex);
    if (s->num_entries >= s->num_buckets)
        grow(s);
    if (s->num_buckets == 0) { /* could not allocate even the first table */
        pthread_mutex_unlock(&s->mutex);
        booka_cache_value_release(value);
        free(e);
        return;
    }
    if (*(slot = find_slot(s, hash, key, key_len)) != NULL)
        unlink_entry(store, s, slot);
    e->next_in_bucket = s->buckets[hash & (s->num_buckets - 1)];
    s->buckets[hash & (s->num_buckets - 1)] = e;
    h2o_linklist_insert(s->lru.next, &e->lru);
    s->bytes += charge;
    atomic_fetch_add(&store->bytes, charge);
    ++s->num_entries;
    /* over budget: this shard's least recently used go first while it holds more than its share (small entries, the common
     * case, never look further), then the store's oldest */
    while (atomic_load(&store->bytes) > store->max_bytes && s->bytes > store->max_bytes / NUM_SHARDS && evict_one(store, s, e))
        ;
    pthread_mutex_unlock(&s->mutex);
    if (atomic_load(&store->bytes) > store->max_bytes)
        evict_oldest(store, e);
}

void booka_cache_store_remove(booka_cache_store_t *store, const char *key, size_t key_len)
{
    uint64_t hash = booka_cache_key_hash(key, key_len);
    struct shard *s = shard_of(store, hash);
    struct entry **slot;

    pthread_mutex_lock(&s->mutex);
    if (s->num_buckets != 0 && *(slot = find_slot(s, hash, key, key_len)) != NULL)
        unlink_entry(store, s, slot);
    pthread_mutex_unlock(&s->mutex);
}

void booka_cache_store_clear(booka_cache_store_t *store)
{
    for (size_t i = 0; i != NUM_SHARDS; ++i) {
        struct shard *s = store->shards + i;
        pthread_mutex_lock(&s->mutex);
        while (!h2o_linklist_is_empty(&s->lru)) {
            struct entry *e = H2O_STRUCT_FROM_MEMBER(struct entry, lru, s->lru.next);
            unlink_entry(store, s, find_slot(s, e->hash, e->key, e->key_len));
        }
        pthread_mutex_unlock(&s->mutex);
    }
}

void booka_cache_store_destroy(booka_cache_store_t *store)
{
    if (store == NULL)
        return;
    booka_cache_store_clear(store);
    for (size_t i = 0; i != NUM_SHARDS; ++i) {
        free(store->shards[i].buckets);
        pthread_mutex_destroy(&store->shards[i].mutex);
    }
    free(store);
}

void booka_cache_store_get_stats(booka_cache_store_t *store, booka_cache_store_stats_t *stats)
{
    *stats = (booka_cache_store_stats_t){.max_bytes = store->max_bytes};
    for (size_t i = 0; i != NUM_SHARDS; ++i) {
        struct shard *s = store->shards + i;
        pthread_mutex_lock(&s->mutex);
        stats->entries += s->num_entries;
        stats->bytes += s->bytes;
        stats->hits += s->hits;
        stats->misses += s->misses;
        stats->evictions += s->evictions;
        pthread_mutex_unlock(&s->mutex);
    }
}
