-- 004: the indexes the list needs on DATA-MODEL's tables beyond the ones DATA-MODEL.md asks for, built with
-- CREATE INDEX CONCURRENTLY (their writers go on while it runs). Named booka_*: schema/uninstall.sh drops them by name.
-- Idempotent: an index left invalid by an interrupted build is dropped and built again; a valid one is kept.
-- migrate: autocommit

-- Without the lock_timeout of schema/lib.sh: CREATE and DROP INDEX CONCURRENTLY take a lock that no writer of the
-- table waits for (SHARE UPDATE EXCLUSIVE), then wait until every transaction that began before the build has ended.
-- That second wait is no lock queue, but lock_timeout cut it short all the same, left the index INVALID and had the
-- retry build it again: where some transaction is always older than the timeout (a report, a long batch), never.
SET lock_timeout = 0;

SELECT format('DROP INDEX CONCURRENTLY %s', i.indexrelid::regclass)
FROM pg_index i
JOIN pg_class c ON c.oid = i.indexrelid
WHERE NOT i.indisvalid AND c.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = :'core')
  AND c.relname IN ('booka_services_approved_price_idx', 'booka_services_approved_category_price_idx',
                    'booka_bookings_open_event_date_idx') \gexec

-- Approved services by price, with their provider: the total of a price-filtered list is counted from the services
-- in the price range (grouped by provider) rather than by probing every provider.
CREATE INDEX CONCURRENTLY IF NOT EXISTS booka_services_approved_price_idx ON :"core".services (price)
    INCLUDE (artist_id) WHERE status = 'approved';
CREATE INDEX CONCURRENTLY IF NOT EXISTS booka_services_approved_category_price_idx ON :"core".services
    (service_category_id, price) INCLUDE (artist_id) WHERE status = 'approved';
-- Providers busy on a date (the `when` filter counted from the bookings side).
CREATE INDEX CONCURRENTLY IF NOT EXISTS booka_bookings_open_event_date_idx ON :"core".bookings (event_date, artist_id)
    WHERE status IN ('pending', 'confirmed');
