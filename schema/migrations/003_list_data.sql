-- 003: the denormalised data of GET /api/v1/service-provider-profiles/ (docs/LIST-SQL.md), in the schema booka: one
-- row per provider with its sort keys (booka.providers), one per provider and category it has an approved service in
-- (booka.provider_categories), provider counts per list and price bucket (booka.provider_list_counts); the functions
-- and views that compute them from DATA-MODEL's tables; the triggers on booka's own tables that keep the copies and
-- counts in step; the cache generation and epoch. No lock is taken on DATA-MODEL's tables here: the triggers on those
-- come in 005, the rows in 006.
-- Names outside pg_catalog carry their schema: DATA-MODEL's tables :"core" (in views) and @core@ (in function bodies,
-- schema/lib.sh); the functions that read them run with search_path = pg_catalog, pg_temp (005 says why).
-- Idempotent: tables, indexes and sequences are created only when missing; functions, views and triggers replaced.

-- The price bucket of a lowest price: 0..5 for [0,500) [500,1000) [1000,2000) [2000,5000) [5000,10000)
-- [10000,inf), 6 for none. Totals sum all buckets; price_distribution reports 0..5.
CREATE OR REPLACE FUNCTION booka.price_bucket(price numeric) RETURNS smallint
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT (CASE WHEN price IS NULL THEN 6
                 WHEN price < 500 THEN 0
                 WHEN price < 1000 THEN 1
                 WHEN price < 2000 THEN 2
                 WHEN price < 5000 THEN 3
                 WHEN price < 10000 THEN 4
                 ELSE 5 END)::smallint
$$;

-- 1 when a booking in this status counts towards book_count, else 0.
CREATE OR REPLACE FUNCTION booka.booking_counts(status text) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN status IN ('confirmed', 'completed') THEN 1 ELSE 0 END
$$;

-- The mean rating from its sum and count, as lists report it; null when there is no review.
CREATE OR REPLACE FUNCTION booka.rating_avg(rating_sum bigint, rating_count integer) RETURNS numeric(3, 2)
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN rating_count > 0 THEN round(rating_sum::numeric / rating_count, 2)::numeric(3, 2) END
$$;

