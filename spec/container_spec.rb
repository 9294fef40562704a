# container_spec.rb: container/ checked two ways. Statically: every package the Dockerfile installs exists in this
# Debian's apt, its runtime stage covers every shared library the binary links, its config loads, fly.toml's settings
# hold together. For real: the Dockerfile built by podman (spec/support/podman.rb) from the context podman sends, and
# the image run against the spec's Postgres and Redis: its migration step, /healthz, a list, an avatar, /metrics only
# on the private listener, and the SIGTERM drain.
require_relative 'spec_helper'
require 'ipaddr'
require 'yaml'

describe 'container/' do
  let(:dockerfile) { File.read(File.join(Booka::ROOT, 'container', 'Dockerfile')) }
  let(:container_conf) { File.read(File.join(Booka::ROOT, 'container', 'h2o.conf')) }

  # local_conf: container/h2o.conf for a server on this machine: the public listener on `port`, the private one on
  # 127.0.0.1:`metrics_port`, the image's directories replaced by `dir`'s.
  def local_conf(port, metrics_port, dir)
    conf = container_conf.sub(/^    listen:\n      port: 8080$/, "    listen:\n      port: #{port}")
                         .sub(/^    listen:\n      port: 9091\n      host: 0.0.0.0$/,
                              "    listen:\n      port: #{metrics_port}\n      host: 127.0.0.1")
                         .sub('/srv/booka/media', File.join(dir, 'media')).sub('/srv/booka/web', File.join(Booka::ROOT, 'web'))
    raise 'container/h2o.conf no longer has the listeners this spec rewrites' unless conf.include?("port: #{metrics_port}\n") &&
                                                                                      conf.include?("port: #{port}\n")
    conf
  end

  # packages named on the apt-get install lines of each stage
  def stage_packages(stage)
    section = dockerfile.split(/^FROM /).find { |s| s.include?(" AS #{stage}") }
    words = section.scan(/apt-get install[^\n]*\\\n((?:.*\\\n)*.*)/).flatten.join(' ').split(/[\s\\&]+/)
    words.take_while { |w| w != 'rm' }.reject { |w| w.empty? || w.start_with?('-') }
  end

  it 'installs only packages that exist in apt' do
    pkgs = stage_packages('build') + stage_packages('runtime')
    expect(pkgs).to include('libh2o-evloop-dev', 'libh2o-evloop0.13')
    out, = Open3.capture2e('apt-cache', 'policy', *pkgs)
    missing = pkgs.select { |p| out !~ /^#{Regexp.escape(p)}:\n\s+Installed: .*\n\s+Candidate: (?!\(none\))/ }
    expect(missing).to eq []
  end

  it 'builds with the same -dev packages as scripts/packages.txt' do
    listed = File.readlines(File.join(Booka::ROOT, 'scripts', 'packages.txt')).map(&:strip)
    dev = listed.select { |p| p.end_with?('-dev') }
    expect(stage_packages('build')).to include(*dev)
  end

  it 'ships in its runtime stage the package of every shared library the binary links' do
    runtime = stage_packages('runtime')
    libs, = Open3.capture2('ldd', Booka::BIN)
    paths = libs.scan(%r{=> (/\S+)}).flatten.reject { |p| p =~ /libasan|libubsan/ }
    owners = paths.map do |p|
      out, = Open3.capture2e('dpkg', '-S', File.realpath(p))
      out = Open3.capture2e('dpkg', '-S', p).first if out.include?('no path found')
      out.split(':').first
    end.uniq
    # apt installs the dependencies of what the Dockerfile names: compare with that closure
    closure_out, = Open3.capture2('apt-cache', 'depends', '--recurse', '--no-recommends', '--no-suggests', '--no-conflicts',
                                  '--no-breaks', '--no-replaces', '--no-enhances', '--no-pre-depends', *runtime)
    closure = closure_out.lines.map(&:strip).reject { |l| l.include?(':') || l.start_with?('<') }.map { |p| p.sub(/:amd64\z/, '') }
    expect(closure.size).to be > runtime.size
    expect(owners - closure - %w[libc6 libgcc-s1 libstdc++6]).to eq []
  end

  it 'has a HEALTHCHECK on /healthz, STOPSIGNAL SIGTERM and a non-root user' do
    expect(dockerfile).to match(/^HEALTHCHECK .*\/healthz/)
    expect(dockerfile).to match(/^STOPSIGNAL SIGTERM$/)
    expect(dockerfile).to match(/^USER booka$/)
  end

  it 'ships a config that booka-origin accepts, laid out as in the image' do
    Dir.mktmpdir('booka-etc') do |etc|
      # /etc/booka/{h2o.conf,mruby/} as the Dockerfile copies them; the media volume's mount point made here
      FileUtils.cp_r(File.join(Booka::ROOT, 'mruby'), etc)
      FileUtils.mkdir_p(File.join(etc, 'media'))
      config = File.read(File.join(Booka::ROOT, 'container', 'h2o.conf'))
      expect(config).to include('media-root: /srv/booka/media')
      File.write(File.join(etc, 'h2o.conf'), config.sub('/srv/booka/media', File.join(etc, 'media')))
      out, status = Open3.capture2e({ 'DATABASE_URL' => 'postgresql://booka@db:5432/booka' }, Booka::BIN, '-t', '-c', File.join(etc, 'h2o.conf'))
      expect(status.success?).to be(true), out
    end
  end

  it 'serves the demo page from the image layout (web/ at /srv/booka/web)' do
    server = Booka::Server.new(env: { 'DATABASE_URL' => "postgresql://booka@127.0.0.1:#{Booka.free_port}/booka" }) do |s|
      FileUtils.cp_r(File.join(Booka::ROOT, 'mruby'), s.dir)
      FileUtils.mkdir_p(File.join(s.dir, 'media'))
      local_conf(s.port, s.tls_port, s.dir)
    end
    server.start
    page = get(server.url('/'))
    expect(page.status).to eq(200)
    expect(page['content-type']).to start_with('text/html')
    expect(page.body).to include('id="sections"', 'src="/app.js"')
    script = get(server.url('/app.js'))
    expect(script.status).to eq(200)
    expect(script.body).to include('IntersectionObserver')
  end

  describe 'fly.toml' do
    # Python's tomllib reads it (Ruby has no TOML parser of its own)
    let(:fly) do
      to_json = 'import json, sys, tomllib; print(json.dumps(tomllib.load(open(sys.argv[1], "rb"))))'
      out, status = Open3.capture2e('python3', '-c', to_json, File.join(Booka::ROOT, 'container', 'fly.toml'))
      raise out unless status.success?
      JSON.parse(out)
    end
    it 'keeps two machines, deploys rolling, limits concurrency by requests, on the port the config listens on' do
      expect(fly.dig('http_service', 'min_machines_running')).to eq(2)
      expect(fly.dig('deploy', 'strategy')).to eq('rolling')
      expect(fly.dig('deploy', 'max_unavailable')).to eq(1)
      concurrency = fly.dig('http_service', 'concurrency')
      expect(concurrency['type']).to eq('requests')
      expect(concurrency['soft_limit']).to be < concurrency['hard_limit']
      expect(container_conf).to match(/^  default:\n    listen:\n      port: #{fly.dig('http_service', 'internal_port')}$/)
      expect(File).to exist(File.join(Booka::ROOT, 'container', fly.dig('build', 'dockerfile')))
    end

    # Fly applies min_machines_running only while autostop is on ("stop" or "suspend"; "off" and false never stop a
    # machine, so the minimum means nothing); autostart starts the stopped ones again on demand.
    it 'stops machines in excess and starts them on demand, never below two' do
      expect(%w[stop suspend]).to include(fly.dig('http_service', 'auto_stop_machines'))
      expect(fly.dig('http_service', 'auto_start_machines')).to be(true)
      expect(fly['services']).to be_nil
    end

    it "migrates on deploy with the image's own migrate step, which the image carries" do
      command = fly.dig('deploy', 'release_command')
      expect(command).to eq('/srv/booka/schema/migrate.sh')
      expect(dockerfile).to include('COPY schema /srv/booka/schema')
      expect(File).to be_executable(File.join(Booka::ROOT, 'schema', 'migrate.sh'))
      expect(stage_packages('runtime')).to include('postgresql-client')
      # Fly runs release_command in place of CMD, after ENTRYPOINT: an ENTRYPOINT would swallow it as arguments
      expect(dockerfile).not_to match(/^ENTRYPOINT/)
    end

    it 'has Fly scrape /metrics on the private listener, which no service exposes' do
      port = fly.dig('metrics', 'port')
      expect(fly.dig('metrics', 'path')).to eq('/metrics')
      expect(port).not_to eq(fly.dig('http_service', 'internal_port'))
      expect(container_conf).to match(/^  metrics:\n    listen:\n      port: #{port}\n      host: 0\.0\.0\.0\n    paths:\n      \/metrics:\n        booka\.metrics: ON$/)
      expect(container_conf.scan(/booka\.metrics: ON/).size).to eq(1)
      expect(dockerfile).to match(/^EXPOSE 8080 #{port}$/)
    end

    it 'gives SIGTERM more time than the server drains' do
      expect(fly['kill_signal']).to eq('SIGTERM')
      drain = container_conf[/^graceful-shutdown-timeout: (\d+)$/, 1].to_i
      expect(drain).to be > 0
      expect(fly['kill_timeout']).to be > drain
    end

    it 'routes on /healthz and reports /readyz without routing on it (a Postgres outage must not empty the rotation)' do
      expect(fly.dig('http_service', 'checks').map { |c| c['path'] }).to eq(['/healthz'])
      expect(fly.dig('checks', 'readyz')).to include('type' => 'http', 'path' => '/readyz',
                                                     'port' => fly.dig('http_service', 'internal_port'))
    end
  end

  it 'serves /metrics on the private listener only, whatever Host a public request names' do
    metrics_port = Booka.free_port
    server = Booka::Server.new(env: { 'DATABASE_URL' => "postgresql://booka@127.0.0.1:#{Booka.free_port}/booka" }) do |s|
      FileUtils.cp_r(File.join(Booka::ROOT, 'mruby'), s.dir)
      FileUtils.mkdir_p(File.join(s.dir, 'media'))
      local_conf(s.port, metrics_port, s.dir)
    end
    server.start
    expect(get(server.url('/healthz')).status).to eq(200)
    private_metrics = get("http://127.0.0.1:#{metrics_port}/metrics")
    expect(private_metrics.status).to eq(200)
    expect(private_metrics.body).to include('booka_http_requests_total{route="/healthz",status="200"} 1')
    expect(get(server.url('/metrics')).status).to eq(404)
    expect(get(server.url('/metrics'), headers: { 'Host' => 'metrics' }).status).to eq(404)
    expect(get(server.url('/metrics'), proto: :h2c, headers: { 'Host' => "metrics:#{metrics_port}" }).status).to eq(404)
    expect(get("http://127.0.0.1:#{metrics_port}/healthz").status).to eq(404)
  end

  describe 'the client address behind Fly and Cloudflare (booka.trusted-proxies)' do
    let(:trusted) { YAML.safe_load(container_conf).fetch('booka.trusted-proxies') }

    it "trusts Fly's proxy on the machine's private IPv4 network and Cloudflare's ranges, never Fly's 6PN network" do
      blocks = trusted.fetch('addresses').map { |a| IPAddr.new(a) }
      expect(trusted['headers']).to eq %w[Fly-Client-IP CF-Connecting-IP]
      # Fly's proxy reaches the machine on its private IPv4 address (fly.io/docs/networking/app-services)
      expect(blocks).to include(IPAddr.new('172.16.0.0/12'))
      # fdaa::/16: every machine of the organisation could name any visitor
      sixpn = IPAddr.new('fdaa::/16')
      expect(blocks.select { |b| b.ipv6? && (sixpn.include?(b) || b.include?(sixpn)) }).to eq []
      expect(blocks.count(&:ipv4?)).to eq 16
      expect(blocks.count(&:ipv6?)).to eq 7
    end

    it "logs the visitor Cloudflare names when Fly's proxy (here 127.0.0.1) names a Cloudflare address, else Fly's peer" do
      server = Booka::Server.new(env: { 'DATABASE_URL' => "postgresql://booka@127.0.0.1:#{Booka.free_port}/booka" }) do |s|
        FileUtils.cp_r(File.join(Booka::ROOT, 'mruby'), s.dir)
        FileUtils.mkdir_p(File.join(s.dir, 'media'))
        conf = local_conf(s.port, s.tls_port, s.dir).sub("  addresses:\n", "  addresses:\n    - 127.0.0.1/32\n")
                                                    .sub('path: /dev/stdout', "path: #{s.dir}/access.log")
        raise 'container/h2o.conf no longer has the lines this spec rewrites' unless conf.include?("- 127.0.0.1/32\n") &&
                                                                                     conf.include?("#{s.dir}/access.log")
        conf
      end
      server.start
      logged = lambda do |headers|
        id = "proxied-#{rand(1 << 30)}"
        expect(get(server.url('/healthz'), headers: headers.merge('X-Request-Id' => id)).status).to eq 200
        path = File.join(server.dir, 'access.log')
        Booka.wait_for { File.exist?(path) && File.readlines(path).find { |l| l.split[1] == id } }.split.first
      end
      expect(logged.call('Fly-Client-IP' => '162.158.1.2', 'CF-Connecting-IP' => '198.51.100.7')).to eq '198.51.100.7'
      expect(logged.call('Fly-Client-IP' => '2a06:98c1::1', 'CF-Connecting-IP' => '2001:db8::7')).to eq '2001:db8::7'
      # straight to Fly, past Cloudflare: the client's own CF-Connecting-IP is not believed
      expect(logged.call('Fly-Client-IP' => '203.0.113.5', 'CF-Connecting-IP' => '198.51.100.7')).to eq '203.0.113.5'
      expect(logged.call({})).to eq '127.0.0.1'
    end
  end

  it 'copies what the container config refers to' do
    expect(dockerfile).to include('COPY container/h2o.conf /etc/booka/h2o.conf', 'COPY mruby /etc/booka/mruby',
                                  'COPY web /srv/booka/web')
    expect(File.read(File.join(Booka::ROOT, 'container', 'h2o.conf'))).to match(%r{^\s+file\.dir: /srv/booka/web$})
  end
  describe 'the image, built by podman and run against the spec Postgres and Redis' do
    tag = 'localhost/booka-origin:spec'
    context_tag = 'localhost/booka-context:spec'
    name = "booka-container-spec-#{Process.pid}"
    list = '/api/v1/service-provider-profiles/'

    # the container reaches the host's loopback (where the spec Postgres and Redis listen) as 10.0.2.2 (slirp4netns)
    def in_container(url)
      url.sub('@127.0.0.1:', '@10.0.2.2:').sub('//127.0.0.1:', '//10.0.2.2:')
    end

    def fly
      to_json = 'import json, sys, tomllib; print(json.dumps(tomllib.load(open(sys.argv[1], "rb"))))'
      JSON.parse(Open3.capture2('python3', '-c', to_json, File.join(Booka::ROOT, 'container', 'fly.toml')).first)
    end

    before(:all) do
      @base_seconds = Booka::Podman.base_image
      # the context podman sends: an image of it, built with the same .dockerignore as the real build
      @ctx = Dir.mktmpdir('booka-context')
      File.write(File.join(@ctx, 'Dockerfile'), "FROM debian:bookworm-slim\nCOPY . /context\n")
      Booka::Podman.build(context_tag, dockerfile: File.join(@ctx, 'Dockerfile'))
      @build_seconds = Booka::Podman.build(tag)
      @size = Booka::Podman.image_size(tag)
      puts format("\n    base image %s, image build %.0f s, image size %.1f MB", @base_seconds.zero? ? 'cached' : format('built in %.0f s', @base_seconds),
                  @build_seconds, @size / 1e6)

      Booka::Database.psql('DROP DATABASE IF EXISTS booka_container_spec WITH (FORCE);')
      Booka::Database.psql('CREATE DATABASE booka_container_spec;')
      @db = Booka::Database.url_for('booka_container_spec')
      # fly.toml's release_command, run the way Fly runs it: the image, the app's environment, in place of CMD
      @migrate = Booka::Podman.run('run', '--rm', '--network', 'slirp4netns:allow_host_loopback=true',
                            '-e', "DATABASE_URL=#{in_container(@db)}", tag, *fly.dig('deploy', 'release_command').split,
                            timeout: 120)
      raise "the release command failed:\n#{@migrate[0]}" unless @migrate[1]
      Booka::Database.insert_providers(@db, { 1 => '/static/profile_pics/one.png', 2 => nil })

      @media = Dir.mktmpdir('booka-media')
      FileUtils.mkdir_p(File.join(@media, 'profile_pics'))
      File.binwrite(File.join(@media, 'profile_pics', 'one.png'), Booka.png(96, 64, [200, 30, 30]))
      FileUtils.chmod_R('a+rX', @media) # the image's user (uid 10001) reads it

      @port = Booka.free_port
      @metrics_port = Booka.free_port
      Booka::Podman.run!('run', '-d', '--name', name, '--network', 'slirp4netns:allow_host_loopback=true',
                  '-p', "127.0.0.1:#{@port}:8080", '-p', "127.0.0.1:#{@metrics_port}:9091",
                  '-e', "DATABASE_URL=#{in_container(@db)}", '-e', "REDIS_URL=#{in_container(ENV.fetch('REDIS_URL'))}",
                  '-v', "#{@media}:/srv/booka/media:ro", tag)
      Booka.wait_for(timeout: 60) { get(url('/healthz'), timeout: 2).status == 200 }
    end

    after(:all) do
      Booka::Podman.run('rm', '--force', '--time', '0', name)
      Booka::Podman.run('rmi', context_tag)
      FileUtils.rm_rf([@ctx, @media].compact)
    end

    def url(path)
      "http://127.0.0.1:#{@port}#{path}"
    end

    it 'sends the builder only what the Dockerfile copies: no .state/, build*/, .git, spec/ or bench data' do
      out = Booka::Podman.run!('run', '--rm', context_tag, 'sh', '-c', 'cd /context && ls -A && du -sk . && find . -type f | wc -l')
      *entries, size, files = out.split("\n")
      expect(entries.sort).to eq %w[CMakeLists.txt bench container mruby plugin schema test web]
      expect(Booka::Podman.run!('run', '--rm', context_tag, 'ls', '-A', '/context/container').split).to eq %w[Dockerfile h2o.conf]
      expect(size.to_i).to be < 4096 # KiB: sources only
      puts "    build context: #{size.split.first} KiB, #{files} files"
    end

    # the build times are printed, not asserted: they follow the mirror's speed and the machine's load
    it 'builds an image that holds only the runtime, run by a user of its own' do
      expect(@size).to be < 350_000_000
      expect(Booka::Podman.run!('run', '--rm', tag, 'id', '-un').strip).to eq 'booka'
      expect(Booka::Podman.run!('run', '--rm', tag, 'sh', '-c', 'command -v cc gcc cmake || true').strip).to eq ''
    end

    it "migrates an empty database with fly.toml's release_command" do
      applied = Booka::Database.psql('SELECT count(*) FROM booka.schema_migrations', url: @db).to_i
      expect(applied).to eq Dir[File.join(Booka::ROOT, 'schema', 'migrations', '[0-9][0-9][0-9]_*.sql')].size
      expect(@migrate[0]).to include('migrate: applying 001_')
    end

    it 'answers /healthz, and /readyz with Postgres, Redis and the invalidation listener up' do
      expect(get(url('/healthz')).status).to eq 200
      ready = Booka.wait_for(timeout: 30) { (r = get(url('/readyz'))).json['invalidation'] == 'up' && r }
      expect(ready.status).to eq 200
      expect(ready.json).to eq('postgres' => 'up', 'redis' => 'up', 'invalidation' => 'up')
    end

    it 'serves a list from the database, over HTTP/1.1 and h2c' do
      r = get(url("#{list}?sort=newest&limit=5"))
      expect(r.status).to eq 200
      expect(r.json['data'].map { |i| i['id'] }).to contain_exactly(1, 2)
      expect(r.json['data'].find { |i| i['id'] == 1 }['profile_picture_url']).to start_with('/api/v1/img/avatar/1?')
      h2 = get(url("#{list}?sort=newest&limit=5"), proto: :h2c)
      expect([h2.status, h2.http_version, h2['x-cache']]).to eq [200, '2', 'HIT']
    end

    it 'serves an avatar from the mounted media volume' do
      r = get(url('/api/v1/img/avatar/1?w=32&fmt=webp'))
      expect(r.status).to eq 200
      expect(r['content-type']).to eq 'image/webp'
      expect(r.body.b).to start_with('RIFF'.b)
    end

    it 'serves /metrics on the private port, and not on the public one' do
      private_metrics = get("http://127.0.0.1:#{@metrics_port}/metrics")
      expect(private_metrics.status).to eq 200
      expect(private_metrics.body).to match(/^booka_http_requests_total\{route="\/healthz",status="200"\} \d+$/)
      expect(get(url('/metrics')).status).to eq 404
      expect(get(url('/metrics'), headers: { 'Host' => 'metrics' }).status).to eq 404
    end

    it 'drains on SIGTERM: the request in flight completes, then the container exits 0' do
      locker = Booka::Database.lock_table(@db)
      begin
        request = Thread.new { get(url("#{list}?sort=newest&limit=7"), timeout: 30) }
        waiting = "SELECT count(*) FROM pg_stat_activity WHERE datname = 'booka_container_spec' " \
                  "AND application_name = 'booka-origin' AND wait_event_type = 'Lock'"
        Booka.wait_for(timeout: 30) { Booka::Database.psql(waiting, url: @db).to_i.positive? }
        Booka::Podman.run!('kill', '--signal', 'TERM', name)
        Booka.wait_for(timeout: 30) { Booka::Podman.run!('logs', name).include?('received SIGTERM, draining') }
        expect(request).to be_alive
      ensure
        Booka::Database.unlock(locker)
      end
      r = request.value
      expect(r.status).to eq 200
      expect(r.json['data'].size).to eq 2
      expect(Booka::Podman.run!('wait', name, timeout: 60).strip).to eq '0'
      expect(Booka::Podman.run!('logs', name)).to include('stopped (')
    end
  end
end
