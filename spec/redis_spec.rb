# redis_spec.rb: Redis is optional and never fails a request: /readyz reports it, and it comes back after an outage.
require_relative 'spec_helper'

describe 'Redis connection' do
  def server_with(redis_url)
    Booka::Server.new do |s|
      <<~YAML
        listen: #{s.port}
        num-threads: 2
        booka.redis:
          url: #{redis_url}
          command-timeout: 100
        hosts:
          default:
            paths:
              /readyz:
                booka.readiness: ON
      YAML
    end
  end

  def readiness(server, want)
    r = nil
    50.times do
      r = get(server.url('/readyz'), proto: :h1)
      break if r.json['redis'] == want
      sleep 0.1
    end
    r
  end

  it 'reports Redis up when it answers' do
    s = server_with(ENV.fetch('REDIS_URL')).start
    r = readiness(s, 'up')
    expect(r.status).to eq 200
    expect(r.json).to include('redis' => 'up')
  end

  it 'reports Redis down, and stays ready, when nothing listens' do
    s = server_with("redis://127.0.0.1:#{Booka.free_port}/0").start
    r = readiness(s, 'down')
    expect(r.status).to eq 200
    expect(r.json).to include('redis' => 'down')
    expect(s.log.scan(/\[redis\] down/).size).to be <= 2 # logged once per thread, not per attempt
  end

  it 'comes back after Redis restarts' do
    port = Booka.free_port
    dir = Dir.mktmpdir('booka-redis')
    start_redis = -> { system('redis-server', '--port', port.to_s, '--bind', '127.0.0.1', '--daemonize', 'yes', '--save', '', '--dir', dir, '--pidfile', "#{dir}/r.pid", out: File::NULL) }
    start_redis.call
    sleep 0.3
    s = server_with("redis://127.0.0.1:#{port}/0").start
    expect(readiness(s, 'up').json['redis']).to eq 'up'
    system('redis-cli', '-p', port.to_s, 'shutdown', 'nosave', out: File::NULL, err: File::NULL)
    expect(readiness(s, 'down').json['redis']).to eq 'down'
    start_redis.call
    expect(readiness(s, 'up').json['redis']).to eq 'up'
    expect(s.log).to include('[redis] up again')
  ensure
    system('redis-cli', '-p', port.to_s, 'shutdown', 'nosave', out: File::NULL, err: File::NULL)
  end

  it 'rejects a rediss:// URL at config time with its position' do
    s = server_with('rediss://127.0.0.1:6379')
    status, out = s.check_config
    expect(status).not_to eq 0
    expect(out).to match(/h2o\.conf:4:8: in command booka\.redis, rediss:\/\/ \(TLS\) is not supported/)
  end
end

