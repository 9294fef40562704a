-- Removes everything schema/migrations/ added, and nothing else (run through schema/uninstall.sh): the indexes on
-- DATA-MODEL's tables named in 004 (concurrently: their writers go on), the triggers on DATA-MODEL's tables whose
-- function is in the schema booka (one statement, so one short lock, per trigger), the schema booka with all it holds,
-- and pg_trgm when 001 created it and nothing else uses it. DATA-MODEL's tables and their rows stay, also when 001
-- created them. Whatever part of the migration ran (none, up to a failed step, all): idempotent, a second run finds
-- nothing to remove.
-- migrate: autocommit

-- booka.settings is missing when the migration stopped at 001 (migrate.sh makes the schema booka before it)
SELECT to_regclass('booka.settings') IS NOT NULL AS has_settings \gset
\if :has_settings
SELECT coalesce((SELECT created_pg_trgm FROM booka.settings), false) AS drop_pg_trgm \gset
\else
\set drop_pg_trgm false
\endif

SELECT format('DROP INDEX CONCURRENTLY IF EXISTS %s', i.indexrelid::regclass)
FROM pg_index i
JOIN pg_class c ON c.oid = i.indexrelid
WHERE c.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = :'core')
  AND c.relname IN ('booka_services_approved_price_idx', 'booka_services_approved_category_price_idx',
                    'booka_bookings_open_event_date_idx') \gexec

SELECT format('DROP TRIGGER IF EXISTS %I ON %s', t.tgname, t.tgrelid::regclass)
FROM pg_trigger t
JOIN pg_proc f ON f.oid = t.tgfoid
JOIN pg_class r ON r.oid = t.tgrelid
WHERE f.pronamespace = (SELECT oid FROM pg_namespace WHERE nspname = 'booka')
  AND r.relnamespace <> f.pronamespace
ORDER BY r.relname, t.tgname \gexec

DROP SCHEMA IF EXISTS booka CASCADE;

\if :drop_pg_trgm
DO $$
BEGIN
    DROP EXTENSION IF EXISTS pg_trgm;
EXCEPTION WHEN dependent_objects_still_exist THEN
    RAISE WARNING 'uninstall: pg_trgm stays: objects made since the migration use it';
END
$$;
\endif
