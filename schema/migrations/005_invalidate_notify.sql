-- 005: cache invalidation. Any write to a table that list or avatar responses are built from sends
-- NOTIFY booka_invalidate with the table's name as payload, once per statement (PostgreSQL folds identical
-- notifications of one transaction into one, delivered at commit).
-- Idempotent: the function and triggers are created or replaced.

CREATE OR REPLACE FUNCTION booka_notify_invalidate() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('booka_invalidate', TG_TABLE_NAME);
    RETURN NULL;
END
$$;

CREATE OR REPLACE TRIGGER service_provider_profiles_invalidate
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON service_provider_profiles
    FOR EACH STATEMENT EXECUTE FUNCTION booka_notify_invalidate();
CREATE OR REPLACE TRIGGER services_invalidate AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON services
    FOR EACH STATEMENT EXECUTE FUNCTION booka_notify_invalidate();
CREATE OR REPLACE TRIGGER bookings_invalidate AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON bookings
    FOR EACH STATEMENT EXECUTE FUNCTION booka_notify_invalidate();
CREATE OR REPLACE TRIGGER reviews_invalidate AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON reviews
    FOR EACH STATEMENT EXECUTE FUNCTION booka_notify_invalidate();
CREATE OR REPLACE TRIGGER service_categories_invalidate AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON service_categories
    FOR EACH STATEMENT EXECUTE FUNCTION booka_notify_invalidate();
-- users: first_name/last_name appear in full list items.
CREATE OR REPLACE TRIGGER users_invalidate AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON users
    FOR EACH STATEMENT EXECUTE FUNCTION booka_notify_invalidate();
