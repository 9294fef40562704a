-- 010: invalidation that names what changed, so the edge (Cloudflare, Varnish) purges only what a write touched
-- (plugin/edge/README.md). The payload of NOTIFY booka_invalidate becomes "<generation> <tag> <tag> ...": the next value
-- of booka_cache_generation as before (servers read the number up to the first space), then the cache tags the write
-- makes stale, without the configured prefix:
--   list                every list response      (a category was added, renamed or removed; a bulk write; TRUNCATE)
--   list-all            lists without a category (any provider change: any provider may appear in them)
--   list-cat-<slug>     lists of one category    (a provider in it changed, or a service moved in or out of it)
--   avatar              every unversioned avatar (bulk write, TRUNCATE)
--   avatar-<id>         one provider's unversioned avatar URL (its picture changed, or the provider came or went)
-- "<generation> " with no tag: a write no response depends on (a new user who is not a provider yet).
-- One notification per statement as before, now only for the statement a client sent: statements that triggers run on
-- its behalf (a booking moving book_count, a provider delete cascading to services) are covered by the notification of
-- the statement that caused them.
-- Idempotent: functions are replaced, triggers created or replaced; the single all-events triggers of 005 are dropped
-- (transition tables need one trigger per event).

-- booka_edge_tag_text: a category slug as tag text: bytes a-z, 0-9, '_' and '.' kept, every other byte %XX (upper-case
-- hex), so no tag holds a separator or a byte a header cannot carry. plugin/edge/tags.c spells it the same way.
CREATE OR REPLACE FUNCTION booka_edge_tag_text(t text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT coalesce(string_agg(CASE WHEN b BETWEEN 97 AND 122 OR b BETWEEN 48 AND 57 OR b IN (95, 46) THEN chr(b)
                                    ELSE '%' || lpad(upper(to_hex(b)), 2, '0') END, '' ORDER BY i), '')
    FROM (SELECT i, get_byte(convert_to(t, 'UTF8'), i) AS b
          FROM generate_series(0, octet_length(convert_to(t, 'UTF8')) - 1) AS i) AS bytes
$$;

-- booka_invalidate_notify: NOTIFY with the next generation and the tags of the providers touched (list-all and their
-- categories' lists, plus the categories given, where a service was), of the pictures changed, and the families given.
-- More than 100 tags, or a payload near PostgreSQL's 8000-byte limit, collapse into the families that cover them.
CREATE OR REPLACE FUNCTION booka_invalidate_notify(providers bigint[], categories integer[], pictures bigint[], families text[])
RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    tags text[] := coalesce(families, '{}');
    text_of_tags text;
BEGIN
    IF cardinality(providers) > 0 THEN
        tags := tags || 'list-all'::text || ARRAY(
            SELECT 'list-cat-' || booka_edge_tag_text(c.slug)
            FROM service_categories c
            WHERE c.id IN (SELECT m.category_id FROM provider_categories m WHERE m.user_id = ANY (providers)
                           UNION SELECT unnest(categories))
            ORDER BY c.slug);
    END IF;
    IF cardinality(pictures) > 0 THEN
        tags := tags || ARRAY(SELECT 'avatar-' || p FROM unnest(pictures) AS p ORDER BY p);
    END IF;
    text_of_tags := array_to_string(ARRAY(SELECT DISTINCT t FROM unnest(tags) AS t ORDER BY t), ' ');
    IF cardinality(tags) > 100 OR octet_length(text_of_tags) > 7900 THEN
        text_of_tags := array_to_string(ARRAY(SELECT DISTINCT split_part(t, '-', 1) FROM unnest(tags) AS t ORDER BY 1), ' ');
    END IF;
    PERFORM pg_notify('booka_invalidate', nextval('booka_cache_generation')::text || ' ' || text_of_tags);
END
$$;

-- booka_on_write_invalidate: the statement trigger of every table lists or avatars are built from. Reads the rows the
-- statement wrote (transition tables old_rows / new_rows) for the providers, categories and pictures involved; a
-- statement of more than 1000 rows purges the families instead (a bulk load or fix-up touches most of everything).
CREATE OR REPLACE FUNCTION booka_on_write_invalidate() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    provider_column text := CASE TG_TABLE_NAME WHEN 'service_provider_profiles' THEN 'user_id' WHEN 'users' THEN 'id'
                                               ELSE 'artist_id' END;
    written text := CASE TG_OP WHEN 'INSERT' THEN 'SELECT * FROM new_rows' WHEN 'DELETE' THEN 'SELECT * FROM old_rows'
                               ELSE 'SELECT * FROM old_rows UNION ALL SELECT * FROM new_rows' END;
    is_profiles boolean := TG_TABLE_NAME = 'service_provider_profiles';
    is_bulk boolean;
    providers bigint[];
    categories integer[];
    pictures bigint[];
BEGIN
    IF pg_trigger_depth() > 1 THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'TRUNCATE' THEN
        PERFORM booka_invalidate_notify(NULL, NULL, NULL, '{list,avatar}');
        RETURN NULL;
    END IF;
    IF TG_TABLE_NAME = 'service_categories' THEN
        PERFORM booka_invalidate_notify(NULL, NULL, NULL, '{list}');
        RETURN NULL;
    END IF;
    EXECUTE format('SELECT count(*) > 1000 FROM (SELECT 1 FROM (%s) AS w LIMIT 1001) AS c', written) INTO is_bulk;
    IF is_bulk THEN
        PERFORM booka_invalidate_notify(NULL, NULL, NULL,
                                        CASE WHEN is_profiles OR TG_TABLE_NAME = 'users' THEN '{list,avatar}' ELSE '{list}' END::text[]);
        RETURN NULL;
    END IF;
    IF TG_TABLE_NAME = 'users' THEN
        IF TG_OP = 'DELETE' THEN -- a provider's user went, and its profile with it (cascade): its categories are gone too
            EXECUTE 'SELECT array_agg(id) FROM old_rows WHERE user_type = ''service_provider''' INTO pictures;
            PERFORM booka_invalidate_notify(NULL, NULL, pictures, CASE WHEN pictures IS NULL THEN '{}' ELSE '{list}' END::text[]);
            RETURN NULL;
        END IF;
        EXECUTE format('SELECT array_agg(DISTINCT w.id) FROM (%s) AS w '
                       'WHERE EXISTS (SELECT 1 FROM service_provider_profiles p WHERE p.user_id = w.id)', written) INTO providers;
        PERFORM booka_invalidate_notify(providers, NULL, NULL, NULL);
        RETURN NULL;
    END IF;
    IF is_profiles AND TG_OP = 'DELETE' THEN -- its memberships went with it (cascade): every list may have shown it
        EXECUTE 'SELECT array_agg(user_id) FROM old_rows' INTO pictures;
        PERFORM booka_invalidate_notify(NULL, NULL, pictures, '{list}');
        RETURN NULL;
    END IF;
    EXECUTE format('SELECT array_agg(DISTINCT %I) FROM (%s) AS w', provider_column, written) INTO providers;
    IF TG_TABLE_NAME = 'services' THEN -- the categories a service left or entered, besides the providers' current ones
        EXECUTE format('SELECT array_agg(DISTINCT service_category_id) FROM (%s) AS w', written) INTO categories;
    ELSIF is_profiles AND TG_OP = 'INSERT' THEN
        EXECUTE 'SELECT array_agg(user_id) FROM new_rows WHERE profile_picture_url IS NOT NULL' INTO pictures;
    ELSIF is_profiles THEN
        EXECUTE 'SELECT array_agg(n.user_id) FROM new_rows n LEFT JOIN old_rows o ON o.user_id = n.user_id '
                'WHERE o.profile_picture_version IS DISTINCT FROM n.profile_picture_version' INTO pictures;
    END IF;
    PERFORM booka_invalidate_notify(providers, categories, pictures, NULL);
    RETURN NULL;
END
$$;

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['service_provider_profiles', 'services', 'bookings', 'reviews', 'users'] LOOP
        EXECUTE format('DROP TRIGGER IF EXISTS %I ON %I', t || '_invalidate', t);
        EXECUTE format('CREATE OR REPLACE TRIGGER %I AFTER INSERT ON %I REFERENCING NEW TABLE AS new_rows '
                       'FOR EACH STATEMENT EXECUTE FUNCTION booka_on_write_invalidate()', t || '_invalidate_insert', t);
        EXECUTE format('CREATE OR REPLACE TRIGGER %I AFTER UPDATE ON %I REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows '
                       'FOR EACH STATEMENT EXECUTE FUNCTION booka_on_write_invalidate()', t || '_invalidate_update', t);
        EXECUTE format('CREATE OR REPLACE TRIGGER %I AFTER DELETE ON %I REFERENCING OLD TABLE AS old_rows '
                       'FOR EACH STATEMENT EXECUTE FUNCTION booka_on_write_invalidate()', t || '_invalidate_delete', t);
        EXECUTE format('CREATE OR REPLACE TRIGGER %I AFTER TRUNCATE ON %I '
                       'FOR EACH STATEMENT EXECUTE FUNCTION booka_on_write_invalidate()', t || '_invalidate_truncate', t);
    END LOOP;
END
$$;

CREATE OR REPLACE TRIGGER service_categories_invalidate AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON service_categories
    FOR EACH STATEMENT EXECUTE FUNCTION booka_on_write_invalidate();
