# mruby_compat_spec.rb: the snippets in mruby/ run unchanged on the stock h2o 2.2 (Debian's `h2o`, its own mruby 1.3)
# and route every URL below exactly as booka-origin does.
require_relative 'spec_helper'

module MrubyCompat
  STOCK_H2O = '/usr/bin/h2o'.freeze

  # StockH2O: the Debian h2o binary booted from a config file, stopped with SIGTERM.
  class StockH2O
    attr_reader :port

    def initialize(config_path, port, dir)
      @port = port
      @log = File.join(dir, 'stock-h2o.log')
      @pid = Process.spawn(STOCK_H2O, '-c', config_path, out: @log, err: @log, chdir: dir)
      deadline = Time.now + 20
      until Booka.listening?(port)
        raise "stock h2o did not start:\n#{File.read(@log)}" if Time.now > deadline || Process.waitpid(@pid, Process::WNOHANG)
        sleep 0.05
      end
    end

    def url(path)
      "http://127.0.0.1:#{@port}#{path}"
    end

    def stop
      Process.kill('TERM', @pid)
      Process.waitpid(@pid)
    rescue Errno::ESRCH, Errno::ECHILD
      nil
    end
  end

  # Every URL both servers must answer alike: rewritten, canonical, untouched, and the normalisation traps.
  URLS = %w[
    /api/v1/service-provider-profiles
    /api/v1/service-provider-profiles?a=1&b=%20x
    /api/v1/service-provider-profiles/?a=1
    /api/v1/service-provider-profiles/7
    /api/v1/service-provider-profiles/.
    /api/v1/service-provider-profiles/..
    /api/v1/img/avatar/7
    /api/v1/img/avatar/7?w=256&dpr=2&q=90
    /api/v1/unknown
    /api
    /api/
    /static/api
    /static/api/
    /static/api/v1/img/avatar/7?w=256
    /static/api/v1/service-provider-profiles
    /static/api/v1/service-provider-profiles?sort=newest
    /static/api%2Fv1/img/avatar/7?q
    /static/api%2fv1/service-provider-profiles
    /api%2Fv1/service-provider-profiles?q=2
    /api/v1/service%2Dprovider-profiles
    /api/v1/x/../service-provider-profiles
    /api/v1/./service-provider-profiles
    /static/api/v1/img/avatar/%2e%2e/avatar/8
    /static/x/../api/v1/img/avatar/9
    /static/api/v1/img/avatar/caf%C3%A9
    /static/api/v1/img%252Favatar/7
    /static/api/v1/service-provider-profiles%3Fx=1
    //api/v1/service-provider-profiles
    /api//v1/service-provider-profiles
    /static//api/v1/img/avatar/1
    /static/api//v1/img/avatar/1
  ].freeze
end

describe 'mruby/ snippets on the stock h2o and on booka-origin' do
  # The config both servers load: the repository's snippet mounted as in h2o.conf (the collection without its slash,
  # and /static/api), stand-ins behind the canonical paths that answer with what reached them (both from
  # spec/support/mruby.rb), and a JSON 404 for the rest of /api (booka.not-found in h2o.conf, which the stock h2o does
  # not have).
  def config(port, dir)
    echo = Booka::MrubyRewrites.write_echo(dir)
    <<~YAML
      listen:
        port: #{port}
        host: 127.0.0.1
      num-threads: 2
      hosts:
        default:
          paths:
      #{Booka::MrubyRewrites.mounts(echo)}
            /api:
              mruby.handler: |
                Proc.new { |env| [404, { "content-type" => "application/json" }, ['{"detail": "Not Found"}']] }
    YAML
  end

  before(:all) do
    @ours = Booka::Server.new { |s| config(s.port, s.dir) }.start(scope: :all)
    @stock_dir = Dir.mktmpdir('booka-stock-h2o')
    stock_port = Booka.free_port
    File.write(File.join(@stock_dir, 'h2o.conf'), config(stock_port, @stock_dir))
    @stock = MrubyCompat::StockH2O.new(File.join(@stock_dir, 'h2o.conf'), stock_port, @stock_dir)
  end

  after(:all) do
    @stock&.stop
    FileUtils.rm_rf(@stock_dir) if @stock_dir
  end

  it 'runs the stock h2o that Debian ships, with mruby' do
    out, = Open3.capture2e(MrubyCompat::STOCK_H2O, '--version')
    expect(out).to include('h2o version 2.2.')
    expect(out).to include('mruby: YES')
  end

  %i[h1 h2c].each do |proto|
    %w[GET HEAD OPTIONS].each do |method|
      it "routes every test URL the same way (#{method}, #{proto})" do
        MrubyCompat::URLS.each do |path|
          ours = get(@ours.url(path), proto: proto, method: method)
          stock = get(@stock.url(path), proto: proto, method: method)
          got = [ours.status, ours.body, ours['content-type'], ours['x-stand-in']]
          want = [stock.status, stock.body, stock['content-type'], stock['x-stand-in']]
          expect([path, *got]).to eq [path, *want]
          expect([path, ours.status.between?(300, 399)]).to eq [path, false]
        end
      end
    end
  end
end
