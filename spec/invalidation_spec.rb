# invalidation_spec.rb: the cache generation across LISTEN reconnects (plugin/cache/invalidate.c), against the real
# Postgres and Redis: a reconnect derives its generation from what it reads (the sequence, and the snapshot when a write
# may be in flight), so it must never derive again a generation whose entries were filled before a write that has
# committed since, and should derive the same one while nothing was written; and an instance that purges an edge is not
# ready while it cannot hear writes.
require_relative 'spec_helper'

describe 'cache invalidation across LISTEN reconnects' do
  def dbname
    'booka_spec_invalidation'
  end

  def list_path
    '/api/v1/service-provider-profiles/?fields=id,business_name&sort=newest&limit=5'
  end

  before(:all) do
    @db = Booka::Database.recreate(dbname)
    Booka::Database.insert_providers(@db, { 1 => nil, 2 => nil })
  end

  after(:each) do
    Booka::Database.psql("ALTER DATABASE #{dbname} ALLOW_CONNECTIONS true")
  end

  # server: one thread (so one in-process cache and one LISTEN connection to reason about), the stack's Redis shared by
  # every instance, a quick reconnect; `edge`: a booka.edge value, or nil; `serving`: :list, or :avatar for an instance
  # serving avatars alone (each registers the readiness dependency on the LISTEN connection).
  def server(edge: nil, serving: :list)
    db = @db
    Booka::Server.new do |s|
      <<~YAML
        listen: #{s.port}
        num-threads: 1
        #{edge.nil? ? '' : "booka.edge: #{edge}"}
        booka.postgres: {url: "#{db}", pool-size: 2, max-reconnect-delay: 100}
        booka.redis: {url: "#{ENV.fetch('REDIS_URL')}", command-timeout: 200, connect-timeout: 500}
        hosts:
          default:
            paths:
              #{serving == :list ? '/api/v1/service-provider-profiles' : '/api/v1/img/avatar'}:
                #{serving == :list ? 'booka.list' : 'booka.avatar'}: ON
              /readyz:
                booka.readiness: ON
      YAML
    end.start
  end

  def readyz(srv)
    get(srv.url('/readyz'))
  end

  def listening(srv)
    Booka.wait_for(timeout: 10) { readyz(srv).json['invalidation'] == 'up' }
  end

  # served: [provider 1's name, X-Cache]
  def served(srv)
    r = get(srv.url(list_path))
    expect(r.status).to eq 200
    [r.json['data'].find { |p| p['id'] == 1 }['business_name'], r['x-cache']]
  end

  # reconnect: ends the LISTEN connections on the spec's database and waits until `srv`'s is back (its log says so once
  # per outage).
  def reconnect(srv)
    ups = srv.log.scan('LISTEN connection up').size
    Booka::Database.psql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = " \
                         "'booka-origin-listen' AND datname = '#{dbname}'")
    Booka.wait_for(timeout: 10) { srv.log.scan('LISTEN connection up').size > ups }
    listening(srv)
  end

  def snapshot
    Booka::Database.psql('SELECT pg_current_snapshot()', url: @db).strip
  end

  it 'never serves again what it filled while a write was open, after the write committed and it reconnected' do
    a = server
    listening(a)
    expect(served(a)[0]).to eq 'Provider 1'

    # the trigger draws the write's number now, before the commit: a set-up now reads it as the sequence's value
    tx = Booka::PsqlSession.new(@db)
    tx.value('BEGIN')
    tx.value("UPDATE service_provider_profiles SET business_name = 'Renamed' WHERE user_id = 1")
    reconnect(a)
    expect(served(a)).to eq ['Provider 1', 'MISS'] # filled under the new set-up's generation, rightly the old name
    expect(a.log).to match(/\[cache\] set-up at sequence \d+ saw a write in flight/) # the write's lock
    tx.value('COMMIT')
    tx.close
    Booka.wait_for(timeout: 10) { served(a)[0] == 'Renamed' } # the write's notification

    # nothing written since: the sequence reads the same as during the open write; the generation must not
    reconnect(a)
    expect(served(a)[0]).to eq 'Renamed'
    # nor may a new instance's first set-up land on the entry the first one put in Redis during the write
    b = server
    listening(b)
    expect(served(b)[0]).to eq 'Renamed'
  end

  # Regression: the set-up used to key by the snapshot always, so any transaction ending anywhere in the cluster between
  # two set-ups (here in another database; in CI an autovacuum ANALYZE) gave them different generations: after a
  # reconnect, and between two instances started apart, nothing was shared until the next write (cache_spec.rb's
  # two-instance stampede reached Postgres twice).
  it 'keeps its keys across a reconnect, and shares them with a new instance, while transactions end elsewhere' do
    a = server
    listening(a)
    name = served(a)[0] # filled now, or earlier by another example of this file (same query, no write since)
    before = snapshot
    3.times { Booka::Database.psql('SELECT txid_current()') } # transactions that end, in the admin database
    expect(snapshot).not_to eq before # the cluster moved on
    reconnect(a)
    expect(served(a)).to eq [name, 'HIT']
    expect(a.log).not_to match(/saw a write in flight/)
    expect(a.log.scan(/\[cache\] set-up at sequence \d+: cache keys shared/).size).to eq 2 # the start, the reconnect
    b = server
    listening(b)
    expect(served(b)).to eq [name, 'HIT'] # from Redis: the entry instance a filled
  end

  it 'is not ready while it cannot hear writes when it purges an edge (and ready without edge purging)' do
    edge = "{varnish: \"http://127.0.0.1:#{Booka.free_port}/\"}"
    purging = server(edge: edge)
    avatars = server(edge: edge, serving: :avatar) # the avatar's registration said "not required"
    plain = server
    [purging, avatars, plain].each { |s| listening(s) }
    expect(readyz(purging).status).to eq 200

    Booka::Database.psql("ALTER DATABASE #{dbname} ALLOW_CONNECTIONS false") # the LISTEN connection cannot come back
    Booka::Database.psql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = " \
                         "'booka-origin-listen' AND datname = '#{dbname}'")
    Booka.wait_for(timeout: 10) { readyz(plain).json['invalidation'] == 'down' }
    r = readyz(purging)
    expect(r.json).to include('postgres' => 'up', 'invalidation' => 'down')
    expect(r.status).to eq 503
    expect(readyz(avatars).status).to eq 503
    expect(readyz(plain).status).to eq 200 # without purging it serves on, as documented

    Booka::Database.psql("ALTER DATABASE #{dbname} ALLOW_CONNECTIONS true")
    listening(purging)
    expect(readyz(purging).status).to eq 200
  end
end
