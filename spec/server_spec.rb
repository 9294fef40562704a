# server_spec.rb: the host binary: protocols, stock H2O directives, config checking, graceful shutdown, health.
require_relative 'spec_helper'
require 'zlib'
require 'stringio'

describe 'booka-origin host' do
  def docroot(server)
    dir = File.join(server.dir, 'www')
    FileUtils.mkdir_p(dir)
    File.write(File.join(dir, 'hello.txt'), "hello from file.dir\n")
    File.write(File.join(dir, 'big.json'), JSON.generate({ 'items' => (1..400).map { |i| { 'id' => i, 'name' => "item #{i}" } } }))
    File.write(File.join(dir, 'oops.html'), "<p>custom not found</p>\n")
    dir
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
        "listen: #{srv.port}\nnum-threads: 1\nmax-connections: 1\nhosts:\n  default:\n    paths:\n      /healthz:\n        booka.health: ON\n"
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
        "listen: #{srv.port}\nerror-log: #{srv.dir}/error.log\nhosts:\n  default:\n    paths:\n      /healthz:\n        booka.health: ON\n"
      end
      s.start
      expect(get(s.url('/healthz'), proto: :h1).status).to eq 200
      expect(s.stop).to eq 0
      log = File.read(File.join(s.dir, 'error.log'))
      expect(log).to include('serving with', 'draining', 'stopped')
    end
  end

  describe 'reuseport' do
    it 'serves on every thread whatever the position of the directive, and refuses a port already taken' do
      s = Booka::Server.new do |srv|
        "listen: #{srv.port}\nnum-threads: 2\nreuseport: ON\nhosts:\n  default:\n    paths:\n      /healthz:\n        booka.health: ON\n"
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
          graceful-shutdown-timeout: 20
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
      expect { TCPSocket.new('127.0.0.1', s.port).close }.to raise_error(Errno::ECONNREFUSED)
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
      status, out = check("listen: 8080\nhosts:\n  default:\n    paths:\n      /healthz:\n        booka.health: ON\n")
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
end
