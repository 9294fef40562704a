# server_spec.rb: the host binary: protocols, stock H2O directives, config checking, graceful shutdown, health.
require_relative 'spec_helper'
require 'zlib'
require 'stringio'
require 'etc'

describe 'booka-origin host' do
  def docroot(server)
    dir = File.join(server.dir, 'www')
    FileUtils.mkdir_p(dir)
    File.write(File.join(dir, 'hello.txt'), "hello from file.dir\n")
    File.write(File.join(dir, 'big.json'), JSON.generate({ 'items' => (1..400).map { |i| { 'id' => i, 'name' => "item #{i}" } } }))
    File.write(File.join(dir, 'oops.html'), "<p>custom not found</p>\n")
    dir
  end

  # health_only: a config of `directives` (top-level YAML lines) serving nothing but /healthz
  def health_only(*directives)
    "#{directives.join("\n")}\nhosts:\n  default:\n    paths:\n      /healthz:\n        booka.health: ON\n"
  end

  let(:server) do
    Booka::Server.new do |s|
      www = docroot(s)
      <<~YAML
        #{s.listeners.chomp}
        num-threads: 2
        max-connections: 256
        pid-file: #{s.dir}/booka.pid
        http2-idle-timeout: 20
        booka.cors-origins: [https://app.example.com]
        access-log:
          path: #{s.dir}/access.log
          format: "%h %s %{x-request-id}i %r"
        hosts:
          default:
            paths:
              /healthz:
                booka.health: ON
              /readyz:
                booka.readiness: ON
              /files:
                file.dir: #{www}
                header.add: "X-Served-By: booka-origin"
                expires: 1 day
                compress: [gzip]
              /old:
                redirect:
                  url: /files/
                  status: 301
              /server-status:
                status: ON
              /missing:
                file.dir: #{www}/nothing-here
                error-doc:
                  status: 404
                  url: /files/oops.html
              /api:
                booka.not-found: ON
      YAML
    end
  end

  describe 'protocols' do
    before { server.start }

    it 'negotiates h2 over TLS with ALPN' do
      r = get(server.url('/healthz', tls: true), proto: :h2)
      expect(r.status).to eq 200
      expect(r.http_version).to eq '2'
    end

    it 'serves HTTP/1.1 over TLS when the client offers only http/1.1' do
      r = get(server.url('/healthz', tls: true), proto: :h1, extra: ['-k'])
      expect(r.status).to eq 200
      expect(r.http_version).to eq '1.1'
    end

    it 'serves h2c with prior knowledge on the cleartext listener' do
      r = get(server.url('/healthz'), proto: :h2c)
      expect(r.status).to eq 200
      expect(r.http_version).to eq '2'
    end

    it 'serves HTTP/1.1 on the cleartext listener' do
      r = get(server.url('/healthz'), proto: :h1)
      expect(r.status).to eq 200
      expect(r.http_version).to eq '1.1'
    end

    it 'writes the pid file while serving' do
      pid_file = File.join(server.dir, 'booka.pid')
      50.times { File.exist?(pid_file) ? break : sleep(0.1) } # sockets are bound during config load, the pid file after
      expect(File.read(pid_file).to_i).to eq server.pid
    end
  end

  describe 'stock H2O directives' do
    before { server.start }

    it 'file.dir serves files, with header.add and expires applied' do
      r = get(server.url('/files/hello.txt'), proto: :h2c)
      expect(r.status).to eq 200
      expect(r.body).to eq "hello from file.dir\n"
      expect(r['x-served-by']).to eq 'booka-origin'
      expect(r['cache-control']).to eq 'max-age=86400'
    end

    it 'compress gzips a compressible response for a client that accepts it' do
      plain = get(server.url('/files/big.json'), proto: :h2c)
      r = get(server.url('/files/big.json'), proto: :h2c, headers: { 'Accept-Encoding' => 'gzip' })
      expect(r['content-encoding']).to eq 'gzip'
      expect(r.body.bytesize).to be < plain.body.bytesize
      expect(Zlib::GzipReader.new(StringIO.new(r.body)).read).to eq plain.body
    end

    it 'redirect answers with the configured status and location' do
      r = get(server.url('/old/x'), proto: :h1)
      expect(r.status).to eq 301
      expect(r['location']).to end_with '/files/x'
    end

    it 'status serves the status JSON' do
      r = get(server.url('/server-status/json'), proto: :h1)
      expect(r.status).to eq 200
      expect(r.json).to include('requests', 'worker-threads' => 2, 'max-connections' => 256)
      expect(r.json['server-version']).to start_with "booka-origin"
    end

    it 'error-doc replaces the body of a 404' do
      r = get(server.url('/missing/nope.txt'), proto: :h1)
      expect(r.status).to eq 404
      expect(r.body).to eq "<p>custom not found</p>\n"
    end

    it 'access-log writes one line per request with the request id' do
      r = get(server.url('/healthz'), proto: :h1, headers: { 'X-Request-Id' => 'spec-abc-123' })
      expect(r['x-request-id']).to eq 'spec-abc-123'
      server.stop
      expect(File.read(File.join(server.dir, 'access.log'))).to match(/ 200 spec-abc-123 GET \/healthz HTTP\/1.1$/)
    end

    it 'proxy.reverse.url forwards to an upstream' do
      upstream_port = server.port
      front = Booka::Server.new do |s|
        <<~YAML
          listen: #{s.port}
          hosts:
            default:
              paths:
                /:
                  proxy.reverse.url: http://127.0.0.1:#{upstream_port}/
        YAML
      end
      front.start
      r = get(front.url('/files/hello.txt'), proto: :h2c)
      expect(r.status).to eq 200
      expect(r.body).to eq "hello from file.dir\n"
    end
  end

  describe 'health and the shared response headers' do
    before { server.start }

    it 'GET /healthz is 200 JSON while serving' do
      r = get(server.url('/healthz'), proto: :h2c)
      expect(r.status).to eq 200
      expect(r['content-type']).to eq 'application/json'
      expect(r.json).to eq('status' => 'ok')
    end

    it 'GET /readyz lists its dependencies' do
      r = get(server.url('/readyz'), proto: :h2c)
      expect([200, 503]).to include r.status
      expect(r.json).to be_a Hash
    end

    it 'HEAD has the same headers as GET and no body' do
      g = get(server.url('/healthz'), proto: :h1)
      h = get(server.url('/healthz'), proto: :h1, method: 'HEAD')
      expect(h.status).to eq 200
      expect(h.body).to eq ''
      expect(h['content-length']).to eq g.body.bytesize.to_s
      expect(h['content-type']).to eq g['content-type']
    end

    it 'an unknown API path is a JSON 404 with CORS for an allowed origin' do
      r = get(server.url('/api/v1/nothing'), proto: :h2c, headers: { 'Origin' => 'https://app.example.com' })
      expect(r.status).to eq 404
      expect(r.json).to eq('detail' => 'Not Found')
      expect(r['access-control-allow-origin']).to eq 'https://app.example.com'
      expect(r['access-control-allow-credentials']).to eq 'true'
      expect(r['vary']).to eq 'Origin'
    end

    it 'gives no CORS grant to an origin that is not allowed' do
      r = get(server.url('/api/v1/nothing'), proto: :h2c, headers: { 'Origin' => 'https://evil.example.com' })
      expect(r.status).to eq 404
      expect(r['access-control-allow-origin']).to be_nil
      expect(r['vary']).to eq 'Origin'
    end

    it 'OPTIONS on an API path is 204 with the preflight grant for an allowed origin only' do
      ok = get(server.url('/api/v1/anything'), proto: :h1, method: 'OPTIONS',
                                                 headers: { 'Origin' => 'https://app.example.com',
                                                            'Access-Control-Request-Headers' => 'if-none-match' })
      expect(ok.status).to eq 204
      expect(ok['access-control-allow-methods']).to include 'GET'
      expect(ok['access-control-allow-headers']).to eq 'if-none-match'
      expect(ok['access-control-max-age']).to match(/\A\d+\z/)
      denied = get(server.url('/api/v1/anything'), proto: :h1, method: 'OPTIONS', headers: { 'Origin' => 'https://evil.example.com' })
      expect(denied.status).to eq 204
      expect(denied['access-control-allow-methods']).to be_nil
      expect(denied['access-control-allow-origin']).to be_nil
    end

    it 'generates an X-Request-Id, and replaces one that is not sane' do
      fresh = get(server.url('/healthz'), proto: :h2c)
      expect(fresh['x-request-id']).to match(/\A[0-9a-f]{32}\z/)
      hostile = get(server.url('/healthz'), proto: :h2c, headers: { 'X-Request-Id' => 'a"b<script>' })
      expect(hostile['x-request-id']).to match(/\A[0-9a-f]{32}\z/)
      long = get(server.url('/healthz'), proto: :h2c, headers: { 'X-Request-Id' => 'x' * 300 })
      expect(long['x-request-id']).to match(/\A[0-9a-f]{32}\z/)
    end
  end

  describe 'limits and logs' do
    it 'max-connections holds further connections until one closes' do
      s = Booka::Server.new do |srv|
        health_only("listen: #{srv.port}", 'num-threads: 1', 'max-connections: 1')
      end
      s.start
      holder = TCPSocket.new('127.0.0.1', s.port)
      holder.write("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
      expect(holder.readpartial(4096)).to start_with 'HTTP/1.1 200'
      waiting = Thread.new { get(s.url('/healthz'), proto: :h1, timeout: 10) }
      sleep 1.0
      expect(waiting.alive?).to be true # accepted by the kernel, not by the server
      holder.close
      r = waiting.value
      expect(r.status).to eq 200
    end

    it 'error-log receives the server log' do
      s = Booka::Server.new do |srv|
        health_only("listen: #{srv.port}", "error-log: #{srv.dir}/error.log")
      end
      s.start
      expect(get(s.url('/healthz'), proto: :h1).status).to eq 200
      expect(s.stop).to eq 0
      log = File.read(File.join(s.dir, 'error.log'))
      expect(log).to include('serving with', 'draining', 'stopped')
    end
  end

  describe 'tcp-reuseport' do
    it 'serves on every thread whatever the position of the directive, and refuses a port already taken' do
      s = Booka::Server.new do |srv|
        health_only("listen: #{srv.port}", 'num-threads: 2', 'tcp-reuseport: ON')
      end
      s.start
      10.times { expect(get(s.url('/healthz'), proto: :h1).status).to eq 200 }
      taken = Booka::Server.new("listen: #{s.port}\nhosts:\n  default:\n    paths: {}\n")
      out, status = Open3.capture2e(Booka::BIN, '-c', taken.config_path)
      expect(status.exitstatus).not_to eq 0
      expect(out).to match(/h2o\.conf:1:9: in command listen, cannot listen on \*:#{s.port}: Address already in use/)
    end
  end

  describe 'graceful shutdown' do
    it 'finishes an in-flight response after SIGTERM, refuses new connections, and exits 0' do
      s = Booka::Server.new do |srv|
        www = File.join(srv.dir, 'www')
        FileUtils.mkdir_p(www)
        File.binwrite(File.join(www, 'large.bin'), Random.new(7).bytes(24 * 1024 * 1024))
        <<~YAML
          listen: #{srv.port}
          num-threads: 2
          http2-graceful-shutdown-timeout: 20
          pid-file: #{srv.dir}/booka.pid
          hosts:
            default:
              paths:
                /: {file.dir: #{www}}
        YAML
      end
      s.start
      expected = File.size(File.join(s.dir, 'www', 'large.bin'))
      download = Thread.new { get(s.url('/large.bin'), proto: :h2c, extra: ['--limit-rate', '8M'], timeout: 30) }
      sleep 1.0 # the transfer is under way (24 MiB at 8 MiB/s takes ~3 s)
      s.signal('TERM')
      sleep 0.3
      expect(Booka.listening?(s.port)).to be false
      r = download.value
      expect(r.curl_exit).to eq 0
      expect(r.status).to eq 200
      expect(r.body.bytesize).to eq expected
      expect(s.stop).to eq 0
      expect(File.exist?(File.join(s.dir, 'booka.pid'))).to be false
      expect(s.log).to include 'draining'
    end
  end

  describe 'booka-origin -t' do
    def check(yaml)
      s = Booka::Server.new(yaml)
      s.check_config
    end

    it 'accepts a valid config' do
      status, out = check(health_only('listen: 8080'))
      expect(status).to eq 0
      expect(out).to include 'configuration OK'
    end

    it 'names file:line:column of an unknown directive' do
      status, out = check("listen: 8080\nhosts:\n  default:\n    paths:\n      /:\n        file.dri: /tmp\n")
      expect(status).not_to eq 0
      expect(out).to match(%r{h2o\.conf:6:9: unknown command: file\.dri})
    end

    it 'names the position of a value of the wrong type' do
      status, out = check("listen: 8080\nnum-threads: [1, 2]\nhosts:\n  default:\n    paths: {}\n")
      expect(status).not_to eq 0
      expect(out).to match(%r{h2o\.conf:2:14: in command num-threads, argument cannot be a sequence})
    end

    it 'names the position of a missing certificate file' do
      status, out = check("listen:\n  port: 8443\n  ssl:\n    certificate-file: /nonexistent/cert.pem\n    key-file: /nonexistent/key.pem\n" \
                          "hosts:\n  default:\n    paths: {}\n")
      expect(status).not_to eq 0
      expect(out).to match(%r{h2o\.conf:4:23: in command listen, cannot load certificate file /nonexistent/cert\.pem})
    end

    it 'names the position of a YAML syntax error' do
      status, out = check("listen: 8080\nhosts: [unclosed\n")
      expect(status).not_to eq 0
      expect(out).to match(%r{h2o\.conf:\d+:\d+: .*flow sequence})
    end

    it 'rejects a config without a listener' do
      status, out = check("hosts:\n  default:\n    paths: {}\n")
      expect(status).not_to eq 0
      expect(out).to include 'mandatory directive `listen` is missing'
    end
  end

  describe 'configuration numbers, keys and host directives (booka-origin -t)' do
    # check: -t over `directives` (top-level YAML) and one path holding `path_yaml`: [exit status, output]; the config
    # is kept in @yaml for position_of
    def check(directives, path_yaml = 'booka.health: ON')
      path = path_yaml.lines.map { |l| "        #{l.chomp}\n" }.join
      @yaml = "listen: 8080\n#{directives}\nhosts:\n  default:\n    paths:\n      /p:\n#{path}"
      Booka::Server.new(@yaml).check_config
    end

    # position_of: "LINE:COLUMN" (one-based) of the first `token` in the last checked config; in "context|token" the
    # position is that of the part after the bar
    def position_of(token)
      context, token = token.include?('|') ? token.split('|', 2) : ['', token]
      line = @yaml.lines.index { |l| l.include?(context + token) } or raise "#{context}#{token} not in the config"
      "#{line + 1}:#{@yaml.lines[line].index(context + token) + context.size + 1}"
    end

    # expect_error: the output names the position of `token` and says `text`
    def expect_error(out, token, text)
      expect(out).to match(/h2o\.conf:#{position_of(token)}: .*#{Regexp.escape(text)}/), out
    end

    # expect_rejected: -t failed (`checked`: what #check returned) naming the position of `token` and saying `text`;
    # returns the output
    def expect_rejected(checked, token, text)
      status, out = checked
      expect(status).not_to eq 0
      expect_error(out, token, text)
      out
    end

    it 'rejects a negative number instead of wrapping it (list, Redis, host)' do
      out = expect_rejected(check('', "booka.list: {cache-ttl: -1}"),
                            '-1}', 'in command booka.list, expected a duration from 0 to 315360000 s')
      expect(out).to include('got `-1`')
      expect_rejected(check("booka.redis: {url: 'redis://127.0.0.1:1', command-timeout: -5}"),
                      '-5}', 'in command booka.redis, expected a duration from 1 to 60000 ms')
      expect_rejected(check('max-connections: -1'),
                      '-1', 'in command max-connections, expected a whole number from 1 to 1048576')
    end

    it 'rejects trailing garbage instead of reading the leading digits (list, postgres, avatar, host)' do
      expect_rejected(check('', "booka.list: {max-age: 30abc}"), '30abc', 'got `30abc`')
      expect_rejected(check("booka.postgres: {url: 'postgresql://x@127.0.0.1/x', pool-size: 4x}"),
                      '4x', 'in command booka.postgres, expected a whole number from 1 to 256, got `4x`')
      expect_rejected(check('', "booka.avatar: {max-side: 512px}"),
                      '512px', 'in command booka.avatar, expected a whole number from 16 to 8192, got `512px`')
      expect_rejected(check('num-threads: 2 threads'),
                      '2 threads', 'in command num-threads, expected a whole number from 1 to 256')
    end

    it 'rejects values out of range: a zero Redis command-timeout, an overflowing number, a zero thread count' do
      expect_rejected(check("booka.redis: {url: 'redis://127.0.0.1:1', command-timeout: 0}"),
                      '0}', 'expected a duration from 1 to 60000 ms')
      expect_rejected(check('booka.cors-max-age: 18446744073709551616'),
                      '1844', 'in command booka.cors-max-age, expected a duration from 0 to 86400 s')
      expect_rejected(check('num-threads: 0'), 'num-threads: |0', 'expected a whole number from 1 to 256, got `0`')
      expect_rejected(check('', "booka.list: {cache-ttl: 10, cache-jitter: 11}"),
                      '11}', 'cache-jitter cannot exceed cache-ttl')
    end

    it 'applies the unit rules: suffixes convert, a fraction of the unit or an unknown suffix is an error' do
      status, out = check("booka.postgres: {url: 'postgresql://x@127.0.0.1/x', query-timeout: 3s, connect-timeout: 1500ms}",
                          "booka.list: {cache-ttl: 1m, cache-size: 128M, cache-wait: 2s}\nbooka.avatar: {max-source-bytes: 20M}")
      expect([status, out]).to eq [0, "configuration OK\n"]
      expect_rejected(check('', "booka.list: {cache-ttl: 1500ms}"),
                      '1500ms', 'a bare number counts s; or suffixed ms, s, m, h or d), got `1500ms`')
      expect_rejected(check('', "booka.list: {cache-size: 512K}"), '512K', 'expected a size from 0 to 65536 MiB')
      expect_rejected(check('', "booka.avatar: {fetch-timeout: 10sec}"), '10sec', 'got `10sec`')
      expect_rejected(check('', "booka.avatar: {queue-limit: 1K}"),
                      '1K', 'expected a whole number from 0 to 1000000, got `1K`')
    end

    it 'names an unknown key in every mapping, and a key given twice' do
      { ['', 'booka.list: {cachettl: 3}'] => ['cachettl', 'in command booka.list, unknown key `cachettl` (expected max-age,'],
        ['', 'booka.avatar: {max-sides: 3}'] => ['max-sides', 'in command booka.avatar, unknown key `max-sides`'],
        ["booka.postgres: {url: 'postgresql://x@127.0.0.1/x', poolsize: 3}", nil] =>
          ['poolsize', 'in command booka.postgres, unknown key `poolsize` (expected url, pool-size,'],
        ["booka.postgres-replica: {url: 'postgresql://x@127.0.0.1/x', max-lga: 3}", nil] =>
          ['max-lga', 'in command booka.postgres-replica, unknown key `max-lga`'],
        ["booka.redis: {url: 'redis://127.0.0.1:1', command-timeot: 5}", nil] =>
          ['command-timeot', 'in command booka.redis, unknown key `command-timeot` (expected url, command-timeout or connect-timeout)'],
        ['booka.trusted-proxies: {adresses: [10.0.0.0/8]}', nil] =>
          ['adresses', 'in command booka.trusted-proxies, unknown key `adresses` (expected addresses or headers)'],
        ['', 'booka.list: {max-age: 1, stale-while-revalidate: 3, max-age: 2}'] =>
          ['max-age: 2', '`max-age` is given more than once (also at'] }.each do |(top, path), (token, text)|
        expect_rejected((path ? check(top, path) : check(top)), token, text)
      end
    end

    it 'rejects an unknown key in a listen mapping instead of binding every interface' do
      @yaml = "listen:\n  port: 8080\n  hots: 127.0.0.1\nhosts:\n  default:\n    paths: {}\n"
      expect_rejected(Booka::Server.new(@yaml).check_config,
                      'hots', 'in command listen, unknown key `hots` (expected port, host or ssl)')
      @yaml = "listen:\n  port: 8443\n  ssl:\n    certificate-file: a\n    key-fiel: b\nhosts:\n  default:\n    paths: {}\n"
      expect_rejected(Booka::Server.new(@yaml).check_config, 'key-fiel', 'unknown key `key-fiel`')
    end

    it "accepts H2O's names and the older spellings, documented as aliases" do
      %w[tcp-reuseport reuseport].each do |name|
        expect(check("#{name}: ON")).to eq [0, "configuration OK\n"]
      end
      %w[http2-graceful-shutdown-timeout graceful-shutdown-timeout].each do |name|
        expect(check("#{name}: 30")).to eq [0, "configuration OK\n"]
        expect_rejected(check("#{name}: -1"), '-1', "in command #{name}, expected a duration from 0 to 3600 s")
      end
    end

    it 'names a user that does not exist' do
      expect_rejected(check('user: no-such-user-here'),
                      'no-such-user-here', 'in command user, user no-such-user-here does not exist')
    end
  end

  describe 'user, as H2O' do
    # uid: the real uid of a running process
    def uid(pid)
      File.read("/proc/#{pid}/status")[/^Uid:\s+(\d+)/, 1].to_i
    end

    it 'started as root without `user`, switches to nobody; with `user`, to that user', if: Process.uid.zero? do
      yaml = health_only('listen: {port: PORT, host: 127.0.0.1}', 'num-threads: 1')
      nobody = Etc.getpwnam('nobody').uid
      s = Booka::Server.new('')
      File.write(s.config_path, yaml.sub('PORT', s.port.to_s)) # without the harness's `user: root`
      s.start
      expect(get(s.url('/healthz')).status).to eq 200
      expect(uid(s.pid)).to eq nobody
      expect(s.log).to include('running as user nobody')
      expect(s.stop).to eq 0
      s = Booka::Server.new { |srv| yaml.sub('PORT', srv.port.to_s).sub('num-threads: 1', "num-threads: 1\nuser: daemon") }
      s.start
      expect(get(s.url('/healthz')).status).to eq 200
      expect(uid(s.pid)).to eq Etc.getpwnam('daemon').uid
      expect(s.stop).to eq 0
    end

    # started_as_root: a server from `yaml` (PORT replaced) as the specs' root starts it, without the harness's
    # `user: root`, so it switches to nobody as it would in production
    def started_as_root(yaml, port: nil)
      s = Booka::Server.new('')
      File.write(s.config_path, yaml.gsub('PORT', (port || s.port).to_s).gsub('DIR', s.dir))
      yield s.dir if block_given?
      s.start(wait_for: port || s.port)
      # the sockets listen before the switch: wait until it is done
      Booka.wait_for { s.log.include?('serving with') || !s.alive? }
      raise Booka::ServerError, "server exited:\n#{s.log}" unless s.alive?
      s
    end

    # free_port_below_1024: a privileged port nothing listens on (only root may bind it)
    def free_port_below_1024
      (600..1000).to_a.shuffle.each do |p|
        TCPServer.new('127.0.0.1', p).close
        return p
      rescue Errno::EADDRINUSE
        next
      end
      raise 'no free port below 1024'
    end

    # listening_sockets: [Recv-Q] of each listening socket `pid` holds on `port` (ss: the accept queue's length)
    def listening_sockets(pid, port)
      out, = Open3.capture2('ss', '-Hltnp', "sport = :#{port}")
      out.lines.select { |l| l.include?("pid=#{pid},") }.map { |l| l.split[1].to_i }
    end

    # Every per-thread SO_REUSEPORT socket is bound before the switch to nobody: after it, a port below 1024 is refused,
    # and any port is (the kernel lets only the same effective uid join a SO_REUSEPORT group).
    { 'a port below 1024' => :free_port_below_1024, 'an unprivileged port' => nil }.each do |what, port_method|
      it "with tcp-reuseport, binds every thread's socket before switching to nobody: #{what}", if: Process.uid.zero? do
        port = port_method ? send(port_method) : Booka.free_port
        s = started_as_root(<<~YAML, port: port)
          listen: {port: PORT, host: 127.0.0.1}
          num-threads: 3
          tcp-reuseport: ON
          hosts:
            default:
              paths:
                /healthz:
                  booka.health: ON
        YAML
        expect(uid(s.pid)).to eq Etc.getpwnam('nobody').uid
        expect(listening_sockets(s.pid, port).size).to eq 3
        # a new connection each time (new source port): the kernel hashes them over the three sockets, so a socket no
        # thread accepts on would leave some unanswered ((2/3)^30 < 1e-5 that one gets none)
        30.times { expect(get("http://127.0.0.1:#{port}/healthz", proto: :h1, timeout: 5).status).to eq 200 }
        expect(listening_sockets(s.pid, port)).to eq [0, 0, 0]
        expect(s.log).not_to include('cannot set up a listener')
        expect(s.stop).to eq 0
      end
    end

    it 'writes the pid file before switching to nobody (in a root-owned directory such as /run), and empties it at exit',
       if: Process.uid.zero? do
      s = started_as_root(<<~YAML) { |dir| File.chmod(0o755, dir) && FileUtils.mkdir(File.join(dir, 'run'), mode: 0o755) }
        listen: {port: PORT, host: 127.0.0.1}
        num-threads: 1
        pid-file: DIR/run/booka.pid
        hosts:
          default:
            paths:
              /healthz:
                booka.health: ON
      YAML
      pid_file = File.join(s.dir, 'run', 'booka.pid')
      expect(File.stat(File.dirname(pid_file)).uid).to eq 0
      expect(uid(s.pid)).to eq Etc.getpwnam('nobody').uid
      expect(File.read(pid_file)).to eq "#{s.pid}\n"
      expect(get(s.url('/healthz')).status).to eq 200
      expect(s.stop).to eq 0
      # nobody may not remove a file from root's directory: the file stays, naming no process
      expect(File.read(pid_file)).to eq ''
      expect(s.log).to include("pid-file #{pid_file} emptied")
    end
  end

  describe 'the client address behind trusted proxies (access log %{booka-client-ip}e)' do
    # 127.0.0.1 is a trusted proxy; a client connecting from 127.0.0.2 is not one
    let(:server) do
      Booka::Server.new do |s|
        <<~YAML
          listen: {port: #{s.port}, host: 127.0.0.1}
          num-threads: 1
          booka.trusted-proxies: [127.0.0.1/32, 203.0.113.0/24]
          access-log:
            path: #{s.dir}/access.log
            format: '%{booka-client-ip}e %h %{x-request-id}i'
          hosts:
            default:
              paths:
                /healthz:
                  booka.health: ON
        YAML
      end.start
    end

    # logged: the client address the access log shows for one request from `from`, with `headers`
    def logged(from, headers)
      id = "client-#{rand(1 << 30)}"
      r = get(server.url('/healthz'), headers: headers.merge('X-Request-Id' => id), extra: ['--interface', from])
      expect(r.status).to eq 200
      path = File.join(server.dir, 'access.log')
      line = Booka.wait_for { File.exist?(path) && File.readlines(path).find { |l| l.split(' ')[2] == id } }
      line.split(' ').first(2)
    end

    it "uses the trusted proxy's header, walking Fly's proxy then Cloudflare" do
      expect(logged('127.0.0.1', 'Fly-Client-IP' => '198.51.100.7')).to eq %w[198.51.100.7 127.0.0.1]
      # Fly's proxy (trusted) names a Cloudflare address (trusted), whose CF-Connecting-IP is the client
      expect(logged('127.0.0.1', 'Fly-Client-IP' => '203.0.113.9', 'CF-Connecting-IP' => '2001:db8::5')).to eq %w[2001:db8::5 127.0.0.1]
      # Fly's proxy names an address that is no proxy: its CF-Connecting-IP is the client's own claim
      expect(logged('127.0.0.1', 'Fly-Client-IP' => '192.0.2.1', 'CF-Connecting-IP' => '198.51.100.7')).to eq %w[192.0.2.1 127.0.0.1]
    end

    it 'ignores the headers from a peer that is not a trusted proxy' do
      expect(logged('127.0.0.2', 'Fly-Client-IP' => '198.51.100.7', 'CF-Connecting-IP' => '198.51.100.8')).to eq %w[127.0.0.2 127.0.0.2]
    end

    it 'ignores a malformed header and keeps the last trusted address' do
      ['198.51.100.7, 10.0.0.1', '198.51.100.7:443', 'not-an-address', '999.1.1.1', ''].each do |bad|
        expect(logged('127.0.0.1', 'Fly-Client-IP' => bad)).to eq %w[127.0.0.1 127.0.0.1]
      end
    end

    it 'rejects an address block with host bits or a bad prefix at its position' do
      s = Booka::Server.new("listen: 8080\nbooka.trusted-proxies: [10.0.0.0/8, 10.1.2.3/8]\nhosts:\n  default:\n    paths: {}\n")
      status, out = s.check_config
      expect(status).not_to eq 0
      expect(out).to match(/h2o\.conf:2:37: in command booka\.trusted-proxies, expected an address block/)
    end
  end
end
