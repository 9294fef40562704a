# avatar_spec.rb: GET /api/v1/img/avatar/{id} (API.md, avatar section): sizes, formats and negotiation, every source
# form (data URL, media file, http and https upstreams), the 404/422/502/503/504 answers, ETag and 304, Cache-Control
# and `immutable`, the variant cache and single-flight (proved with the server's decode counter), CORS, HEAD, HTTP/1.1
# and HTTP/2, and the picture quality against ImageMagick's Lanczos. Fixtures are made here with ImageMagick.
require 'etc'
require_relative 'spec_helper'
require 'base64'
require 'digest'
require 'zlib'

module Booka
  module AvatarFixtures
    extend Booka::Images
    module_function

    # with_orientation: the JPEG with an EXIF APP1 segment whose only tag is Orientation = n.
    def with_orientation(jpeg, n)
      tiff = ['II', 42, 8].pack('a2vV') + [1].pack('v') + [0x0112, 3, 1, n, 0].pack('vvVvv') + [0].pack('V')
      app1 = "Exif\0\0".b + tiff
      jpeg[0, 2] + [0xFF, 0xE1, app1.bytesize + 2].pack('CCn') + app1 + jpeg[2..]
    end

    # png_bomb: a PNG whose header claims width x height RGB pixels (gigabytes once decoded), with a few rows of data.
    def png_bomb(width, height)
      chunk = ->(type, data) { [data.bytesize].pack('N') + type + data + [Zlib.crc32(type + data)].pack('N') }
      rows = Zlib::Deflate.deflate("\0".b * ((width * 3 + 1) * 64), 9)
      "\x89PNG\r\n\x1a\n".b + chunk.call('IHDR', [width, height, 8, 2, 0, 0, 0].pack('NNCCCCC')) + chunk.call('IDAT', rows) +
        chunk.call('IEND', '')
    end

    # make_images: the source pictures, by name, under dir.
    def make_images(dir)
      f = ->(name) { File.join(dir, name) }
      run('convert', '-size', '800x600', '-seed', '1', 'plasma:fractal', '-blur', '0x2', '-quality', '90', f.('landscape.jpg'))
      run('convert', '-size', '600x800', '-seed', '2', 'plasma:fractal', '-blur', '0x2', '-quality', '90', f.('portrait.jpg'))
      run('convert', '-size', '100x80', 'gradient:gold-teal', f.('small.png'))
      # an opaque plasma disc on a transparent canvas
      run('convert', '-size', '400x400', '-seed', '3', 'plasma:red-blue', '(', '-size', '400x400', 'xc:black', '-fill', 'white',
          '-draw', 'circle 200,200 200,40', ')', '-alpha', 'off', '-compose', 'CopyOpacity', '-composite', 'PNG32:' + f.('alpha.png'))
      run('convert', '-size', '640x480', '-seed', '4', 'plasma:fractal', '-blur', '0x2', '-quality', '90', f.('photo.webp'))
      run('convert', '-size', '300x300', 'xc:red', '-colorspace', 'CMYK', '-quality', '95', f.('cmyk.jpg'))
      run('convert', f.('landscape.jpg'), '-quality', '90', '-interlace', 'Plane', f.('progressive.jpg'))
      run('convert', '-size', '200x300', 'xc:red', '-size', '200x300', 'xc:blue', '+append', '-quality', '95', f.('halves.jpg'))
      halves = File.binread(f.('halves.jpg'))
      File.binwrite(f.('rotated6.jpg'), with_orientation(halves, 6)) # displayed turned 90 degrees clockwise
      File.binwrite(f.('rotated3.jpg'), with_orientation(halves, 3)) # displayed upside down
      run('convert', '-size', '48x48', 'gradient:navy-orange', f.('tiny.png'))
      run('convert', '-size', '700x500', '-seed', '5', 'plasma:fractal', '-quality', '92', f.('inline.jpg'))
      run('convert', '-size', '1200x900', '-seed', '11', 'plasma:fractal', '-blur', '0x2', '-quality', '92', f.('quality.jpg'))
      run('convert', '-size', '900x1200', '-seed', '12', 'plasma:fractal', '-blur', '0x2', 'PNG24:' + f.('quality.png'))
      run('convert', '-size', '1000x800', '-seed', '13', 'plasma:fractal', '-blur', '0x2', '-quality', '92', f.('quality.webp'))
      run('convert', '-size', '2600x2200', 'gradient:red-blue', '-quality', '80', f.('huge.jpg'))
      run('convert', '-size', '1400x1400', '-seed', '6', 'xc:gray', '+noise', 'Random', '-quality', '100', f.('noisy.jpg'))
      run('convert', '-size', '4000x4000', 'gradient:white-black', 'PNG24:' + f.('slow.png'))
      File.binwrite(f.('truncated.jpg'), File.binread(f.('landscape.jpg'))[0, 9000])
      File.write(f.('notes.jpg'), "this is not a picture\n" * 20)
      File.binwrite(f.('bomb.png'), png_bomb(30_000, 30_000))
    end

    def token(url)
      Digest::MD5.hexdigest(url)[0, 16]
    end

    # forget_variants: drops the avatar variants an earlier run left in Redis (the cache tier every instance shares), so
    # this run's first requests are misses.
    def forget_variants
      url = ENV.fetch('REDIS_URL')
      keys = run('redis-cli', '-u', url, '--scan', '--pattern', 'avatar:*').split
      keys.each_slice(500) { |batch| run('redis-cli', '-u', url, 'del', *batch) }
    end

    # lanczos_reference: ImageMagick's centre square crop of `src` (EXIF orientation applied) resized to side x side with
    # -filter Lanczos (Lanczos-3), as a lossless PNG.
    def lanczos_reference(src, side, out)
      w, h = run('convert', src, '-auto-orient', '-format', '%w %h', 'info:').split.map(&:to_i)
      s = [w, h].min
      run('convert', src, '-auto-orient', '-gravity', 'center', '-crop', "#{s}x#{s}+0+0", '+repage', '-filter', 'Lanczos',
          '-resize', "#{side}x#{side}!", 'PNG24:' + out)
    end

    def psnr(a, b)
      out, = Open3.capture2e('compare', '-metric', 'PSNR', a, b, 'null:')
      out.to_f
    end
  end

  # AvatarUpstream: a loopback HTTP/1.1 server whose answer per path the spec decides: status, body, a delay before
  # answering, chunked transfer. Counts requests per path.
  class AvatarUpstream < ScriptedUpstream
    attr_reader :port

    def initialize(routes)
      @routes = routes
      @hits = Hash.new(0)
      server = TCPServer.new('127.0.0.1', 0)
      @port = server.addr[1]
      super(server)
    end

    def url(path)
      "http://127.0.0.1:#{@port}#{path}"
    end

    def hits(path)
      @mutex.synchronize { @hits[path] }
    end

    private

    def answer(sock, head)
      path = head[/\AGET (\S+) HTTP/, 1]
      @mutex.synchronize { @hits[path] += 1 }
      route = @routes.fetch(path, { status: 404, body: 'not here' })
      sleep route[:delay] if route[:delay]
      body = route[:body] || ''
      if route[:chunked]
        sock.write("HTTP/1.1 #{route[:status]} X\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
        body.bytes.each_slice(8192) { |c| sock.write("#{c.size.to_s(16)}\r\n#{c.pack('C*')}\r\n") }
        sock.write("0\r\n\r\n")
      else
        sock.write("HTTP/1.1 #{route[:status]} X\r\nContent-Length: #{body.bytesize}\r\nConnection: close\r\n\r\n#{body}")
      end
    end
  end
end

describe 'GET /api/v1/img/avatar/{id}' do
  def fx
    Booka::AvatarFixtures
  end
  origin = 'https://app.example.com'

  before(:all) do
    fx.forget_variants
    @db = Booka::Database.recreate('booka_avatar_spec')
    @work = Dir.mktmpdir('booka-avatar')
    @media = File.join(@work, 'media')
    @pics = File.join(@media, 'profile_pics')
    @outside = File.join(@work, 'outside')
    FileUtils.mkdir_p([@pics, @outside])
    fx.make_images(@pics)
    File.write(File.join(@outside, 'secret.jpg'), 'secret')
    FileUtils.cp(File.join(@pics, 'landscape.jpg'), File.join(@outside, 'elsewhere.jpg'))
    File.symlink(File.join(@outside, 'elsewhere.jpg'), File.join(@pics, 'link.jpg'))
    pic = ->(name) { File.binread(File.join(@pics, name)) }

    # upstreams: a booka-origin serving files over http and https, and a programmable one for failures and delays
    @files = File.join(@work, 'upstream')
    FileUtils.mkdir_p(@files)
    FileUtils.cp(File.join(@pics, 'landscape.jpg'), File.join(@files, 'ok.jpg'))
    # a second certificate, trusted too, for a name that is not the host we connect to
    other_port = Booka.free_port
    fx.run('openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=other.example', '-addext',
           'subjectAltName=DNS:other.example', '-keyout', "#{@work}/other-key.pem", '-out', "#{@work}/other.pem")
    @ca_bundle = "#{@work}/ca.pem"
    File.write(@ca_bundle, File.read(Booka.tls_cert[:cert]) + File.read("#{@work}/other.pem"))
    @file_server = Booka::Server.new do |s|
      <<~YAML
        #{s.listeners.chomp}
        listen:
          port: #{other_port}
          host: 127.0.0.1
          ssl:
            certificate-file: #{@work}/other.pem
            key-file: #{@work}/other-key.pem
        num-threads: 1
        hosts:
          default:
            paths:
              /:
                file.dir: #{@files}
      YAML
    end.start(scope: :all)
    @upstream = Booka::AvatarUpstream.new(
      '/error.jpg' => { status: 500, body: 'boom' },
      '/hang.jpg' => { status: 200, body: pic.('landscape.jpg'), delay: 8 },
      '/big.jpg' => { status: 200, body: 'x' * (1024 * 1024 + 10) },
      '/chunked.jpg' => { status: 200, body: pic.('portrait.jpg'), chunked: true },
      '/slow.jpg' => { status: 200, body: pic.('landscape.jpg'), delay: 0.6 },
      '/slow-gone.jpg' => { status: 200, body: pic.('portrait.jpg'), delay: 0.6 },
      '/redirect.jpg' => { status: 302, body: '' }
    )
    closed_port = Booka.free_port
    # the loopback upstreams' ports (a stored URL may name 80 and 443 only, unless fetch-ports says more)
    @fetch_ports = "[#{[@file_server.port, @file_server.tls_port, other_port, @upstream.port, closed_port].join(', ')}]"

    @pictures = {
      1 => '/static/profile_pics/landscape.jpg',
      2 => '/static/profile_pics/portrait.jpg',
      3 => '/static/profile_pics/small.png',
      4 => '/static/profile_pics/alpha.png',
      5 => '/static/profile_pics/photo.webp',
      6 => '/static/profile_pics/cmyk.jpg',
      7 => '/static/profile_pics/progressive.jpg',
      8 => '/static/profile_pics/rotated6.jpg',
      9 => '/static/profile_pics/rotated3.jpg',
      10 => "data:image/png;base64,#{Base64.strict_encode64(pic.('tiny.png'))}",
      11 => "data:image/jpeg;base64,#{Base64.encode64(pic.('inline.jpg'))}", # megabyte-class: read only on a miss
      12 => nil,
      13 => '/static/profile_pics/missing.jpg',
      14 => '/static/profile_pics/notes.jpg',
      15 => '/static/profile_pics/truncated.jpg',
      16 => '/static/profile_pics/bomb.png',
      17 => '/static/profile_pics/noisy.jpg',
      18 => 'data:image/png;base64,!!!not-base64!!!',
      19 => "data:text/plain;base64,#{Base64.strict_encode64('hello')}",
      20 => '/static/../../etc/passwd',
      21 => '/static/profile_pics/../../outside/secret.jpg',
      22 => '/static/profile_pics/link.jpg',
      23 => 'ftp://example.com/a.jpg',
      24 => '/static/profile_pics/huge.jpg',
      30 => @file_server.url('/ok.jpg'),
      31 => @file_server.url('/missing.jpg'),
      32 => @upstream.url('/error.jpg'),
      33 => @upstream.url('/hang.jpg'),
      34 => "http://127.0.0.1:#{closed_port}/a.jpg",
      35 => @upstream.url('/big.jpg'),
      36 => "https://localhost:#{@file_server.tls_port}/ok.jpg",
      37 => @upstream.url('/slow.jpg'),
      38 => @upstream.url('/chunked.jpg'),
      39 => @upstream.url('/slow-gone.jpg'),
      40 => '/static/profile_pics/slow.png',
      41 => '/static/profile_pics/quality.jpg',
      42 => '/static/profile_pics/quality.png',
      43 => '/static/profile_pics/quality.webp',
      44 => @upstream.url('/redirect.jpg'),
      45 => "https://127.0.0.1:#{@file_server.tls_port}/ok.jpg",
      46 => "https://127.0.0.1:#{other_port}/ok.jpg",
      47 => "http://[unix:#{File.join(Dir.tmpdir, 'booka-no-such.sock')}]/ok.jpg",
      48 => "http://[::ffff:127.0.0.1]:#{@file_server.port}/ok.jpg"
    }
    Booka::Database.psql("INSERT INTO users (id, email, user_type) VALUES (900, 'client@example.com', 'client');", url: @db)
    Booka::Database.insert_providers(@db, @pictures)

    @server = Booka.api_server(@db, origin: origin, status: true, avatar: <<~YAML).start(scope: :all)
      media-root: #{@media}
      max-source-bytes: 1M
      worker-threads: 2
      fetch-connect-timeout: 2500
      fetch-allow: [127.0.0.0/8, "::1/128"]
      fetch-ports: #{@fetch_ports}
      fetch-timeout: 3000
      fetch-ca-file: #{@ca_bundle}
      max-age: 3600
      s-maxage: 86400
    YAML
  end

  after(:all) do
    @upstream&.stop
    FileUtils.rm_rf(@work) if @work
  end

  # avatar_only_server: an instance of its own serving the avatar path with `avatar` as its booka.avatar value (for
  # examples that need another configuration than @server's; the upstreams' ports are added to it), /status when
  # `status`, sharing variants through the test Redis when `redis`; stopped after the example.
  def avatar_only_server(avatar, threads: 1, status: false, redis: false)
    avatar = avatar == 'ON' ? "{fetch-ports: #{@fetch_ports}}" : avatar.sub(/\A\{/, "{fetch-ports: #{@fetch_ports}, ")
    Booka::Server.new do |s|
      <<~YAML
        listen: #{s.port}
        num-threads: #{threads}
        booka.postgres: #{@db}
        #{"booka.redis: #{ENV.fetch('REDIS_URL')}" if redis}
        hosts:
          default:
            paths:
              /api/v1/img/avatar:
                booka.avatar: #{avatar}
        #{'      /status: {status: ON}' if status}
      YAML
    end.start
  end

  def avatar(path, proto: :h1, headers: {}, **opts)
    get(@server.url("/api/v1/img/avatar/#{path}", tls: proto == :h2), proto: proto, headers: headers, **opts)
  end

  # save: the response body in a file named after the content type, for ImageMagick.
  def save(res, name)
    ext = { 'image/webp' => 'webp', 'image/jpeg' => 'jpg' }.fetch(res['content-type'])
    path = File.join(@work, "#{name}.#{ext}")
    File.binwrite(path, res.body)
    path
  end

  def stats(server = @server)
    JSON.parse(get(server.url('/status/json?show=avatar')).body)
  end

  def expect_json_error(res, status)
    expect(res.status).to eq(status), "expected #{status}, got #{res.status}: #{res.body[0, 300]}"
    expect(res['content-type']).to eq('application/json')
    expect(res.json).to have_key('detail')
    expect(res['cache-control']).to eq('no-store')
  end

  describe 'output size: min(floor(w*dpr + 0.5), source short side, max-side)' do
    [
      ['1', 256],                    # defaults: w=256, dpr=1
      ['1?w=100', 100],
      ['1?w=128&dpr=2', 256],
      ['1?w=101&dpr=1.5', 152],      # 151.5 rounds up
      ['1?w=30&dpr=1.15', 35],       # 34.5 in decimal rounds up too
      ['1?w=16', 16],
      ['1?w=1024&dpr=4', 600],       # capped by the source's short side
      ['2?w=300&dpr=3', 600],
      ['3?w=256', 80],               # a 100x80 source
      ['5?w=200&dpr=2.5', 480],      # WebP source 640x480
      ['10?w=256', 48],              # data URL of a 48x48 PNG
      ['11?w=64&dpr=2', 128],        # long data URL
      ['24?w=1024&dpr=4', 2048]      # 2600x2200 source: capped by max-side (default 2048)
    ].each do |path, side|
      it "#{path} is #{side}x#{side}" do
        res = avatar(path)
        expect(res.status).to eq(200), res.body[0, 200]
        _, w, h = fx.identify(save(res, 'size'))
        expect([w, h]).to eq([side, side])
      end
    end

    it 'caps by a configured max-side' do
      server = avatar_only_server("{media-root: #{@media}, max-side: 300}")
      res = get(server.url('/api/v1/img/avatar/1?w=1024'))
      expect(fx.identify(save(res, 'maxside'))[1, 2]).to eq([300, 300])
    end
  end

  describe 'format' do
    def format_of(res)
      fx.identify(save(res, 'fmt'))[0]
    end

    [
      [nil, 'JPEG'], ['*/*', 'JPEG'], ['image/*', 'JPEG'], ['image/*,*/*;q=0.8', 'JPEG'], ['image/webp', 'WEBP'],
      ['image/avif,image/webp,*/*;q=0.8', 'WEBP'], ['IMAGE/WebP;Q=0.5', 'WEBP'], ['image/webp;q=0', 'JPEG'],
      ['image/webp;q=0.000, image/png', 'JPEG'], ['text/html, image/webp ; q=0.1', 'WEBP']
    ].each do |accept, format|
      it "fmt=auto with Accept #{accept.inspect} gives #{format}, with Vary: Accept" do
        res = avatar('1?w=64', extra: accept.nil? ? ['-H', 'Accept:'] : ['-H', "Accept: #{accept}"])
        expect(res.status).to eq(200)
        expect(format_of(res)).to eq(format)
        expect(res['content-type']).to eq(format == 'WEBP' ? 'image/webp' : 'image/jpeg')
        expect(res['vary'].split(/,\s*/)).to contain_exactly('Accept', 'Origin')
      end
    end

    it 'fmt=webp and fmt=jpeg ignore Accept and do not vary on it' do
      res = avatar('1?w=64&fmt=webp', headers: { 'Accept' => 'image/jpeg' })
      expect([res['content-type'], format_of(res)]).to eq(['image/webp', 'WEBP'])
      expect(res['vary']).to eq('Origin')
      res = avatar('1?w=64&fmt=jpeg', headers: { 'Accept' => 'image/webp' })
      expect([res['content-type'], format_of(res)]).to eq(['image/jpeg', 'JPEG'])
      expect(res['vary']).to eq('Origin')
    end

    it 'turns PNG, WebP, CMYK and progressive JPEG sources into sRGB output' do
      [3, 5, 6, 7].each do |id|
        res = avatar("#{id}?w=64&fmt=jpeg")
        expect(res.status).to eq(200), "provider #{id}: #{res.body[0, 200]}"
        expect(fx.identify(save(res, "src#{id}"))[0]).to eq('JPEG')
      end
      red = fx.pixel(save(avatar('6?w=64&fmt=jpeg'), 'cmyk'), 32, 32)
      expect(red[0]).to be > 230
      expect(red[1] + red[2]).to be < 40
    end

    it 'applies EXIF orientation' do
      # halves.jpg is red on the left, blue on the right; orientation 6 shows it turned clockwise (red on top)
      out = save(avatar('8?w=100&fmt=jpeg'), 'rot6')
      expect(fx.pixel(out, 50, 5)[0]).to be > 200
      expect(fx.pixel(out, 50, 95)[2]).to be > 200
      # orientation 3 shows it upside down (blue on the left)
      out = save(avatar('9?w=100&fmt=jpeg'), 'rot3')
      expect(fx.pixel(out, 5, 50)[2]).to be > 200
      expect(fx.pixel(out, 95, 50)[0]).to be > 200
    end

    it 'flattens transparency onto white in JPEG and keeps it in WebP' do
      jpeg = save(avatar('4?w=100&fmt=jpeg'), 'alpha')
      expect(fx.pixel(jpeg, 1, 1)).to all(be >= 250)
      webp = save(avatar('4?w=100&fmt=webp'), 'alpha')
      expect(fx.opacity(webp, 1, 1)).to be < 0.05
      expect(fx.opacity(webp, 50, 50)).to be > 0.95
    end
  end

  describe 'invalid parameters: 422 in FastAPI shape' do
    [
      ['w=15', 'w', 'greater_than_equal'], ['w=1025', 'w', 'less_than_equal'], ['w=abc', 'w', 'int_parsing'],
      ['w=12.5', 'w', 'int_parsing'], ['dpr=0.5', 'dpr', 'greater_than_equal'], ['dpr=4.01', 'dpr', 'less_than_equal'],
      ['dpr=x', 'dpr', 'float_parsing'], ['q=0', 'q', 'greater_than_equal'], ['q=101', 'q', 'less_than_equal'],
      ['q=9.5', 'q', 'int_parsing'], ['fmt=png', 'fmt', 'enum'], ['fmt=WEBP', 'fmt', 'enum']
    ].each do |query, param, type|
      it "#{query} → 422 at [query, #{param}] (#{type})" do
        res = avatar("1?#{query}")
        expect_json_error(res, 422)
        expect(res.json['detail']).to contain_exactly(include('loc' => ['query', param], 'type' => type, 'msg' => be_a(String)))
      end
    end

    it 'reports every bad parameter at once, and validates before looking anything up' do
      res = avatar('999999?w=1&dpr=9&q=0&fmt=gif')
      expect_json_error(res, 422)
      expect(res.json['detail'].map { |d| d['loc'][1] }).to eq(%w[w dpr q fmt])
    end

    it 'ignores unknown parameters, empty values and all but the last occurrence' do
      res = avatar('1?utm_source=x&w=&w=50&w=64&cb=1')
      expect(res.status).to eq(200)
      expect(fx.identify(save(res, 'params'))[1]).to eq(64)
    end
  end

  describe 'sources that are not usable images: 422' do
    {
      14 => 'a text file', 15 => 'a truncated JPEG', 17 => 'a file over max-source-bytes', 18 => 'a data URL that is not base64',
      19 => 'a data URL that is not an image', 35 => 'an upstream body over the byte limit'
    }.each do |id, what|
      it "#{what} (provider #{id})" do
        expect_json_error(avatar("#{id}?w=64"), 422)
      end
    end

    it 'a 30000x30000 PNG bomb answers quickly, without decoding' do
      started = Time.now
      res = avatar('16?w=64')
      expect_json_error(res, 422)
      expect(Time.now - started).to be < 3
      peak_kb = File.read("/proc/#{@server.pid}/status")[/VmHWM:\s+(\d+)/, 1].to_i
      expect(peak_kb).to be < 1_000_000 # a decode would need 2.7 GB
      puts "\n    bomb: 422 in #{((Time.now - started) * 1000).round} ms, server peak RSS #{peak_kb / 1024} MB"
    end
  end

  describe 'not found: 404 JSON' do
    {
      '999' => 'an unknown provider', '900' => 'a user without a provider profile', '12' => 'a provider without a picture',
      '13' => 'a missing media file', '20' => 'a media path climbing out of the media root',
      '21' => 'a media path with .. inside', '22' => 'a symbolic link out of the media root',
      '23' => 'a picture URL of another form'
    }.each do |path, what|
      it "#{what} (#{path})" do
        expect_json_error(avatar(path), 404)
      end
    end

    ['..%2f..%2fetc%2fpasswd', '7%2F..', '12ab', 'abc', '1/2', '1/', '-1', '1.5', '99999999999999999999', '%00'].each do |path|
      it "the id #{path}" do
        res = avatar(path)
        expect_json_error(res, 404)
        expect(res.body).not_to include('root:')
      end
    end

    it 'a traversal that climbs above /api never reaches a file' do
      res = avatar('..%2F..%2F..%2F..%2F..%2Fetc%2Fpasswd')
      expect(res.status).to eq(404)
      expect(res.body).not_to include('root:')
    end
  end

  describe 'http(s) sources' do
    it 'fetches an http URL' do
      res = avatar('30?w=80')
      expect(res.status).to eq(200)
      expect(fx.identify(save(res, 'http'))[1, 2]).to eq([80, 80])
    end

    it 'fetches an https URL, verifying the certificate and the host name (DNS or IP address)' do
      %w[36 45].each do |id|
        res = avatar("#{id}?w=80")
        expect(res.status).to eq(200), res.body
        expect(fx.identify(save(res, 'https'))[1, 2]).to eq([80, 80])
      end
    end

    it 'refuses an https upstream it cannot verify: 502' do
      server = avatar_only_server('{fetch-allow: [127.0.0.0/8, "::1/128"]}')
      # a variant nobody built yet (instances share built ones through Redis), from a self-signed certificate
      expect_json_error(get(server.url('/api/v1/img/avatar/36?w=79')), 502)
      expect_json_error(avatar('46?w=80'), 502) # a trusted certificate for another name
    end

    it 'refuses a stored URL or media path over 8 KiB without a request (what it would make the server allocate)' do
      long = { 70 => "#{@upstream.url('/')}#{'a' * 9000}.jpg", 71 => "/static/#{'b' * 9000}.jpg" }
      Booka::Database.insert_providers(@db, long)
      long.each_key do |id|
        r = get(@server.url("/api/v1/img/avatar/#{id}?w=81"))
        expect_json_error(r, 502)
        expect(r.json['detail']).to eq 'the picture URL is too long'
      end
      expect(@upstream.hits("/#{'a' * 9000}.jpg")).to eq 0
    end

    it 'fetches only from public addresses unless fetch-allow names the block, never from a UNIX socket' do
      server = avatar_only_server('ON')
      # variants nobody built yet: loopback by address, by a name that resolves to it, inside IPv6
      { '30?w=77' => '127.0.0.1: not a public address', '36?w=77' => 'localhost: it resolves to an address that is not public',
        '48?w=77' => '::ffff:127.0.0.1: not a public address' }.each do |path, logged|
        expect_json_error(get(server.url("/api/v1/img/avatar/#{path}")), 502)
        expect(server.log).to include("refused to fetch from #{logged}")
      end
      # the same answer as a server that is not there: refusals map no network
      expect(get(server.url('/api/v1/img/avatar/30?w=77')).body).to eq get(server.url('/api/v1/img/avatar/34?w=77')).body
      # with fetch-allow, loopback is reachable (by name and inside IPv6 too), a UNIX socket still is not
      expect(avatar('48?w=77').status).to eq 200
      expect_json_error(avatar('47?w=77'), 502)
      expect(@server.log).to include('a bracketed host that is not an IPv6 address')
    end

    it 'fetches a source that just failed once for all its variants, within fetch-failure-ttl' do
      before = @upstream.hits('/error.jpg').to_i
      %w[32?w=61 32?w=62 32?w=63&fmt=jpeg].each { |path| expect_json_error(avatar(path), 502) }
      expect(@upstream.hits('/error.jpg').to_i - before).to eq 1
    end

    it 'answers 503 with Retry-After instead of starting more than fetch-concurrency fetches' do
      server = avatar_only_server('{fetch-allow: 127.0.0.0/8, fetch-concurrency: 1, fetch-timeout: 3000}')
      slow = Thread.new { get(server.url('/api/v1/img/avatar/33?w=58'), timeout: 10) } # hangs upstream until 3 s
      Booka.wait_for(timeout: 5) { @upstream.hits('/hang.jpg').to_i.positive? }
      res = get(server.url('/api/v1/img/avatar/30?w=58'))
      expect_json_error(res, 503)
      expect(res['retry-after']).to eq '1'
      expect(res.body).to include 'the picture sources are busy'
      expect(slow.value.status).to eq 504
      expect(get(server.url('/api/v1/img/avatar/30?w=58')).status).to eq 200 # the slot is free again
    end

    it 'reads a chunked response' do
      expect(avatar('38?w=80').status).to eq(200)
    end

    it 'maps the upstream 404 to 404, other failures to 502, a timeout to 504' do
      expect_json_error(avatar('31?w=80'), 404)
      expect_json_error(avatar('32?w=80'), 502)
      expect_json_error(avatar('34?w=80'), 502) # nobody listens
      expect_json_error(avatar('44?w=80'), 502) # redirects are not followed
      started = Time.now
      expect_json_error(avatar('33?w=80'), 504)
      expect(Time.now - started).to be_between(2.4, 5)
    end
  end

  describe 'media-base-url: stored /static/ paths fetched from shared storage (stock h2o serving the media files)' do
    # media_server: an instance whose stored paths resolve below `base`
    def media_server(base, extra = '')
      avatar_only_server("{media-base-url: \"#{base}\", fetch-allow: 127.0.0.0/8, fetch-timeout: 2000#{extra}}", threads: 2)
    end

    before(:all) do
      @stock_port = Booka.free_port
      @stock_log = File.join(@work, 'stock-access.log')
      File.write(File.join(@work, 'stock.conf'), <<~YAML)
        listen: {port: #{@stock_port}, host: 127.0.0.1}
        user: #{Etc.getpwuid(Process.uid).name}
        access-log: #{@stock_log}
        hosts:
          default:
            paths:
              /media:
                file.dir: #{@media}
      YAML
      @stock = Process.spawn('h2o', '-c', File.join(@work, 'stock.conf'), out: File::NULL, err: File.join(@work, 'stock.err'))
      Booka.wait_for(timeout: 10) { Booka.listening?(@stock_port) }
    end

    after(:all) do
      Process.kill('TERM', @stock) if @stock
      Process.wait(@stock) if @stock
    end

    def stock_fetches(path)
      File.exist?(@stock_log) ? File.readlines(@stock_log).count { |l| l.include?("GET /media/#{path} ") } : 0
    end

    it 'renders every variant of a picture from one fetch per instance, and answers 404 for what is not there' do
      srv = media_server("http://127.0.0.1:#{@stock_port}/media")
      %w[1?w=40 1?w=41&fmt=jpeg 1?w=42&dpr=2 1?w=43&q=50].each { |path| expect(get(srv.url("/api/v1/img/avatar/#{path}")).status).to eq 200 }
      Booka.wait_for(timeout: 5) { stock_fetches('profile_pics/landscape.jpg') >= 1 }
      expect(stock_fetches('profile_pics/landscape.jpg')).to eq 1
      expect_json_error(get(srv.url('/api/v1/img/avatar/13?w=40')), 404) # the storage answers 404
      expect_json_error(get(srv.url('/api/v1/img/avatar/21?w=40')), 404) # a path with .. is never requested
      expect(File.read(@stock_log)).not_to include('..')
    end

    # stock_answers: the statuses stock h2o answered for `path`, in order
    def stock_answers(path)
      return [] unless File.exist?(@stock_log)

      File.readlines(@stock_log).filter_map { |l| l[%r{"GET /media/#{Regexp.escape(path)} HTTP/1\.1" (\d{3}) }, 1] }
    end

    it 'revalidates a source past originals-ttl with a conditional GET, and renders from the bytes it kept on a 304' do
      srv = avatar_only_server("{media-base-url: \"http://127.0.0.1:#{@stock_port}/media\", fetch-allow: 127.0.0.0/8, " \
                               'originals-ttl: 1}', status: true)
      before = stock_answers('profile_pics/landscape.jpg').size
      first = get(srv.url('/api/v1/img/avatar/1?w=50&fmt=jpeg'))
      expect([first.status, first['content-type']]).to eq [200, 'image/jpeg']
      sleep 1.2 # past originals-ttl: the next variant asks the storage whether its copy is still current
      second = get(srv.url('/api/v1/img/avatar/1?w=51&fmt=jpeg'))
      expect([second.status, second['content-type']]).to eq [200, 'image/jpeg']
      expect(second.body).not_to eq first.body # another variant, rendered from the kept bytes
      Booka.wait_for(timeout: 5) { stock_answers('profile_pics/landscape.jpg').size >= before + 2 }
      expect(stock_answers('profile_pics/landscape.jpg')[before..]).to eq %w[200 304] # stock h2o honoured If-None-Match
      expect(stats(srv)['avatar-originals-revalidated']).to eq 1
      third = get(srv.url('/api/v1/img/avatar/1?w=52&fmt=jpeg')) # fresh again for originals-ttl: no request at all
      expect(third.status).to eq 200
      expect(stock_answers('profile_pics/landscape.jpg').size).to eq before + 2
    end

    it 'answers 502 when the storage is not there and 504 when it does not answer, without hanging' do
      silent = TCPServer.new('127.0.0.1', 0)
      holder = Thread.new { loop { (c = silent.accept) && Thread.new(c) { |x| sleep 10; x.close } } }
      expect_json_error(get(media_server("http://127.0.0.1:#{Booka.free_port}/m/").url('/api/v1/img/avatar/2?w=40')), 502)
      started = Time.now
      expect_json_error(get(media_server("http://127.0.0.1:#{silent.addr[1]}/m/").url('/api/v1/img/avatar/2?w=40'), timeout: 10), 504)
      expect(Time.now - started).to be < 5
    ensure
      holder&.kill
      silent&.close
    end

    it 'refuses media-base-url beside media-root, and a URL that is not http(s), naming the line' do
      { "{media-base-url: \"http://127.0.0.1/m/\", media-root: #{@media}}" => 'media-base-url and media-root exclude each other',
        '{media-base-url: "ftp://x/m/"}' => 'expected an http(s) URL' }.each do |conf, message|
        status, out = Booka.check_avatar_config(@db, conf, path: '/a')
        expect(status).not_to eq 0
        expect(out).to match(/h2o\.conf:\d+:\d+: .*#{Regexp.escape(message)}/)
      end
    end
  end

  describe 'caching headers' do
    it 'has a strong ETag that changes with the picture and every output parameter, not with w*dpr spelling' do
      tag = ->(path) { avatar(path)['etag'] }
      base = tag.('1?w=256&q=85&fmt=jpeg')
      expect(base).to match(/\A"[0-9a-f]{32}"\z/)
      expect(tag.('1?w=128&dpr=2&q=85&fmt=jpeg')).to eq(base)
      expect(tag.('1?q=85&fmt=jpeg&v=whatever')).to eq(base)
      others = [tag.('1?w=255&q=85&fmt=jpeg'), tag.('1?w=256&q=84&fmt=jpeg'), tag.('1?w=256&q=85&fmt=webp'),
                tag.('2?w=256&q=85&fmt=jpeg')]
      expect((others + [base]).uniq.size).to eq(5)
    end

    it 'is long-lived, and immutable only when v is the current token' do
      res = avatar('1?w=64')
      expect(res['cache-control']).to eq('public, max-age=3600, s-maxage=86400')
      res = avatar("1?w=64&v=#{fx.token(@pictures[1])}")
      expect(res['cache-control']).to eq('public, max-age=31536000, s-maxage=31536000, immutable')
      res = avatar("1?w=64&v=#{fx.token(@pictures[2])}")
      expect(res['cache-control']).not_to include('immutable')
    end

    it 'agrees with the token the list endpoint puts in its URLs' do
      list = get(@server.url('/api/v1/service-provider-profiles/?fields=id,profile_picture_url&limit=100')).json['data']
      url = list.find { |p| p['id'] == 11 }['profile_picture_url']
      expect(url).to match(%r{\A/api/v1/img/avatar/11\?w=256&dpr=2&q=90&v=[0-9a-f]{16}\z})
      res = get(@server.url(url))
      expect(res.status).to eq(200)
      expect(res['cache-control']).to include('immutable')
    end

    it 'answers 304 to If-None-Match (weak comparison, lists, *) with the 200\'s headers and no body' do
      ok = avatar('1?w=72', headers: { 'Origin' => origin })
      etag = ok['etag']
      ["#{etag}", "W/#{etag}", "\"nope\", #{etag}", '*', " W/\"x\" ,#{etag} "].each do |inm|
        res = avatar('1?w=72', headers: { 'If-None-Match' => inm, 'Origin' => origin })
        expect(res.status).to eq(304), "If-None-Match: #{inm}"
        expect(res.body).to eq('')
        expect(res['content-length']).to be_nil
        %w[etag cache-control vary access-control-allow-origin].each { |h| expect(res[h]).to eq(ok[h]) }
        expect(res['x-cache']).to eq('HIT') # the 200 before filled the cache
      end
      expect(avatar('1?w=72', headers: { 'If-None-Match' => '"other"' }).status).to eq(200)
      expect(avatar('1?w=72', headers: { 'If-None-Match' => etag.sub('"', '') }).status).to eq(200) # malformed
      expect(avatar('1?w=72&q=70', headers: { 'If-None-Match' => etag }).status).to eq(200)
    end
  end

  describe 'variant cache' do
    it 'serves a repeat from the cache with X-Cache: HIT and no decode' do
      first = avatar('2?w=90&q=77')
      expect(first['x-cache']).to eq('MISS')
      decodes = stats['avatar-decodes']
      again = avatar('2?w=90&q=77')
      expect(again['x-cache']).to eq('HIT')
      expect(again.body).to eq(first.body)
      expect(again['etag']).to eq(first['etag'])
      expect(avatar('2?w=45&dpr=2&q=77')['x-cache']).to eq('HIT') # the same side
      expect(avatar('2?w=90&q=77', headers: { 'Accept' => 'image/jpeg' })['x-cache']).to eq('HIT')
      expect(stats['avatar-decodes']).to eq(decodes)
    end

    it 'resolves fmt=auto before keying, so Accept does not multiply entries' do
      expect(avatar('2?w=91&fmt=webp')['x-cache']).to eq('MISS')
      decodes = stats['avatar-decodes']
      expect(avatar('2?w=91', headers: { 'Accept' => 'image/webp' })['x-cache']).to eq('HIT')
      expect(avatar('2?w=91', headers: { 'Accept' => 'image/avif,image/webp' })['x-cache']).to eq('HIT')
      expect(stats['avatar-decodes']).to eq(decodes)
    end

    it 'decodes once for identical concurrent misses, on every thread' do
      before = stats
      results = Array.new(8) { Thread.new { avatar('37?w=120') } }.map(&:value)
      expect(results.map(&:status)).to all(eq(200))
      expect(results.map { |r| r['x-cache'] }.sort).to eq(['HIT'] * 7 + ['MISS'])
      expect(results.map(&:body).uniq.size).to eq(1)
      after = stats
      expect(after['avatar-decodes'] - before['avatar-decodes']).to eq(1)
      expect(after['avatar-fetches'] - before['avatar-fetches']).to eq(1)
      expect(@upstream.hits('/slow.jpg')).to eq(1)
    end

    it 'shares variants between instances through Redis: another instance decodes nothing' do
      first = avatar('2?w=93&q=81')
      expect(first['x-cache']).to eq('MISS')
      other = avatar_only_server("{media-root: #{@media}}", status: true, redis: true)
      res = get(other.url('/api/v1/img/avatar/2?w=93&q=81'))
      expect(res['x-cache']).to eq('HIT')
      expect(res.body).to eq(first.body)
      expect(res['etag']).to eq(first['etag'])
      expect(stats(other)['avatar-decodes']).to eq(0)
    end

    it 'keeps the result of a request that went away, and touches nothing of it' do
      decodes = stats['avatar-decodes']
      gone = avatar('39?w=120', timeout: 0.2)
      expect(gone.status).to eq(0) # curl gave up first
      sleep 1.5
      res = avatar('39?w=120')
      expect(res.status).to eq(200)
      expect(res['x-cache']).to eq('HIT')
      expect(stats['avatar-decodes'] - decodes).to eq(1)
      expect(@server.alive?).to be(true)
    end
  end

  describe 'versioned URLs: a HIT whose v is the current version asks the database nothing' do
    before(:all) do
      @versioned = {
        60 => '/static/profile_pics/landscape.jpg', 61 => '/static/profile_pics/landscape.jpg',
        62 => '/static/profile_pics/portrait.jpg', 63 => '/static/profile_pics/portrait.jpg',
        64 => '/static/profile_pics/landscape.jpg', 65 => '/static/profile_pics/portrait.jpg'
      }
      Booka::Database.insert_providers(@db, @versioned)
      Booka::Database.psql('CREATE EXTENSION IF NOT EXISTS pg_stat_statements', url: @db)
    end

    def versioned(id, query = 'w=64&fmt=jpeg', **opts)
      avatar("#{id}?#{query}&v=#{fx.token(@versioned[id])}", **opts)
    end

    # lookups: how often this database ran the avatar's version lookup or its URL read (pg_stat_statements)
    def lookups
      Booka::Database.psql(<<~SQL, url: @db).to_i
        SELECT coalesce(sum(calls), 0) FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
        WHERE d.datname = 'booka_avatar_spec' AND s.query ILIKE '%d.picture_version%' AND s.query NOT ILIKE '%pg_stat_statements%'
      SQL
    end

    # warm: the variant cached and its version confirmed by a lookup, so the next request with v takes no lookup
    def warm(id, query = 'w=64&fmt=jpeg')
      skipped = stats['avatar-lookups-skipped']
      Booka.wait_for(timeout: 10) do # until the instance's LISTEN connection is up (a lookup before it is not trusted)
        versioned(id, query)['x-cache'] == 'HIT' && stats['avatar-lookups-skipped'] > skipped
      end
    end

    it 'serves the HIT, and the 304 of its ETag, without a query: with the tables locked, and counted by pg_stat_statements' do
      warm(60)
      first = versioned(60)
      Booka::Database.psql('SELECT pg_stat_statements_reset()', url: @db)
      skipped = stats['avatar-lookups-skipped']
      Booka::Database.with_exclusive_lock('service_provider_profiles, booka.providers', url: @db) do
        started = Time.now
        res = versioned(60)
        expect(Time.now - started).to be < 1.0
        expect([res.status, res['x-cache'], res.body]).to eq([200, 'HIT', first.body])
        expect(res['cache-control']).to eq('public, max-age=31536000, s-maxage=31536000, immutable')
        expect(res['etag']).to eq(first['etag'])
        not_modified = versioned(60, headers: { 'If-None-Match' => first['etag'] })
        expect([not_modified.status, not_modified['etag'], not_modified['x-cache']]).to eq([304, first['etag'], 'HIT'])
        expect(versioned(60, 'w=64&fmt=jpeg', method: 'HEAD').status).to eq(200)
        # the lock is real: the same variant without v looks its version up, and waits
        expect(avatar('60?w=64&fmt=jpeg', timeout: 1).status).to eq(0)
      end
      expect(stats['avatar-lookups-skipped'] - skipped).to eq(3)
      20.times { expect(versioned(60)['x-cache']).to eq('HIT') }
      expect(lookups).to eq(1) # the request without v, once the lock went
    end

    it 'stops serving a changed picture under its old versioned URL within a second (the NOTIFY path)' do
      warm(61)
      old = versioned(61)
      old_url = "61?w=64&fmt=jpeg&v=#{fx.token(@versioned[61])}"
      Booka::Database.psql("UPDATE service_provider_profiles SET profile_picture_url = '#{@versioned[62]}' WHERE user_id = 61",
                           url: @db)
      started = Time.now
      Booka.wait_for(timeout: 5) { avatar(old_url).body != old.body }
      expect(Time.now - started).to be < 1.0
      # the old URL now has a stale v: API.md's answer for it, the current picture, not immutable
      stale = avatar(old_url)
      current = avatar("61?w=64&fmt=jpeg&v=#{fx.token(@versioned[62])}")
      expect(stale.status).to eq(200)
      expect(stale.body).to eq(current.body)
      expect(stale['etag']).to eq(current['etag'])
      expect(stale['etag']).not_to eq(old['etag'])
      expect(stale['cache-control']).to eq('public, max-age=3600, s-maxage=86400')
      expect(current['cache-control']).to include('immutable')
      expect(fx.identify(save(stale, 'changed'))[1, 2]).to eq([64, 64])
    end

    it 'stops serving a removed picture, or a removed provider, under its old versioned URL within a second' do
      warm(63)
      warm(64)
      Booka::Database.psql('UPDATE service_provider_profiles SET profile_picture_url = NULL WHERE user_id = 63', url: @db)
      Booka::Database.psql('DELETE FROM users WHERE id = 64', url: @db)
      started = Time.now
      Booka.wait_for(timeout: 5) { versioned(63).status == 404 && versioned(64).status == 404 }
      expect(Time.now - started).to be < 1.0
      expect_json_error(versioned(63), 404)
      expect(versioned(64).json['detail']).to eq('provider not found')
    end

    it 'looks the version up for a stale or a missing v, as before' do
      warm(65)
      skipped = stats['avatar-lookups-skipped']
      Booka::Database.psql('SELECT pg_stat_statements_reset()', url: @db)
      missing = avatar('65?w=64&fmt=jpeg')
      stale = avatar('65?w=64&fmt=jpeg&v=0123456789abcdef')
      long = avatar("65?w=64&fmt=jpeg&v=#{fx.token(@versioned[65])}#{'0' * 40}")
      [missing, stale, long].each do |res|
        expect([res.status, res['x-cache']]).to eq([200, 'HIT'])
        expect(res['cache-control']).to eq('public, max-age=3600, s-maxage=86400')
      end
      expect(lookups).to eq(3)
      expect(stats['avatar-lookups-skipped']).to eq(skipped)
    end

    it 'trusts no version across a lost LISTEN connection: a write it could not hear of is served at once' do
      warm(62)
      old = versioned(62)
      old_url = "62?w=64&fmt=jpeg&v=#{fx.token(@versioned[62])}"
      # the instance's LISTEN session goes; the write lands while it reconnects (its notification reaches nobody here)
      Booka::Database.psql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = 'booka_avatar_spec' " \
                           "AND application_name = 'booka-origin-listen'", url: @db)
      Booka::Database.psql("UPDATE service_provider_profiles SET profile_picture_url = '#{@versioned[60]}' WHERE user_id = 62",
                           url: @db)
      sleep 0.3 # the lost connection noticed: while it is down every request looks up; after its reconnect nothing is trusted
      res = avatar(old_url)
      expect(res.status).to eq(200)
      expect(res.body).not_to eq(old.body)
      expect(res['cache-control']).not_to include('immutable')
    end
  end

  # One edge policy for the database's answers (db/answer.h): a full wait queue is "the server is busy, try again" with
  # Retry-After on every path that queries, including the fill's read of a long URL (it used to say "the database is
  # unavailable" there, unlike the lookup and the list).
  describe 'a full database wait queue' do
    it 'answers a versioned miss whose long URL read finds the queue full as the lookup would: 503 busy, Retry-After' do
      db = @db
      fetch_ports = @fetch_ports
      server = Booka::Server.new do |s|
        <<~YAML
          listen: #{s.port}
          num-threads: 1
          booka.postgres: {url: #{db}, pool-size: 1, queue-limit: 0, query-timeout: 5000}
          booka.redis: OFF # no variant another example left in the shared Redis
          hosts:
            default:
              paths:
                /api/v1/img/avatar:
                  booka.avatar: {fetch-ports: #{fetch_ports}}
                /readyz:
                  booka.readiness: ON
        YAML
      end.start
      versioned = "?fmt=jpeg&v=#{fx.token(@pictures[11])}"
      Booka.wait_for(timeout: 10) { get(server.url('/readyz')).json['invalidation'] == 'up' }
      # a lookup while the instance listens: version 11's token is known current from now on (known.c)
      expect(get(server.url("/api/v1/img/avatar/11#{versioned}&w=64")).status).to eq(200)
      waiter = nil
      Booka::Database.with_exclusive_lock('service_provider_profiles', url: db) do
        # the only connection waits on the lock with another provider's lookup; the queue holds nothing more
        waiter = Thread.new { get(server.url('/api/v1/img/avatar/10?w=64')) }
        Booka.wait_for(timeout: 10) do
          Booka::Database.psql("SELECT count(*) FROM pg_stat_activity WHERE datname = 'booka_avatar_spec' AND " \
                               "application_name = 'booka-origin' AND wait_event_type = 'Lock'", url: db).strip == '1'
        end
        # another size of 11 with the current v: no lookup, but its fill must read the long data: URL
        res = get(server.url("/api/v1/img/avatar/11#{versioned}&w=128&q=77"))
        expect_json_error(res, 503)
        expect(res.json['detail']).to eq('the server is busy, try again')
        expect(res['retry-after']).to eq('1')
        lookup = get(server.url('/api/v1/img/avatar/3?w=64'))
        expect_json_error(lookup, 503)
        expect([lookup.json['detail'], lookup['retry-after']]).to eq([res.json['detail'], res['retry-after']])
      end
      expect(waiter.value.status).to eq(200)
    end
  end

  describe 'protocols, methods, CORS' do
    it 'serves HTTP/1.1, h2c and h2 alike' do
      bodies = { h1: '1.1', h2c: '2', h2: '2' }.map do |proto, version|
        res = avatar('5?w=64&fmt=webp', proto: proto)
        expect(res.status).to eq(200)
        expect(res.http_version).to eq(version)
        res.body
      end
      expect(bodies.uniq.size).to eq(1)
    end

    it 'answers HEAD with the GET headers and no body' do
      get_res = avatar('1?w=64')
      head_res = avatar('1?w=64', method: 'HEAD')
      expect(head_res.status).to eq(200)
      expect(head_res.body).to eq('')
      %w[content-type content-length etag cache-control vary].each { |h| expect(head_res[h]).to eq(get_res[h]) }
      expect(head_res['content-length'].to_i).to eq(get_res.body.bytesize)
    end

    it 'refuses other methods with 405 and Allow' do
      res = avatar('1', method: 'POST')
      expect_json_error(res, 405)
      expect(res['allow']).to eq('GET, HEAD, OPTIONS')
    end

    it 'carries CORS, Vary: Origin and X-Request-Id on images and errors alike' do
      ['1?w=64', '999', '1?w=1'].each do |path|
        res = avatar(path, headers: { 'Origin' => origin, 'X-Request-Id' => 'avatar-spec-1' })
        expect(res['access-control-allow-origin']).to eq(origin)
        expect(res['access-control-allow-credentials']).to eq('true')
        expect(res['vary']).to include('Origin')
        expect(res['x-request-id']).to eq('avatar-spec-1')
      end
      expect(avatar('1', headers: { 'Origin' => 'https://evil.example' })['access-control-allow-origin']).to be_nil
    end

    it 'answers preflights' do
      res = avatar('1', method: 'OPTIONS', headers: { 'Origin' => origin, 'Access-Control-Request-Method' => 'GET' })
      expect(res.status).to eq(204)
      expect(res['access-control-allow-methods']).to eq('GET, HEAD, OPTIONS')
    end
  end

  describe 'quality: PSNR against ImageMagick\'s Lanczos centre crop at q=90' do
    { 41 => 'quality.jpg', 42 => 'quality.png', 43 => 'quality.webp' }.each do |id, name|
      %w[jpeg webp].each do |format|
        it "#{name} → #{format}: at least 35 dB" do
          res = avatar("#{id}?w=256&q=90&fmt=#{format}")
          expect(res.status).to eq(200)
          reference = File.join(@work, "ref-#{id}.png")
          fx.lanczos_reference(File.join(@pics, name), 256, reference)
          db = fx.psnr(save(res, "quality-#{id}"), reference)
          puts "\n    PSNR #{name} → #{format} 256 px q=90: #{db.round(2)} dB"
          expect(db).to be >= 35
        end
      end
    end
  end

  describe 'a full worker pool' do
    it 'answers 503 with Retry-After when the queue is full' do
      server = avatar_only_server("{media-root: #{@media}, max-source-bytes: 64M, max-source-pixels: 20000000, " \
                                  'worker-threads: 1, queue-limit: 0}', threads: 2, status: true)
      results = (0...6).map { |i| Thread.new { get(server.url("/api/v1/img/avatar/40?w=64&q=#{50 + i}")) } }.map(&:value)
      expect(results.map(&:status) - [200, 503]).to eq([])
      busy = results.select { |r| r.status == 503 }
      expect(busy).not_to be_empty
      busy.each do |r|
        expect(r['retry-after']).to match(/\A\d+\z/)
        expect(r.json['detail']).to be_a(String)
      end
      expect(stats(server)['avatar-busy']).to eq(busy.size)
    end
  end
end
