/* memo.c: what a raw query string normalises to, remembered per event-loop thread.
 *
 * A list HIT used to parse its query string and build the canonical form of the request on every request: 17% of a
 * HIT's CPU under h2load (perf, issue 15), for a result that depends on the query string's bytes alone. Clients repeat
 * a handful of query strings (the app's screens), so each thread keeps the last valid requests it parsed in a small
 * direct-mapped table, keyed by the raw bytes: a hit costs a hash and a compare. Nothing is shared between threads, so
 * nothing is locked. Invalid query strings (422, 414) are never remembered: they stay on the slow path, and a client
 * sending distinct strings only replaces slots (the table's size is fixed). */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "cache/store.h"
#include "list.h"

#define MEMO_SLOTS 256     /* per thread; a power of two */
#define MEMO_QUERY_MAX 512 /* longer query strings are not remembered (the app's are ~100 bytes) */
#define MEMO_CANONICAL_MAX 1024

struct list_memo_slot {
    uint64_t hash;
    size_t query_len; /* 0: empty slot (the empty query string is remembered in slot 0 with `used`) */
    int used;
    char query[MEMO_QUERY_MAX];
    list_memo_entry_t entry;
    char canonical[MEMO_CANONICAL_MAX];
};

static pthread_key_t memo_key;
static int memo_key_made;
static pthread_once_t memo_once = PTHREAD_ONCE_INIT;

static void create_key(void)
{
    memo_key_made = pthread_key_create(&memo_key, free) == 0; /* the table goes with its thread */
}

/* table: this thread's slots, made on first use; NULL when memory runs out (the caller just parses). */
static struct list_memo_slot *table(void)
{
    struct list_memo_slot *slots;

    pthread_once(&memo_once, create_key);
    if (!memo_key_made)
        return NULL;
    if ((slots = pthread_getspecific(memo_key)) == NULL) {
        slots = h2o_mem_alloc(MEMO_SLOTS * sizeof(*slots)); /* fixed size: memory running out aborts (http/json.h) */
        memset(slots, 0, MEMO_SLOTS * sizeof(*slots));
        if (pthread_setspecific(memo_key, slots) != 0) {
            free(slots);
            slots = NULL;
        }
    }
    return slots;
}

static uint64_t hash(const char *s, size_t len)
{
    return booka_cache_key_hash(s, len); /* XXH3: cache/store.c */
}

const list_memo_entry_t *list_memo_get(const char *query, size_t len)
{
    struct list_memo_slot *slots, *slot;
    uint64_t h;

    if (len > MEMO_QUERY_MAX || (slots = table()) == NULL)
        return NULL;
    h = hash(query, len);
    slot = slots + (h & (MEMO_SLOTS - 1));
    if (!slot->used || slot->hash != h || slot->query_len != len || (len != 0 && memcmp(slot->query, query, len) != 0))
        return NULL;
    return &slot->entry;
}

void list_memo_put(const char *query, size_t len, const list_request_t *request, const char *canonical, size_t canonical_len)
{
    struct list_memo_slot *slots, *slot;
    uint64_t h;

    if (len > MEMO_QUERY_MAX || canonical_len > MEMO_CANONICAL_MAX || (slots = table()) == NULL)
        return;
    h = hash(query, len);
    slot = slots + (h & (MEMO_SLOTS - 1));
    slot->used = 1;
    slot->hash = h;
    slot->query_len = len;
    if (len != 0)
        memcpy(slot->query, query, len);
    slot->entry.request = *request;
    memcpy(slot->canonical, canonical, canonical_len);
    slot->entry.canonical = h2o_iovec_init(slot->canonical, canonical_len);
}
