# container_spec.rb: container/ checked two ways. Statically: every package the Dockerfile installs exists in this
# Debian's apt, its runtime stage covers every shared library the binary links, its config loads, fly.toml's settings
# hold together. For real: the Dockerfile built by podman (spec/support/podman.rb) from the context podman sends, and
# the image run against the spec's Postgres and Redis: its migration step, /healthz, a list, an avatar, /metrics only
# on the private listener, and the SIGTERM drain.
require_relative 'spec_helper'

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

  it 'copies what the container config refers to' do
    expect(dockerfile).to include('COPY container/h2o.conf /etc/booka/h2o.conf', 'COPY mruby /etc/booka/mruby',
                                  'COPY web /srv/booka/web')
    expect(File.read(File.join(Booka::ROOT, 'container', 'h2o.conf'))).to match(%r{^\s+file\.dir: /srv/booka/web$})
  end
end
