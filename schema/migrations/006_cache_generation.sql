-- 006: the cache generation. Each write statement that notifies booka_invalidate now carries the next value of one
-- sequence as its payload, so every instance moves to the same generation and the cache keys they share in Redis line
-- up. A sequence rather than a counter row: nextval takes no row lock, so concurrent writers never queue on it.
-- Idempotent: IF NOT EXISTS, and the function is replaced.

CREATE SEQUENCE IF NOT EXISTS booka_cache_generation;

CREATE OR REPLACE FUNCTION booka_notify_invalidate() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('booka_invalidate', nextval('booka_cache_generation')::text);
    RETURN NULL;
END
$$;
