/* redis_url_test.c: REDIS_URL forms, including the Upstash one from the seed (redis://default:PASSWORD@host:6379/0). */
#include "unit.h"
#include "cache/redis.h"

int main(void)
{
    booka_redis_url_t u;
    const char *err;

    CHECK(booka_redis_parse_url("redis://127.0.0.1:56390/0", &u, &err) == 0);
    CHECK_STR_EQ(u.host, "127.0.0.1");
    CHECK_INT_EQ(u.port, 56390);
    CHECK_INT_EQ(u.db, 0);
    CHECK(u.user == NULL && u.password == NULL);
    booka_redis_url_dispose(&u);

    CHECK(booka_redis_parse_url("redis://default:s3cr%40t@fly-booka.upstash.io:6379/2", &u, &err) == 0);
    CHECK_STR_EQ(u.user, "default");
    CHECK_STR_EQ(u.password, "s3cr@t");
    CHECK_STR_EQ(u.host, "fly-booka.upstash.io");
    CHECK_INT_EQ(u.db, 2);
    booka_redis_url_dispose(&u);

    CHECK(booka_redis_parse_url("redis://:pw@localhost", &u, &err) == 0);
    CHECK(u.user == NULL);
    CHECK_STR_EQ(u.password, "pw");
    CHECK_INT_EQ(u.port, 6379);
    booka_redis_url_dispose(&u);

    CHECK(booka_redis_parse_url("rediss://h:6379", &u, &err) == -1 && strstr(err, "TLS") != NULL);
    CHECK(booka_redis_parse_url("http://h", &u, &err) == -1);
    CHECK(booka_redis_parse_url("redis://", &u, &err) == -1 && strstr(err, "host") != NULL);
    CHECK(booka_redis_parse_url("redis://h:99999", &u, &err) == -1);
    CHECK(booka_redis_parse_url("redis://h:12x", &u, &err) == -1);
    CHECK(booka_redis_parse_url("redis://h/db", &u, &err) == -1);
    CHECK(booka_redis_parse_url("redis://u:p%zz@h", &u, &err) == -1 && strstr(err, "escape") != NULL);
    CHECK(booka_redis_parse_url("redis://u:p%4@h", &u, &err) == -1);
    return unit_report("redis_url");
}
