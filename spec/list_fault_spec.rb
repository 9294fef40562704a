# list_fault_spec.rb: the list endpoint when Postgres misbehaves: killed connections, idle_session_timeout, a statement
# past its deadline, a full wait queue, and Postgres stopped and started again (on a private cluster of its own).
require_relative 'spec_helper'
require 'uri'

module Booka
  # ListFaultData: five providers, enough for the endpoint to have something to list.
  module ListFaultData
    module_function

    def load(url, name: 'Provider')
      sql = +"INSERT INTO service_categories (id, name) VALUES (1, 'DJ');\n"
      (1..5).each do |i|
        sql << "INSERT INTO users (id, email, user_type) VALUES (#{i}, 'p#{i}@example.com', 'service_provider');\n"
        sql << "INSERT INTO service_provider_profiles (user_id, business_name) VALUES (#{i}, '#{name} #{i}');\n"
        sql << "INSERT INTO services (artist_id, service_category_id, title, price) VALUES (#{i}, 1, 'Set', #{i * 100});\n"
      end
      Booka::Database.psql(sql, url: url)
    end

    def backend_pids(url, dbname)
      Booka::Database.psql("SELECT pid FROM pg_stat_activity WHERE datname = '#{dbname}' AND application_name = 'booka-origin' " \
                           'ORDER BY pid', url: url).split.map(&:to_i)
    end

    def wait_for(timeout: 10, &condition)
      Booka.wait_for(timeout: timeout, &condition)
    end
  end


  # PgBouncer: a transaction-pooling pgBouncer in front of one database, with fewer server connections than clients.
  class PgBouncer
    BIN = ['/usr/sbin/pgbouncer', '/usr/bin/pgbouncer'].find { |f| File.executable?(f) }

    attr_reader :port


    def initialize(db_url, dbname)
      uri = URI(db_url)
      @port = Booka.free_port
      @dir = Dir.mktmpdir('booka-pgbouncer')
      File.write("#{@dir}/users.txt", %("#{uri.user}" ""\n))
      File.write("#{@dir}/pgbouncer.ini", <<~INI)
        [databases]
        #{dbname} = host=#{uri.host} port=#{uri.port} dbname=#{dbname} user=#{uri.user}
        [pgbouncer]
        listen_addr = 127.0.0.1
        listen_port = #{@port}
        unix_socket_dir =
        auth_type = trust
        auth_file = #{@dir}/users.txt
        pool_mode = transaction
        default_pool_size = 1
        max_client_conn = 100
        logfile = #{@dir}/pgbouncer.log
        pidfile = #{@dir}/pgbouncer.pid
      INI
      FileUtils.chown_R('postgres', nil, @dir) if Process.uid.zero?
      argv = [BIN, '-d', "#{@dir}/pgbouncer.ini"]
      argv = ['runuser', '-u', 'postgres', '--', *argv] if Process.uid.zero? # it refuses to run as root
      out, status = Open3.capture2e(*argv)
      raise "pgbouncer failed: #{out}" unless status.success?
      Booka::ListFaultData.wait_for { Booka.listening?(@port) }
    end

    def url(user, dbname)
      "postgresql://#{user}@127.0.0.1:#{@port}/#{dbname}"
    end

    def log
      File.exist?("#{@dir}/pgbouncer.log") ? File.read("#{@dir}/pgbouncer.log") : ''
    end

    def stop
      pid = File.read("#{@dir}/pgbouncer.pid").to_i
      Process.kill('TERM', pid)
      Booka::ListFaultData.wait_for { !File.exist?("#{@dir}/pgbouncer.pid") }
    rescue Errno::ENOENT, Errno::ESRCH
      nil
    ensure
      FileUtils.rm_rf(@dir)
    end
  end
end