describe 'Redis under the list cache' do
  def list_path
    '/api/v1/service-provider-profiles/'
  end

  before(:all) do
    @db = Booka::Database.recreate('booka_spec_redis')
    out, status = Open3.capture2e(File.join(Booka::ROOT, 'schema', 'seed.sh'), '20', @db)
    raise out unless status.success?
  end

  before { @redis = Booka::PrivateRedis.new.start }
  after { @redis&.destroy }

  # server: one thread (one Redis connection), the list and /metrics, on the spec's own Redis
  def server(list: '{}', redis: @redis.url)
    db = @db
    Booka::Server.new do |s|
      <<~YAML
        listen: #{s.port}
        num-threads: 1
        booka.postgres: {url: "#{db}", pool-size: 1, query-timeout: 20000}
        booka.redis: {url: "#{redis}", command-timeout: 100}
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
    end.start
  end

  # an instance's cache keys are shared with the others once its LISTEN connection read the database's epoch
  def wait_until_keys_are_shared(srv)
    Booka.wait_for { get(srv.url('/readyz')).json['invalidation'] == 'up' }
  end

  # redis_value: a value in the cache's Redis representation (tiered.c), "BKC1" and big-endian fields
  def redis_value(etag:, content_type:, body:, status: 200)
    now = (Time.now.to_f * 1000).to_i
    ['BKC1', status, now, now + 60_000, now + 120_000, etag.bytesize, content_type.bytesize].pack('a4nQ>3n2') +
      etag.b + content_type.b + body.b
  end

  def connections_up(srv)
    get(srv.url('/metrics')).body[/^booka_redis_connections_up (\S+)$/, 1].to_f
  end

  def list(srv, query)
    get(srv.url("#{list_path}?#{query}"), timeout: 30)
  end

  # A refused AUTH (or SELECT) leaves a TCP connection on which every command fails: it must not count as up, and the
  # operator must read why in the log
  it 'counts a connection whose AUTH Redis refuses as down, says why, and is up once the password is right' do
    @redis.cli('CONFIG', 'SET', 'requirepass', 'right-one')
    srv = server(redis: "redis://:wrong-one@127.0.0.1:#{@redis.port}/0")
    Booka.wait_for(timeout: 10) { srv.log =~ /\[redis\] down \(.*(WRONGPASS|invalid password)/ }
    3.times do
      expect(get(srv.url('/readyz')).json).to include('redis' => 'down')
      expect(connections_up(srv)).to eq 0
      sleep 0.2
    end
    @redis.cli('-a', 'right-one', '--no-auth-warning', 'CONFIG', 'SET', 'requirepass', 'wrong-one')
    Booka.wait_for(timeout: 15) { get(srv.url('/readyz')).json['redis'] == 'up' }
    expect(connections_up(srv)).to eq 1
  end

  it 'keeps the connections-up gauge at one per thread after a drop for missed deadlines' do
    s = server
    expect(Booka.wait_for { connections_up(s) == 1 }).to be true
    @redis.cli('DEBUG', 'SLEEP', '2', wait: false)
    n = 0
    Booka.wait_for(timeout: 20) do
      expect(list(s, "sort=newest&limit=#{n += 1}").status).to eq 200 # each lookup's commands miss their deadline
      s.log.include?('commands keep missing their deadline')
    end
    Booka.wait_for(timeout: 20) { s.log.include?('[redis] up again') }
    expect(connections_up(s)).to eq 1
  end

  it 'releases only its own fill lock: an expired lock that another instance took is not deleted' do
    s = server(list: '{cache-lock: 300}')
    Booka.wait_for { connections_up(s) == 1 }
    locker = Booka::Database.lock_table(@db)
    begin
      filling = Thread.new { list(s, 'sort=top_rated&limit=4') }
      lock = Booka.wait_for { @redis.cli('--scan', '--pattern', '*:lock').lines.first&.strip }
      token = @redis.cli('GET', lock)
      expect(token).to match(/\A\h{32}\z/) # a random token of this fill, not a shared constant
      Booka.wait_for { @redis.cli('EXISTS', lock) == '0' } # cache-lock passed while the fill waits for the database
      expect(@redis.cli('SET', lock, 'instance-b', 'PX', '60000')).to eq 'OK' # another instance's fill takes the lock
    ensure
      Booka::Database.unlock(locker)
    end
    expect(filling.value.status).to eq 200
    # one more lookup on the same (only) connection: Redis answers in order, so the fill's release ran before its GET
    expect(list(s, 'sort=top_rated&limit=5').status).to eq 200
    expect(@redis.cli('GET', lock)).to eq 'instance-b'
  end

  it 'treats a value in Redis that would inject response headers as a miss' do
    a = server
    b = server
    [a, b].each { |srv| wait_until_keys_are_shared(srv) }
    q = 'sort=newest&limit=6'
    filled = list(a, q)
    expect(filled['x-cache']).to eq 'MISS'
    key = Booka.wait_for { @redis.cli('--scan', '--pattern', 'v1:list:*limit=6*').lines.map(&:strip).find { |k| !k.end_with?(':lock') } }
    poison = redis_value(etag: %(W/"x"\r\nSet-Cookie: poisoned=1), content_type: "application/json\r\nX-Poisoned: 1",
                         body: '{"data": [], "poisoned": true}')
    out, status = Open3.capture2e('redis-cli', '-p', @redis.port.to_s, '-x', 'SET', key, stdin_data: poison)
    expect([status.success?, out.strip]).to eq [true, 'OK']
    r = list(b, q) # b has nothing in process: it reads Redis, finds the value unservable, and fills from the database
    expect(r.status).to eq 200
    expect(r['x-cache']).to eq 'MISS'
    expect(r['set-cookie']).to be_nil
    expect(r['x-poisoned']).to be_nil
    expect(r['etag']).to eq filled['etag']
    expect(r.body).to eq filled.body
  end
end
