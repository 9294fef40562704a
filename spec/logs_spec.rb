# logs_spec.rb: the access log (H2O's access-log directive, with the format h2o.conf ships) shows each request's id, its
# X-Cache and where its time went upstream; the error log has one line per event, naming the request it concerns, for a
# query past its deadline, a backend killed mid-query, a failing statement, Postgres unreachable and an avatar upstream
# that cannot be reached.
require_relative 'spec_helper'
require 'base64'
require 'digest'
require 'yaml'

module Booka
  # LogsData: a few providers, two with avatars (a small PNG as a data: URL, and an upstream nobody listens on).
  module LogsData
    module_function

    def load(url, unreachable_picture)
      # a colour of its own per run: variants are keyed by the picture, and Redis keeps them across runs
      colour = Array.new(3) { rand(256) }
      pictures = { 1 => "data:image/png;base64,#{Base64.strict_encode64(Booka.png(64, 48, colour))}", 2 => unreachable_picture }
      Booka::Database.insert_providers(url, (1..5).to_h { |i| [i, pictures[i]] })
    end

    # the access-log format the repository ships (h2o.conf), so the spec proves that format
    def shipped_format(file = 'h2o.conf')
      YAML.safe_load(File.read(File.join(Booka::ROOT, file))).fetch('access-log').fetch('format')
    end
  end
end

