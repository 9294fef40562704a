# cache_spec.rb: the list endpoint's caching (API.md "Caching headers", issue 4): MISS then HIT, ETag/304, one entry for
# equivalent URLs, STALE, invalidation on write through two instances, Redis failures, Postgres down with a warm cache,
# and a cold-cache stampede across two instances reaching Postgres once.
require_relative 'spec_helper'
require 'net/http'

describe 'GET /api/v1/service-provider-profiles/ caching' do
  # a method, not a constant: a constant assigned in a describe block is global (drills_spec.rb had a LIST too)
  def list_path
    '/api/v1/service-provider-profiles/'
  end

  before(:all) do
    @db = Booka::Database.recreate('booka_spec_cache')
    out, status = Open3.capture2e(File.join(Booka::ROOT, 'schema', 'seed.sh'), '300', @db)
    raise out unless status.success?
    Booka::Database.psql('CREATE EXTENSION IF NOT EXISTS pg_stat_statements', url: @db)
  end

  def server(db: @db, redis: ENV.fetch('REDIS_URL'), list: '{}', threads: 2)
    Booka::Server.new do |s|
      <<~YAML
        listen: #{s.port}
        num-threads: #{threads}
        booka.postgres: {url: "#{db}", pool-size: 2, max-reconnect-delay: 300}
        booka.redis: {url: "#{redis}", command-timeout: 100, connect-timeout: 300}
        hosts:
          default:
            paths:
              #{list_path}:
                booka.list: #{list}
              /metrics:
                booka.metrics: ON
              /readyz:
                booka.readiness: ON
      YAML
    end.start.tap { |srv| wait_until_invalidation_is_up(srv) }
  end

  # A new instance uses keys of its own until its LISTEN connection has read the database's cache epoch, and each
  # thread's pool connects on its own; /readyz says when both are up, and a load balancer would wait for it too.
  def wait_until_invalidation_is_up(srv)
    ready = nil
    100.times do
      ready = get(srv.url('/readyz'))
      break if ready.json.values_at('postgres', 'invalidation') == %w[up up]
      sleep 0.05
    end
    expect(ready.json).to include('postgres' => 'up', 'invalidation' => 'up')
  end

  def list(srv, query, **opts)
    get(srv.url("#{list_path}?#{query}"), **opts)
  end

  # a query string no other example uses, so its entry starts cold
  # fresh_query: a query no earlier example of this file asked (instances share Redis, and with no write in between
  # they share the generation too: a repeated query would find the earlier example's entry). The count lives on the
  # module because every example runs in an instance of its own.
  def fresh_query(extra = '')
    n = Booka.instance_variable_set(:@cache_spec_queries, (Booka.instance_variable_get(:@cache_spec_queries) || 0) + 1)
    "limit=#{(n % 100) + 1}&page=#{(n / 100) + 1}&sort=most_booked#{extra}"
  end

  it 'answers MISS, then HIT with the same bytes and ETag, for lean and heavy fields alike' do
    s = server
    heavy = 'id,business_name,profile_picture_url,custom_subtitle,hourly_rate,price_visible,rating,rating_count,location,' \
            'service_categories,user.first_name,user.last_name'
    [fresh_query('&fields=id,business_name,profile_picture_url'), fresh_query("&fields=#{heavy}")].each do |q|
      first = list(s, q, proto: :h2c)
      second = list(s, q, proto: :h2c)
      expect([first.status, second.status]).to eq [200, 200]
      expect(first['x-cache']).to eq 'MISS'
      expect(second['x-cache']).to eq 'HIT'
      expect(second.body).to eq first.body
      expect(first['etag']).to match(%r{\AW/"\h{32}"\z})
      expect(second['etag']).to eq first['etag']
      expect(first['cache-control']).to eq 'public, max-age=30, s-maxage=60, stale-while-revalidate=300'
    end
  end

  it 'answers If-None-Match with 304, no body and the 200s headers, for tags, lists, * and weakened tags' do
    s = server
    q = fresh_query
    ok = list(s, q, proto: :h2c)
    tag = ok['etag']
    strong = tag.sub('W/', '') # what a client holding a strong copy (or Cloudflare's view) sends
    [tag, strong, %("x", #{tag}), '*', %(W/"a,b", #{strong})].each do |inm|
      r = list(s, q, proto: :h2c, headers: { 'If-None-Match' => inm })
      expect(r.status).to eq(304), "If-None-Match: #{inm}"
      expect(r.body).to eq ''
      expect(r['content-length']).to be_nil
      expect(r['etag']).to eq tag
      expect(r['cache-control']).to eq ok['cache-control']
      expect(r['vary']).to eq ok['vary']
      expect(r['x-cache']).to eq 'HIT'
    end
    ['"other"', 'garbage', %("#{tag[3..-2]}), '*, "x"'].each do |inm|
      r = list(s, q, proto: :h1, headers: { 'If-None-Match' => inm })
      expect(r.status).to eq(200), "If-None-Match: #{inm}"
      expect(r.body).to eq ok.body
    end
  end

  it 'gives equivalent URLs one entry and one ETag' do
    s = server
    base = list(s, 'category=dj&sort=top_rated&limit=9&fields=id,business_name,rating', proto: :h2c)
    expect(base.status).to eq 200
    variants = [
      'limit=9&fields=id,business_name,rating&sort=top_rated&category=dj',           # parameter order
      'category=dj&sort=top_rated&limit=9&fields=rating,business_name,id,rating',     # fields order and duplicates
      'category=DJ&sort=top_rated&limit=9&fields=id,business_name,rating',            # category spelling
      'category=%20Dj%20&sort=top_rated&limit=9&fields=id,business_name,rating',
      'category=dj&sort=top_rated&limit=9&fields=id,business_name,rating&utm_source=x&_=123', # ignored parameters
      'category=dj&sort=newest&sort=top_rated&limit=9&fields=id,business_name,rating&page=' # last wins, empty is absent
    ]
    variants.each do |q|
      r = list(s, q, proto: :h2c)
      expect(r['x-cache']).to eq('HIT'), q
      expect(r['etag']).to eq base['etag']
      expect(r.body).to eq base.body
    end
    other = list(s, 'category=dj&sort=top_rated&limit=9&fields=id,business_name', proto: :h2c)
    expect(other['etag']).not_to eq base['etag'] # different fields never collide
  end

  it 'serves STALE at once past the TTL while one refresh runs, then HIT again' do
    s = server(list: '{cache-ttl: 1, cache-stale: 60, cache-jitter: 0}')
    q = fresh_query
    expect(list(s, q)['x-cache']).to eq 'MISS'
    sleep 1.2
    stale = list(s, q)
    expect(stale.status).to eq 200
    expect(stale['x-cache']).to eq 'STALE'
    after = nil
    20.times do
      after = list(s, q)
      break if after['x-cache'] == 'HIT'
      sleep 0.05
    end
    expect(after['x-cache']).to eq 'HIT'
  end

  it 'shows an update within one second through two running instances' do
    a = server
    b = server
    q = 'sort=newest&limit=3&fields=id,business_name'
    [a, b].each { |srv| 2.times { expect(list(srv, q).status).to eq 200 } }
    first_id = list(a, q).json['data'][0]['id']
    name = "Renamed #{rand(1_000_000)}"
    Booka::Database.psql("UPDATE service_provider_profiles SET business_name = '#{name}' WHERE user_id = #{first_id}", url: @db)
    [a, b].each do |srv|
      deadline = Time.now + 1.0
      seen = nil
      seen = list(srv, q).json['data'][0]['business_name'] while seen != name && Time.now < deadline
      expect(seen).to eq name
    end
  end

  it 'never fails a request because Redis dies, pauses or comes back' do
    port = Booka.free_port
    dir = Dir.mktmpdir('booka-redis')
    start_redis = -> { system('redis-server', '--port', port.to_s, '--bind', '127.0.0.1', '--daemonize', 'yes', '--save', '', '--dir', dir, out: File::NULL) }
    redis_cli = ->(*args) { system('redis-cli', '-p', port.to_s, *args, out: File::NULL, err: File::NULL) }
    start_redis.call
    sleep 0.3
    s = server(redis: "redis://127.0.0.1:#{port}/0")
    statuses = []
    run = ->(n) { n.times { |i| statuses << list(s, "sort=newest&limit=#{(i % 7) + 1}").status } }
    run.call(10)
    redis_cli.call('CLIENT', 'PAUSE', '1500')
    run.call(10) # slow Redis: commands miss their deadline
    redis_cli.call('shutdown', 'nosave')
    run.call(10)
    start_redis.call
    sleep 0.5
    run.call(10)
    expect(statuses.uniq).to eq [200]
    expect(s.log.scan(/\[redis\] down/).size).to be <= 4 # once per outage and thread, not per request
  ensure
    redis_cli&.call('shutdown', 'nosave')
  end

  it 'keeps serving a warm cache while Postgres is down' do
    pg = Booka::PrivatePostgres.new
    pg.start
    db = pg.create_booka(seed: 50)
    s = server(db: db, list: '{cache-ttl: 1, cache-stale: 600, cache-jitter: 0}')
    q = 'sort=most_booked&limit=5'
    warm = list(s, q)
    expect(warm.status).to eq 200
    pg.stop
    5.times { expect(list(s, q).status).to eq 200 } # fresh hits
    sleep 1.2
    r = list(s, q) # past the TTL: stale, since the refresh cannot reach Postgres
    expect(r.status).to eq 200
    expect(r['x-cache']).to eq 'STALE'
    expect(r.body).to eq warm.body
    cold = list(s, 'sort=most_booked&limit=6') # nothing cached: a clean 503, never a hang
    expect(cold.status).to eq 503
    expect(cold['retry-after']).to match(/\A\d+\z/)
  ensure
    pg&.destroy
  end

  it 'lets 200 concurrent cold requests split over two instances reach Postgres once, all 200 with one ETag' do
    a = server(threads: 2)
    # transactions ending in the cluster between the two set-ups (autovacuum's, another database's) must not split the
    # instances' keys: they did before the set-up looked for writes in flight (plugin/cache/invalidate.c)
    3.times { Booka::Database.psql('SELECT txid_current()') }
    b = server(threads: 2)
    q = "category=dj&sort=most_booked&limit=#{rand(50..99)}&fields=id,business_name,book_count"
    [a, b].each { |srv| expect(get(srv.url('/readyz')).json).to include('redis' => 'up') }
    Booka::Database.psql('SELECT pg_stat_statements_reset()', url: @db)
    results = Queue.new
    threads = [a, b].flat_map do |srv|
      Array.new(100) do
        Thread.new do
          uri = URI(srv.url("#{list_path}?#{q}"))
          res = Net::HTTP.start(uri.host, uri.port, read_timeout: 10) { |h| h.get(uri.request_uri) }
          results << [res.code.to_i, res['etag'], res['x-cache']]
        end
      end
    end
    threads.each(&:join)
    all = Array.new(results.size) { results.pop }
    expect(all.size).to eq 200
    expect(all.map(&:first).uniq).to eq [200]
    expect(all.map { |r| r[1] }.uniq.size).to eq 1
    expect(all.count { |r| r[2] == 'MISS' }).to eq 1
    pages = Booka::Database.psql(<<~SQL, url: @db).to_i
      SELECT coalesce(sum(calls), 0) FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
      WHERE d.datname = 'booka_spec_cache' AND s.query ILIKE '%limit%' AND s.query NOT ILIKE '%pg_stat_statements%'
    SQL
    expect(pages).to eq 1
  end

  # bench/list's cold path: no in-process store and no Redis, so every request runs its own query, however long the
  # entries would live (the same server with a store answers HITs)
  it 'keeps nothing in process with cache-size 0' do
    seen = [0, 64].to_h do |size|
      srv = Booka::Server.new do |s|
        <<~YAML
          listen: #{s.port}
          booka.postgres: {url: "#{@db}", pool-size: 2}
          booka.redis: OFF
          hosts:
            default:
              paths:
                #{list_path}:
                  booka.list: {cache-size: #{size}, cache-ttl: 60}
                /readyz:
                  booka.readiness: ON
        YAML
      end.start
      # the keys take the database's epoch once the LISTEN connection is up: a request before that keys its own (a
      # slow start, as under ThreadSanitizer, put that moment between the first two requests: MISS MISS HIT)
      Booka.wait_for(timeout: 20) { get(srv.url('/readyz')).json['invalidation'] == 'up' }
      [size, Array.new(3) { get(srv.url("#{list_path}?limit=3")).tap { |r| expect(r.status).to eq 200 }['x-cache'] }]
    end
    expect(seen).to eq(0 => %w[MISS MISS MISS], 64 => %w[MISS HIT HIT])
  end
end