describe 'GET /api/v1/service-provider-profiles/ when Postgres misbehaves' do
  data = Booka::ListFaultData
  def list_path
    '/api/v1/service-provider-profiles/?fields=id,business_name&limit=3'
  end

  # config: a server on `url`; `extra` holds more booka.postgres settings ("key: value" lines).
  def config(server, url, threads:, pool:, extra: '')
    postgres = ["url: #{url}", "pool-size: #{pool}", *extra.lines.map(&:strip)].map { |l| "  #{l}\n" }.join
    "listen: #{server.port}\nnum-threads: #{threads}\nbooka.postgres:\n#{postgres}" + <<~YAML
      hosts:
        default:
          paths:
            /api/v1/service-provider-profiles:
              # these specs are about the database pool: no origin cache in front of it (spec/cache_spec.rb covers that)
              booka.list: {cache-ttl: 0, cache-stale: 0, cache-jitter: 0}
            /readyz:
              booka.readiness: ON
    YAML
  end

  def expect_json_503(r)
    expect(r.status).to eq 503
    expect(r['content-type']).to eq 'application/json'
    expect(r['retry-after']).to match(/\A[1-9]\d*\z/)
    expect(r.json['detail']).to be_a(String)
  end

  context 'on the shared cluster' do
    before(:all) do
      @dbname = 'booka_spec_list_fault'
      @db = Booka::Database.recreate(@dbname)
      data.load(@db)
    end

    it 'answers 200 right after pg_terminate_backend of every server connection' do
      db = @db
      server = Booka::Server.new { |s| config(s, db, threads: 2, pool: 2) }.start
      expect(get(server.url(list_path)).status).to eq 200
      before = data.wait_for { (p = data.backend_pids(db, @dbname)).size == 4 && p }
      3.times do
        Booka::Database.psql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '#{@dbname}' " \
                             "AND application_name = 'booka-origin'", url: db)
        8.times { expect(get(server.url(list_path)).status).to eq 200 }
      end
      after = data.wait_for { (p = data.backend_pids(db, @dbname)).size == 4 && p }
      expect(after & before).to eq []
      expect(server.log).to include 'connection lost'
    end

    # A Prepare that fails (here: a column renamed away) aborts the rest of its pipeline, so the statements after it are
    # not prepared either; the connection must not believe they are, nor reuse a name the server still holds.
    it 'keeps answering 200 on the same connection after a statement failed to prepare' do
      db = @db
      server = Booka::Server.new { |s| config(s, db, threads: 1, pool: 1) }.start
      shapes = ['fields=id,business_name&limit=2&min_price=50', 'fields=id,business_name&limit=3&sort=newest', 'fields=id&limit=4']
      expect(get(server.url("#{list_path}&sort=top_rated")).status).to eq 200 # statements already prepared on it
      Booka::Database.psql('ALTER TABLE service_provider_profiles RENAME COLUMN business_name TO business_name_away', url: db)
      begin
        failed = get(server.url("/api/v1/service-provider-profiles/?#{shapes[0]}"))
        expect(failed.status).to eq 500
        # the reason phrase every endpoint gives a 500 (db/answer.h, http.c's booka_http_reason), not a bare "Error"
        expect(failed.status_line).to eq 'HTTP/1.1 500 Internal Server Error'
        expect(failed.json).to eq('detail' => 'Internal Server Error')
      ensure
        Booka::Database.psql('ALTER TABLE service_provider_profiles RENAME COLUMN business_name_away TO business_name', url: db)
      end
      2.times do
        shapes.each { |q| expect(get(server.url("/api/v1/service-provider-profiles/?#{q}")).status).to eq 200 }
        expect(get(server.url("#{list_path}&sort=top_rated")).status).to eq 200
      end
      expect(server.log).not_to include('42P05') # "prepared statement ... already exists"
    end

    it 'answers 200 after idle_session_timeout closed the idle connections' do
      db = @db
      Booka::Database.psql("ALTER DATABASE #{@dbname} SET idle_session_timeout = '300ms'")
      server = Booka::Server.new { |s| config(s, db, threads: 1, pool: 2) }.start
      expect(get(server.url(list_path)).status).to eq 200
      3.times do
        sleep 0.8 # every connection has been idle past the timeout and was closed by the server
        expect(get(server.url(list_path)).status).to eq 200
      end
    ensure
      Booka::Database.psql("ALTER DATABASE #{@dbname} RESET idle_session_timeout")
    end

    context 'while a session holds an ACCESS EXCLUSIVE lock on the providers' do
      def with_lock(url, &block)
        Booka::Database.with_exclusive_lock('service_provider_profiles', url: url, &block)
      end

      it 'answers 504 JSON at the deadline, cancels the statement, and keeps the connection' do
        db = @db
        server = Booka::Server.new { |s| config(s, db, threads: 1, pool: 1, extra: 'query-timeout: 400') }.start
        expect(get(server.url(list_path)).status).to eq 200
        pids = data.backend_pids(db, @dbname)
        expect(pids.size).to eq 1
        with_lock(db) do
          started = Time.now
          r = get(server.url('/api/v1/service-provider-profiles/?sort=most_booked'))
          expect(r.status).to eq 504
          expect(r['content-type']).to eq 'application/json'
          expect(r.json['detail']).to be_a(String)
          expect(Time.now - started).to be_between(0.35, 2.0)
          # the backend is not left waiting on the lock: the statement was cancelled
          waiting = data.wait_for do
            Booka::Database.psql("SELECT count(*) FROM pg_stat_activity WHERE datname = '#{@dbname}' AND " \
                                 "application_name = 'booka-origin' AND wait_event_type = 'Lock'", url: db).strip == '0'
          end
          expect(waiting).to be true
        end
        expect(get(server.url(list_path)).status).to eq 200
        expect(data.backend_pids(db, @dbname)).to eq pids
      end

      it 'answers 503 with Retry-After at once when the wait queue is full' do
        db = @db
        server = Booka::Server.new do |s|
          config(s, db, threads: 1, pool: 1, extra: "query-timeout: 5000\nqueue-limit: 0")
        end.start
        expect(get(server.url(list_path)).status).to eq 200
        first = nil
        with_lock(db) do
          first = Thread.new { get(server.url('/api/v1/service-provider-profiles/?sort=top_rated')) }
          data.wait_for do
            Booka::Database.psql("SELECT count(*) FROM pg_stat_activity WHERE datname = '#{@dbname}' AND " \
                                 "application_name = 'booka-origin' AND wait_event_type = 'Lock'", url: db).strip == '1'
          end
          started = Time.now
          r = get(server.url('/api/v1/service-provider-profiles/?sort=newest'))
          expect_json_503(r)
          expect(Time.now - started).to be < 1.0
        end
        expect(first.value.status).to eq 200
      end
    end
  end

  context 'behind pgBouncer in transaction pooling mode' do
    before(:all) do
      @dbname = 'booka_spec_list_bouncer'
      @db = Booka::Database.recreate(@dbname)
      data.load(@db)
      @bouncer = Booka::PgBouncer.new(@db, @dbname)
    end

    after(:all) { @bouncer&.stop }

    it 'works with pgbouncer: ON (no named prepared statements, no startup options) over one shared server connection' do
      url = @bouncer.url(URI(@db).user, @dbname)
      server = Booka::Server.new { |s| config(s, url, threads: 2, pool: 3, extra: 'pgbouncer: ON') }.start
      threads = (1..6).map do |t|
        Thread.new { (1..10).map { |i| get(server.url("/api/v1/service-provider-profiles/?limit=#{1 + (t + i) % 5}&sort=newest")).status } }
      end
      expect(threads.flat_map(&:value).uniq).to eq [200]
      expect(get(server.url('/readyz')).status).to eq 200
      expect(server.log).not_to include 'query failed'
    end

    # cache invalidation LISTENs; a transaction pool cannot hold that (the server connection that ran LISTEN goes back
    # to the pool, and the notifications with it, while the client side looks healthy)
    def cached_config(server, url, extra = '')
      "listen: #{server.port}\nbooka.redis: OFF\nbooka.postgres:\n  url: #{url}\n  pgbouncer: ON\n#{extra}" + <<~YAML
        hosts:
          default:
            paths:
              /api/v1/service-provider-profiles:
                booka.list: {cache-ttl: 300, cache-jitter: 0}
              /readyz:
                booka.readiness: ON
      YAML
    end

    it 'opens no LISTEN through transaction pooling without listen-url, and says so in /readyz and the log' do
      server = Booka::Server.new { |s| cached_config(s, @bouncer.url(URI(@db).user, @dbname)) }.start
      sleep 1 # a LISTEN connection, were there one, is up by now
      ready = get(server.url('/readyz'))
      expect(ready.status).to eq 200
      expect(ready.json).to include('postgres' => 'up', 'invalidation' => 'down')
      expect(server.log).to include('pgbouncer: ON and no listen-url')
    end

    it 'invalidates through listen-url on Postgres itself while the queries go through pgBouncer' do
      server = Booka::Server.new { |s| cached_config(s, @bouncer.url(URI(@db).user, @dbname), "  listen-url: #{@db}\n") }.start
      expect(data.wait_for { get(server.url('/readyz')).json['invalidation'] == 'up' }).to be true
      path = '/api/v1/service-provider-profiles/?sort=newest&limit=1&fields=id,business_name'
      first = get(server.url(path)).json['data'][0]
      expect(get(server.url(path))['x-cache']).to eq 'HIT'
      Booka::Database.psql("UPDATE service_provider_profiles SET business_name = 'Renamed' WHERE user_id = #{first['id']}", url: @db)
      expect(data.wait_for { get(server.url(path)).json['data'][0]['business_name'] == 'Renamed' }).to be true
      expect(server.log).not_to include('no listen-url')
    ensure
      Booka::Database.psql("UPDATE service_provider_profiles SET business_name = '#{first['business_name']}' " \
                           "WHERE user_id = #{first['id']}", url: @db) if first
    end
  end

  context 'when Postgres is stopped and started again' do
    before(:all) do
      @pg = Booka::PrivatePostgres.new
      @pg.start
      data.load(@pg.create_booka)
    end

    after(:all) { @pg&.destroy }

    it 'answers 503 JSON with Retry-After quickly (never a hang) while it is down, and 200 once it is back' do
      url = @pg.url('booka')
      server = Booka::Server.new do |s|
        config(s, url, threads: 2, pool: 2, extra: "query-timeout: 3000\nmax-reconnect-delay: 400")
      end.start
      expect(get(server.url(list_path)).status).to eq 200
      expect(get(server.url('/readyz')).status).to eq 200

      @pg.stop
      deadline = Time.now + 2
      while Time.now < deadline
        started = Time.now
        r = get(server.url(list_path), timeout: 5)
        expect_json_503(r)
        expect(Time.now - started).to be < 1.0
      end
      r = get(server.url('/readyz'))
      expect(r.status).to eq 503
      expect(r.json['postgres']).to eq 'down'

      @pg.start
      r = data.wait_for(timeout: 10) { (r = get(server.url(list_path))).status == 200 && r }
      expect(r.json['data'].size).to eq 3
      expect(data.wait_for { get(server.url('/readyz')).status == 200 }).to be true
    end
  end
end