describe 'the access log and the error log' do
  data = Booka::LogsData
  list = '/api/v1/service-provider-profiles/'

  before(:all) do
    @dbname = 'booka_spec_logs'
    @db = Booka::Database.recreate(@dbname)
    @closed_port = Booka.free_port
    data.load(@db, "http://127.0.0.1:#{@closed_port}/a.jpg")
    @server = Booka::Server.new do |s|
      <<~YAML
        listen: #{s.port}
        num-threads: 1
        booka.postgres: {url: "#{@db}", pool-size: 2, query-timeout: 1000, max-reconnect-delay: 300}
        booka.redis: {url: "#{ENV.fetch('REDIS_URL')}", command-timeout: 200}
        access-log:
          path: #{s.dir}/access.log
          format: '#{data.shipped_format}'
        hosts:
          default:
            paths:
              #{list}:
                booka.list: ON
              /api/v1/img/avatar:
                booka.avatar: {fetch-allow: 127.0.0.0/8, fetch-ports: [#{@closed_port}]}
              /readyz:
                booka.readiness: ON
      YAML
    end.start(scope: :all)
    Booka.wait_for { get(@server.url('/readyz')).json.values_at('postgres', 'invalidation') == %w[up up] }
  end

  # access_line: the access-log line of the request with `id` (the shipped format puts it second), as key=value fields
  def access_line(id)
    path = File.join(@server.dir, 'access.log')
    line = Booka.wait_for { File.exist?(path) && File.readlines(path).find { |l| l.split(' ')[1] == id } }
    line.scan(/(\S+)=(\S+)/).to_h.merge('line' => line)
  end

  # error_lines: the error-log lines naming request `id`
  def error_lines(id)
    @server.log.lines.select { |l| l.include?("request-id=#{id} ") }
  end

  # a method, not a constant: a constant assigned in a describe block is global
  def seconds
    /\A\d+\.\d{6}\z/
  end

  def backends_waiting_on_lock
    Booka::Database.psql("SELECT pid FROM pg_stat_activity WHERE datname = '#{@dbname}' AND application_name = 'booka-origin' " \
                         "AND wait_event_type = 'Lock'", url: @db).split.map(&:to_i)
  end

  it 'ships one access-log format in h2o.conf and container/h2o.conf, the one docs/OPERATIONS.md shows' do
    expect(data.shipped_format('container/h2o.conf')).to eq data.shipped_format
    expect(File.read(File.join(Booka::ROOT, 'docs', 'OPERATIONS.md'))).to include("```\n#{data.shipped_format}\n```\n")
    expect(data.shipped_format).to include('%{booka-client-ip}e', '%{x-request-id}i', '%{x-cache}o', '%{booka-db-time}e', '%{booka-redis-time}e',
                                           '%{booka-avatar-render-time}e', '%{booka-avatar-queue-time}e')
  end

  it 'shows the request id, X-Cache and the upstream times: DB time on a list MISS, none on a HIT, render time on an avatar MISS' do
    query = "#{list}?fields=id,business_name&limit=2&sort=newest"
    miss = get(@server.url(query), headers: { 'X-Request-Id' => 'logs-list-miss' })
    expect([miss.status, miss['x-cache'], miss['x-request-id']]).to eq [200, 'MISS', 'logs-list-miss']
    hit = get(@server.url(query), headers: { 'X-Request-Id' => 'logs-list-hit' })
    expect([hit.status, hit['x-cache']]).to eq [200, 'HIT']
    avatar_miss = get(@server.url('/api/v1/img/avatar/1?w=32'), headers: { 'X-Request-Id' => 'logs-avatar-miss' })
    expect([avatar_miss.status, avatar_miss['x-cache']]).to eq [200, 'MISS']
    avatar_hit = get(@server.url('/api/v1/img/avatar/1?w=32'), headers: { 'X-Request-Id' => 'logs-avatar-hit' })
    expect([avatar_hit.status, avatar_hit['x-cache']]).to eq [200, 'HIT']
    anonymous = get(@server.url("#{list}?fields=id&limit=1"))
    expect(anonymous['x-request-id']).to match(/\A[0-9a-f]{32}\z/)

    l = access_line('logs-list-miss')
    expect(l['line']).to include('"GET /api/v1/service-provider-profiles/?fields=id,business_name&limit=2&sort=newest HTTP/1.1" 200')
    expect(l['cache']).to eq 'MISS'
    expect(l['db']).to match(seconds)
    expect(l['db'].to_f).to be > 0
    expect(l['redis']).to match(seconds) # GET, the fill lock, the double-check GET
    expect(l.values_at('fetch', 'avatar-queue', 'avatar-render')).to eq %w[- - -]

    l = access_line('logs-list-hit')
    expect(l['cache']).to eq 'HIT'
    expect(l.values_at('db', 'redis', 'avatar-render')).to eq %w[- - -] # an in-process hit waits for nothing

    l = access_line('logs-avatar-miss')
    expect(l['cache']).to eq 'MISS'
    expect(l['db']).to match(seconds) # the picture's version lookup
    expect(l['avatar-render']).to match(seconds)
    expect(l['avatar-render'].to_f).to be > 0
    expect(l['avatar-queue']).to match(seconds)

    l = access_line('logs-avatar-hit')
    expect(l['cache']).to eq 'HIT'
    expect(l['db']).to match(seconds) # every avatar request looks the version up
    expect(l.values_at('avatar-render', 'avatar-queue')).to eq %w[- -]

    expect(access_line(anonymous['x-request-id'])['cache']).to eq 'MISS'
  end

  it 'logs a query past its deadline as one line with the request id, and the DB time in the access log' do
    locker = Booka::Database.lock_table(@db)
    begin
      r = get(@server.url("#{list}?fields=id&limit=3&sort=most_booked"))
      expect(r.status).to eq 504
    ensure
      Booka::Database.unlock(locker)
    end
    id = r['x-request-id']
    expect(id).to match(/\A[0-9a-f]{32}\z/)
    expect(error_lines(id)).to eq ["[booka] [list] request-id=#{id} answering 504: the database did not answer within query-timeout\n"]
    expect(access_line(id)['db'].to_f).to be_between(0.9, 5.0) # query-timeout is 1 s
  end

  it "logs a backend killed mid-query with libpq's multi-line message flattened, naming the request" do
    locker = Booka::Database.lock_table(@db)
    begin
      request = Thread.new { get(@server.url("#{list}?fields=id&limit=4&sort=top_rated"), headers: { 'X-Request-Id' => 'logs-killed' }) }
      pids = Booka.wait_for { (p = backends_waiting_on_lock).empty? ? nil : p }
      Booka::Database.psql("SELECT pg_terminate_backend(#{pids.first})", url: @db)
      r = request.value # retried on a new connection (read-only, no result yet), which waits on the lock until the deadline
      expect(r.status).to eq 504
    ensure
      Booka::Database.unlock(locker)
    end
    lines = error_lines('logs-killed')
    lost = lines.find { |l| l.include?('connection lost while running a query') }
    expect(lost).to start_with('[booka] [db] request-id=logs-killed primary: connection lost while running a query: ')
    # libpq's message is "server closed the connection unexpectedly\n\tThis probably means ...\n"
    expect(lost).to include('server closed the connection unexpectedly This probably means the server terminated abnormally')
    expect(lost.count("\n")).to eq 1
    expect(lines.last).to include('answering 504')
  end

  it "logs a failing statement's SQLSTATE and Postgres's message on one line with the request id" do
    Booka::Database.psql('ALTER TABLE service_provider_profiles RENAME COLUMN business_name TO business_name_gone', url: @db)
    begin
      r = get(@server.url("#{list}?fields=id,business_name&limit=5"), headers: { 'X-Request-Id' => 'logs-sql-error' })
      expect(r.status).to eq 500
    ensure
      Booka::Database.psql('ALTER TABLE service_provider_profiles RENAME COLUMN business_name_gone TO business_name', url: @db)
    end
    lines = error_lines('logs-sql-error')
    expect(lines.size).to eq 2
    expect(lines[0]).to match(/\A\[booka\] \[db\] request-id=logs-sql-error primary: query failed \(42703\): ERROR: +column .*business_name.* does not exist/)
    expect(lines[1]).to eq "[booka] [list] request-id=logs-sql-error answering 500: the query failed\n"
    expect(get(@server.url("#{list}?fields=id,business_name&limit=5")).status).to eq 200
  end

  it "logs an avatar upstream that cannot be reached with the id the client got in X-Request-Id" do
    r = get(@server.url('/api/v1/img/avatar/2?w=40'))
    expect(r.status).to eq 502
    id = r['x-request-id']
    expect(error_lines(id)).to eq ["[booka] [avatar] request-id=#{id} provider 2: answering 502: the picture's server cannot be reached\n"]
    expect(access_line(id)['fetch']).to match(seconds)
  end

  it 'logs a Redis error reply with the request id, and serves the request without Redis' do
    url = Booka::Database.psql('SELECT profile_picture_url FROM service_provider_profiles WHERE user_id = 1', url: @db).strip
    key = "avatar:1:1:#{Digest::MD5.hexdigest(url)[0, 16]}:36:jpeg:85" # the variant's key (plugin/avatar/request.c)
    redis = ->(*args) { Open3.capture2e('redis-cli', '-u', ENV.fetch('REDIS_URL'), *args).first }
    redis.call('DEL', key)
    redis.call('RPUSH', key, 'not a cache value') # GET of a list: WRONGTYPE
    begin
      r = get(@server.url('/api/v1/img/avatar/1?w=36'), headers: { 'X-Request-Id' => 'logs-redis-error' })
      expect([r.status, r['x-cache']]).to eq [200, 'MISS']
    ensure
      redis.call('DEL', key)
    end
    # the lookup's GET, and the GET that double-checks after taking the fill lock
    expect(error_lines('logs-redis-error'))
      .to eq ["[booka] [redis] request-id=logs-redis-error command failed: WRONGTYPE Operation against a key holding the wrong kind of value\n"] * 2
  end

  it 'logs Postgres unreachable once per outage, and each 503 with its request id, every line one line' do
    server = Booka::Server.new do |s|
      <<~YAML
        listen: #{s.port}
        num-threads: 1
        booka.postgres: {url: "postgresql://postgres@127.0.0.1:#{@closed_port}/nowhere", pool-size: 1, max-reconnect-delay: 300}
        booka.redis: OFF
        hosts:
          default:
            paths:
              #{list}:
                booka.list: ON
      YAML
    end.start
    ids = %w[logs-pg-down-1 logs-pg-down-2]
    ids.each { |id| expect(get(server.url("#{list}?limit=#{id[-1]}"), headers: { 'X-Request-Id' => id }).status).to eq 503 }
    ids.each do |id|
      expect(server.log.lines.grep(/request-id=#{id} /)).to eq ["[booka] [list] request-id=#{id} answering 503: the database is unavailable\n"]
    end
    cannot = server.log.lines.grep(/cannot connect/)
    expect(cannot.size).to eq 1
    expect(cannot.first).to match(/\A\[booka\] \[db\] primary: cannot connect: connection to server at "127\.0\.0\.1", port #{@closed_port} failed: Connection refused Is the server running/)
    expect(server.log.lines - server.log.lines.grep(/\A(\[booka\] \[[a-z]+\] |booka-origin[ :])/)).to eq []
  end

  it 'writes nothing but whole lines to the error log' do
    # every line is the plugin's ("[booka] [module] ...") or the host binary's ("booka-origin ..."): a continuation line
    # of a multi-line message would start otherwise
    expect(@server.log.lines - @server.log.lines.grep(/\A(\[booka\] \[[a-z]+\] |booka-origin[ :])/)).to eq []
    expect(@server.log.lines.grep(/\A\[booka\]/).size).to be >= 6
  end
end
