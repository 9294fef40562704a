-- 002: denormalised data for GET /api/v1/service-provider-profiles/ (see docs/LIST-SQL.md).
-- Every list sort is an index read over the whole set (service_provider_profiles) or one category
-- (provider_categories), and every unfiltered total comes from provider_list_counts.
-- Idempotent: columns, tables and indexes are created only when missing; functions and views are replaced.

-- Per-provider inputs of the denormalised columns: the sum behind rating_avg, and the lowest approved price
-- (price sorts and price buckets of the whole set). profile_picture_version is the avatar version token: lists
-- read it instead of the URL, which may be a data: URL of megabytes.
ALTER TABLE service_provider_profiles ADD COLUMN IF NOT EXISTS rating_sum bigint NOT NULL DEFAULT 0;
ALTER TABLE service_provider_profiles ADD COLUMN IF NOT EXISTS min_price numeric(12, 2);
ALTER TABLE service_provider_profiles ADD COLUMN IF NOT EXISTS profile_picture_version text
    GENERATED ALWAYS AS (left(md5(profile_picture_url), 16)) STORED;

-- One row per provider and category in which the provider has at least one approved service, carrying copies
-- of the provider's sort keys and the lowest approved price in that category, so that a category page is a read
-- of one index in sort order. Kept exact by the triggers of 003.
CREATE TABLE IF NOT EXISTS provider_categories (
    user_id bigint NOT NULL REFERENCES service_provider_profiles (user_id) ON DELETE CASCADE,
    category_id integer NOT NULL REFERENCES service_categories (id) ON DELETE CASCADE,
    min_price numeric(12, 2) NOT NULL,
    book_count integer NOT NULL,
    rating_avg numeric(3, 2),
    rating_count integer NOT NULL,
    created_at timestamptz NOT NULL,
    location text,
    PRIMARY KEY (user_id, category_id)
);

-- Provider counts per list (category_id 0 is the whole set) and price bucket (booka_price_bucket), spread over
-- a few shards so that concurrent writers rarely wait on one row. A total is the sum of at most 7 x 8 rows.
CREATE TABLE IF NOT EXISTS provider_list_counts (
    category_id integer NOT NULL,
    bucket smallint NOT NULL,
    shard smallint NOT NULL,
    n bigint NOT NULL,
    PRIMARY KEY (category_id, bucket, shard)
);

-- Sort indexes: one per sort, each ending in user_id DESC (ties break on id desc), over the whole set ...
CREATE INDEX IF NOT EXISTS service_provider_profiles_most_booked_idx ON service_provider_profiles
    (book_count DESC, user_id DESC);
CREATE INDEX IF NOT EXISTS service_provider_profiles_top_rated_idx ON service_provider_profiles
    (rating_avg DESC NULLS LAST, rating_count DESC, user_id DESC);
CREATE INDEX IF NOT EXISTS service_provider_profiles_newest_idx ON service_provider_profiles
    (created_at DESC, user_id DESC);
CREATE INDEX IF NOT EXISTS service_provider_profiles_price_low_idx ON service_provider_profiles
    (min_price ASC NULLS LAST, user_id DESC);
CREATE INDEX IF NOT EXISTS service_provider_profiles_price_high_idx ON service_provider_profiles
    (min_price DESC NULLS LAST, user_id DESC);

-- ... and within one category.
CREATE INDEX IF NOT EXISTS provider_categories_most_booked_idx ON provider_categories
    (category_id, book_count DESC, user_id DESC);
CREATE INDEX IF NOT EXISTS provider_categories_top_rated_idx ON provider_categories
    (category_id, rating_avg DESC NULLS LAST, rating_count DESC, user_id DESC);
CREATE INDEX IF NOT EXISTS provider_categories_newest_idx ON provider_categories
    (category_id, created_at DESC, user_id DESC);
CREATE INDEX IF NOT EXISTS provider_categories_price_low_idx ON provider_categories
    (category_id, min_price ASC NULLS LAST, user_id DESC);
