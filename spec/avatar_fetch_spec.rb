# avatar_fetch_spec.rb: the avatar proxy's fetch of http(s) sources when upstreams and name servers misbehave (the fetch
# path review, docs/RELIABILITY.md): a DNS server that never answers, a response head that never ends, many variants of
# one picture and many pictures of one host at once, ports, every address of a name tried in turn, URL spellings, and
# what the counters count.
#
# Upstreams listen on port 80 (the default of fetch-ports) of loopback addresses of their own, and the examples about
# names run the server in a mount namespace of its own whose /etc/resolv.conf and /etc/hosts are the spec's (unshare -m):
# both need root, as the suite runs; without it those examples are skipped.
require 'securerandom'
require_relative 'spec_helper'

module Booka
  # FetchUpstream: an HTTP server on a port of a loopback address of its own; a path's answer is a proc given the
  # socket once the request head is read. Records the request lines.
  class FetchUpstream < ScriptedUpstream
    attr_reader :address, :port

    def initialize(routes, port: 80)
      @routes = routes
      @requests = []
      @port = port
      @address, server = FetchUpstream.listen(port)
      super(server)
    end

    # listen: a TCPServer on `port` of a random 127.0.0.0/8 address (port 80 of 127.0.0.1 may be taken).
    def self.listen(port)
      20.times do
        address = FetchUpstream.random_address
        return [address, TCPServer.new(address, port)]
      rescue Errno::EADDRINUSE
        next
      end
      raise 'no free loopback address'
    end

    def self.random_address
      "127.#{rand(100..250)}.#{rand(0..255)}.#{rand(1..254)}"
    end

    # ok: a route answering 200 with `body` after `delay` seconds.
    def self.ok(body, delay: 0)
      lambda do |sock|
        sleep delay
        sock.write("HTTP/1.1 200 OK\r\nContent-Length: #{body.bytesize}\r\nConnection: close\r\n\r\n#{body}")
      end
    end

    def url(path)
      port == 80 ? "http://#{@address}#{path}" : "http://#{@address}:#{port}#{path}"
    end

    def requests
      @mutex.synchronize { @requests.dup }
    end

    def hits(path)
      requests.count { |line| line.split[1] == path }
    end

    private

    def answer(sock, head)
      line = head.lines.first.strip
      @mutex.synchronize { @requests << line }
      route = @routes[line.split[1]] || ->(s) { s.write("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n") }
      route.call(sock)
    end
  end

  # PrivateResolver: what a server started with #wrap sees as /etc/resolv.conf and /etc/hosts, in a mount namespace of
  # its own: the name server is a UDP socket that reads nothing (every query waits out `timeout` seconds, one attempt),
  # and `hosts` ({name => [address, ...]}, in order) are added to the machine's /etc/hosts.
  class PrivateResolver
    def self.available?
      Process.uid.zero? && system('unshare', '-m', 'true', out: File::NULL, err: File::NULL)
    end

    def initialize(hosts: {}, timeout: 30)
      @dir = Dir.mktmpdir('booka-resolver')
      @blackhole = UDPSocket.new
      begin
        @address = FetchUpstream.random_address
        @blackhole.bind(@address, 53)
      rescue Errno::EADDRINUSE
        retry
      end
      File.write(resolv_conf, "nameserver #{@address}\noptions timeout:#{timeout} attempts:1\n")
      File.write(hosts_file, File.read('/etc/hosts') + hosts.flat_map { |name, addrs| addrs.map { |a| "#{a} #{name}\n" } }.join)
    end

    def resolv_conf
      File.join(@dir, 'resolv.conf')
    end

    def hosts_file
      File.join(@dir, 'hosts')
    end

    # wrap: the command that starts the server in the namespace (Booka::Server's `wrap:`); it execs, so the pid is the
    # server's
    def wrap
      ['unshare', '-m', 'sh', '-c', 'mount --bind "$1" /etc/resolv.conf && mount --bind "$2" /etc/hosts && shift 2 && exec "$@"',
       'sh', resolv_conf, hosts_file]
    end

    def close
      @blackhole.close
      FileUtils.rm_rf(@dir)
    end
  end
end

