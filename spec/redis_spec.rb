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
