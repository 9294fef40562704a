# database.rb: per-spec databases on the test cluster (scripts/stack.sh), created from schema/ and filled by the spec.
module Booka
  module Database
    module_function

    def admin_url
      ENV.fetch('BOOKA_PG_ADMIN_URL') { raise 'BOOKA_PG_ADMIN_URL is not set: run specs through `make test`' }
    end

    def url_for(name)
      admin_url.sub(%r{/[^/]*\z}, "/#{name}")
    end

    # psql: runs SQL (as one script, stopping at the first error) and returns psql's unaligned, tuples-only output.
    def psql(sql, url: admin_url)
      out, err, status = Open3.capture3('psql', url, '-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', stdin_data: sql)
      raise "psql failed: #{err}\n#{sql[0, 2000]}" unless status.success?
      out
    end

    # lock_table: a psql session holding ACCESS EXCLUSIVE on `table` (by default the two tables every list and avatar query
    # reads: the profiles and their derived rows) until unlock(session): queries on them wait meanwhile.
    def lock_table(url, table = 'service_provider_profiles, booka.providers')
      session = IO.popen(['psql', url, '-X', '-q', '-v', 'ON_ERROR_STOP=1'], 'r+')
      session.puts "BEGIN; LOCK TABLE #{table} IN ACCESS EXCLUSIVE MODE; SELECT 1;"
      session.flush
      session.gets # "1": the lock is held
      session
    end

    def unlock(session)
      session.puts 'COMMIT;'
      session.close_write
      session.read
      session.close
    end

    # with_exclusive_lock: lock_table around the block.
    def with_exclusive_lock(table, url:)
      session = lock_table(url, table)
      yield
    ensure
      unlock(session) if session
    end

    # insert_providers: one service-provider user and profile per entry of `pictures` ({id => profile_picture_url or
    # nil}), named "Provider <id>", with `location` when given, in one transaction.
    def insert_providers(url, pictures, location: nil)
      quote = ->(v) { v.nil? ? 'NULL' : "'#{v.gsub("'", "''")}'" }
      sql = +"BEGIN;\n"
      pictures.each do |id, picture|
        sql << "INSERT INTO users (id, email, user_type) VALUES (#{id}, 'p#{id}@example.com', 'service_provider');\n"
        sql << 'INSERT INTO service_provider_profiles (user_id, business_name, location, profile_picture_url) ' \
               "VALUES (#{id}, 'Provider #{id}', #{quote.(location)}, #{quote.(picture)});\n"
      end
      psql(sql + "COMMIT;\n", url: url)
    end

    # recreate: drops and creates database `name`, applies every migration, and returns its URL.
    def recreate(name)
      psql("DROP DATABASE IF EXISTS #{name} WITH (FORCE);")
      psql("CREATE DATABASE #{name};")
      url = url_for(name)
      migrate = File.join(ROOT, 'schema', 'migrate.sh')
      if File.exist?(migrate)
        out, status = Open3.capture2e(migrate, url)
        raise "schema/migrate.sh failed:\n#{out}" unless status.success?
      end
      url
    end
  end
end
