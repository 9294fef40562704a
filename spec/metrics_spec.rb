# metrics_spec.rb: GET /metrics is Prometheus text that a real parser accepts, and it counts what the server answered.
require_relative 'spec_helper'
require 'base64'

module Booka
  # Prometheus: the exposition through prometheus_client's own parser (Debian's python3-prometheus-client).
  module Prometheus
    SCRIPT = <<~PY.freeze
      import json, sys
      from prometheus_client.parser import text_string_to_metric_families
      out = []
      for family in text_string_to_metric_families(sys.stdin.read()):
          out.append([family.name, family.type, family.documentation,
                      [[s.name, s.labels, s.value] for s in family.samples]])
      print(json.dumps(out))
    PY

    module_function

    # families: {name => {type:, help:, samples: {[sample name, labels] => value}}}; raises when the parser rejects it
    def families(text)
      out, err, status = Open3.capture3('/usr/bin/python3', '-c', SCRIPT, stdin_data: text)
      raise "the Prometheus parser rejected the exposition: #{err}" unless status.success?
      JSON.parse(out).to_h do |name, type, help, samples|
        [name, { type: type, help: help, samples: samples.to_h { |n, labels, v| [[n, labels], v] } }]
      end
    end

    # samples: every sample of every family, {[sample name, labels] => value}
    def samples(text)
      families(text).values.map { |f| f[:samples] }.reduce({}, :merge)
    end
  end
end

describe 'GET /metrics' do
  let(:server) do
    Booka::Server.new do |s|
      <<~YAML
        listen: #{s.port}
        num-threads: 2
        hosts:
          default:
            paths:
              /healthz:
                booka.health: ON
              /metrics:
                booka.metrics: ON
              /api:
                booka.not-found: ON
      YAML
    end
  end

  it 'counts responses by route and status, with latency histograms, in a format the parser accepts' do
    server.start
    3.times { expect(get(server.url('/healthz'), proto: :h2c).status).to eq 200 }
    2.times { expect(get(server.url('/api/nope'), proto: :h1).status).to eq 404 }
    r = get(server.url('/metrics'), proto: :h2c)
    expect(r.status).to eq 200
    expect(r['content-type']).to start_with 'text/plain; version=0.0.4'
    samples = Booka::Prometheus.samples(r.body)
    expect(samples[['booka_http_requests_total', { 'route' => '/healthz', 'status' => '200' }]]).to eq 3
    expect(samples[['booka_http_requests_total', { 'route' => '/api', 'status' => '404' }]]).to eq 2
    expect(samples[['booka_http_request_duration_seconds_count', { 'route' => '/healthz' }]]).to eq 3
    expect(samples[['booka_http_request_duration_seconds_bucket', { 'route' => '/healthz', 'le' => '+Inf' }]]).to eq 3
    # libh2o stamps both ends from the loop's cached clock, so an answer within one loop turn measures 0
    expect(samples[['booka_http_request_duration_seconds_sum', { 'route' => '/healthz' }]]).to be >= 0
    expect(samples.keys.map(&:first)).to include('booka_cache_hits_total', 'booka_cache_coalesced_total', 'booka_cache_stale_total')
    # the scrape itself shows up in the next one
    again = Booka::Prometheus.samples(get(server.url('/metrics'), proto: :h1).body)
    expect(again[['booka_http_requests_total', { 'route' => '/metrics', 'status' => '200' }]]).to eq 1
  end
end

