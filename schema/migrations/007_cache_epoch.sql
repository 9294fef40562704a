-- 007: the cache epoch: a random value made once per database. Cache keys carry it beside the generation, because the
-- generation sequence starts again in a recreated or restored database, and Redis must not answer with another
-- database's entries that happen to share a generation number. Idempotent: created once, never changed.

CREATE TABLE IF NOT EXISTS booka_cache_epoch (
    id integer PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    epoch text NOT NULL DEFAULT md5(random()::text || clock_timestamp()::text)
);
INSERT INTO booka_cache_epoch DEFAULT VALUES ON CONFLICT (id) DO NOTHING;
