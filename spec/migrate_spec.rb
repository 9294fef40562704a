# migrate_spec.rb: schema/migrate.sh and schema/uninstall.sh in the cases adopt_spec.rb's one adoption does not reach:
# a migrating role named booka (its "$user" schema is the project's own), writes of the other application between
# the trigger steps of 005, a role of that application planting an operator in the schema of DATA-MODEL's tables, a
# table that lacks a column the project reads, the other application's own triggers writing the profiles, an index
# build that has to wait for long transactions, and uninstalling after a migration that stopped at 001.
# Each database is the marketplace of spec/support/marketplace/ (another application's), a few dozen providers.
require_relative 'spec_helper'
require 'uri'

describe 'schema/migrate.sh and schema/uninstall.sh, edge cases' do
  db = Booka::Database
  marketplace_dir = File.join(Booka::ROOT, 'spec', 'support', 'marketplace')
  migrate = File.join(Booka::ROOT, 'schema', 'migrate.sh')
  uninstall = File.join(Booka::ROOT, 'schema', 'uninstall.sh')
  check = File.join(Booka::ROOT, 'schema', 'check.sql')
  app = 'booka_spec_migrate_app' # the other application's role: owns its database, no privilege on booka

  def run!(*cmd)
    out, status = Open3.capture2e(*cmd)
    raise "#{cmd.join(' ')} failed:\n#{out}" unless status.success?
    out
  end

  def as(url, role)
    u = URI(url)
    u.user = role
    u.to_s
  end

  # marketplace: database `name` as the other application made it (owned by its role), with `n` providers.
  define_method(:marketplace) do |name, n: 40|
    db.psql(<<~SQL)
      DO $$ BEGIN
        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '#{app}') THEN CREATE ROLE #{app} LOGIN; END IF;
      END $$;
      DROP DATABASE IF EXISTS #{name} WITH (FORCE);
      CREATE DATABASE #{name} OWNER #{app};
    SQL
    url = db.url_for(name)
    db.psql(File.read(File.join(marketplace_dir, 'schema.sql')), url: as(url, app))
    run!('psql', url, '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-v', "n=#{n}", '-f', File.join(marketplace_dir, 'data.sql'))
    url
  end

  # catalog: the schema as pg_dump writes it (less the random key of its \restrict lines).
  def catalog(url)
    out = run!('pg_dump', '--schema-only', url)
    out.lines.reject { |l| l.start_with?('\\restrict', '\\unrestrict') }.join
  end

  define_method(:checked) do |url|
    run!('psql', url, '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-f', check)
  end

  define_method(:app_role) { app }
  define_method(:migrate_path) { migrate }
  define_method(:uninstall_path) { uninstall }

  context 'as a role named booka (its "$user" schema is the project\'s schema booka)' do
    before(:all) do
      db.psql(<<~SQL)
        DO $$ BEGIN
          IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'booka') THEN CREATE ROLE booka LOGIN; END IF;
        END $$;
      SQL
    end

    it 'creates the tables of a new database in public, never in booka; migrates idempotently; uninstall keeps them' do
      db.psql("DROP DATABASE IF EXISTS booka_spec_migrate_role WITH (FORCE); CREATE DATABASE booka_spec_migrate_role OWNER booka;")
      url = as(db.url_for('booka_spec_migrate_role'), 'booka')
      expect(db.psql('SHOW search_path', url: url).strip).to eq '"$user", public'
      run!(migrate_path, url)
      expect(run!(migrate_path, url)).not_to match(/applying/)
      where = "SELECT relname || ':' || relnamespace::regnamespace FROM pg_class WHERE relkind = 'r' AND relname IN " \
              "('users', 'service_provider_profiles', 'service_categories', 'services', 'bookings', 'reviews') ORDER BY 1"
      tables = %w[bookings reviews service_categories service_provider_profiles services users].map { |t| "#{t}:public" }
      expect(db.psql(where, url: url).split).to eq tables
      db.insert_providers(url, { 7 => nil, 8 => '/static/profile_pics/8.jpg' }, location: 'Paarl')
      expect(checked(url)).to match(/check: ok \(2 providers/)
      run!(uninstall_path, url)
      expect(db.psql(where, url: url).split).to eq tables
      expect(db.psql('SELECT count(*) FROM service_provider_profiles', url: url).to_i).to eq 2
      expect(db.psql("SELECT to_regnamespace('booka') IS NULL", url: url).strip).to eq 't'
    end

    it 'adopts the tables where they are, idempotently, and uninstall leaves them and their rows as they were' do
      admin = marketplace('booka_spec_migrate_role_adopt')
      db.psql("GRANT #{app_role} TO booka; GRANT CREATE ON DATABASE booka_spec_migrate_role_adopt TO booka;", url: admin)
      before = catalog(admin)
      rows = db.psql('SELECT count(*), sum(book_count) FROM service_provider_profiles', url: admin)
      url = as(admin, 'booka')
      run!(migrate_path, url)
      expect(run!(migrate_path, url)).not_to match(/applying/)
      expect(db.psql("SELECT relnamespace::regnamespace FROM pg_class WHERE relname = 'service_provider_profiles'",
                     url: url).strip).to eq 'public'
      expect(checked(url)).to match(/check: ok \(40 providers/)
      run!(uninstall_path, url)
      expect(catalog(admin)).to eq before
      expect(db.psql('SELECT count(*), sum(book_count) FROM service_provider_profiles', url: admin)).to eq rows
    end

    it 'refuses a database whose DATA-MODEL tables are in the schema booka, and uninstall leaves them' do
      db.psql("DROP DATABASE IF EXISTS booka_spec_migrate_role_in_booka WITH (FORCE); " \
              'CREATE DATABASE booka_spec_migrate_role_in_booka OWNER booka;')
      url = as(db.url_for('booka_spec_migrate_role_in_booka'), 'booka')
      db.psql('CREATE SCHEMA booka; CREATE TABLE booka.service_provider_profiles (user_id bigint); ' \
              'INSERT INTO booka.service_provider_profiles VALUES (1);', url: url)
      out, status = Open3.capture2e(migrate_path, url)
      expect(status).not_to be_success
      expect(out).to match(/service_provider_profiles is in the schema booka/)
      out, status = Open3.capture2e(uninstall_path, url)
      expect(status).not_to be_success
      expect(out).to match(/service_provider_profiles is in the schema booka/)
      expect(db.psql('SELECT count(*) FROM booka.service_provider_profiles', url: url).to_i).to eq 1
    end
  end

  it 'counts a write made between the trigger steps of 005 (a provider built before the reviews trigger exists)' do
    url = marketplace('booka_spec_migrate_window')
    provider = db.psql("SELECT min(artist_id) FROM services WHERE status = 'approved'", url: url).to_i
    # the application holds the reviews table (a write in progress): 005 creates the triggers of the tables before it
    # and waits there
    holder = IO.popen(['psql', as(url, app_role), '-X', '-q', '-v', 'ON_ERROR_STOP=1'], 'r+')
    holder.puts 'BEGIN; LOCK TABLE reviews IN ROW EXCLUSIVE MODE; SELECT 1;'
    holder.flush
    holder.gets
    migration = Thread.new do
      Open3.capture2e({ 'BOOKA_MIGRATE_LOCK_TIMEOUT' => '200ms' }, migrate_path, url)
    end
    Booka.wait_for(timeout: 60) do
      db.psql("SELECT count(*) FROM pg_trigger WHERE tgrelid = 'bookings'::regclass AND tgname = 'booka_list_insert'",
              url: url).to_i == 1
    end
    # a service write: its trigger runs, the provider's row may be wanted now
    db.psql("UPDATE services SET price = price + 1 WHERE artist_id = #{provider} AND status = 'approved'", url: as(url, app_role))
    # the review in flight commits before the reviews trigger exists
    holder.puts "INSERT INTO reviews (artist_id, rating) VALUES (#{provider}, 5); COMMIT;"
    holder.close_write
    holder.read
    holder.close
    out, status = migration.value
    expect(status).to be_success, out
    expect(checked(url)).to match(/check: ok/)
    expect(db.psql("SELECT rating_count FROM booka.providers WHERE user_id = #{provider}", url: url).to_i)
      .to eq db.psql("SELECT count(*) FROM reviews WHERE artist_id = #{provider}", url: url).to_i
  end

  it 'builds the memberships of a provider whose row a booking, a review or a profile edit builds first (006 running)' do
    url = marketplace('booka_spec_migrate_first_touch')
    run!(migrate_path, url)
    # providers with approved services in categories whose rows 006 has not reached yet
    ids = db.psql("SELECT DISTINCT artist_id FROM services WHERE status = 'approved' AND service_category_id IS NOT NULL " \
                  'ORDER BY 1 LIMIT 3', url: url).split.map(&:to_i)
    db.psql("DELETE FROM booka.providers WHERE user_id IN (#{ids.join(', ')})", url: url)
    db.psql(<<~SQL, url: as(url, app_role))
      INSERT INTO bookings (client_id, artist_id, status, event_date)
      VALUES ((SELECT min(id) FROM users WHERE user_type = 'client'), #{ids[0]}, 'confirmed', '2025-09-01');
      INSERT INTO reviews (artist_id, rating) VALUES (#{ids[1]}, 3);
      UPDATE service_provider_profiles SET location = 'Paarl' WHERE user_id = #{ids[2]};
    SQL
    expect(db.psql("SELECT count(DISTINCT user_id) FROM booka.provider_categories WHERE user_id IN (#{ids.join(', ')})",
                   url: url).to_i).to eq 3
    expect(checked(url)).to match(/check: ok/)
  end

  it 'runs no operator or function that another role planted in the schema of the tables with the owner\'s rights' do
    url = marketplace('booka_spec_migrate_shadow')
    app_url = as(url, app_role)
    provider = db.psql("SELECT min(artist_id) FROM services WHERE status = 'approved'", url: url).to_i
    # the application's role owns public (the schema of DATA-MODEL's tables) and, there, shadows the equality of its
    # varchar columns with a function that notes who runs it, before the migration and after
    db.psql(<<~SQL, url: app_url)
      CREATE TABLE public.ran_as (who name);
      GRANT INSERT ON public.ran_as TO PUBLIC;
      CREATE FUNCTION public.noting_eq(a varchar, b varchar) RETURNS boolean LANGUAGE plpgsql AS $$
      BEGIN
          INSERT INTO public.ran_as VALUES (current_user);
          RETURN a::text = b::text;
      END
      $$;
      CREATE OPERATOR public.= (LEFTARG = varchar, RIGHTARG = varchar, FUNCTION = public.noting_eq);
    SQL
    run!(migrate_path, url)
    db.psql(<<~SQL, url: app_url)
      UPDATE services SET price = price + 1 WHERE artist_id = #{provider};
      INSERT INTO bookings (client_id, artist_id, status, event_date)
      VALUES ((SELECT min(id) FROM users WHERE user_type::text = 'client'), #{provider}, 'confirmed', '2025-09-01');
      INSERT INTO reviews (artist_id, rating) VALUES (#{provider}, 4);
      UPDATE service_provider_profiles SET location = 'Paarl' WHERE user_id = #{provider};
      INSERT INTO service_categories (name) VALUES ('Stilt Walker');
    SQL
    expect(db.psql('SELECT DISTINCT who FROM public.ran_as ORDER BY 1', url: url).split - [app_role]).to eq []
    # nothing the migration made (views, index predicates) is bound to the planted operator
    expect(db.psql(<<~SQL, url: url).split).to eq []
      SELECT DISTINCT pg_describe_object(d.classid, d.objid, d.objsubid) FROM pg_depend d
      WHERE d.refclassid = 'pg_operator'::regclass AND d.refobjid = 'public.=(varchar, varchar)'::regoperator
    SQL
    db.psql('DROP OPERATOR public.= (varchar, varchar); DROP FUNCTION public.noting_eq(varchar, varchar);', url: app_url)
    expect(checked(url)).to match(/check: ok/)
  end

  it 'refuses to adopt tables that lack a column the project reads (users.user_type), and uninstall undoes the attempt' do
    url = marketplace('booka_spec_migrate_no_user_type')
    db.psql('ALTER TABLE users DROP COLUMN user_type CASCADE;', url: as(url, app_role))
    before = catalog(url)
    out, status = Open3.capture2e(migrate_path, url)
    expect(status).not_to be_success
    expect(out).to match(/adopt: the existing tables lack columns of shared\/DATA-MODEL.md: users\.user_type\b/)
    run!(uninstall_path, url)
    expect(catalog(url)).to eq before
  end

  it 'uninstalls after a migration that stopped at 001 (only some of the tables exist)' do
    db.psql('DROP DATABASE IF EXISTS booka_spec_migrate_partial WITH (FORCE); CREATE DATABASE booka_spec_migrate_partial;')
    url = db.url_for('booka_spec_migrate_partial')
    db.psql('CREATE TABLE users (id bigint PRIMARY KEY, email text NOT NULL);', url: url)
    before = catalog(url)
    out, status = Open3.capture2e(migrate_path, url)
    expect(status).not_to be_success
    expect(out).to match(/only some of the DATA-MODEL.md tables exist/)
    expect(db.psql("SELECT to_regnamespace('booka') IS NOT NULL", url: url).strip).to eq 't' # migrate.sh made it
    run!(uninstall_path, url)
    expect(catalog(url)).to eq before
    expect(run!(uninstall_path, url)).to match(/removed/)
  end

  context 'notifications' do
    it 'invalidates when the other application\'s own trigger writes a profile' do
      url = marketplace('booka_spec_migrate_notify')
      run!(migrate_path, url)
      app_url = as(url, app_role)
      # a moderation queue of the application: an accepted edit is applied to the profile by its trigger
      db.psql(<<~SQL, url: app_url)
        CREATE TABLE profile_edits (user_id bigint NOT NULL, business_name varchar(200));
        CREATE FUNCTION app_apply_profile_edit() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            UPDATE service_provider_profiles SET business_name = NEW.business_name WHERE user_id = NEW.user_id;
            RETURN NULL;
        END
        $$;
        CREATE TRIGGER profile_edits_apply AFTER INSERT ON profile_edits FOR EACH ROW EXECUTE FUNCTION app_apply_profile_edit();
      SQL
      out = db.psql(<<~SQL, url: app_url)
        LISTEN booka_invalidate;
        INSERT INTO profile_edits VALUES (3, 'Edited Through The Queue');
      SQL
      expect(out).to match(/Asynchronous notification "booka_invalidate" with payload "\d+ list-all( list-cat-[a-z0-9_.%]+)*"/)
    end

    it 'sends one notification for a write whose counters the project mirrors into the profiles (its own writes send none)' do
      url = db.recreate('booka_spec_migrate_notify_owned')
      db.insert_providers(url, { 5 => nil, 6 => nil })
      out = db.psql(<<~SQL, url: url)
        LISTEN booka_invalidate;
        INSERT INTO bookings (artist_id, client_id, event_date, status) VALUES (5, 6, '2025-09-01', 'confirmed');
      SQL
      expect(out.scan(/Asynchronous notification "booka_invalidate"/).size).to eq 1
      expect(db.psql('SELECT book_count FROM service_provider_profiles WHERE user_id = 5', url: url).to_i).to eq 1
    end
  end

  context 'index builds (004, CREATE INDEX CONCURRENTLY)' do
    indexes = "SELECT c.relname || ':' || i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid " \
              "WHERE c.relname LIKE 'booka\\_%' ORDER BY 1"
    valid = %w[booka_bookings_open_event_date_idx booka_services_approved_category_price_idx
               booka_services_approved_price_idx].map { |n| "#{n}:true" }

    # snapshot_holder: a transaction of the application that holds a snapshot for `seconds` (a long report): an index
    # build waits for it to end.
    define_method(:snapshot_holder) do |url, seconds|
      holder = Thread.new do
        Open3.capture2e('psql', url, '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-c',
                        "BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT count(*) FROM services; SELECT pg_sleep(#{seconds}); COMMIT;")
      end
      Booka.wait_for(timeout: 10) do
        Booka::Database.psql("SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(#{seconds})%' " \
                             "AND wait_event = 'PgSleep'", url: url).to_i == 1
      end
      holder
    end

    it 'waits for long transactions instead of giving up on lock_timeout, and leaves every index valid' do
      url = marketplace('booka_spec_migrate_cic')
      run!(migrate_path, url)
      db.psql("DROP INDEX booka_services_approved_price_idx, booka_services_approved_category_price_idx, " \
              "booka_bookings_open_event_date_idx; DELETE FROM booka.schema_migrations WHERE name = '004_source_indexes.sql';",
              url: url)
      holder = snapshot_holder(as(url, app_role), 4)
      out, status = Open3.capture2e({ 'BOOKA_MIGRATE_LOCK_TIMEOUT' => '300ms', 'BOOKA_MIGRATE_ATTEMPTS' => '2' }, migrate_path, url)
      expect(status).to be_success, out
      expect(holder.value[1]).to be_success
      expect(db.psql(indexes, url: url).split).to eq valid
    end

    it 'drops and builds again an index that an interrupted build left invalid' do
      url = db.url_for('booka_spec_migrate_cic')
      db.psql('DROP INDEX booka_services_approved_price_idx', url: url)
      holder = snapshot_holder(as(url, app_role), 2)
      out, status = Open3.capture2e('psql', url, '-X', '-q', '-c', "SET lock_timeout = '100ms'", '-c',
                                    'CREATE INDEX CONCURRENTLY booka_services_approved_price_idx ON services (price) ' \
                                    "INCLUDE (artist_id) WHERE status = 'approved'")
      expect(status).not_to be_success
      expect(out).to match(/lock timeout/)
      holder.join
      expect(db.psql(indexes, url: url).split).to include 'booka_services_approved_price_idx:false'
      db.psql("DELETE FROM booka.schema_migrations WHERE name = '004_source_indexes.sql'", url: url)
      run!(migrate_path, url)
      expect(db.psql(indexes, url: url).split).to eq valid
    end
  end
end