describe 'avatar sources over http: the fetch when upstreams and name servers misbehave' do
  before(:all) do
    skip 'needs root (port 80 on loopback, unshare -m)' unless Process.uid.zero?
    @dbname = 'booka_spec_avatar_fetch'
    @db = Booka::Database.recreate(@dbname)
    @work = Dir.mktmpdir('booka-avatar-fetch')
    jpeg = File.join(@work, 'a.jpg')
    Booka::Images.run('convert', '-size', '300x300', '-seed', '7', 'plasma:fractal', jpeg)
    @jpeg = File.binread(jpeg)
    endless_head = lambda do |sock|
      sock.write("HTTP/1.1 200 OK\r\nX-Pad: ")
      deadline = Time.now + 10
      sock.write('a' * 65_536) while Time.now < deadline
    end
    @up = Booka::FetchUpstream.new({ '/ok.jpg' => Booka::FetchUpstream.ok(@jpeg),
                                     '/?x=1' => Booka::FetchUpstream.ok(@jpeg),
                                     '/slow.jpg' => Booka::FetchUpstream.ok(@jpeg, delay: 2),
                                     '/slow2.jpg' => Booka::FetchUpstream.ok(@jpeg, delay: 2),
                                     '/endless.jpg' => endless_head })
    @other = Booka::FetchUpstream.new({ '/ok.jpg' => Booka::FetchUpstream.ok(@jpeg) })
    @high = Booka::FetchUpstream.new({ '/ok.jpg' => Booka::FetchUpstream.ok(@jpeg),
                                       '/media/profile_pics/ok.jpg' => Booka::FetchUpstream.ok(@jpeg) }, port: 8080)
    @dead = Booka::FetchUpstream.random_address # nobody listens there
    @pictures = {
      1 => @up.url('/ok.jpg'),
      2 => @up.url('/slow.jpg'),
      3 => @up.url('/slow2.jpg'),
      4 => @other.url('/ok.jpg'),
      5 => @up.url('/endless.jpg'),
      6 => @high.url('/ok.jpg'),
      7 => '/static/profile_pics/ok.jpg',
      8 => "http://#{@two = "two-#{SecureRandom.hex(4)}.test"}/ok.jpg", # a name of this run: its variants are not in Redis
      9 => @up.url('/ok.jpg').sub('http://', 'HTTP://'),
      10 => @up.url('?x=1').sub('http://', 'Http://'),
      11 => "#{@up.url('/ok.jpg')}#fragment",
      12 => "http://#{@dead}/ok.jpg"
    }
    (1..30).each do |i| # names whose DNS never answers, two URLs on each
      @pictures[100 + i] = "http://tarpit-#{i}.example/a.jpg"
      @pictures[200 + i] = "http://tarpit-#{i}.example/another.jpg"
    end
    Booka::Database.insert_providers(@db, @pictures)
  end

  after(:all) do
    [@up, @other, @high].each { |u| u&.stop }
    FileUtils.rm_rf(@work) if @work
  end

  # avatar_server: an instance serving the avatar path with `avatar` as its booka.avatar value, plus /status and
  # /metrics; `db`: its booka.postgres value; `resolver`: a PrivateResolver to run in.
  def avatar_server(avatar, threads: 1, db: @db, resolver: nil)
    Booka::Server.new(wrap: resolver ? resolver.wrap : []) do |s|
      <<~YAML
        listen: #{s.port}
        num-threads: #{threads}
        booka.postgres: #{db}
        hosts:
          default:
            paths:
              /api/v1/img/avatar:
                booka.avatar: #{avatar}
              /status:
                status: ON
              /metrics:
                booka.metrics: ON
      YAML
    end.start
  end

  def avatar(server, path, **opts)
    get(server.url("/api/v1/img/avatar/#{path}"), **opts)
  end

  def stats(server)
    JSON.parse(get(server.url('/status/json?show=avatar')).body)
  end

  # metric: a sample without labels from /metrics, nil when the server has no such metric
  def metric(server, name)
    get(server.url('/metrics')).body[/^#{name} (\S+)$/, 1]&.to_f
  end

  def vm_hwm_kb(server)
    File.read("/proc/#{server.pid}/status")[/VmHWM:\s+(\d+)/, 1].to_i
  end

  it 'keeps resolver threads for the database while source names hang in DNS, answers them in fetch-connect-timeout, ' \
     'and remembers a name that did not resolve' do
    skip 'needs unshare -m' unless Booka::PrivateResolver.available?
    resolver = Booka::PrivateResolver.new
    by_name = { 'url' => Booka::Database.url_for(@dbname).sub('127.0.0.1', 'localhost'), 'pool-size' => 1 }
    server = avatar_server('{fetch-connect-timeout: 1000, fetch-timeout: 20000}', db: by_name.to_json, resolver: resolver)
    expect(avatar(server, '999999').status).to eq 404 # the database, reached by name
    hostile = (1..30).map do |i|
      Thread.new { [Time.now, avatar(server, "#{100 + i}?w=64", timeout: 40), Time.now].then { |t0, r, t1| [r.status, t1 - t0] } }
    end
    # every one looked its provider up (one query each), and its name is being resolved (each waits 30 s in vain)
    Booka.wait_for(timeout: 30) { get(server.url('/metrics')).body[/^booka_db_queries_total\{pool="primary"\} (\d+)/, 1].to_i >= 31 }
    sleep 0.5

    # meanwhile the database's connection is lost (the query that finds out answers 503) and made again by name at once:
    # its lookup does not wait behind theirs
    Booka::Database.psql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '#{@dbname}' " \
                         'AND pid <> pg_backend_pid();')
    started = Time.now
    Booka.wait_for(timeout: 3) { avatar(server, '999998', timeout: 3).status == 404 }
    expect(Time.now - started).to be < 3

    # 16 lookups at once on the avatar's resolver threads; the others are answered busy
    answers = hostile.map(&:value)
    expect(answers.map(&:first).tally).to eq(504 => 16, 503 => 14)
    expect(answers.map(&:last).max).to be < 10 # the names waited for fetch-connect-timeout (1 s), not fetch-timeout (20 s)
    expect(metric(server, 'booka_avatar_lookups')).to eq 16
    expect(metric(server, 'booka_avatar_lookup_busy_total')).to eq 14

    # another URL on a name that did not resolve is answered from memory, without a lookup or an upstream request
    hits = stats(server)['avatar-fetch-failure-hits']
    expect(avatar(server, "#{201 + answers.index { |status, _| status == 504 }}?w=64").status).to eq 504
    expect(stats(server)['avatar-fetch-failure-hits']).to eq hits + 1
    expect(metric(server, 'booka_avatar_lookups')).to eq 16
    expect(stats(server)['avatar-fetches']).to eq 0 # nothing was requested from an upstream
  ensure
    resolver&.close
  end

  it 'refuses a response head over 64 KiB at once, without buffering it' do
    server = avatar_server('{fetch-allow: 127.0.0.0/8, fetch-timeout: 8000}')
    before = vm_hwm_kb(server)
    started = Time.now
    res = avatar(server, '5?w=64', timeout: 20)
    expect(res.status).to eq 502
    expect(res.body).to include 'response head over 64 KiB'
    expect(Time.now - started).to be < 3
    expect(avatar(server, '999999').status).to eq 404 # the loop is free
    expect(vm_hwm_kb(server) - before).to be < 32 * 1024
  end

  it 'fetches a source once for all its variants in flight, leaving fetch slots to other pictures' do
    server = avatar_server('{fetch-allow: 127.0.0.0/8, fetch-concurrency: 2, fetch-connect-timeout: 8000}', threads: 2)
    before = @up.hits('/slow.jpg')
    variants = (40..45).map { |w| Thread.new { avatar(server, "2?w=#{w}", timeout: 20) } }
    Booka.wait_for(timeout: 10) { @up.hits('/slow.jpg') > before }
    sleep 0.3 # every variant is in flight by now
    expect(avatar(server, '4?w=64').status).to eq 200 # a fetch slot was free for another picture
    expect(variants.map { |t| t.value.status }).to eq [200] * 6
    expect(@up.hits('/slow.jpg') - before).to eq 1
    expect(metric(server, 'booka_avatar_source_waits_total')).to eq 5
  end

  it 'caps the fetches in flight per host at fetch-per-host: 503 with Retry-After beyond it, other hosts unaffected' do
    server = avatar_server('{fetch-allow: 127.0.0.0/8, fetch-per-host: 1, fetch-connect-timeout: 8000}', threads: 2)
    before = @up.hits('/slow.jpg')
    slow = Thread.new { avatar(server, '2?w=50', timeout: 20) }
    Booka.wait_for(timeout: 10) { @up.hits('/slow.jpg') > before }
    busy = avatar(server, '3?w=50')
    expect(busy.status).to eq 503
    expect(busy['retry-after']).to eq '1'
    expect(busy.body).to include 'the picture sources are busy'
    expect(avatar(server, '4?w=50').status).to eq 200 # another host
    expect(slow.value.status).to eq 200
    expect(avatar(server, '3?w=50').status).to eq 200 # the host's slot is free again, and a 503 is not remembered
    expect(metric(server, 'booka_avatar_fetch_host_busy_total')).to eq 1
  end

  it 'fetches from ports 80 and 443 only unless fetch-ports names more; media-base-url\'s own port always' do
    server = avatar_server('{fetch-allow: 127.0.0.0/8}')
    res = avatar(server, '6?w=64')
    expect(res.status).to eq 502
    expect(res.body).to eq avatar(server, '12?w=64').body # the answer of a server that is not there
    expect(server.log).to include("refused to fetch from #{@high.address}: port 8080 is not in fetch-ports")
    expect(metric(server, 'booka_avatar_fetch_refused_total')).to eq 1
    expect(stats(server)['avatar-fetches']).to eq 0 # neither the refusal nor the refused connection was a request
    expect(@high.hits('/ok.jpg')).to eq 0

    expect(avatar(avatar_server('{fetch-allow: 127.0.0.0/8, fetch-ports: [80, 8080]}'), '6?w=66').status).to eq 200
    media = avatar_server("{fetch-allow: 127.0.0.0/8, media-base-url: \"http://#{@high.address}:8080/media/\"}")
    expect(avatar(media, '7?w=64').status).to eq 200

    port = 'expected a whole number from 1 to 65535'
    { 'fetch-ports: [0]' => port, 'fetch-ports: [80, 65536]' => port, 'fetch-ports: http' => port,
      'fetch-ports: []' => 'fetch-ports needs at least one port', 'fetch-per-host: 0' => 'expected a whole number from 1 to 100000' }.each do |setting, message|
      status, out = Booka.check_avatar_config(@db, "{#{setting}}", path: '/a')
      expect(status).not_to eq 0
      expect(out).to match(/h2o\.conf:\d+:\d+: .*#{Regexp.escape(message)}/)
    end
  end

  it 'counts an upstream request when a connection is made, not for a refused address or a refused connection' do
    server = avatar_server('ON') # loopback is not public
    expect(avatar(server, '1?w=70').status).to eq 502
    expect(server.log).to include("refused to fetch from #{@up.address}: not a public address")
    allowed = avatar_server('{fetch-allow: 127.0.0.0/8}')
    expect(avatar(allowed, '12?w=70').status).to eq 502 # nobody listens there
    expect([stats(server)['avatar-fetches'], stats(allowed)['avatar-fetches']]).to eq [0, 0]
    expect(avatar(allowed, '1?w=71').status).to eq 200
    expect(stats(allowed)['avatar-fetches']).to eq 1
  end

  it 'tries every address of a name in turn until one connects' do
    skip 'needs unshare -m' unless Booka::PrivateResolver.available?
    resolver = Booka::PrivateResolver.new(hosts: { @two => [@dead, @up.address] })
    server = avatar_server('{fetch-allow: 127.0.0.0/8, fetch-failure-ttl: 0, originals-cache-size: 0}', resolver: resolver)
    # each variant fetches the source (no originals cache): a random pick would have failed about half of them
    expect((60..67).map { |w| avatar(server, "8?w=#{w}").status }).to eq [200] * 8
    expect(stats(server)['avatar-fetches']).to eq 8
  ensure
    resolver&.close
  end

  it 'reads the scheme in any case, sends no fragment, and puts a path before a query that follows the host' do
    server = avatar_server('{fetch-allow: 127.0.0.0/8}')
    before = @up.requests.size
    %w[9 10 11].each { |id| expect(avatar(server, "#{id}?w=64").status).to eq(200), "provider #{id}" }
    lines = @up.requests[before..]
    expect(lines).to include('GET /?x=1 HTTP/1.1')
    expect(lines.count('GET /ok.jpg HTTP/1.1')).to eq 2
    expect(lines.join).not_to include('#')
  end
end