describe 'GET /metrics: the database pools, Redis, single-flight and the avatar workers' do
  list = '/api/v1/service-provider-profiles/'

  before(:all) do
    @dbname = 'booka_spec_metrics'
    @db = Booka::Database.recreate(@dbname)
    picture = "data:image/png;base64,#{Base64.strict_encode64(Booka.png(40, 30, Array.new(3) { rand(256) }))}" # new per run
    Booka::Database.insert_providers(@db, (1..4).to_h { |i| [i, picture] })
  end

  def scrape(srv)
    Booka::Prometheus.samples(get(srv.url('/metrics')).body)
  end

  # connections: booka_db_pool_connections of the primary pools by state
  def connections(samples)
    %w[in_use idle connecting down].to_h { |state| [state, samples[['booka_db_pool_connections', { 'pool' => 'primary', 'state' => state }]]] }
  end

  def primary(name)
    [name, { 'pool' => 'primary' }]
  end

  # server: the list, the avatar proxy and /metrics on `threads` threads; `postgres` and `redis` are flow mappings' insides
  def server(threads:, postgres:, redis:, list: 'ON')
    db = @db
    Booka::Server.new do |s|
      <<~YAML
        listen: #{s.port}
        num-threads: #{threads}
        booka.postgres: {url: "#{db}", #{postgres}}
        booka.redis: #{redis}
        hosts:
          default:
            paths:
              /api/v1/service-provider-profiles/:
                booka.list: #{list}
              /api/v1/img/avatar:
                booka.avatar: {worker-threads: 2}
              /metrics:
                booka.metrics: ON
      YAML
    end.start
  end

  it 'names every family by convention, with a HELP line, and keeps the pool gauges at pool-size x threads' do
    srv = server(threads: 2, postgres: 'pool-size: 3', redis: "{url: \"#{ENV.fetch('REDIS_URL')}\", command-timeout: 200}")
    families = Booka::Prometheus.families(get(srv.url('/metrics')).body)
    booka = families.select { |name, _| name.start_with?('booka_') }
    expect(booka.keys).to include('booka_db_pool_connections', 'booka_db_pool_waiting', 'booka_db_query_duration_seconds',
                                  'booka_db_queue_wait_seconds', 'booka_redis_command_duration_seconds',
                                  'booka_redis_connections_up', 'booka_avatar_queue_depth', 'booka_avatar_workers_busy',
                                  'booka_avatar_queue_wait_seconds', 'booka_avatar_render_duration_seconds',
                                  'booka_avatar_fetch_duration_seconds', 'booka_cache_coalesced', 'booka_cache_flight_waiters')
    booka.each do |name, f|
      expect(f[:help].to_s.length).to be > 20, "#{name} has no HELP that says what it means"
      expect(f[:type]).to eq 'histogram' if name.end_with?('_seconds')
      # the parser takes _total off a counter's family name; every counter sample keeps it
      f[:samples].each_key { |(sample, _)| expect(sample).to end_with('_total') } if f[:type] == 'counter'
    end

    # every connection of both threads' pools is in exactly one state, and all become idle once connected
    samples = Booka.wait_for { (s = scrape(srv)) && connections(s)['idle'] == 6 && s }
    expect(connections(samples)).to eq('in_use' => 0, 'idle' => 6, 'connecting' => 0, 'down' => 0)
    expect(samples[primary('booka_db_pool_waiting')]).to eq 0
    expect(Booka.wait_for { scrape(srv)[['booka_redis_connections_up', {}]] == 2 }).to be true
    expect(samples.values_at(['booka_avatar_workers', {}], ['booka_avatar_queue_depth', {}], ['booka_avatar_workers_busy', {}]))
      .to eq [2, 0, 0]

    # K list MISSes: each ran at least one query, and sent Redis commands; K HITs ran none
    k = 4
    before = scrape(srv)
    queries = (1..k).map { |i| "#{list}?fields=id,business_name&limit=#{i}&sort=newest&min_price=#{rand(1..1_000_000)}" }
    queries.each { |q| expect(get(srv.url(q))['x-cache']).to eq 'MISS' }
    after = scrape(srv)
    delta = ->(key, from = before, to = after) { to.fetch(key) - from.fetch(key) }
    expect(delta.call(primary('booka_db_query_duration_seconds_count'))).to be >= k
    expect(delta.call(primary('booka_db_queue_wait_seconds_count'))).to be >= k
    expect(delta.call(primary('booka_db_queries_total'))).to be >= k
    expect(delta.call(primary('booka_db_query_duration_seconds_sum'))).to be > 0
    expect(delta.call(['booka_redis_command_duration_seconds_count', {}])).to be >= k
    expect(delta.call(['booka_redis_commands_total', {}])).to be >= k
    expect(delta.call(['booka_cache_misses_total', {}])).to eq k
    queries.each { |q| expect(get(srv.url(q))['x-cache']).to eq 'HIT' }
    hits = scrape(srv)
    expect(delta.call(primary('booka_db_queries_total'), after, hits)).to eq 0
    expect(delta.call(primary('booka_db_query_duration_seconds_count'), after, hits)).to eq 0
    expect(delta.call(['booka_cache_hits_total', {}], after, hits)).to eq k
    expect(connections(hits)['idle']).to eq 6

    # an avatar MISS renders once on a worker; its HIT does not
    expect(get(srv.url('/api/v1/img/avatar/1?w=24'))['x-cache']).to eq 'MISS'
    miss = scrape(srv)
    expect(delta.call(['booka_avatar_render_duration_seconds_count', {}], hits, miss)).to eq 1
    expect(delta.call(['booka_avatar_queue_wait_seconds_count', {}], hits, miss)).to eq 1
    expect(delta.call(['booka_avatar_render_duration_seconds_sum', {}], hits, miss)).to be > 0
    expect(get(srv.url('/api/v1/img/avatar/1?w=24'))['x-cache']).to eq 'HIT'
    hit = scrape(srv)
    expect(delta.call(['booka_avatar_render_duration_seconds_count', {}], miss, hit)).to eq 0
    expect(delta.call(primary('booka_db_queries_total'), miss, hit)).to eq 1 # the avatar's version lookup
  end

  it 'shows a query in use, queries waiting, and coalesced followers while Postgres is held up' do
    srv = server(threads: 1, postgres: 'pool-size: 1, query-timeout: 20000', redis: 'OFF', list: '{cache-wait: 20000}')
    Booka.wait_for { connections(scrape(srv))['idle'] == 1 }
    before = scrape(srv)
    same = "#{list}?fields=id&limit=2&sort=top_rated"
    locker = Booka::Database.lock_table(@db)
    begin
      leader_and_followers = Array.new(4) { Thread.new { get(srv.url(same), timeout: 30) } }
      others = [3, 4].map { |n| Thread.new { get(srv.url("#{list}?fields=id&limit=#{n}&sort=price_low"), timeout: 30) } }
      held = Booka.wait_for do
        s = scrape(srv)
        s if s[primary('booka_db_pool_waiting')] == 2 && s[['booka_cache_flight_waiters', {}]] == 3
      end
      expect(connections(held)).to eq('in_use' => 1, 'idle' => 0, 'connecting' => 0, 'down' => 0)
      expect(held[['booka_cache_flights', {}]]).to eq 3 # the held query's key and the two queued ones
      sleep 0.3 # the held query's duration and the waiting ones' queue wait grow meanwhile
    ensure
      Booka::Database.unlock(locker)
    end
    expect((leader_and_followers + others).map { |t| t.value.status }).to all(eq 200)
    after = scrape(srv)
    delta = ->(key) { after.fetch(key) - before.fetch(key) }
    expect(delta.call(['booka_cache_coalesced_total', {}])).to eq 3 # four identical misses, one query
    expect(delta.call(primary('booka_db_queries_total'))).to eq 3
    expect(delta.call(primary('booka_db_pool_waits_total'))).to eq 2
    expect(delta.call(primary('booka_db_query_duration_seconds_sum'))).to be >= 0.3
    expect(delta.call(primary('booka_db_queue_wait_seconds_sum'))).to be >= 0.6 # two queries, each behind the held one
    expect(connections(after)).to eq('in_use' => 0, 'idle' => 1, 'connecting' => 0, 'down' => 0)
    expect(after[primary('booka_db_pool_waiting')]).to eq 0
    expect(after.values_at(['booka_cache_flights', {}], ['booka_cache_flight_waiters', {}])).to eq [0, 0]
  end
end
