/* known.c: the picture versions the database confirmed, per provider, so that a request whose `v` names the current one
 * skips the lookup: its variant key and ETag follow from (id, v, side, format, quality) alone.
 *
 * What makes a remembered version safe to trust is the invalidation path the list cache already relies on: every write
 * that changes or removes a picture (or the provider) NOTIFYs booka_invalidate with the tag avatar-<id>, a bulk write or a
 * TRUNCATE with the tag avatar, and the LISTEN connection hands each notification to avatar_known_observe here. So the
 * rule is: a version is trusted while no notification touching its provider arrived after the lookup that confirmed it
 * was sent, and only while the LISTEN connection is up (a notification missed while it is down cannot be told apart; its
 * reconnect counts as a change of everything).
 *
 * Time is a process-local counter, `ticks`: each notification that touches avatars takes the next tick and marks the
 * providers it names (a slot per provider, by hash: providers sharing a slot are marked together, which only costs them
 * a lookup), or everything. A lookup reads the counter before it is sent (its stamp); its answer is trusted while the
 * stamp is at or past the marks of its provider's slot and of everything. Hence a notification that arrives while a
 * lookup is out, or races with its stamp, always wins. A stamp is only handed out when a lookup sent now reads data at
 * least as new as every notification seen: with a read replica, once the replica has replayed the newest notified write
 * (booka_db_read_generation); otherwise the lookup's answer is used for its request but not remembered. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include "avatar/internal.h"
#include "cache/invalidate.h"
#include "db/db.h"

#define KNOWN_SLOTS 16384 /* providers remembered at once, direct-mapped (a newer one takes an older one's slot) */
#define KNOWN_LOCKS 64    /* slots share their mutexes in stripes */

struct known_slot {
    int64_t provider_id;
    uint64_t stamp;
    uint8_t token_len; /* 0: empty */
    char token[AVATAR_KNOWN_TOKEN_MAX];
};

static struct known_slot slots[KNOWN_SLOTS];
static _Atomic uint64_t marks[KNOWN_SLOTS]; /* the tick of the last notification naming a provider of the slot */
static _Atomic uint64_t all_mark;           /* the tick of the last notification about every avatar */
static _Atomic uint64_t ticks = 1;
static pthread_mutex_t locks[KNOWN_LOCKS] = {[0 ... KNOWN_LOCKS - 1] = PTHREAD_MUTEX_INITIALIZER};

/* slot_of: the provider's slot (Fibonacci hashing: consecutive ids spread). */
static size_t slot_of(int64_t provider_id)
{
    return (size_t)(((uint64_t)provider_id * UINT64_C(0x9e3779b97f4a7c15)) >> 50) & (KNOWN_SLOTS - 1);
}

uint64_t avatar_known_now(void)
{
    return atomic_load(&ticks);
}

uint64_t avatar_known_stamp(void)
{
    uint64_t stamp, notified;

    if (!booka_invalidation_is_listening())
        return 0;
    /* the counter before the generation: a notification whose generation this read misses ticks after the stamp */
    stamp = avatar_known_now();
    /* a lookup on the primary (with edge purging) reads every committed write, so whatever it confirms is at least as
     * new as every notification heard; on a replica only once its reads cover the newest one */
    if ((avatar_lookup_flags() & BOOKA_DB_PRIMARY) != 0)
        return stamp;
    notified = atomic_load(&booka_cache_generation);
    return booka_db_read_generation(notified) == notified ? stamp : 0;
}

int avatar_known_is_current(int64_t provider_id, const char *token, size_t token_len)
{
    size_t i = slot_of(provider_id);
    uint64_t mark = atomic_load(&marks[i]), all = atomic_load(&all_mark);
    int current;

    if (token_len == 0 || token_len > AVATAR_KNOWN_TOKEN_MAX)
        return 0;
    pthread_mutex_lock(&locks[i % KNOWN_LOCKS]);
    current = slots[i].token_len == token_len && slots[i].provider_id == provider_id && slots[i].stamp >= mark &&
              slots[i].stamp >= all && memcmp(slots[i].token, token, token_len) == 0;
    pthread_mutex_unlock(&locks[i % KNOWN_LOCKS]);
    return current;
}

void avatar_known_remember(int64_t provider_id, const char *token, size_t token_len, uint64_t stamp)
{
    size_t i = slot_of(provider_id);

    if (stamp == 0 || token_len == 0 || token_len > AVATAR_KNOWN_TOKEN_MAX) {
        avatar_known_forget(provider_id);
        return;
    }
    pthread_mutex_lock(&locks[i % KNOWN_LOCKS]);
    /* an answer older than the one remembered (lookups may come back out of order) does not replace it */
    if (!(slots[i].token_len != 0 && slots[i].provider_id == provider_id && slots[i].stamp > stamp)) {
        slots[i].provider_id = provider_id;
        slots[i].stamp = stamp;
        slots[i].token_len = (uint8_t)token_len;
        memcpy(slots[i].token, token, token_len);
    }
    pthread_mutex_unlock(&locks[i % KNOWN_LOCKS]);
}

void avatar_known_forget(int64_t provider_id)
{
    size_t i = slot_of(provider_id);

    pthread_mutex_lock(&locks[i % KNOWN_LOCKS]);
    if (slots[i].provider_id == provider_id)
        slots[i].token_len = 0;
    pthread_mutex_unlock(&locks[i % KNOWN_LOCKS]);
}

/* parse_provider: the id in "avatar-<digits>" (`len` bytes from `tag`), or -1 when it is not one. */
static int64_t parse_provider(const char *tag, size_t len)
{
    int64_t id = 0;

    if (len <= 7 || memcmp(tag, "avatar-", 7) != 0 || len > 7 + 19)
        return -1;
    for (size_t i = 7; i != len; ++i) {
        int digit = tag[i] - '0';
        if (digit < 0 || digit > 9 || id > (INT64_MAX - digit) / 10)
            return -1;
        id = id * 10 + digit;
    }
    return id;
}

void avatar_known_observe(const booka_invalidation_change_t *change)
{
    const char *tags = change->tags;
    uint64_t tick = 0;

    if (tags == NULL) { /* what changed is unknown: everything may have */
        atomic_store(&all_mark, atomic_fetch_add(&ticks, 1) + 1);
        return;
    }
    for (const char *p = tags; *p != '\0';) {
        size_t len = strcspn(p, " ");
        if (len >= 6 && memcmp(p, "avatar", 6) == 0) { /* "avatar", "avatar-<id>"; "list..." and the like are not ours */
            int64_t id = parse_provider(p, len);
            if (tick == 0)
                tick = atomic_fetch_add(&ticks, 1) + 1;
            if (id >= 0)
                atomic_store(&marks[slot_of(id)], tick);
            else /* "avatar" (a bulk write, a TRUNCATE), or a tag of a form this version does not know: everything */
                atomic_store(&all_mark, tick);
        }
        p += len;
        p += strspn(p, " ");
    }
}