CREATE INDEX IF NOT EXISTS provider_categories_price_high_idx ON provider_categories
    (category_id, min_price DESC NULLS LAST, user_id DESC);

-- Approved services by provider: membership upkeep, lowest prices and the min_price/max_price filter.
CREATE INDEX IF NOT EXISTS services_approved_artist_category_price_idx ON services
    (artist_id, service_category_id, price) WHERE status = 'approved';
-- Approved services by price, with their provider: the total of a price-filtered list is counted from the services
-- in the price range (grouped by provider) rather than by probing every provider.
CREATE INDEX IF NOT EXISTS services_approved_price_idx ON services (price) INCLUDE (artist_id)
    WHERE status = 'approved';
CREATE INDEX IF NOT EXISTS services_approved_category_price_idx ON services (service_category_id, price)
    INCLUDE (artist_id) WHERE status = 'approved';
-- Providers busy on a date (the `when` filter counted from the bookings side).
CREATE INDEX IF NOT EXISTS bookings_open_event_date_idx ON bookings (event_date, artist_id)
    WHERE status IN ('pending', 'confirmed');

-- The price bucket of a lowest price: 0..5 for [0,500) [500,1000) [1000,2000) [2000,5000) [5000,10000)
-- [10000,inf), 6 for none. Totals sum all buckets; price_distribution reports 0..5.
CREATE OR REPLACE FUNCTION booka_price_bucket(price numeric) RETURNS smallint
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
CREATE OR REPLACE FUNCTION booka_booking_counts(status text) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN status IN ('confirmed', 'completed') THEN 1 ELSE 0 END
$$;

-- The mean rating from its sum and count, as stored in rating_avg; null when there is no review.
CREATE OR REPLACE FUNCTION booka_rating_avg(rating_sum bigint, rating_count integer) RETURNS numeric(3, 2)
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN rating_count > 0 THEN round(rating_sum::numeric / rating_count, 2)::numeric(3, 2) END
$$;

-- The denormalised values as computed from scratch, one grouping per source table. A filter on user_id is pushed
-- into the grouping, so the triggers read them for a few providers through indexes and the rebuild reads them
-- whole with hash aggregates; schema/check.sql compares the maintained values against them.
CREATE OR REPLACE VIEW booka_expected_book_counts AS
    SELECT artist_id AS user_id, sum(booka_booking_counts(status))::integer AS book_count
    FROM bookings GROUP BY artist_id;

CREATE OR REPLACE VIEW booka_expected_ratings AS
    SELECT artist_id AS user_id, count(*)::integer AS rating_count, sum(rating)::bigint AS rating_sum
    FROM reviews GROUP BY artist_id;

CREATE OR REPLACE VIEW booka_expected_min_prices AS
    SELECT artist_id AS user_id, min(price) AS min_price
    FROM services WHERE status = 'approved' GROUP BY artist_id;

CREATE OR REPLACE VIEW booka_expected_memberships AS
    SELECT artist_id AS user_id, service_category_id AS category_id, min(price) AS min_price
    FROM services WHERE status = 'approved' AND service_category_id IS NOT NULL
    GROUP BY artist_id, service_category_id;

CREATE OR REPLACE VIEW booka_expected_list_counts AS
    SELECT 0 AS category_id, booka_price_bucket(min_price) AS bucket, count(*) AS n
    FROM service_provider_profiles GROUP BY 2
    UNION ALL
    SELECT category_id, booka_price_bucket(min_price), count(*)
    FROM provider_categories GROUP BY 1, 2;

-- The maintained counts with the shards summed: what the list endpoint reads.
CREATE OR REPLACE VIEW booka_list_counts AS
    SELECT category_id, bucket, sum(n)::bigint AS n
    FROM provider_list_counts GROUP BY category_id, bucket;

-- A timestamp as list payloads carry it: RFC 3339 in UTC with microseconds, e.g. 2025-06-01T08:30:00.000000Z.
-- Independent of the session's TimeZone and DateStyle.
CREATE OR REPLACE FUNCTION booka_rfc3339(t timestamptz) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
$$;
