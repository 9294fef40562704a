-- 005: triggers on DATA-MODEL's tables that keep the list data of 003 exact on every write, and NOTIFY the caches.
--
--   bookings, reviews  --(deltas)-->  booka.providers book_count / rating_count / rating_sum
--   services           --(recount of the touched providers)-->  booka.providers.min_price, booka.provider_categories
--   service_provider_profiles  --(copies; a row per new provider; its row goes with it)-->  booka.providers
--   service_categories  --(a deleted category's rows)-->  booka.provider_categories, booka.provider_list_counts
--   any write to them and to users  -->  NOTIFY booka_invalidate, '<next cache generation> <cache tags made stale>'
--
-- A provider whose row is not built yet (a database being adopted: 006 builds them in batches while these triggers
-- already run) gets it built from scratch by the first write that touches it (booka.ensure_providers,
-- booka.add_provider_deltas), so that every write is counted exactly once whichever commits first; but only once
-- every trigger here is in place (booka.settings.triggers_ready, set by the last step): a row built while the
-- bookings trigger, say, is not there yet would miss the bookings written meanwhile.
-- Row sets are handled per statement through transition tables, so a bulk statement costs one pass.
--
-- The trigger functions are SECURITY DEFINER: the other application's role writes through them without any privilege
-- on the schema booka. Their search_path is pg_catalog, pg_temp, and every other name in them carries its schema (the
-- tables' as @core@, schema/lib.sh): a role that may create objects in the tables' schema (often public) cannot slip a
-- function or operator of its own into them and have it run with the rights of the functions' owner
-- (CVE-2018-1058). The same holds for the functions of 003 they call.
--
-- Each table's triggers are created in a transaction of their own (CREATE TRIGGER takes a lock that makes the
-- table's writers wait while it is held; schema/migrate.sh bounds the wait with lock_timeout and retries).
-- Idempotent: functions and triggers are created or replaced.

-- bookings: book_count moves by the number of counted bookings (confirmed, completed) gained or lost per provider,
-- including a booking that changes status or provider.
CREATE OR REPLACE FUNCTION booka.on_bookings_change() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    artists bigint[];
    books integer[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT array_agg(artist_id), array_agg(booka.booking_counts(status)) INTO artists, books FROM new_rows;
    ELSIF TG_OP = 'DELETE' THEN
        SELECT array_agg(artist_id), array_agg(-booka.booking_counts(status)) INTO artists, books FROM old_rows;
    ELSE
        SELECT array_agg(artist_id), array_agg(delta) INTO artists, books
        FROM (SELECT artist_id, -booka.booking_counts(status) AS delta FROM old_rows
              UNION ALL
              SELECT artist_id, booka.booking_counts(status) FROM new_rows) AS r;
    END IF;
    PERFORM booka.add_provider_deltas(artists, books, NULL, NULL);
    RETURN NULL;
END
$$;

-- reviews: rating_count and rating_sum move by what each provider gained or lost (rating_avg follows), including a
-- review that changes rating or provider.
CREATE OR REPLACE FUNCTION booka.on_reviews_change() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    artists bigint[];
    counts integer[];
    sums bigint[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT array_agg(artist_id), array_agg(1), array_agg(rating) INTO artists, counts, sums FROM new_rows;
    ELSIF TG_OP = 'DELETE' THEN
        SELECT array_agg(artist_id), array_agg(-1), array_agg(-rating) INTO artists, counts, sums FROM old_rows;
    ELSE
        SELECT array_agg(artist_id), array_agg(n), array_agg(rating) INTO artists, counts, sums
        FROM (SELECT artist_id, -1 AS n, -rating AS rating FROM old_rows
              UNION ALL
              SELECT artist_id, 1, rating FROM new_rows) AS r;
    END IF;
    PERFORM booka.add_provider_deltas(artists, NULL, counts, sums);
    RETURN NULL;
END
$$;

-- services: any statement that touches an approved service (before or after) resyncs the providers involved.
CREATE OR REPLACE FUNCTION booka.on_services_change() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    artists bigint[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT array_agg(DISTINCT artist_id ORDER BY artist_id) INTO artists FROM new_rows WHERE status = 'approved';
    ELSIF TG_OP = 'DELETE' THEN
        SELECT array_agg(DISTINCT artist_id ORDER BY artist_id) INTO artists FROM old_rows WHERE status = 'approved';
    ELSE
        SELECT array_agg(DISTINCT artist_id ORDER BY artist_id) INTO artists
        FROM (SELECT artist_id, status FROM old_rows UNION ALL SELECT artist_id, status FROM new_rows) AS r
        WHERE status = 'approved';
    END IF;
    IF artists IS NOT NULL THEN
        PERFORM booka.sync_services(artists);
    END IF;
    RETURN NULL;
END
$$;

-- service_provider_profiles, new rows: their booka.providers rows.
CREATE OR REPLACE FUNCTION booka.on_provider_insert() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM booka.ensure_providers(ARRAY(SELECT user_id FROM new_rows));
    RETURN NULL;
END
$$;

-- service_provider_profiles, updated rows: the copied columns (created_at, location, the picture's version) follow.
-- A row not built yet is built from scratch with its memberships, or, when a concurrent build of it commits first (it
-- could not see this change), gets the copies on top. A changed user_id is the old provider going and a new one coming.
CREATE OR REPLACE FUNCTION booka.on_provider_update() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    ready boolean := booka.triggers_ready();
    gone bigint[] := ARRAY(SELECT user_id FROM old_rows EXCEPT SELECT user_id FROM new_rows);
    changed bigint[] := ARRAY(SELECT n.user_id FROM new_rows n JOIN old_rows o ON o.user_id = n.user_id
                              WHERE (n.created_at, n.location, n.profile_picture_url)
                                    IS DISTINCT FROM (o.created_at, o.location, o.profile_picture_url)
                              ORDER BY 1);
    missing bigint;
    built bigint[] := '{}';
BEGIN
    -- statements only for rows that need them: an UPDATE of no rows still runs booka.providers' statement triggers
    IF cardinality(gone) > 0 THEN
        DELETE FROM booka.providers b WHERE b.user_id = ANY (gone);
    END IF;
    PERFORM booka.ensure_providers(ARRAY(SELECT user_id FROM new_rows EXCEPT SELECT user_id FROM old_rows));
    IF cardinality(changed) = 0 THEN
        RETURN NULL;
    END IF;
    FOR missing IN
        WITH updated AS (UPDATE booka.providers b
                         SET created_at = n.created_at, location = n.location,
                             picture_version = booka.picture_version(n.profile_picture_url)
                         FROM new_rows n WHERE n.user_id = ANY (changed) AND b.user_id = n.user_id
                         RETURNING b.user_id)
        SELECT c.user_id FROM unnest(changed) AS c (user_id) WHERE c.user_id NOT IN (SELECT user_id FROM updated)
        ORDER BY 1
    LOOP
        CONTINUE WHEN NOT ready; -- 006 builds it
        INSERT INTO booka.providers AS b (user_id, book_count, rating_count, rating_sum, min_price, created_at,
                                          location, picture_version)
        SELECT * FROM booka.compute_providers(ARRAY[missing])
        ON CONFLICT (user_id) DO UPDATE
            SET created_at = EXCLUDED.created_at, location = EXCLUDED.location, picture_version = EXCLUDED.picture_version;
        built := built || missing;
    END LOOP;
    IF cardinality(built) > 0 THEN
        PERFORM booka.add_memberships(built);
    END IF;
    RETURN NULL;
END
$$;

-- service_provider_profiles, deleted rows: their rows go (and their memberships with them).
CREATE OR REPLACE FUNCTION booka.on_provider_delete() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    DELETE FROM booka.providers b WHERE b.user_id IN (SELECT user_id FROM old_rows);
    RETURN NULL;
END
$$;

-- service_categories, deleted rows: their memberships (none are left when the services went first) and their counts.
CREATE OR REPLACE FUNCTION booka.on_category_delete() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    DELETE FROM booka.provider_categories m WHERE m.category_id IN (SELECT id FROM old_rows);
    DELETE FROM booka.provider_list_counts c WHERE c.category_id IN (SELECT id FROM old_rows);
    RETURN NULL;
END
$$;

-- TRUNCATE bypasses row and statement triggers: rebuild after it. Before every trigger is in place, the rows built so
-- far go instead (a rebuild now could miss a write to a table whose trigger is not there yet): 006 builds them all.
CREATE OR REPLACE FUNCTION booka.on_truncate() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF booka.triggers_ready() THEN
        PERFORM booka.rebuild_list_data();
    ELSE
        DELETE FROM booka.providers;
    END IF;
    RETURN NULL;
END
$$;

-- Cache invalidation that names what changed, so the edge (Cloudflare, Varnish) purges only what a write touched
-- (plugin/edge/README.md). The payload of NOTIFY booka_invalidate becomes "<generation> <tag> <tag> ...": the next value
-- of booka.cache_generation as before (servers read the number up to the first space), then the cache tags the write
-- makes stale, without the configured prefix:
--   list                every list response      (a category was added, renamed or removed; a bulk write; TRUNCATE)
--   list-all            lists without a category (any provider change: any provider may appear in them)
--   list-cat-<slug>     lists of one category    (a provider in it changed, or a service moved in or out of it)
--   avatar              every unversioned avatar (bulk write, TRUNCATE)
--   avatar-<id>         one provider's unversioned avatar URL (its picture changed, or the provider came or went)
-- "<generation> " with no tag: a write no response depends on (a new user who is not a provider yet).
-- One notification per statement that writes these tables, whoever runs it: a client, the other application's own
-- triggers (its trigger on a table of its own may update a profile), a foreign key's cascade. The project's own writes
-- send none: booka.mirror_counters copying the counters into the profiles (a database the project owns) marks its
-- statement with the setting booka.mirror, and the notification of the booking or review that moved them covers it.

-- booka.edge_tag_text: a category slug as tag text: bytes a-z, 0-9, '_' and '.' kept, every other byte %XX (upper-case
-- hex), so no tag holds a separator or a byte a header cannot carry. plugin/edge/tags.c spells it the same way.
CREATE OR REPLACE FUNCTION booka.edge_tag_text(t text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
    SELECT coalesce(string_agg(CASE WHEN b BETWEEN 97 AND 122 OR b BETWEEN 48 AND 57 OR b IN (95, 46) THEN chr(b)
                                    ELSE '%' || lpad(upper(to_hex(b)), 2, '0') END, '' ORDER BY i), '')
    FROM (SELECT i, get_byte(convert_to(t, 'UTF8'), i) AS b
          FROM generate_series(0, octet_length(convert_to(t, 'UTF8')) - 1) AS i) AS bytes
$$;

-- booka.invalidate_notify: NOTIFY with the next generation and the tags of the providers touched (list-all and their
-- categories' lists, plus the categories given, where a service was), of the pictures changed, and the families given.
-- More than 100 tags, or a payload near PostgreSQL's 8000-byte limit, collapse into the families that cover them.
CREATE OR REPLACE FUNCTION booka.invalidate_notify(providers bigint[], categories bigint[], pictures bigint[], families text[])
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    tags text[] := coalesce(families, '{}');
    text_of_tags text;
BEGIN
    IF cardinality(providers) > 0 THEN
        tags := tags || 'list-all'::text || ARRAY(
            SELECT DISTINCT 'list-cat-' || booka.edge_tag_text(booka.category_slug(c.name))
            FROM @core@.service_categories c
            WHERE c.id IN (SELECT m.category_id FROM booka.provider_categories m WHERE m.user_id = ANY (providers)
                           UNION SELECT unnest(categories)));
    END IF;
    IF cardinality(pictures) > 0 THEN
        tags := tags || ARRAY(SELECT 'avatar-' || p FROM unnest(pictures) AS p);
    END IF;
    text_of_tags := array_to_string(ARRAY(SELECT DISTINCT t FROM unnest(tags) AS t ORDER BY t), ' ');
    IF cardinality(tags) > 100 OR octet_length(text_of_tags) > 7900 THEN
        text_of_tags := array_to_string(ARRAY(SELECT DISTINCT split_part(t, '-', 1) FROM unnest(tags) AS t ORDER BY 1), ' ');
    END IF;
    PERFORM pg_notify('booka_invalidate', nextval('booka.cache_generation')::text || ' ' || text_of_tags);
END
$$;

-- booka.notify_invalidate: the statement trigger of every table lists or avatars are built from. Reads the rows the
-- statement wrote (transition tables old_rows / new_rows) for the providers, categories and pictures involved; a
-- statement of more than 1000 rows purges the families instead (a bulk load or fix-up touches most of everything).
CREATE OR REPLACE FUNCTION booka.notify_invalidate() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    provider_column text := CASE TG_TABLE_NAME WHEN 'service_provider_profiles' THEN 'user_id' WHEN 'users' THEN 'id'
                                               ELSE 'artist_id' END;
    written text := CASE TG_OP WHEN 'INSERT' THEN 'SELECT * FROM new_rows' WHEN 'DELETE' THEN 'SELECT * FROM old_rows'
                               ELSE 'SELECT * FROM old_rows UNION ALL SELECT * FROM new_rows' END;
    is_profiles boolean := TG_TABLE_NAME = 'service_provider_profiles';
    is_bulk boolean;
    providers bigint[];
    categories bigint[];
    pictures bigint[];
BEGIN
    IF current_setting('booka.mirror', true) = 'on' THEN -- the project's own write (above)
        RETURN NULL;
    END IF;
    IF TG_OP = 'TRUNCATE' THEN
        PERFORM booka.invalidate_notify(NULL, NULL, NULL, '{list,avatar}');
        RETURN NULL;
    END IF;
    IF TG_TABLE_NAME = 'service_categories' THEN
        PERFORM booka.invalidate_notify(NULL, NULL, NULL, '{list}');
        RETURN NULL;
    END IF;
    EXECUTE format('SELECT count(*) > 1000 FROM (SELECT 1 FROM (%s) AS w LIMIT 1001) AS c', written) INTO is_bulk;
    IF is_bulk THEN
        PERFORM booka.invalidate_notify(NULL, NULL, NULL,
                                        CASE WHEN is_profiles OR TG_TABLE_NAME = 'users' THEN '{list,avatar}' ELSE '{list}' END::text[]);
        RETURN NULL;
    END IF;
    IF TG_TABLE_NAME = 'users' THEN
        IF TG_OP = 'DELETE' THEN -- a provider's user went, and its profile with it (cascade): its categories are gone too
            EXECUTE 'SELECT array_agg(id) FROM old_rows WHERE user_type = ''service_provider''' INTO pictures;
            PERFORM booka.invalidate_notify(NULL, NULL, pictures, CASE WHEN pictures IS NULL THEN '{}' ELSE '{list}' END::text[]);
            RETURN NULL;
        END IF;
        EXECUTE format('SELECT array_agg(DISTINCT w.id) FROM (%s) AS w '
                       'WHERE EXISTS (SELECT 1 FROM %I.service_provider_profiles p WHERE p.user_id = w.id)',
                       written, TG_TABLE_SCHEMA) INTO providers;
        PERFORM booka.invalidate_notify(providers, NULL, NULL, NULL);
        RETURN NULL;
    END IF;
    IF is_profiles AND TG_OP = 'DELETE' THEN -- its memberships went with it (cascade): every list may have shown it
        EXECUTE 'SELECT array_agg(user_id) FROM old_rows' INTO pictures;
        PERFORM booka.invalidate_notify(NULL, NULL, pictures, '{list}');
        RETURN NULL;
    END IF;
    EXECUTE format('SELECT array_agg(DISTINCT %I) FROM (%s) AS w', provider_column, written) INTO providers;
    IF TG_TABLE_NAME = 'services' THEN -- the categories a service left or entered, besides the providers' current ones
        EXECUTE format('SELECT array_agg(DISTINCT service_category_id) FROM (%s) AS w', written) INTO categories;
    ELSIF is_profiles AND TG_OP = 'INSERT' THEN
        EXECUTE 'SELECT array_agg(user_id) FROM new_rows WHERE profile_picture_url IS NOT NULL' INTO pictures;
    ELSIF is_profiles THEN
        EXECUTE 'SELECT array_agg(n.user_id) FROM new_rows n LEFT JOIN old_rows o ON o.user_id = n.user_id '
                'WHERE o.profile_picture_url IS DISTINCT FROM n.profile_picture_url' INTO pictures;
    END IF;
    PERFORM booka.invalidate_notify(providers, categories, pictures, NULL);
    RETURN NULL;
END
$$;

-- Only on a database the project owns (booka.settings): DATA-MODEL's denormalised columns of the profiles belong to
-- the triggers. A write that is not the mirror's (booka.mirror_counters) keeps them as they were (zero on insert: a
-- new provider has no bookings or reviews yet), and updated_at moves on every update.
CREATE OR REPLACE FUNCTION booka.on_owned_provider_write() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF current_setting('booka.mirror', true) IS DISTINCT FROM 'on' THEN
        IF TG_OP = 'INSERT' THEN
            NEW.book_count := 0;
            NEW.rating_count := 0;
            NEW.rating_avg := NULL;
        ELSE
            NEW.book_count := OLD.book_count;
            NEW.rating_count := OLD.rating_count;
            NEW.rating_avg := OLD.rating_avg;
        END IF;
    END IF;
    IF TG_OP = 'UPDATE' THEN
        NEW.updated_at := greatest(clock_timestamp(), OLD.updated_at + interval '1 microsecond');
    END IF;
    RETURN NEW;
END
$$;

-- Only on a database the project owns: booka.providers' counters, once changed, are mirrored into the profiles.
CREATE OR REPLACE FUNCTION booka.on_owned_counters_change() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM booka.mirror_counters(ARRAY(SELECT user_id FROM new_rows));
    ELSE
        PERFORM booka.mirror_counters(ARRAY(SELECT n.user_id FROM new_rows n JOIN old_rows o ON o.user_id = n.user_id
                                            WHERE (n.book_count, n.rating_count, n.rating_sum)
                                                  IS DISTINCT FROM (o.book_count, o.rating_count, o.rating_sum)));
    END IF;
    RETURN NULL;
END
$$;

SELECT owns_core_tables AS owned FROM booka.settings \gset
\if :owned
CREATE OR REPLACE TRIGGER owned_counters_insert AFTER INSERT ON booka.providers
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION booka.on_owned_counters_change();
CREATE OR REPLACE TRIGGER owned_counters_update AFTER UPDATE ON booka.providers
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION booka.on_owned_counters_change();
\endif

-- migrate: commit
SELECT owns_core_tables AS owned FROM booka.settings \gset
\if :owned
CREATE OR REPLACE TRIGGER booka_owned_write BEFORE INSERT OR UPDATE ON :"core".service_provider_profiles
    FOR EACH ROW EXECUTE FUNCTION booka.on_owned_provider_write();
\endif
CREATE OR REPLACE TRIGGER booka_list_insert AFTER INSERT ON :"core".service_provider_profiles
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION booka.on_provider_insert();
CREATE OR REPLACE TRIGGER booka_list_update AFTER UPDATE ON :"core".service_provider_profiles
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION booka.on_provider_update();
CREATE OR REPLACE TRIGGER booka_list_delete AFTER DELETE ON :"core".service_provider_profiles
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION booka.on_provider_delete();
CREATE OR REPLACE TRIGGER booka_list_truncate AFTER TRUNCATE ON :"core".service_provider_profiles
    FOR EACH STATEMENT EXECUTE FUNCTION booka.on_truncate();
-- one trigger per event now: transition tables need it
DROP TRIGGER IF EXISTS booka_invalidate ON :"core".service_provider_profiles;
CREATE OR REPLACE TRIGGER booka_invalidate_insert AFTER INSERT ON :"core".service_provider_profiles
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION booka.notify_invalidate();
CREATE OR REPLACE TRIGGER booka_invalidate_update AFTER UPDATE ON :"core".service_provider_profiles
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION booka.notify_invalidate();
CREATE OR REPLACE TRIGGER booka_invalidate_delete AFTER DELETE ON :"core".service_provider_profiles
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION booka.notify_invalidate();
CREATE OR REPLACE TRIGGER booka_invalidate_truncate AFTER TRUNCATE ON :"core".service_provider_profiles
    FOR EACH STATEMENT EXECUTE FUNCTION booka.notify_invalidate();

-- migrate: commit
CREATE OR REPLACE TRIGGER booka_list_insert AFTER INSERT ON :"core".services
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION booka.on_services_change();
CREATE OR REPLACE TRIGGER booka_list_update AFTER UPDATE ON :"core".services
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION booka.on_services_change();
CREATE OR REPLACE TRIGGER booka_list_delete AFTER DELETE ON :"core".services
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION booka.on_services_change();
CREATE OR REPLACE TRIGGER booka_list_truncate AFTER TRUNCATE ON :"core".services
    FOR EACH STATEMENT EXECUTE FUNCTION booka.on_truncate();
DROP TRIGGER IF EXISTS booka_invalidate ON :"core".services; -- one trigger per event now: transition tables need it
CREATE OR REPLACE TRIGGER booka_invalidate_insert AFTER INSERT ON :"core".services
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION booka.notify_invalidate();
CREATE OR REPLACE TRIGGER booka_invalidate_update AFTER UPDATE ON :"core".services
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION booka.notify_invalidate();
CREATE OR REPLACE TRIGGER booka_invalidate_delete AFTER DELETE ON :"core".services
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION booka.notify_invalidate();
CREATE OR REPLACE TRIGGER booka_invalidate_truncate AFTER TRUNCATE ON :"core".services
    FOR EACH STATEMENT EXECUTE FUNCTION booka.notify_invalidate();

-- migrate: commit
CREATE OR REPLACE TRIGGER booka_list_insert AFTER INSERT ON :"core".bookings
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION booka.on_bookings_change();
CREATE OR REPLACE TRIGGER booka_list_update AFTER UPDATE ON :"core".bookings
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION booka.on_bookings_change();
CREATE OR REPLACE TRIGGER booka_list_delete AFTER DELETE ON :"core".bookings
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION booka.on_bookings_change();
CREATE OR REPLACE TRIGGER booka_list_truncate AFTER TRUNCATE ON :"core".bookings
    FOR EACH STATEMENT EXECUTE FUNCTION booka.on_truncate();
DROP TRIGGER IF EXISTS booka_invalidate ON :"core".bookings; -- one trigger per event now: transition tables need it
CREATE OR REPLACE TRIGGER booka_invalidate_insert AFTER INSERT ON :"core".bookings
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION booka.notify_invalidate();
CREATE OR REPLACE TRIGGER booka_invalidate_update AFTER UPDATE ON :"core".bookings
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION booka.notify_invalidate();
CREATE OR REPLACE TRIGGER booka_invalidate_delete AFTER DELETE ON :"core".bookings
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION booka.notify_invalidate();
CREATE OR REPLACE TRIGGER booka_invalidate_truncate AFTER TRUNCATE ON :"core".bookings
    FOR EACH STATEMENT EXECUTE FUNCTION booka.notify_invalidate();

-- migrate: commit
CREATE OR REPLACE TRIGGER booka_list_insert AFTER INSERT ON :"core".reviews
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION booka.on_reviews_change();
CREATE OR REPLACE TRIGGER booka_list_update AFTER UPDATE ON :"core".reviews
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION booka.on_reviews_change();
CREATE OR REPLACE TRIGGER booka_list_delete AFTER DELETE ON :"core".reviews
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION booka.on_reviews_change();
CREATE OR REPLACE TRIGGER booka_list_truncate AFTER TRUNCATE ON :"core".reviews
    FOR EACH STATEMENT EXECUTE FUNCTION booka.on_truncate();
DROP TRIGGER IF EXISTS booka_invalidate ON :"core".reviews; -- one trigger per event now: transition tables need it
CREATE OR REPLACE TRIGGER booka_invalidate_insert AFTER INSERT ON :"core".reviews
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION booka.notify_invalidate();
CREATE OR REPLACE TRIGGER booka_invalidate_update AFTER UPDATE ON :"core".reviews
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION booka.notify_invalidate();
CREATE OR REPLACE TRIGGER booka_invalidate_delete AFTER DELETE ON :"core".reviews
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION booka.notify_invalidate();
CREATE OR REPLACE TRIGGER booka_invalidate_truncate AFTER TRUNCATE ON :"core".reviews
    FOR EACH STATEMENT EXECUTE FUNCTION booka.notify_invalidate();

-- migrate: commit
CREATE OR REPLACE TRIGGER booka_list_delete AFTER DELETE ON :"core".service_categories
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION booka.on_category_delete();
CREATE OR REPLACE TRIGGER booka_invalidate AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON :"core".service_categories
    FOR EACH STATEMENT EXECUTE FUNCTION booka.notify_invalidate();

-- migrate: commit
-- users: first_name/last_name appear in full list items.
DROP TRIGGER IF EXISTS booka_invalidate ON :"core".users; -- one trigger per event now: transition tables need it
CREATE OR REPLACE TRIGGER booka_invalidate_insert AFTER INSERT ON :"core".users
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION booka.notify_invalidate();
CREATE OR REPLACE TRIGGER booka_invalidate_update AFTER UPDATE ON :"core".users
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION booka.notify_invalidate();
CREATE OR REPLACE TRIGGER booka_invalidate_delete AFTER DELETE ON :"core".users
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION booka.notify_invalidate();
CREATE OR REPLACE TRIGGER booka_invalidate_truncate AFTER TRUNCATE ON :"core".users
    FOR EACH STATEMENT EXECUTE FUNCTION booka.notify_invalidate();

-- Every trigger is in place: from now on the triggers build the rows of providers that have none (above).
UPDATE booka.settings SET triggers_ready = true WHERE NOT triggers_ready;
