# replica_spec.rb: the list read through a REAL streaming hot standby (issue 13, "Read-your-writes through a real
# streaming replica"): a private primary, a standby made from it with pg_basebackup -R (no second database standing in),
# replaying late through recovery_min_apply_delay. A rename shows within the standby's own lag + 1 s and the old name
# never comes back; a paused, stopped, promoted or lagging standby hands reads to the primary, and answers stay right.
require_relative 'spec_helper'

describe 'GET /api/v1/service-provider-profiles/ through a streaming replica (booka.postgres-replica)' do
  # methods, not constants: a constant assigned in a describe block is global
  def replica_list_path
    '/api/v1/service-provider-profiles/?fields=id,business_name&sort=newest&limit=5'
  end

  def replica_writes
    Integer(ENV.fetch('BOOKA_REPLICA_WRITES', '20'))
  end

  before(:all) do
    @primary = Booka::PrivatePostgres.new
    @primary.start
    @primary.create_booka
    Booka::Database.insert_providers(@primary.url('booka'), { 1 => nil, 2 => nil, 3 => nil })
    @writer = Booka::PsqlSession.new(@primary.url('booka'))
    @renames = 0
  end

  after(:all) do
    @writer&.close
    @primary&.destroy
  end

  after(:each) do
    @watcher&.close
    @standby&.destroy
  end

  # standby: a fresh hot standby of the primary for this example, started, with a psql session to watch it.
  def standby(apply_delay:)
    @standby = Booka::PrivateStandby.new(@primary, apply_delay: apply_delay)
    @standby.start
    @watcher = Booka::PsqlSession.new(@standby.url('booka'))
    @standby
  end

  # server: an instance reading lists from `replica` (with the list cache's defaults: a 30 s TTL) and sharing Redis.
  def server(replica, replica_extra: '')
    primary = @primary.url('booka')
    Booka::Server.new do |s|
      <<~YAML
        listen: #{s.port}
        num-threads: 2
        booka.postgres: {url: "#{primary}", pool-size: 2, max-reconnect-delay: 300}
        booka.postgres-replica: {url: "#{replica.url('booka')}"#{replica_extra}}
        booka.redis: {url: "#{ENV.fetch('REDIS_URL')}", command-timeout: 100, connect-timeout: 300}
        hosts:
          default:
            paths:
              /api/v1/service-provider-profiles:
                booka.list: ON
              /readyz:
                booka.readiness: ON
              /metrics:
                booka.metrics: ON
      YAML
    end.start
  end

  def readyz(srv)
    get(srv.url('/readyz'))
  end

  # wait_for_replica_status: polls /readyz until the replica is in `status` (and the instance listens for writes).
  def wait_for_replica_status(srv, status, timeout: 30)
    Booka.wait_for(timeout: timeout) do
      r = readyz(srv)
      r.status == 200 && r.json['invalidation'] == 'up' && r.json['replica_status'] == status && r
    end
  end

  def name_served(srv)
    r = get(srv.url(replica_list_path))
    expect(r.status).to eq 200
    r.json['data'].find { |p| p['id'] == 1 }&.fetch('business_name')
  end

  def standby_name
    @watcher.value('SELECT business_name FROM service_provider_profiles WHERE user_id = 1')
  end

  def metric(srv, name, labels = '')
    body = get(srv.url('/metrics')).body
    body[/^#{Regexp.escape(name)}#{Regexp.escape(labels)} (\S+)$/, 1].to_f
  end

  # rename: renames provider 1 on the primary, then polls every instance (and the standby itself) until each instance
  # served the new name and a further `watch` seconds passed, failing if an old name is served after the new one was.
  # Returns {visible: s until every instance served it, replica: s until the standby itself had it (nil: not in time)}.
  def rename(servers, within:, watch: 1.0)
    name = "Renamed #{@renames += 1}"
    @writer.value("UPDATE service_provider_profiles SET business_name = '#{name}' WHERE user_id = 1")
    written = Time.now
    seen = {}
    replica_at = nil
    loop do
      now = Time.now - written
      replica_at ||= now if @standby.nil? || (standby_name == name rescue false) # rubocop:disable Style/RescueModifier
      servers.each_with_index do |srv, i|
        served = name_served(srv)
        expect(served).to eq(name), "instance #{i} served #{served.inspect} after serving #{name.inspect}" if seen[i]
        seen[i] ||= Time.now - written if served == name
      end
      visible = seen.size == servers.size ? seen.values.max : nil
      break if visible && now > visible + watch
      raise "#{name} not served by every instance within #{within} s (#{seen})" if visible.nil? && now > within
      sleep 0.02
    end
    { visible: seen.values.max, replica: replica_at }
  end

  # watch_readyz: the /readyz bodies seen (every ~0.1 s) while the block runs.
  def watch_readyz(srv)
    seen = []
    done = false
    watcher = Thread.new do
      until done
        r = readyz(srv)
        seen << r.json if r.status == 200
        sleep 0.1
      end
    end
    yield
    seen
  ensure
    done = true
    watcher&.join
  end

  def percentile(values, p)
    sorted = values.sort
    sorted[((sorted.size - 1) * p).round]
  end

  it "shows a rename within the standby's own lag + 1 s on every instance, and never the old name again" do
    standby(apply_delay: 3)
    servers = [server(@standby), server(@standby)]
    servers.each { |s| wait_for_replica_status(s, 'streaming') }
    servers.each { |s| expect(name_served(s)).to eq standby_name } # warm: the current name is cached on both

    results = Array.new(replica_writes) do
      r = rename(servers, within: 40)
      expect(r[:replica]).not_to be_nil
      expect(r[:visible]).to be <= r[:replica] + 1.0, "visible after #{r[:visible].round(2)} s, the standby had it after " \
                                                     "#{r[:replica].round(2)} s"
      r
    end
    visible = results.map { |r| r[:visible] }
    lag = results.map { |r| r[:replica] }
    puts format("\n    %<n>d renames through a standby applying WAL 3 s late: visible on both instances after " \
                'p50 %<p50>.2f s, max %<max>.2f s; the standby itself had them after p50 %<l50>.2f s, max %<lmax>.2f s',
                n: replica_writes, p50: percentile(visible, 0.5), max: visible.max, l50: percentile(lag, 0.5), lmax: lag.max)
    # the fence held each write until the standby replayed it: the replica served the lists, not the primary
    expect(metric(servers[0], 'booka_db_replica_generations_total', '{how="replayed"}')).to be >= 1
    expect(readyz(servers[0]).json).to include('replica' => 'up', 'replica_status' => 'streaming')
  end

  it 'reads from the primary while WAL replay is paused, and from the standby again once it resumes' do
    standby(apply_delay: 0)
    srv = server(@standby)
    wait_for_replica_status(srv, 'streaming')
    expect(name_served(srv)).to eq standby_name

    @watcher.value('SELECT pg_wal_replay_pause()')
    r = wait_for_replica_status(srv, 'paused')
    expect(r.json).to include('postgres' => 'up', 'replica' => 'down')
    primary_queries = metric(srv, 'booka_db_queries_total', '{pool="primary"}')
    result = rename([srv], within: 5)
    expect(result[:replica]).to(be_nil.or(be > result[:visible])) # the paused standby does not have it: the primary answered
    expect(standby_name).not_to eq name_served(srv)
    expect(metric(srv, 'booka_db_queries_total', '{pool="primary"}')).to be > primary_queries

    @watcher.value('SELECT pg_wal_replay_resume()')
    wait_for_replica_status(srv, 'streaming')
    replica_queries = metric(srv, 'booka_db_queries_total', '{pool="replica"}')
    rename([srv], within: 5)
    expect(metric(srv, 'booka_db_queries_total', '{pool="replica"}')).to be > replica_queries
  end

  it 'reads from the primary while the standby lags past max-lag, and never serves an older answer meanwhile' do
    standby(apply_delay: 3)
    srv = server(@standby, replica_extra: ', max-lag: 1000')
    wait_for_replica_status(srv, 'streaming') # idle: nothing to replay, no lag
    expect(name_served(srv)).to eq standby_name

    seen = watch_readyz(srv) do
      result = rename([srv], within: 10, watch: 3.0) # and never the old name again while the standby catches up
      expect(result[:replica]).to(be_nil.or(be > result[:visible])) # served before the standby had it: from the primary
      expect(result[:visible]).to be < 2.5
    end
    lagging = seen.select { |r| r['replica_status'] == 'lagging' }
    expect(lagging).not_to be_empty
    expect(lagging.map { |r| r['replica_lag_seconds'] }).to all(be > 1.0)
    expect(lagging.map { |r| r['replica'] }).to all(eq 'down')
    # once the standby has replayed it, it takes reads again (and has the same name)
    wait_for_replica_status(srv, 'streaming')
    expect(name_served(srv)).to eq standby_name
  end

  it 'reads from the primary while the standby is stopped, and from it again once it is back' do
    standby(apply_delay: 0)
    srv = server(@standby)
    wait_for_replica_status(srv, 'streaming')

    @watcher.close
    @standby.stop
    r = wait_for_replica_status(srv, 'unreachable')
    expect(r.json).to include('postgres' => 'up', 'replica' => 'down')
    5.times { expect(get(srv.url(replica_list_path)).status).to eq 200 } # never a 503: the primary answers
    rename([srv], within: 5)

    @standby.start
    @watcher = Booka::PsqlSession.new(@standby.url('booka'))
    wait_for_replica_status(srv, 'streaming')
    replica_queries = metric(srv, 'booka_db_queries_total', '{pool="replica"}')
    rename([srv], within: 5)
    expect(metric(srv, 'booka_db_queries_total', '{pool="replica"}')).to be > replica_queries
  end

  # cut off: the standby runs and answers, is in recovery and not paused, but no longer receives WAL (its primary
  # connection is gone: a network partition, a primary_conninfo that no longer works). Its data stands still while the
  # primary writes, so it must stop taking reads until it streams again.
  it 'reads from the primary while the standby is cut off from it, and from it again once it streams' do
    standby(apply_delay: 0)
    srv = server(@standby)
    wait_for_replica_status(srv, 'streaming')

    @standby.set('primary_conninfo', "host=127.0.0.1 port=#{Booka.free_port} user=postgres connect_timeout=1")
    # a changed conninfo restarts the WAL receiver by itself; ending its walsender on the primary makes that prompt
    @writer.value('SELECT pg_terminate_backend(pid) FROM pg_stat_replication')
    r = wait_for_replica_status(srv, 'not_receiving')
    expect(r.json).to include('postgres' => 'up', 'replica' => 'down')
    expect(@watcher.value('SELECT pg_is_in_recovery()')).to eq 't' # still a standby, still answering
    result = rename([srv], within: 5)
    expect(result[:replica]).to be_nil, 'the cut-off standby replayed the write: it was not cut off'
    5.times { expect(get(srv.url(replica_list_path)).status).to eq 200 }

    @standby.set('primary_conninfo', "host=127.0.0.1 port=#{@primary.port} user=postgres")
    wait_for_replica_status(srv, 'streaming')
    Booka.wait_for(timeout: 10) { standby_name == name_served(srv) } # caught up: both say the last name
    replica_queries = metric(srv, 'booka_db_queries_total', '{pool="replica"}')
    rename([srv], within: 5)
    expect(metric(srv, 'booka_db_queries_total', '{pool="replica"}')).to be > replica_queries
  end

  it 'reads from the primary once the standby is promoted (it no longer follows the primary)' do
    standby(apply_delay: 0)
    srv = server(@standby)
    wait_for_replica_status(srv, 'streaming')

    @watcher.value('SELECT pg_promote()')
    r = wait_for_replica_status(srv, 'promoted')
    expect(r.json).to include('replica' => 'down')
    result = rename([srv], within: 5)
    expect(result[:replica]).to(be_nil.or(be > result[:visible]))
    expect(standby_name).not_to eq name_served(srv) # the promoted server went its own way; the list follows the primary
  end

  # a standby that comes back behind what it had replayed (restored from a snapshot, or crash recovery from an old
  # restartpoint): its replay position goes back, and it must not take the reads of a generation whose write it no longer
  # has. Here: its data directory, copied while it was stopped before the write, put back after it had replayed the write,
  # and replay held an hour once consistent (the write must come from the primary again).
  it 'reads from the primary while the standby came back behind a write it had replayed' do
    standby(apply_delay: 0)
    srv = server(@standby)
    wait_for_replica_status(srv, 'streaming')
    data = "#{@standby.dir}/data"
    @watcher.close
    @standby.stop
    system('cp', '-a', data, "#{data}.before", exception: true)
    @standby.start
    @watcher = Booka::PsqlSession.new(@standby.url('booka'))
    wait_for_replica_status(srv, 'streaming')
    renamed = "Came Back Behind #{Process.clock_gettime(Process::CLOCK_REALTIME, :millisecond)}" # unique in the file
    @writer.value("UPDATE service_provider_profiles SET business_name = '#{renamed}' WHERE user_id = 1")
    Booka.wait_for(timeout: 10) { standby_name == renamed && name_served(srv) == renamed }

    @watcher.close
    @standby.stop(mode: 'immediate')
    FileUtils.rm_rf(data)
    File.rename("#{data}.before", data)
    @standby.apply_delay = 3600
    @standby.start
    @watcher = Booka::PsqlSession.new(@standby.url('booka'))
    expect(standby_name).not_to eq(renamed), 'the standby came back with the write: it is not behind, nothing is tested'
    Booka.wait_for(timeout: 10) { %w[streaming lagging].include?(readyz(srv).json['replica_status']) }
    sleep 0.5 # a few probes of the standby as it is now
    miss = get(srv.url(replica_list_path.sub('limit=5', 'limit=6'))) # a list not cached yet: filled now
    expect(miss['x-cache']).to eq 'MISS'
    expect(miss.json['data'].find { |p| p['id'] == 1 }['business_name']).to eq renamed
    expect(metric(srv, 'booka_db_replica_readable')).to eq 0
  end

  it 'rejects replica settings it cannot use, naming the line' do
    srv = Booka::Server.new(<<~YAML)
      listen: 0
      booka.postgres: postgresql://127.0.0.1/x
      booka.postgres-replica: {url: postgresql://127.0.0.1/y, max-lag: 500, probe-interval: 1000}
    YAML
    status, out = srv.check_config
    expect(status).not_to eq 0
    expect(out).to match(/h2o\.conf:3:.*probe-interval cannot exceed max-lag/)

    srv = Booka::Server.new("listen: 0\nbooka.postgres-replica: {max-lag: 500}\n")
    status, out = srv.check_config
    expect(status).not_to eq 0
    expect(out).to match(/h2o\.conf:2:.*needs a `url`/)

    srv = Booka::Server.new("listen: 0\nbooka.postgres-replica: {url: x, max-lagg: 500}\n")
    status, out = srv.check_config
    expect(status).not_to eq 0
    expect(out).to match(/h2o\.conf:2:.*unknown key `max-lagg` \(expected url, max-lag or probe-interval\)/)
  end
end

# The monitor's probes go through the pools, where list misses queue too. Under load the queue fills (queue-limit): a
# probe refused for that said nothing about the server, yet flipped the replica to "not answering" and back many times a
# second. Probes go to the front of the queue and are never refused for queue-limit.
describe 'the replica monitor under load (booka.postgres-replica)' do
  before(:all) do
    @primary = Booka::PrivatePostgres.new
    @primary.start
    @primary.create_booka(seed: 3000)
    @standby = Booka::PrivateStandby.new(@primary, apply_delay: 0)
    @standby.start
  end

  after(:all) do
    @standby&.destroy
    @primary&.destroy
  end

  it 'keeps the replica streaming while list misses fill its queue' do
    primary = @primary.url('booka')
    replica = @standby.url('booka')
    srv = Booka::Server.new do |s|
      <<~YAML
        listen: #{s.port}
        num-threads: 1
        booka.postgres: {url: "#{primary}", pool-size: 2, queue-limit: 4}
        booka.postgres-replica: {url: "#{replica}"}
        hosts:
          default:
            paths:
              /api/v1/service-provider-profiles:
                booka.list: {cache-ttl: 0, cache-stale: 0, cache-jitter: 0}
              /readyz:
                booka.readiness: ON
              /metrics:
                booka.metrics: ON
      YAML
    end.start
    Booka.wait_for(timeout: 30) { get(srv.url('/readyz')).json['replica_status'] == 'streaming' }
    logged = srv.log.lines.size
    misses = ->(n) { "/api/v1/service-provider-profiles/?include_price_distribution=true&location=#{n % 7}a&page=#{n}" }
    load = Booka::Load.new(srv.url('/'), threads: 12, interval: 0, duration: 6, requests: 100_000, urls: { miss: misses })
    load.run
    full = get(srv.url('/metrics')).body[/^booka_db_pool_queue_full_total\{pool="replica"\} (\S+)$/, 1].to_f
    expect(full).to be > 0 # the load did fill the replica's queue
    expect(srv.log.lines.drop(logged).grep(/replica: not answering/)).to eq []
    expect(get(srv.url('/readyz')).json['replica_status']).to eq 'streaming'
  end
end
