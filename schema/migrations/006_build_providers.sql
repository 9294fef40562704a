-- 006: the rows of booka.providers and booka.provider_categories for the providers that have none: every provider of
-- a database being adopted, built from scratch in batches of 2000 that commit one by one while the other application
-- writes (the triggers of 005 are in place first, so a write during the build is counted exactly once); nothing on a
-- new database. Then fresh planner statistics for the new rows.
-- Idempotent: providers already built are skipped.
-- migrate: autocommit

CALL booka.build_missing_providers(2000);
ANALYZE booka.providers, booka.provider_categories, booka.provider_list_counts;
