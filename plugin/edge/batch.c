/* batch.c: what the purger decides without I/O: which tags a change names, which wait in one target's batch, when the
 * next request may go (a token bucket) and how long a retry waits. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "edge/internal.h"

int edge_tags_add(edge_tag_list_t *list, const char *tag, size_t len)
{
    for (size_t i = 0; i != list->size; ++i)
        if (strlen(list->entries[i]) == len && memcmp(list->entries[i], tag, len) == 0)
            return 0;
    h2o_vector_reserve(NULL, list, list->size + 1);
    list->entries[list->size++] = h2o_strdup(NULL, tag, len).base;
    return 1;
}

void edge_tags_merge(edge_tag_list_t *into, edge_tag_list_t *from)
{
    for (size_t i = 0; i != from->size; ++i)
        edge_tags_add(into, from->entries[i], strlen(from->entries[i]));
    edge_tags_clear(from);
}

size_t edge_tags_take(edge_tag_list_t *from, edge_tag_list_t *to, size_t max_tags, size_t max_bytes, size_t overhead)
{
    size_t n = 0, bytes = 0;

    while (n != from->size && n != max_tags) {
        size_t cost = strlen(from->entries[n]) + overhead;
        if (n != 0 && bytes + cost > max_bytes)
            break;
        bytes += cost;
        ++n;
    }
    h2o_vector_reserve(NULL, to, to->size + n);
    memcpy(to->entries + to->size, from->entries, n * sizeof(*from->entries));
    to->size += n;
    memmove(from->entries, from->entries + n, (from->size - n) * sizeof(*from->entries));
    from->size -= n;
    return n;
}

void edge_tags_collapse(edge_tag_list_t *list)
{
    int lists = 0, avatars = 0;

    for (size_t i = 0; i != list->size; ++i) {
        lists |= strncmp(list->entries[i], "list", 4) == 0;
        avatars |= strncmp(list->entries[i], "avatar", 6) == 0;
    }
    edge_tags_clear(list);
    if (lists)
        edge_tags_add(list, H2O_STRLIT("list"));
    if (avatars)
        edge_tags_add(list, H2O_STRLIT("avatar"));
}

void edge_tags_clear(edge_tag_list_t *list)
{
    for (size_t i = 0; i != list->size; ++i)
        free(list->entries[i]);
    list->size = 0;
}

void edge_tags_dispose(edge_tag_list_t *list)
{
    edge_tags_clear(list);
    free(list->entries);
    *list = (edge_tag_list_t){NULL};
}

static int is_tag_byte(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-' || c == '%';
}

int edge_change_parse(const char *payload, uint64_t *id, edge_tag_list_t *tags)
{
    const char *p = payload;
    char *end;
    int named = 0, unknown = 0;

    if (*p < '0' || *p > '9')
        return -1;
    errno = 0;
    *id = strtoull(p, &end, 10);
    if (errno != 0 || (*end != '\0' && *end != ' '))
        return -1;
    for (p = end; *p != '\0';) {
        size_t len;
        p += strspn(p, " ");
        if ((len = strcspn(p, " ")) == 0)
            break;
        ++named;
        for (size_t i = 0; i != len && !unknown; ++i)
            unknown = !is_tag_byte((unsigned char)p[i]);
        if (len > EDGE_TAG_MAX)
            unknown = 1;
        if (!unknown)
            edge_tags_add(tags, p, len);
        p += len;
    }
    if (unknown) {
        edge_tags_add(tags, H2O_STRLIT("list"));
        edge_tags_add(tags, H2O_STRLIT("avatar"));
    }
    return named;
}

void edge_bucket_init(edge_bucket_t *bucket, double burst, double per_minute, uint64_t now_ms)
{
    *bucket = (edge_bucket_t){.tokens = burst, .burst = burst, .per_ms = per_minute / 60000.0, .at = now_ms};
}

static void refill(edge_bucket_t *bucket, uint64_t now_ms)
{
    if (now_ms > bucket->at) {
        bucket->tokens += (double)(now_ms - bucket->at) * bucket->per_ms;
        if (bucket->tokens > bucket->burst)
            bucket->tokens = bucket->burst;
        bucket->at = now_ms;
    }
}

uint64_t edge_bucket_wait(edge_bucket_t *bucket, uint64_t now_ms)
{
    if (bucket->per_ms == 0)
        return 0;
    refill(bucket, now_ms);
    if (bucket->tokens >= 1)
        return 0;
    return (uint64_t)((1 - bucket->tokens) / bucket->per_ms) + 1;
}

void edge_bucket_take(edge_bucket_t *bucket, uint64_t now_ms)
{
    if (bucket->per_ms == 0)
        return;
    refill(bucket, now_ms);
    bucket->tokens -= 1;
}

uint64_t edge_backoff_ms(unsigned attempt, uint64_t cap_ms, uint32_t random)
{
    uint64_t wait = 500;

    while (--attempt != 0 && wait < cap_ms)
        wait *= 2;
    if (wait > cap_ms)
        wait = cap_ms;
    return wait / 2 + random % (wait / 2 + 1);
}
