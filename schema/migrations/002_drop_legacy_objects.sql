-- 002: a database set up by the migrations of before the booka schema (they recorded themselves in a table
-- schema_migrations (name, sha256) beside DATA-MODEL's tables, and 001 then marked the tables as the project's own)
-- loses what those migrations added beside the tables: its list data, triggers, functions, views, indexes and columns
-- now live in the schema booka (003-006). Nothing else is touched: another application's table named
-- schema_migrations (Rails has one) has no sha256 column and no such rows, and then this migration does nothing.
-- Idempotent: every drop is IF EXISTS, and the old record goes last.

SELECT EXISTS (SELECT 1 FROM pg_attribute a
               WHERE a.attrelid = to_regclass(format('%I.schema_migrations', :'core')) AND a.attname = 'sha256'
                 AND NOT a.attisdropped)
       AND (SELECT owns_core_tables FROM booka.settings) AS legacy \gset
\if :legacy
    SELECT EXISTS (SELECT 1 FROM :"core".schema_migrations WHERE name = '001_core_tables.sql') AS legacy \gset
\endif

\if :legacy
-- Functions first: CASCADE takes the triggers that call them.
DROP FUNCTION IF EXISTS :"core".booka_on_services_change(), :"core".booka_on_bookings_change(),
    :"core".booka_on_reviews_change(), :"core".booka_on_provider_write(), :"core".booka_on_provider_list_keys_change(),
    :"core".booka_on_provider_count_change(), :"core".booka_on_membership_count_change(),
    :"core".booka_on_category_delete(), :"core".booka_on_truncate(), :"core".booka_notify_invalidate(),
    :"core".booka_rebuild_list_data(), :"core".booka_sync_provider_services(bigint[]),
    :"core".booka_add_list_counts(integer[], smallint[], bigint[]), :"core".booka_price_bucket(numeric),
    :"core".booka_booking_counts(text), :"core".booka_rating_avg(bigint, integer), :"core".booka_rfc3339(timestamptz)
    CASCADE;
DROP VIEW IF EXISTS :"core".booka_list_counts, :"core".booka_expected_list_counts, :"core".booka_expected_memberships,
    :"core".booka_expected_min_prices, :"core".booka_expected_ratings, :"core".booka_expected_book_counts;
DROP TABLE IF EXISTS :"core".provider_categories, :"core".provider_list_counts, :"core".booka_cache_epoch;
DROP SEQUENCE IF EXISTS :"core".booka_cache_generation;
DROP INDEX IF EXISTS :"core".service_provider_profiles_most_booked_idx, :"core".service_provider_profiles_top_rated_idx,
    :"core".service_provider_profiles_price_low_idx, :"core".service_provider_profiles_price_high_idx,
    :"core".services_approved_artist_category_price_idx, :"core".services_approved_price_idx,
    :"core".services_approved_category_price_idx, :"core".bookings_open_event_date_idx;
-- the old `newest` sort index doubled as the created_at index DATA-MODEL asks for: it stays, under 001's name
ALTER INDEX IF EXISTS :"core".service_provider_profiles_newest_idx RENAME TO service_provider_profiles_created_at_idx;
ALTER TABLE :"core".service_provider_profiles DROP COLUMN IF EXISTS rating_sum, DROP COLUMN IF EXISTS min_price,
    DROP COLUMN IF EXISTS profile_picture_version;
DROP TABLE :"core".schema_migrations;
\endif
