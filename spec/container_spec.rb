# container_spec.rb: no Docker engine runs here, so check what can be checked: every package the Dockerfile installs
# exists in this Debian's apt, its runtime stage covers every shared library the binary links, and its config loads.
require_relative 'spec_helper'

describe 'container/' do
  let(:dockerfile) { File.read(File.join(Booka::ROOT, 'container', 'Dockerfile')) }

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
      File.read(File.join(Booka::ROOT, 'container', 'h2o.conf'))
          .sub(/^listen:\n  port: 8080$/, "listen:\n  port: #{s.port}")
          .sub('/srv/booka/media', File.join(s.dir, 'media')).sub('/srv/booka/web', File.join(Booka::ROOT, 'web'))
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
    let(:container_conf) { File.read(File.join(Booka::ROOT, 'container', 'h2o.conf')) }

    it 'keeps two machines, deploys rolling, limits concurrency by requests, on the port the config listens on' do
      expect(fly.dig('http_service', 'min_machines_running')).to eq(2)
      expect(fly.dig('deploy', 'strategy')).to eq('rolling')
      concurrency = fly.dig('http_service', 'concurrency')
      expect(concurrency['type']).to eq('requests')
      expect(concurrency['soft_limit']).to be < concurrency['hard_limit']
      expect(container_conf).to match(/^listen:\n  port: #{fly.dig('http_service', 'internal_port')}$/)
      expect(File).to exist(File.join(Booka::ROOT, 'container', fly.dig('build', 'dockerfile')))
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

  it 'copies what the container config refers to' do
    expect(dockerfile).to include('COPY container/h2o.conf /etc/booka/h2o.conf', 'COPY mruby /etc/booka/mruby',
                                  'COPY web /srv/booka/web')
    expect(File.read(File.join(Booka::ROOT, 'container', 'h2o.conf'))).to match(%r{^\s+file\.dir: /srv/booka/web$})
  end
end
