# mruby_spec.rb: mruby.handler / mruby.handler-file (H2O 2.2's Rack contract on libmruby 3.1) and the rewrites in
# mruby/rewrites.rb, against the real binary over HTTP/1.1, h2c and h2.
require_relative 'spec_helper'

describe 'mruby handlers and the rewrites' do
  let(:rewrites) { Booka::MrubyRewrites.rewrites }
  let(:origin) { 'https://app.example.com' }

  def write_file(dir, name, text)
    path = File.join(dir, name)
    File.write(path, text)
    path
  end

  # server: the rewrites and their stand-in (spec/support/mruby.rb) beside handlers for each part of the Rack contract
  let(:server) do
    Booka::Server.new do |s|
      echo = Booka::MrubyRewrites.write_echo(s.dir)
      <<~YAML
        #{s.listeners.chomp}
        num-threads: 2
        max-delegations: 5
        booka.cors-origins: [#{origin}]
        hosts:
          default:
            paths:
        #{Booka::MrubyRewrites.mounts(echo)}
              /api:
                booka.not-found: ON
              /env:
                mruby.handler: |
                  Proc.new do |env|
                    keys = %w(REQUEST_METHOD SCRIPT_NAME PATH_INFO QUERY_STRING SERVER_NAME SERVER_PORT SERVER_PROTOCOL
                              REMOTE_ADDR REMOTE_PORT HTTP_HOST HTTP_X_CUSTOM HTTP_ACCEPT rack.url_scheme)
                    [200, { "content-type" => "text/plain" }, keys.map { |k| k + "=" + env[k].to_s + "\\n" }]
                  end
              /fallthrough:
                - header.add: "x-from-config: yes"
                - mruby.handler: |
                    Proc.new do |env|
                      [399, { "x-from-mruby" => "kept", "x-fallthru-set-greeting" => "hello" }, ["never sent"]]
                    end
                - mruby.handler-file: #{echo}
              /raise:
                mruby.handler: |
                  Proc.new do |env|
                    raise ArgumentError, "asked to fail" if env["QUERY_STRING"] == "fail"
                    [200, { "content-type" => "text/plain" }, ["fine"]]
                  end
              /loop:
                reproxy: ON
                mruby.handler: |
                  Proc.new { |env| [307, { "x-reproxy-url" => "/loop/again" }, []] }
              /body:
                mruby.handler: |
                  class CountingBody
                    def each
                      3.times { |i| yield "chunk#{'#'}{i};" }
                    end
                    def close
                      $closed_bodies = ($closed_bodies || 0) + 1
                    end
                  end
                  Proc.new do |env|
                    headers = [["set-cookie", "a=1"], ["set-cookie", "b=2"], ["x-closed-so-far", $closed_bodies.to_i.to_s]]
                    [201, headers, CountingBody.new]
                  end
      YAML
    end
  end

  # same_response: the rewritten URL answers exactly as the canonical one (the request id aside, which is per request).
  def expect_same_response(rewritten, canonical)
    expect(rewritten.status).to eq canonical.status
    expect(rewritten.body).to eq canonical.body
    ignore = %w[date x-request-id]
    expect(rewritten.header_list.reject { |k, _| ignore.include?(k) }).to eq(canonical.header_list.reject { |k, _| ignore.include?(k) })
  end

  def url(path, proto)
    server.url(path, tls: proto == :h2)
  end

  describe 'the rewrites in mruby/rewrites.rb' do
    before { server.start }

    %i[h1 h2c h2].each do |proto|
      context "over #{proto}" do
        it 'serves /api/v1/service-provider-profiles (any query) as /api/v1/service-provider-profiles/, not by a redirect' do
          ['', '?category=dj&sort=top_rated', '?page=2&limit=5&fields=id,business_name&utm_source=x%20y'].each do |query|
            r = get(url("/api/v1/service-provider-profiles#{query}", proto), proto: proto, headers: { 'Origin' => origin })
            c = get(url("/api/v1/service-provider-profiles/#{query}", proto), proto: proto, headers: { 'Origin' => origin })
            expect(r.status).to eq 200
            expect(r.json['route']).to eq '/api/v1/service-provider-profiles'
            expect(r.json['path_info']).to eq '/'
            expect(r.json['query']).to eq query.delete_prefix('?')
            expect(r['access-control-allow-origin']).to eq origin
            expect(r['location']).to be_nil
            expect_same_response(r, c)
          end
        end

        it 'serves /static/api/<anything> as /api/<anything>, query kept' do
          r = get(url('/static/api/v1/img/avatar/7?w=256&dpr=2&q=90&v=abc', proto), proto: proto)
          c = get(url('/api/v1/img/avatar/7?w=256&dpr=2&q=90&v=abc', proto), proto: proto)
          expect(r.status).to eq 200
          expect(r.json).to include('route' => '/api/v1/img/avatar', 'path_info' => '/7', 'query' => 'w=256&dpr=2&q=90&v=abc')
          expect_same_response(r, c)
          # both rewrites in one internal hop
          r = get(url('/static/api/v1/service-provider-profiles?sort=newest', proto), proto: proto)
          c = get(url('/api/v1/service-provider-profiles/?sort=newest', proto), proto: proto)
          expect_same_response(r, c)
        end

        it 'passes HEAD and OPTIONS through the rewrite with their method' do
          head = get(url('/api/v1/service-provider-profiles?x=1', proto), proto: proto, method: 'HEAD')
          head_canonical = get(url('/api/v1/service-provider-profiles/?x=1', proto), proto: proto, method: 'HEAD')
          expect(head.status).to eq 200
          expect(head.body).to eq ''
          expect_same_response(head, head_canonical)
          options = get(url('/static/api/v1/img/avatar/7', proto), proto: proto, method: 'OPTIONS', headers: { 'Origin' => origin })
          expect(options.status).to eq 200
          expect(options.json).to include('method' => 'OPTIONS', 'route' => '/api/v1/img/avatar')
          expect_same_response(options, get(url('/api/v1/img/avatar/7', proto), proto: proto, method: 'OPTIONS', headers: { 'Origin' => origin }))
        end
      end
    end

    it 'never touches a path that is not a listed collection' do
      r = get(server.url('/api/v1/img/avatar/7'), proto: :h2c)
      expect(r.json).to include('route' => '/api/v1/img/avatar', 'path_info' => '/7')
      r = get(server.url('/api/v1/service-provider-profiles/7?x=1'), proto: :h2c)
      expect(r.json).to include('route' => '/api/v1/service-provider-profiles', 'path_info' => '/7', 'query' => 'x=1')
      expect(get(server.url('/api/v1/unknown'), proto: :h2c).json).to eq('detail' => 'Not Found')
      expect(get(server.url('/api/v1/img/avatar'), proto: :h2c).json).to include('path_info' => '')
    end

    it 'rewrites only what it lists even when mounted in front of everything' do
      broad = Booka::Server.new do |s|
        echo = Booka::MrubyRewrites.write_echo(s.dir)
        <<~YAML
          listen: #{s.port}
          hosts:
            default:
              paths:
                /:
                  - reproxy: ON
                  - mruby.handler-file: #{rewrites}
                  - mruby.handler-file: #{echo}
        YAML
      end
      broad.start
      %w[/api/v1/img/avatar/7?w=1 /api/v1/service-provider-profiles/7 /api/v1/service-provider-profiles/ /api/v1
         /api/v1/service-provider-profilesX /healthz /].each do |path|
        r = get(broad.url(path), proto: :h1)
        expect([path, r.status, r.json['path_info'] + (r.json['query'].empty? ? '' : "?#{r.json['query']}")])
          .to eq [path, 200, path]
      end
      r = get(broad.url('/api/v1/service-provider-profiles?x=1'), proto: :h1)
      expect(r.json).to include('path_info' => '/api/v1/service-provider-profiles/', 'query' => 'x=1')
      r = get(broad.url('/static/api/v1/img/avatar/7'), proto: :h1)
      expect(r.json).to include('path_info' => '/api/v1/img/avatar/7')
    end

    it 'decides on the path the router sees: dot-segments and %XX decoded once, as libh2o normalises it' do
      {
        '/api/v1/x/../service-provider-profiles?a=1' => '/api/v1/service-provider-profiles/?a=1',
        '/api/v1/./service-provider-profiles' => '/api/v1/service-provider-profiles/',
        '/api/v1/service%2Dprovider-profiles' => '/api/v1/service-provider-profiles/',
        '/api%2Fv1/service-provider-profiles?q=2' => '/api/v1/service-provider-profiles/?q=2',
        '/static/api%2Fv1/img/avatar/7?q' => '/api/v1/img/avatar/7?q',
        '/static/api/v1/img/avatar/%2e%2e/avatar/8' => '/api/v1/img/avatar/8',
        '/static/x/../api/v1/img/avatar/9' => '/api/v1/img/avatar/9',
        '/static/api/v1/img/avatar/caf%C3%A9' => '/api/v1/img/avatar/caf%C3%A9'
      }.each do |variant, canonical|
        r = get(server.url(variant), proto: :h1)
        c = get(server.url(canonical), proto: :h1)
        expect([variant, r.status]).to eq [variant, 200]
        expect([variant, r.json]).to eq [variant, c.json]
      end
    end

    it 'lets neither "//", an encoded "%" nor an encoded "?" turn into another route' do
      # an empty segment is a different path for the router and for the snippet: not the API collection
      %w[//api/v1/service-provider-profiles /api//v1/service-provider-profiles /static//api/v1/img/avatar/1
         /static/api//v1/img/avatar/1].each do |path|
        r = get(server.url(path), proto: :h1)
        expect([path, r.status]).to eq [path, 404]
      end
      # %25 stays a literal "%" after the rewrite (no second decoding), so %252F is never a separator
      r = get(server.url('/static/api/v1/img%252Favatar/7'), proto: :h1)
      expect(r.status).to eq 404
      # an encoded "?" stays part of the path, it does not start a query
      r = get(server.url('/static/api/v1/service-provider-profiles%3Fx=1'), proto: :h1)
      expect(r.status).to eq 404
    end

    it 'answers no 3xx for any of these URLs' do
      %w[/api/v1/service-provider-profiles /api/v1/service-provider-profiles?x=1 /static/api /static/api/
         /static/api/v1/service-provider-profiles /api /api/].each do |path|
        %i[h1 h2c].each do |proto|
          r = get(server.url(path), proto: proto)
          expect([path, proto, r.status.between?(300, 399)]).to eq [path, proto, false]
          expect(r['x-reproxy-url']).to be_nil
        end
      end
    end

    it 'cuts a rewrite loop at max-delegations instead of hanging or redirecting' do
      started = Time.now
      r = get(server.url('/loop/start'), proto: :h2c, timeout: 10)
      expect(r.status).to eq 502
      expect(Time.now - started).to be < 5
      expect(get(server.url('/api/v1/service-provider-profiles'), proto: :h2c).status).to eq 200
    end
  end

  describe 'the handler contract' do
    before { server.start }

    it 'builds the Rack env from the request' do
      r = get(server.url('/env/a%20b/c?x=1&y=%2F'), proto: :h1, headers: { 'X-Custom' => 'one', 'Accept' => 'text/plain' })
      env = r.body.lines.map { |l| l.chomp.split('=', 2) }.to_h
      expect(env).to include('REQUEST_METHOD' => 'GET', 'SCRIPT_NAME' => '/env', 'PATH_INFO' => '/a%20b/c',
                             'QUERY_STRING' => 'x=1&y=%2F', 'SERVER_NAME' => 'default', 'SERVER_PORT' => server.port.to_s,
                             'SERVER_PROTOCOL' => 'HTTP/1.1', 'REMOTE_ADDR' => '127.0.0.1',
                             'HTTP_HOST' => "127.0.0.1:#{server.port}", 'HTTP_X_CUSTOM' => 'one', 'HTTP_ACCEPT' => 'text/plain',
                             'rack.url_scheme' => 'http')
      tls = get(server.url('/env', tls: true), proto: :h2)
      env = tls.body.lines.map { |l| l.chomp.split('=', 2) }.to_h
      expect(env).to include('SERVER_PROTOCOL' => 'HTTP/2', 'rack.url_scheme' => 'https', 'PATH_INFO' => '')
    end

    # the server remembers each connection's addresses (env.c): every connection must still see its own
    it "gives each connection its own REMOTE_PORT, on every request it makes" do
      sockets = Array.new(40) { TCPSocket.new('127.0.0.1', server.port) }
      2.times do
        sockets.each do |sock|
          sock.write("GET /env HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
          head = sock.gets("\r\n\r\n")
          body = sock.read(Integer(head[/^content-length: *(\d+)/i, 1]))
          env = body.lines.map { |l| l.chomp.split('=', 2) }.to_h
          expect(env['REMOTE_PORT']).to eq sock.local_address.ip_port.to_s
          expect(env['SERVER_PORT']).to eq server.port.to_s
        end
      end
    ensure
      sockets&.each(&:close)
    end

    it 'falls through on 399 to the next handler of the path, keeping the headers it set' do
      %i[h1 h2c].each do |proto|
        r = get(server.url('/fallthrough/x?y=1'), proto: proto)
        expect(r.status).to eq 200
        expect(r['x-from-mruby']).to eq 'kept'
        expect(r['x-from-config']).to eq 'yes'
        expect(r['x-fallthru-set-greeting']).to be_nil
        expect(r.json).to include('route' => '/fallthrough', 'path_info' => '/x', 'greeting' => 'hello')
        expect(r.body).not_to include 'never sent'
      end
    end

    it 'reads a body that responds to #each, closes it, and sends repeated headers' do
      first = get(server.url('/body'), proto: :h1)
      expect(first.status).to eq 201
      expect(first.body).to eq 'chunk0;chunk1;chunk2;'
      expect(first['content-length']).to eq '21'
      expect(first.header_list.select { |k, _| k == 'set-cookie' }.map(&:last)).to eq %w[a=1 b=2]
      # one thread, one interpreter: ask until the same thread answers twice
      counts = 6.times.map { get(server.url('/body'), proto: :h1)['x-closed-so-far'].to_i }
      expect(counts.max).to be >= 2
    end

    it 'answers 500 JSON when the app raises, logs one line with the backtrace, and keeps serving' do
      %i[h1 h2c h2].each do |proto|
        r = get(url('/raise?fail', proto), proto: proto, headers: { 'Origin' => origin })
        expect(r.status).to eq 500
        expect(r['content-type']).to eq 'application/json'
        expect(r.json).to eq('detail' => 'internal server error')
        expect(r['access-control-allow-origin']).to eq origin
        expect(r['x-request-id']).to match(/\A[0-9a-f]{32}\z/)
      end
      # both threads have raised by now (or will): every later request still works
      20.times do |i|
        r = get(server.url(i.even? ? '/raise' : '/raise?fail'), proto: :h2c)
        expect(r.status).to eq(i.even? ? 200 : 500)
      end
      expect(get(server.url('/api/v1/service-provider-profiles'), proto: :h2c).status).to eq 200
      lines = server.log.lines.grep(/\[mruby\].*raised: asked to fail/)
      expect(lines.size).to eq 13
      expect(lines.first).to match(/request-id=[0-9a-f]{32} .*h2o\.conf raised: asked to fail \(ArgumentError\) at .*h2o\.conf:\d+/)
    end
  end

  describe 'booka-origin -t' do
    def check(paths_yaml, files = {})
      s = Booka::Server.new do |srv|
        files.each { |name, text| write_file(srv.dir, name, text) }
        "listen: 8080\nhosts:\n  default:\n    paths:\n#{paths_yaml.gsub(/^/, '      ')}"
      end
      [s, *s.check_config]
    end

    it 'accepts the repository snippets' do
      _, status, out = check("/api:\n  reproxy: ON\n  mruby.handler-file: #{rewrites}\n")
      expect([status, out]).to eq [0, "configuration OK\n"]
    end

    it 'resolves mruby.handler-file relative to the config file, not the working directory' do
      s, status, out = check("/x:\n  mruby.handler-file: snippets/app.rb\n")
      expect(status).not_to eq 0
      expect(out).to include "cannot open #{s.dir}/snippets/app.rb"
      FileUtils.mkdir_p(File.join(s.dir, 'snippets'))
      File.write(File.join(s.dir, 'snippets', 'app.rb'), "Proc.new { |env| [200, {}, []] }\n")
      expect(Dir.pwd).not_to eq s.dir
      status, out = s.check_config
      expect([status, out]).to eq [0, "configuration OK\n"]
    end

    it 'names file:line of a syntax error in a snippet file' do
      bad = "# a snippet\nProc.new do |env|\n  [200, {}, [\"x\"]\n  end\n"
      s, status, out = check("/x:\n  mruby.handler-file: bad.rb\n", 'bad.rb' => bad)
      expect(status).not_to eq 0
      expect(out).to match(%r{h2o\.conf:6:29: in command mruby\.handler-file, #{Regexp.escape(s.dir)}/bad\.rb:4:\d+: syntax error})
    end

    it 'names the config file line of a syntax error in inline code' do
      _, status, out = check("/x:\n  mruby.handler: |\n    Proc.new do |env|\n      [200, {}, []\n    end\n")
      expect(status).not_to eq 0
      expect(out).to match(/h2o\.conf:6:24: in command mruby\.handler, .*h2o\.conf:9: syntax error/)
    end

    it 'refuses code that raises while loading, or that does not evaluate to a callable' do
      _, status, out = check("/x:\n  mruby.handler: raise 'not today'\n")
      expect(status).not_to eq 0
      expect(out).to match(/h2o\.conf:6:\d+: in command mruby\.handler, .*h2o\.conf:6: raised while loading: not today \(RuntimeError\)/)
      _, status, out = check("/x:\n  mruby.handler: 42\n")
      expect(status).not_to eq 0
      expect(out).to include 'the code evaluates to Integer, which does not respond to #call'
    end

    it 'needs no Regexp: Debian\'s mruby has none' do
      _, status, out = check("/x:\n  mruby.handler: |\n    Proc.new { |env| [200, {}, [Regexp.new('a').to_s]] }\n    /a/\n")
      expect(status).not_to eq 0
      expect(out).to match(/h2o\.conf.*(Regexp|regular expression|uninitialized constant)/i)
    end
  end
end