-- The avatar version token `v` of a profile_picture_url; null iff there is no picture. Lists read it instead of the
-- URL, which may be a data: URL of megabytes.
CREATE OR REPLACE FUNCTION booka.picture_version(url text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT left(md5(url), 16)
$$;

-- A category's slug (DATA-MODEL.md): trim ASCII white space, lower-case A-Z only, and turn each run of ASCII spaces,
-- tabs and hyphens into one '_': the normalisation the server applies to ?category=. Computed from the name, so that
-- a service_categories table without a slug column (an adopted one) works the same.
CREATE OR REPLACE FUNCTION booka.category_slug(name text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT regexp_replace(translate(btrim(name, E' \t\n\r\f\v'), 'ABCDEFGHIJKLMNOPQRSTUVWXYZ',
                                    'abcdefghijklmnopqrstuvwxyz'), E'[ \t-]+', '_', 'g')
$$;

-- One row per provider (a service_provider_profiles row): its counters and lowest approved price computed from
-- bookings, reviews and services, and copies of its sort and filter columns, so that every sort of the whole set is
-- a read of one index in order. Prices are unconstrained numeric: whatever precision the owner's columns have fits.
CREATE TABLE IF NOT EXISTS booka.providers (
    user_id bigint PRIMARY KEY,
    book_count integer NOT NULL,
    rating_count integer NOT NULL,
    rating_sum bigint NOT NULL,
    rating_avg numeric(3, 2) GENERATED ALWAYS AS (booka.rating_avg(rating_sum, rating_count)) STORED,
    min_price numeric,
    created_at timestamptz NOT NULL,
    location text,
    picture_version text
);

-- One row per provider and category in which the provider has at least one approved service, carrying copies of the
-- provider's sort keys and the lowest approved price in that category, so that a category page is a read of one
-- index in sort order.
CREATE TABLE IF NOT EXISTS booka.provider_categories (
    user_id bigint NOT NULL REFERENCES booka.providers (user_id) ON DELETE CASCADE,
    category_id integer NOT NULL,
    min_price numeric NOT NULL,
    book_count integer NOT NULL,
    rating_avg numeric(3, 2),
    rating_count integer NOT NULL,
    created_at timestamptz NOT NULL,
    location text,
    PRIMARY KEY (user_id, category_id)
);

-- Provider counts per list (category_id 0 is the whole set) and price bucket (booka.price_bucket), spread over a few
-- shards so that concurrent writers rarely wait on one row. A total is the sum of at most 7 x 8 rows.
CREATE TABLE IF NOT EXISTS booka.provider_list_counts (
    category_id integer NOT NULL,
    bucket smallint NOT NULL,
    shard smallint NOT NULL,
    n bigint NOT NULL,
    PRIMARY KEY (category_id, bucket, shard)
);

-- Sort indexes: one per sort, each ending in user_id DESC (ties break on id desc), over the whole set ...
CREATE INDEX IF NOT EXISTS providers_most_booked_idx ON booka.providers (book_count DESC, user_id DESC);
CREATE INDEX IF NOT EXISTS providers_top_rated_idx ON booka.providers
    (rating_avg DESC NULLS LAST, rating_count DESC, user_id DESC);
CREATE INDEX IF NOT EXISTS providers_newest_idx ON booka.providers (created_at DESC, user_id DESC);
CREATE INDEX IF NOT EXISTS providers_price_low_idx ON booka.providers (min_price ASC NULLS LAST, user_id DESC);
CREATE INDEX IF NOT EXISTS providers_price_high_idx ON booka.providers (min_price DESC NULLS LAST, user_id DESC);
-- ... the location filter of the whole set (substring, case-insensitive) ...
SELECT n.nspname AS trgm FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
WHERE e.extname = 'pg_trgm' \gset
CREATE INDEX IF NOT EXISTS providers_location_trgm_idx ON booka.providers USING gin (location :"trgm".gin_trgm_ops);

-- ... and within one category.
CREATE INDEX IF NOT EXISTS provider_categories_most_booked_idx ON booka.provider_categories
    (category_id, book_count DESC, user_id DESC);
CREATE INDEX IF NOT EXISTS provider_categories_top_rated_idx ON booka.provider_categories
    (category_id, rating_avg DESC NULLS LAST, rating_count DESC, user_id DESC);
CREATE INDEX IF NOT EXISTS provider_categories_newest_idx ON booka.provider_categories
    (category_id, created_at DESC, user_id DESC);
CREATE INDEX IF NOT EXISTS provider_categories_price_low_idx ON booka.provider_categories
    (category_id, min_price ASC NULLS LAST, user_id DESC);
CREATE INDEX IF NOT EXISTS provider_categories_price_high_idx ON booka.provider_categories
    (category_id, min_price DESC NULLS LAST, user_id DESC);

CREATE OR REPLACE FUNCTION booka.owns_core_tables() RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT owns_core_tables FROM booka.settings
$$;

-- Whether the triggers may build a provider's booka.providers row (booka.settings.triggers_ready: every trigger of 005
-- is in place, so a row built now cannot miss a later write). Read in the caller's snapshot, before the row's sources.
CREATE OR REPLACE FUNCTION booka.triggers_ready() RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT triggers_ready FROM booka.settings
$$;

-- The denormalised values as computed from scratch over the whole set, one grouping per source table (hash
-- aggregates): what booka.rebuild_list_data() writes and schema/check.sql compares against.
CREATE OR REPLACE VIEW booka.expected_book_counts AS
    SELECT artist_id AS user_id, sum(booka.booking_counts(status))::integer AS book_count
    FROM :"core".bookings GROUP BY artist_id;

CREATE OR REPLACE VIEW booka.expected_ratings AS
    SELECT artist_id AS user_id, count(*)::integer AS rating_count, sum(rating)::bigint AS rating_sum
    FROM :"core".reviews GROUP BY artist_id;

CREATE OR REPLACE VIEW booka.expected_min_prices AS
    SELECT artist_id AS user_id, min(price)::numeric AS min_price
    FROM :"core".services WHERE status = 'approved' GROUP BY artist_id;

CREATE OR REPLACE VIEW booka.expected_providers AS
    SELECT p.user_id::bigint AS user_id, coalesce(b.book_count, 0) AS book_count,
           coalesce(r.rating_count, 0) AS rating_count, coalesce(r.rating_sum, 0) AS rating_sum, m.min_price,
           p.created_at::timestamptz AS created_at, p.location::text AS location,
           booka.picture_version(p.profile_picture_url) AS picture_version
    FROM :"core".service_provider_profiles p
    LEFT JOIN booka.expected_book_counts b ON b.user_id = p.user_id
    LEFT JOIN booka.expected_ratings r ON r.user_id = p.user_id
    LEFT JOIN booka.expected_min_prices m ON m.user_id = p.user_id;

CREATE OR REPLACE VIEW booka.expected_memberships AS
    SELECT artist_id::bigint AS user_id, service_category_id::integer AS category_id, min(price)::numeric AS min_price
    FROM :"core".services WHERE status = 'approved' AND service_category_id IS NOT NULL
    GROUP BY artist_id, service_category_id;

CREATE OR REPLACE VIEW booka.expected_list_counts AS
    SELECT 0 AS category_id, booka.price_bucket(min_price) AS bucket, count(*) AS n
    FROM booka.providers GROUP BY 2
    UNION ALL
    SELECT category_id, booka.price_bucket(min_price), count(*)
    FROM booka.provider_categories GROUP BY 1, 2;

-- The maintained counts with the shards summed: what the list endpoint reads.
CREATE OR REPLACE VIEW booka.list_counts AS
    SELECT category_id, bucket, sum(n)::bigint AS n
    FROM booka.provider_list_counts GROUP BY category_id, bucket;

-- The rows of the given providers computed from scratch, through per-provider index reads (DATA-MODEL's indexes on
-- bookings, reviews and services by provider); providers without a profile are left out. A provider with 30,000
-- bookings costs one count of them: this runs once per provider, when its row is first built.
CREATE OR REPLACE FUNCTION booka.compute_providers(ids bigint[])
RETURNS TABLE (user_id bigint, book_count integer, rating_count integer, rating_sum bigint, min_price numeric,
               created_at timestamptz, location text, picture_version text)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT p.user_id,
           (SELECT count(*) FROM @core@.bookings b
            WHERE b.artist_id = p.user_id AND b.status IN ('confirmed', 'completed'))::integer,
           r.rating_count, r.rating_sum,
           (SELECT min(s.price) FROM @core@.services s
            WHERE s.artist_id = p.user_id AND s.status = 'approved')::numeric,
           p.created_at, p.location, booka.picture_version(p.profile_picture_url)
    FROM @core@.service_provider_profiles p
    CROSS JOIN LATERAL (SELECT count(*)::integer AS rating_count, coalesce(sum(v.rating), 0)::bigint AS rating_sum
                        FROM @core@.reviews v WHERE v.artist_id = p.user_id) AS r
    WHERE p.user_id = ANY (ids)
$$;

-- Add count deltas to provider_list_counts, in the calling backend's shard. The rows are written in key order so
-- that concurrent writers cannot deadlock on them; zero deltas write nothing.
CREATE OR REPLACE FUNCTION booka.add_list_counts(categories integer[], buckets smallint[], deltas bigint[]) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO booka.provider_list_counts AS c (category_id, bucket, shard, n)
    SELECT d.category_id, d.bucket, (pg_backend_pid() % 8)::smallint, sum(d.delta)
    FROM unnest(categories, buckets, deltas) AS d (category_id, bucket, delta)
    GROUP BY d.category_id, d.bucket
    HAVING sum(d.delta) <> 0
    ORDER BY d.category_id, d.bucket
    ON CONFLICT (category_id, bucket, shard) DO UPDATE SET n = c.n + EXCLUDED.n
$$;

-- Insert or correct the provider_categories rows of the given providers that have a booka.providers row, one per
-- category they have an approved service in, with its lowest price and copies of the provider's sort keys.
CREATE OR REPLACE FUNCTION booka.add_memberships(ids bigint[]) RETURNS void
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
    INSERT INTO booka.provider_categories AS m (user_id, category_id, min_price, book_count, rating_avg, rating_count,
                                                created_at, location)
    SELECT e.user_id, e.category_id, e.min_price, b.book_count, b.rating_avg, b.rating_count, b.created_at, b.location
    FROM (SELECT s.artist_id AS user_id, s.service_category_id AS category_id, min(s.price)::numeric AS min_price
          FROM @core@.services s
          WHERE s.artist_id = ANY (ids) AND s.status = 'approved' AND s.service_category_id IS NOT NULL
          GROUP BY 1, 2) AS e
    JOIN booka.providers b ON b.user_id = e.user_id
    ORDER BY e.user_id, e.category_id
    ON CONFLICT (user_id, category_id) DO UPDATE SET min_price = EXCLUDED.min_price
        WHERE m.min_price IS DISTINCT FROM EXCLUDED.min_price
$$;

-- Build the rows of the given providers that have none yet, from scratch, with their memberships. Their profiles are locked first (KEY SHARE,
-- in id order: writers of the profile and of its bookings, reviews and services go on; a delete waits), so that a
-- row is never built for a provider whose delete commits meanwhile. A concurrent build of the same provider makes
-- the INSERT wait for it, and then do nothing. Nothing is built before every trigger is in place
-- (booka.triggers_ready): 006 builds those rows then.
CREATE OR REPLACE FUNCTION booka.ensure_providers(ids bigint[]) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF NOT booka.triggers_ready() THEN
        RETURN;
    END IF;
    ids := ARRAY(SELECT unnest(ids) EXCEPT SELECT b.user_id FROM booka.providers b WHERE b.user_id = ANY (ids));
    IF cardinality(ids) = 0 THEN
        RETURN;
    END IF;
    PERFORM 1 FROM @core@.service_provider_profiles p WHERE p.user_id = ANY (ids) ORDER BY p.user_id FOR KEY SHARE;
    WITH built AS (INSERT INTO booka.providers (user_id, book_count, rating_count, rating_sum, min_price, created_at,
                                                location, picture_version)
                   SELECT * FROM booka.compute_providers(ids) ORDER BY 1
                   ON CONFLICT (user_id) DO NOTHING
                   RETURNING user_id)
    SELECT array_agg(user_id ORDER BY user_id) INTO ids FROM built;
    IF ids IS NOT NULL THEN
        PERFORM booka.add_memberships(ids);
    END IF;
END
$$;

-- Bring min_price and the provider_categories rows of the given providers in line with their approved services.
-- The providers' rows are built if missing (booka.ensure_providers) and locked (in id order), so that a concurrent
-- booking or review waits and the sort keys copied into new membership rows are the committed ones.
CREATE OR REPLACE FUNCTION booka.sync_services(ids bigint[]) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM booka.ensure_providers(ids);
    PERFORM 1 FROM booka.providers b WHERE b.user_id = ANY (ids) ORDER BY b.user_id FOR NO KEY UPDATE;

    UPDATE booka.providers b SET min_price = m.min_price
    FROM (SELECT q.user_id,
                 (SELECT min(s.price) FROM @core@.services s
                  WHERE s.artist_id = q.user_id AND s.status = 'approved')::numeric AS min_price
          FROM booka.providers q WHERE q.user_id = ANY (ids)) AS m
    WHERE b.user_id = m.user_id AND b.min_price IS DISTINCT FROM m.min_price;

    DELETE FROM booka.provider_categories m
    WHERE m.user_id = ANY (ids)
      AND NOT EXISTS (SELECT 1 FROM @core@.services s
                      WHERE s.artist_id = m.user_id AND s.service_category_id = m.category_id AND s.status = 'approved');

    PERFORM booka.add_memberships(ids);
END
$$;

-- Add counter deltas (bookings counted, reviews and their rating sum gained or lost) per provider. A provider whose
-- row is built takes its delta; one without a row gets it built from scratch with its memberships (once every
-- trigger is in place: before, 006 builds it), or, when a concurrent build of it commits first (its count could not
-- see this transaction's change), the delta on top of that. Rows are taken in id order. On a database the project owns, the
-- profiles are locked first, in id order, as the mirror of the counters (booka.mirror_counters) writes them after the
-- booka rows: two writers never hold these two rows in opposite orders.
CREATE OR REPLACE FUNCTION booka.add_provider_deltas(artists bigint[], books integer[], counts integer[], sums bigint[])
RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    ready boolean := booka.triggers_ready();
    built bigint[] := '{}';
    d record;
BEGIN
    -- one delta per provider, in id order; providers whose deltas cancel out are left alone
    SELECT array_agg(artist_id ORDER BY artist_id), array_agg(b ORDER BY artist_id), array_agg(n ORDER BY artist_id),
           array_agg(s ORDER BY artist_id)
    INTO artists, books, counts, sums
    FROM (SELECT u.artist_id, coalesce(sum(u.b), 0)::integer AS b, coalesce(sum(u.n), 0)::integer AS n,
                 coalesce(sum(u.s), 0)::bigint AS s
          FROM unnest(artists, books, counts, sums) AS u (artist_id, b, n, s)
          GROUP BY u.artist_id) AS g
    WHERE b <> 0 OR n <> 0 OR s <> 0;
    IF artists IS NULL THEN
        RETURN;
    END IF;
    IF booka.owns_core_tables() THEN
        PERFORM 1 FROM @core@.service_provider_profiles p
        WHERE p.user_id = ANY (artists) ORDER BY p.user_id FOR NO KEY UPDATE;
    END IF;
    FOR d IN
        WITH delta AS (SELECT * FROM unnest(artists, books, counts, sums) AS u (artist_id, books, counts, sums)),
             locked AS (SELECT b.user_id FROM booka.providers b
                        WHERE b.user_id = ANY (artists) ORDER BY b.user_id FOR NO KEY UPDATE),
             updated AS (UPDATE booka.providers b
                         SET book_count = b.book_count + delta.books, rating_count = b.rating_count + delta.counts,
                             rating_sum = b.rating_sum + delta.sums
                         FROM delta WHERE b.user_id = delta.artist_id AND b.user_id IN (SELECT user_id FROM locked)
                         RETURNING b.user_id)
        SELECT delta.* FROM delta WHERE delta.artist_id NOT IN (SELECT user_id FROM updated) ORDER BY delta.artist_id
    LOOP
        CONTINUE WHEN NOT ready;
        INSERT INTO booka.providers AS b (user_id, book_count, rating_count, rating_sum, min_price, created_at,
                                          location, picture_version)
        SELECT * FROM booka.compute_providers(ARRAY[d.artist_id])
        ON CONFLICT (user_id) DO UPDATE
            SET book_count = b.book_count + d.books, rating_count = b.rating_count + d.counts,
                rating_sum = b.rating_sum + d.sums;
        built := built || d.artist_id;
    END LOOP;
    -- the memberships of the rows built here (a concurrent build made its own: then nothing changes)
    IF cardinality(built) > 0 THEN
        PERFORM booka.add_memberships(built);
    END IF;
END
$$;

-- Recompute all list data from scratch in one set-based pass: booka.providers, provider_categories and
-- provider_list_counts from the expected_* views, writing only rows that differ (and the counters of the profiles when
-- the project owns them). Used by the seed loader after a bulk load, after a TRUNCATE, and by operators to repair;
-- writers of the source tables wait until the calling transaction ends (it locks them in SHARE mode; docs/LIST-SQL.md).
CREATE OR REPLACE FUNCTION booka.rebuild_list_data() RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    LOCK TABLE @core@.service_provider_profiles, @core@.services, @core@.bookings, @core@.reviews IN SHARE MODE;
    LOCK TABLE booka.providers, booka.provider_categories, booka.provider_list_counts IN SHARE ROW EXCLUSIVE MODE;

    DELETE FROM booka.providers b
    WHERE NOT EXISTS (SELECT 1 FROM @core@.service_provider_profiles p WHERE p.user_id = b.user_id);

    INSERT INTO booka.providers AS b (user_id, book_count, rating_count, rating_sum, min_price, created_at, location,
                                      picture_version)
    SELECT * FROM booka.expected_providers
    ON CONFLICT (user_id) DO UPDATE
        SET book_count = EXCLUDED.book_count, rating_count = EXCLUDED.rating_count, rating_sum = EXCLUDED.rating_sum,
            min_price = EXCLUDED.min_price, created_at = EXCLUDED.created_at, location = EXCLUDED.location,
            picture_version = EXCLUDED.picture_version
        WHERE (b.book_count, b.rating_count, b.rating_sum, b.min_price, b.created_at, b.location, b.picture_version)
              IS DISTINCT FROM (EXCLUDED.book_count, EXCLUDED.rating_count, EXCLUDED.rating_sum, EXCLUDED.min_price,
                                EXCLUDED.created_at, EXCLUDED.location, EXCLUDED.picture_version);

    DELETE FROM booka.provider_categories m
    WHERE NOT EXISTS (SELECT 1 FROM booka.expected_memberships e
                      WHERE e.user_id = m.user_id AND e.category_id = m.category_id);

    INSERT INTO booka.provider_categories AS m (user_id, category_id, min_price, book_count, rating_avg, rating_count,
                                                created_at, location)
    SELECT e.user_id, e.category_id, e.min_price, b.book_count, b.rating_avg, b.rating_count, b.created_at, b.location
    FROM booka.expected_memberships e
    JOIN booka.providers b ON b.user_id = e.user_id
    ON CONFLICT (user_id, category_id) DO UPDATE
        SET min_price = EXCLUDED.min_price, book_count = EXCLUDED.book_count, rating_avg = EXCLUDED.rating_avg,
            rating_count = EXCLUDED.rating_count, created_at = EXCLUDED.created_at, location = EXCLUDED.location
        WHERE (m.min_price, m.book_count, m.rating_avg, m.rating_count, m.created_at, m.location)
              IS DISTINCT FROM (EXCLUDED.min_price, EXCLUDED.book_count, EXCLUDED.rating_avg, EXCLUDED.rating_count,
                                EXCLUDED.created_at, EXCLUDED.location);

    DELETE FROM booka.provider_list_counts;
    INSERT INTO booka.provider_list_counts (category_id, bucket, shard, n)
    SELECT category_id, bucket, 0, n FROM booka.expected_list_counts;

    IF booka.owns_core_tables() THEN
        PERFORM booka.mirror_counters(ARRAY(SELECT user_id FROM booka.providers));
    END IF;
END
$$;

-- On a database the project owns: copy the counters of the given providers into DATA-MODEL's denormalised columns
-- where they differ. booka.mirror marks the write as the mirror's for the profiles' BEFORE trigger (005), which keeps
-- those columns from any other writer, and for their notification trigger, which sends nothing for it.
CREATE OR REPLACE FUNCTION booka.mirror_counters(ids bigint[]) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    -- no statement at all for no rows: the profiles' statement triggers would run (and come back here)
    IF cardinality(ids) = 0 THEN
        RETURN;
    END IF;
    PERFORM set_config('booka.mirror', 'on', true);
    UPDATE @core@.service_provider_profiles p
    SET book_count = b.book_count, rating_avg = b.rating_avg, rating_count = b.rating_count
    FROM booka.providers b
    WHERE b.user_id = ANY (ids) AND p.user_id = b.user_id
      AND (p.book_count, p.rating_avg, p.rating_count) IS DISTINCT FROM (b.book_count, b.rating_avg, b.rating_count);
    PERFORM set_config('booka.mirror', 'off', true);
END
$$;

-- Build (from scratch) the rows of every provider that has none, `batch` providers per transaction, in id order:
-- what adopting a database that is full of rows runs (006), while the source tables' triggers (005) keep the rows
-- already built exact. Call it outside a transaction block (it commits after each batch). Resumable: a rerun skips
-- the providers already built. Writers of one batch's providers wait for that batch at most.
CREATE OR REPLACE PROCEDURE booka.build_missing_providers(batch integer DEFAULT 2000)
LANGUAGE plpgsql AS $$
DECLARE
    ids bigint[];
    last bigint := -9223372036854775808;
BEGIN
    LOOP
        SELECT array_agg(user_id ORDER BY user_id) INTO ids
        FROM (SELECT p.user_id FROM @core@.service_provider_profiles p
              WHERE p.user_id > last AND NOT EXISTS (SELECT 1 FROM booka.providers b WHERE b.user_id = p.user_id)
              ORDER BY p.user_id LIMIT batch) AS x;
        EXIT WHEN ids IS NULL;
        PERFORM booka.sync_services(ids);
        last := ids[cardinality(ids)];
        COMMIT;
    END LOOP;
END
$$;

-- booka.providers, after a sort key or the location changed: refresh the copies in provider_categories.
CREATE OR REPLACE FUNCTION booka.on_provider_keys_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE booka.provider_categories
    SET book_count = NEW.book_count, rating_avg = NEW.rating_avg, rating_count = NEW.rating_count,
        created_at = NEW.created_at, location = NEW.location
    WHERE user_id = NEW.user_id;
    RETURN NULL;
END
$$;

CREATE OR REPLACE TRIGGER providers_keys AFTER UPDATE ON booka.providers
    FOR EACH ROW
    WHEN (OLD.book_count IS DISTINCT FROM NEW.book_count OR OLD.rating_avg IS DISTINCT FROM NEW.rating_avg
          OR OLD.rating_count IS DISTINCT FROM NEW.rating_count OR OLD.created_at IS DISTINCT FROM NEW.created_at
          OR OLD.location IS DISTINCT FROM NEW.location)
    EXECUTE FUNCTION booka.on_provider_keys_change();

-- booka.providers: whole-set counts (category 0) per price bucket of min_price.
CREATE OR REPLACE FUNCTION booka.on_provider_count_change() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    categories integer[];
    buckets smallint[];
    deltas bigint[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT array_agg(0), array_agg(bucket), array_agg(n) INTO categories, buckets, deltas
        FROM (SELECT booka.price_bucket(min_price) AS bucket, count(*) AS n FROM new_rows GROUP BY 1) AS r;
    ELSIF TG_OP = 'DELETE' THEN
        SELECT array_agg(0), array_agg(bucket), array_agg(-n) INTO categories, buckets, deltas
        FROM (SELECT booka.price_bucket(min_price) AS bucket, count(*) AS n FROM old_rows GROUP BY 1) AS r;
    ELSE
        SELECT array_agg(0), array_agg(bucket), array_agg(n) INTO categories, buckets, deltas
        FROM (SELECT booka.price_bucket(min_price) AS bucket, -count(*) AS n FROM old_rows GROUP BY 1
              UNION ALL
              SELECT booka.price_bucket(min_price), count(*) FROM new_rows GROUP BY 1) AS r;
    END IF;
    PERFORM booka.add_list_counts(categories, buckets, deltas);
    RETURN NULL;
END
$$;

CREATE OR REPLACE TRIGGER providers_count_insert AFTER INSERT ON booka.providers
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION booka.on_provider_count_change();
CREATE OR REPLACE TRIGGER providers_count_update AFTER UPDATE ON booka.providers
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION booka.on_provider_count_change();
CREATE OR REPLACE TRIGGER providers_count_delete AFTER DELETE ON booka.providers
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION booka.on_provider_count_change();

-- booka.provider_categories: per-category counts per price bucket of the category's lowest price.
CREATE OR REPLACE FUNCTION booka.on_membership_count_change() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    categories integer[];
    buckets smallint[];
    deltas bigint[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT array_agg(category_id), array_agg(bucket), array_agg(n) INTO categories, buckets, deltas
        FROM (SELECT category_id, booka.price_bucket(min_price) AS bucket, count(*) AS n
              FROM new_rows GROUP BY 1, 2) AS r;
    ELSIF TG_OP = 'DELETE' THEN
        SELECT array_agg(category_id), array_agg(bucket), array_agg(-n) INTO categories, buckets, deltas
        FROM (SELECT category_id, booka.price_bucket(min_price) AS bucket, count(*) AS n
              FROM old_rows GROUP BY 1, 2) AS r;
    ELSE
        SELECT array_agg(category_id), array_agg(bucket), array_agg(n) INTO categories, buckets, deltas
        FROM (SELECT category_id, booka.price_bucket(min_price) AS bucket, -count(*) AS n FROM old_rows GROUP BY 1, 2
              UNION ALL
              SELECT category_id, booka.price_bucket(min_price), count(*) FROM new_rows GROUP BY 1, 2) AS r;
    END IF;
    PERFORM booka.add_list_counts(categories, buckets, deltas);
    RETURN NULL;
END
$$;

CREATE OR REPLACE TRIGGER provider_categories_count_insert AFTER INSERT ON booka.provider_categories
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION booka.on_membership_count_change();
CREATE OR REPLACE TRIGGER provider_categories_count_update AFTER UPDATE ON booka.provider_categories
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION booka.on_membership_count_change();
CREATE OR REPLACE TRIGGER provider_categories_count_delete AFTER DELETE ON booka.provider_categories
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION booka.on_membership_count_change();

-- The cache generation: each write statement to a table lists or avatars are built from NOTIFYs booka_invalidate with
-- the next value (005), so every instance moves to the same generation and the cache keys they share in Redis line up.
-- A sequence rather than a counter row: nextval takes no row lock, so concurrent writers never queue on it.
CREATE SEQUENCE IF NOT EXISTS booka.cache_generation;

-- The cache epoch: a random value made once per database. Cache keys carry it beside the generation, because the
-- generation sequence starts again in a recreated or restored database, and Redis must not answer with another
-- database's entries that happen to share a generation number. Created once, never changed.
CREATE TABLE IF NOT EXISTS booka.cache_epoch (
    id integer PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    epoch text NOT NULL DEFAULT md5(random()::text || clock_timestamp()::text)
);
INSERT INTO booka.cache_epoch DEFAULT VALUES ON CONFLICT (id) DO NOTHING;
