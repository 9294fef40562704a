# edge_replica_spec.rb: edge purging (booka.edge, a real Varnish) with a read replica (booka.postgres-replica, a real
# streaming standby made with pg_basebackup -R, replaying late through recovery_min_apply_delay). With a replica, cache
# keys take a write's generation only once the replica has replayed it (plugin/db/README.md, "Replica"): a purge sent
# before that has the edge refetch the old answer right away and keep it for s-maxage. So the purge waits until the
# origin serves the write, and a second one follows once every instance must have taken it (plugin/edge/README.md).
require_relative 'spec_helper'
require 'base64'

describe 'booka.edge purging with a read replica' do
  def list_path
    '/api/v1/service-provider-profiles/?fields=id,business_name&sort=newest&limit=5'
  end

  def avatar_path
    '/api/v1/img/avatar/1?w=32&fmt=jpeg'
  end

  before(:all) do
    @primary = Booka::PrivatePostgres.new
    @primary.start
    @primary.create_booka
    picture = "data:image/png;base64,#{Base64.strict_encode64(Booka.png(64, 64, [200, 30, 30]))}"
    Booka::Database.insert_providers(@primary.url('booka'), { 1 => picture, 2 => nil })
    @writer = Booka::PsqlSession.new(@primary.url('booka'))
    @standbys = []
  end

  after(:all) do
    @writer&.close
    @primary&.destroy
  end

  before(:each) { @varnish_port = Booka.free_port }

  after(:each) do
    @varnish&.stop
    @standbys.each(&:destroy)
    @standbys.clear
  end

  def standby(apply_delay)
    s = Booka::PrivateStandby.new(@primary, apply_delay: apply_delay)
    @standbys << s
    s.start
    s
  end

  # origin: lists and avatars kept an hour at the edge, read through `replica`; `edge`: booka.edge's value.
  def origin(replica, edge:, max_lag: 5000)
    primary = @primary.url('booka')
    Booka::Server.new do |s|
      <<~YAML
        listen: #{s.port}
        num-threads: 2
        booka.edge: #{edge}
        booka.postgres: {url: "#{primary}", pool-size: 2}
        booka.postgres-replica: {url: "#{replica.url('booka')}", max-lag: #{max_lag}}
        booka.redis: {url: "#{ENV.fetch('REDIS_URL')}", command-timeout: 200, connect-timeout: 500}
        hosts:
          default:
            paths:
              /api/v1/service-provider-profiles:
                booka.list: {s-maxage: 3600}
              /api/v1/img/avatar/:
                booka.avatar: {s-maxage: 3600}
              /healthz:
                booka.health: ON
              /readyz:
                booka.readiness: ON
              /metrics:
                booka.metrics: ON
      YAML
    end.start
  end

  def purging
    "{varnish: \"http://127.0.0.1:#{@varnish_port}/\"}"
  end

  def ready(srv)
    Booka.wait_for(timeout: 30) do
      j = get(srv.url('/readyz')).json
      j['invalidation'] == 'up' && j['replica_status'] == 'streaming'
    end
    srv
  end

  def varnish_in_front_of(srv)
    @varnish = Booka::Varnish.new(srv.port, port: @varnish_port).start
  end

  # settled: the purging instance's start-up decision is made and its purge, if any, done (the database was written
  # before any instance listened: the first start purges everything, and it must not land in the middle of an example)
  def settled(srv)
    Booka.wait_for(timeout: 20) do
      srv.metric('booka_edge_changes_total', decision: 'unchanged') == 1 ||
        srv.metric('booka_edge_purge_requests_total', outcome: 'ok') >= 1
    end
  end

  def name_at(url)
    r = get(url)
    r.status == 200 ? r.json['data'].find { |p| p['id'] == 1 }['business_name'] : nil
  end

  # watch: polls `url` through the edge every 50 ms (as clients would, so the edge refetches right after a purge) until
  # `fresh` holds, then `after` more seconds, failing if it stops holding; returns the seconds it took.
  def watch(within:, after: 1.5)
    started = Time.now
    seen = nil
    loop do
      now = Time.now - started
      ok = yield
      expect(ok).to be(true), "the edge went back to the old answer after showing the new one at #{seen.round(2)} s" if seen
      seen ||= now if ok
      break if seen && now > seen + after
      raise "the edge still serves the old answer after #{within} s" if seen.nil? && now > within
      sleep 0.05
    end
    seen
  end

  it 'purges a rename only once the origin serves it: the edge never keeps the old list' do
    replica = standby(2)
    a = ready(origin(replica, edge: purging))
    varnish = varnish_in_front_of(a)
    settled(a)
    list = varnish.url(list_path)
    expect(name_at(list)).to eq 'Provider 1'
    expect(get(list)['x-edge-cache']).to eq 'HIT'

    @writer.value("UPDATE service_provider_profiles SET business_name = 'Renamed' WHERE user_id = 1")
    took = watch(within: 10) { name_at(list) == 'Renamed' }
    expect(took).to be > 1.5 # the standby replays 2 s late: the purge waited for it
  end

  it 'purges a new picture at its unversioned URL: the edge never keeps the old one from a lagging replica' do
    replica = standby(2)
    a = ready(origin(replica, edge: purging))
    varnish = varnish_in_front_of(a)
    settled(a)
    avatar = varnish.url(avatar_path)
    before = get(avatar)
    expect(before.status).to eq 200
    expect(get(avatar)['x-edge-cache']).to eq 'HIT'

    other = "data:image/png;base64,#{Base64.strict_encode64(Booka.png(64, 64, [30, 200, 30]))}"
    @writer.value("UPDATE service_provider_profiles SET profile_picture_url = '#{other}' WHERE user_id = 1")
    watch(within: 10) { (r = get(avatar)).status == 200 && r['etag'] != before['etag'] }
  end

  it 'remembers the avatar versions it reads from the primary while the replica holds a write back' do
    replica = standby(3)
    a = ready(origin(replica, edge: purging))
    varnish_in_front_of(a)
    settled(a)
    listed = get(a.url('/api/v1/service-provider-profiles/?fields=id,profile_picture_url&limit=5')).json['data']
    versioned = listed.find { |p| p['id'] == 1 }['profile_picture_url'][%r{/api/v1/img/avatar/1\?.*}]
    heard = a.metric('booka_edge_changes_total')
    released = a.metric('booka_db_replica_generations_total')
    @writer.value("UPDATE service_provider_profiles SET business_name = 'Held' WHERE user_id = 2")
    Booka.wait_for(timeout: 5) { a.metric('booka_edge_changes_total') > heard } # the write is heard, and held
    skipped = a.metric('booka_avatar_lookups_skipped_total')
    2.times { expect(get(a.url(versioned)).status).to eq 200 }
    # the first looked its version up (with edge purging, on the primary) and is remembered: the second took no lookup
    expect(a.metric('booka_avatar_lookups_skipped_total') - skipped).to eq 1
    expect(a.metric('booka_db_replica_generations_total')).to eq released # all of it while the standby held the write
  end

  it 'purges again once every instance must have taken the write (another one holds it longer)' do
    fast = standby(1)
    slow = standby(4)
    a = ready(origin(fast, edge: purging, max_lag: 6000)) # purges; its replica replays after 1 s
    b = ready(origin(slow, edge: '{tag-headers: xkey}', max_lag: 6000)) # behind the edge; holds the write 4 s
    varnish = varnish_in_front_of(b)
    settled(a)
    batches = a.metric('booka_edge_purge_batches_total')
    list = varnish.url(list_path)
    name_at(list)
    expect(get(list)['x-edge-cache']).to eq 'HIT'

    @writer.value("UPDATE service_provider_profiles SET business_name = 'Renamed Twice' WHERE user_id = 1")
    took = watch(within: 12, after: 2) { name_at(list) == 'Renamed Twice' }
    # a purged when its replica had the write (~1 s), b still served the old list then; the second purge (max-lag and
    # two probe intervals after the write was heard, ~6.5 s) took it away
    expect(took).to be > 5.5
    expect(a.metric('booka_edge_purge_batches_total') - batches).to eq 2
  end
end
