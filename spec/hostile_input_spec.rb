# hostile_input_spec.rb: issue 7's hostile-input sweep. Every query parameter of both endpoints and every request header
# the server reads (Origin, X-Request-Id, If-None-Match, Accept, Access-Control-Request-Headers) gets SQL injection,
# NUL bytes, invalid UTF-8, CR/LF, overlong values and duplicates; avatar ids and stored media paths get traversal and
# encoded slashes; the avatar source matrix gets every PNG/JPEG/WebP flavour and the broken ones. The answer is always a
# 4xx JSON error or a correct 200, within a bounded time, with no internals in the body and nothing injected into the
# response headers, and the server is alive afterwards. avatar_spec.rb and list_spec.rb prove the ordinary answers;
# this file adds what an attacker sends.
require_relative 'spec_helper'
require 'digest'
require 'uri'

module Booka
  module Hostile
    extend Booka::Images
    module_function

    ORIGIN = 'https://app.example.com'.freeze
    # what must never appear in a body: SQL and driver messages, connection strings, file system paths, sanitizer
    # reports, stack traces (the payloads below avoid these words, so an echoed input never matches)
    LEAK = %r{syntax error|ERROR:|FATAL:|DETAIL:|HINT:|PGRES|libpq|hiredis|postgres(ql)?://|redis://|/tmp/|/work/|\.c:\d+|
              Sanitizer|backtrace|service_provider_profiles|root:x:}xi.freeze
    REQUEST_ID = %r{\A[A-Za-z0-9._~:+/=-]{1,128}\z}.freeze
    SQL = ["' OR '1'='1", "'; DROP TABLE users; --", '1; SELECT pg_sleep(30) --', "x') UNION SELECT email, NULL --",
           "\\'; --", "%' OR 1=1 --"].freeze
    INVALID_UTF8 = { 'a lone 0xFF' => '%FF', 'an overlong "/"' => '%C0%AF', 'a lone surrogate' => '%ED%A0%80',
                     'a code point past U+10FFFF' => '%F4%90%80%80', 'a truncated sequence' => 'a%E2%82' }.freeze

    LIST = '/api/v1/service-provider-profiles/'.freeze
    AVATAR = '/api/v1/img/avatar/'.freeze

    # the list's parameters and what a value that is not theirs gives: category and location are free text (no match: 200
    # with total 0); the others have a syntax (422 with the parser's error type)
    LIST_PARAMS = {
      'category' => nil, 'location' => nil, 'sort' => 'enum', 'page' => 'int_parsing', 'limit' => 'int_parsing',
      'fields' => 'value_error', 'min_price' => 'decimal_parsing', 'max_price' => 'decimal_parsing', 'when' => 'date_parsing',
      'include_price_distribution' => 'bool_parsing'
    }.freeze
    AVATAR_PARAMS = { 'w' => 'int_parsing', 'dpr' => 'float_parsing', 'q' => 'int_parsing', 'fmt' => 'enum', 'v' => nil }.freeze

    MEDIA = '/static/profile_pics/'.freeze
    # the avatar source matrix, by provider id: [stored profile_picture_url, expected answer, what it is]. Answers:
    # :halves is 200 with red on the left and blue on the right, :greys 200 with 30% and 80% grey, :alpha 200 with half
    # transparency, a number 200 at that side (the source's short side, under w=64), 422 and 404 JSON errors.
    SOURCES = {
      1 => ["#{MEDIA}halves.jpg", :halves, 'baseline JPEG'], 2 => ["#{MEDIA}interlaced.png", :halves, 'interlaced (Adam7) PNG'],
      3 => ["#{MEDIA}rgb16.png", :halves, '16-bit RGB PNG'], 4 => ["#{MEDIA}interlaced16.png", :halves, 'interlaced 16-bit PNG'],
      5 => ["#{MEDIA}rgba16.png", :halves, '16-bit RGBA PNG'], 6 => ["#{MEDIA}palette.png", :halves, 'palette PNG'],
      7 => ["#{MEDIA}gray16.png", :greys, '16-bit grey PNG'], 8 => ["#{MEDIA}graya16.png", :greys, '16-bit grey+alpha PNG'],
      9 => ["#{MEDIA}cmyk-progressive.jpg", :halves, 'progressive CMYK JPEG'], 10 => ["#{MEDIA}gray.jpg", :greys, 'grey JPEG'],
      11 => ["#{MEDIA}s411.jpg", :halves, '4:1:1 subsampled JPEG'], 12 => ["#{MEDIA}lossless.webp", :halves, 'lossless WebP'],
      13 => ["#{MEDIA}lossy.webp", :halves, 'lossy WebP'], 14 => ["#{MEDIA}alpha.webp", :alpha, 'WebP with 50% alpha'],
      15 => ["#{MEDIA}animated.webp", :halves, 'animated WebP (its first frame)'],
      16 => ["#{MEDIA}one-pixel.png", 1, 'a 1x1 PNG'], 17 => ["#{MEDIA}thin.png", 3, 'a 3x3000 PNG'],
      20 => ["#{MEDIA}empty.jpg", 422, 'a zero-byte JPEG file'], 21 => ["#{MEDIA}empty.webp", 422, 'a zero-byte WebP file'],
      22 => ["#{MEDIA}truncated.png", 422, 'a truncated PNG'], 23 => ["#{MEDIA}corrupt.png", 422, 'a PNG with damaged data'],
      24 => ["#{MEDIA}header-only.png", 422, 'a PNG header without data'],
      25 => ["#{MEDIA}truncated.webp", 422, 'a truncated WebP'], 26 => ["#{MEDIA}corrupt.webp", 422, 'a WebP without its image chunk'],
      27 => ["#{MEDIA}truncated-animated.webp", 422, 'a truncated animated WebP'],
      28 => ["#{MEDIA}bomb.jpg", 422, 'a JPEG claiming 65000x65000'], 29 => ["#{MEDIA}bomb.webp", 422, 'a WebP claiming 16384x16384'],
      30 => ["#{MEDIA}riff-only.webp", 422, 'a RIFF header alone'], 31 => ['data:image/png;base64,', 422, 'an empty base64 data URL'],
      32 => ['data:,', 422, 'an empty data URL'], 33 => ['data:image/png;base64,%%%%', 422, 'a data URL of junk'],
      # stored media paths that try to leave the media root or name something that is not a file
      40 => ['/static/../../etc/passwd', 404, 'climbing out of /static'],
      41 => ["#{MEDIA}%2e%2e/%2e%2e/outside/secret.jpg", 404, 'percent-encoded dot-segments (taken literally)'],
      42 => ["#{MEDIA}..%2f..%2foutside%2fsecret.jpg", 404, 'encoded slashes (taken literally)'],
      43 => ["#{MEDIA}outside-dir/secret.jpg", 404, 'a directory symlink out of the media root'],
      44 => ["#{MEDIA}zero.jpg", 404, 'a symlink to /dev/zero'], 45 => ["#{MEDIA}fifo.jpg", 404, 'a FIFO (opening it must not block)'],
      46 => ["#{MEDIA}dir.jpg", 404, 'a directory'], 47 => ["#{MEDIA}./halves.jpg", 404, 'a "." segment'],
      48 => ["#{MEDIA}/halves.jpg", 404, 'an empty segment'], 49 => ['/static/', 404, 'the media root itself'],
      50 => ["#{MEDIA}#{'a' * 300}", 404, 'a name over NAME_MAX'],
      51 => ["#{MEDIA}#{'a/' * 200}x.jpg", 404, 'two hundred directories deep'],
      52 => ["#{MEDIA}halves.jpg%00.png", 404, 'an encoded NUL (taken literally)'], 53 => ["#{MEDIA}..", 404, 'a ".." segment'],
      54 => ["#{MEDIA}../profile_pics/halves.jpg", 404, 'a ".." that would come back inside'],
      55 => ['/STATIC/profile_pics/halves.jpg', 404, 'another case of the prefix'],
      56 => ["#{MEDIA}halves.jpg\\..\\..\\etc\\passwd", 404, 'backslashes'],
      # the query or fragment of a stored path is not part of the file name
      57 => ["#{MEDIA}halves.jpg?x=../../etc/passwd", :halves, 'a media path with a query'],
      58 => ["#{MEDIA}halves.jpg#..", :halves, 'a media path with a fragment']
    }.freeze

    # raw_http1: sends `bytes` on a new connection and reads the answer until the server closes it.
    # Returns [status, headers (name => value, lower-case names), head text, body].
    def raw_http1(port, bytes, timeout: 10)
      Timeout.timeout(timeout) do
        sock = TCPSocket.new('127.0.0.1', port)
        begin
          sock.write(bytes)
        rescue Errno::EPIPE, Errno::ECONNRESET
          nil # the server may answer and close before reading everything
        end
        answer = +''
        begin
          answer << sock.readpartial(65_536) while true # rubocop:disable Style/InfiniteLoop
        rescue EOFError, Errno::ECONNRESET
          nil
        ensure
          sock.close
        end
        head, body = answer.b.split("\r\n\r\n", 2)
        lines = head.to_s.split("\r\n")
        status = lines.shift.to_s[%r{\AHTTP/1\.1 (\d{3})}, 1].to_i
        headers = lines.to_h { |l| k, v = l.split(':', 2); [k.downcase, v.to_s.strip] }
        [status, headers, head.to_s, body.to_s]
      end
    end

    # nghttp: one h2c request with nghttp2's client (it sends header bytes that curl would refuse or rewrite).
    # Returns [status, output].
    def nghttp(url, headers)
      args = ['nghttp', '-v', '-t', '10'] + headers.flat_map { |k, v| ['-H', "#{k}: #{v}"] } + [url]
      out, = Open3.capture2e(*args)
      out = out.b
      [out[/recv \(stream_id=\d+\) :status: (\d{3})/, 1].to_i, out]
    end

    # ---- the avatar source matrix ----

    # jpeg_claiming: the JPEG with its frame header (SOF0/SOF2) rewritten to claim width x height.
    def jpeg_claiming(jpeg, width, height)
      at = jpeg.index(/\xFF[\xC0\xC2]/n)
      out = jpeg.dup
      out[at + 5, 4] = [height, width].pack('nn')
      out
    end

    # webp_lossless_claiming: a lossless WebP (VP8L) with its header rewritten to claim width x height (14 bits each).
    def webp_lossless_claiming(webp, width, height)
      at = webp.index('VP8L') + 8
      raise 'not a VP8L WebP' unless webp.getbyte(at) == 0x2f
      bits = webp[at + 1, 4].unpack1('V')
      bits = (bits & ~0x0FFFFFFF) | ((height - 1) << 14) | (width - 1)
      out = webp.dup
      out[at + 1, 4] = [bits].pack('V')
      out
    end

    # with_flipped_bytes: `data` with every 7th byte from `from` on inverted (a corrupt payload behind a valid header).
    def with_flipped_bytes(data, from)
      out = data.b
      (from...out.bytesize).step(7) { |i| out.setbyte(i, out.getbyte(i) ^ 0xFF) }
      out
    end

    # make_sources: the source pictures by name under dir. Most are a red left half and a blue right half, 400x200, so
    # the centre crop is half red, half blue whatever the decoder path (a mangled interlace or frame shows).
    def make_sources(dir)
      f = ->(name) { File.join(dir, name) }
      halves = ['-size', '200x200', 'xc:red', 'xc:blue', '+append']
      run('convert', *halves, 'PNG24:' + f.('halves.png'))
      run('convert', '-size', '200x200', 'xc:blue', 'xc:red', '+append', 'PNG24:' + f.('swapped.png'))
      run('convert', *halves, '-interlace', 'PNG', 'PNG24:' + f.('interlaced.png'))
      run('convert', *halves, '-depth', '16', 'PNG48:' + f.('rgb16.png'))
      run('convert', *halves, '-interlace', 'PNG', '-depth', '16', 'PNG48:' + f.('interlaced16.png'))
      run('convert', *halves, '-alpha', 'set', '-depth', '16', 'PNG64:' + f.('rgba16.png'))
      run('convert', *halves, 'PNG8:' + f.('palette.png'))
      run('convert', '-size', '200x200', 'xc:gray30', 'xc:gray80', '+append', '-colorspace', 'Gray', '-depth', '16',
          '-define', 'png:bit-depth=16', '-define', 'png:color-type=0', f.('gray16.png'))
      run('convert', '-size', '200x200', 'xc:gray30', 'xc:gray80', '+append', '-colorspace', 'Gray', '-alpha', 'set',
          '-depth', '16', '-define', 'png:bit-depth=16', '-define', 'png:color-type=4', f.('graya16.png'))
      run('convert', *halves, '-type', 'TrueColor', '-quality', '95', f.('halves.jpg'))
      run('convert', *halves, '-type', 'TrueColor', '-colorspace', 'CMYK', '-interlace', 'Plane', '-quality', '95',
          f.('cmyk-progressive.jpg'))
      run('convert', '-size', '200x200', 'xc:gray30', 'xc:gray80', '+append', '-colorspace', 'Gray', '-quality', '95',
          f.('gray.jpg'))
      run('convert', *halves, '-type', 'TrueColor', '-sampling-factor', '4:1:1', '-quality', '95', f.('s411.jpg'))
      run('cwebp', '-quiet', '-lossless', f.('halves.png'), '-o', f.('lossless.webp'))
      run('cwebp', '-quiet', '-q', '95', f.('halves.png'), '-o', f.('lossy.webp'))
      run('convert', *halves, '-alpha', 'set', '-channel', 'A', '-evaluate', 'set', '50%', '+channel',
          'PNG32:' + f.('half-alpha.png'))
      run('cwebp', '-quiet', '-q', '95', '-alpha_q', '100', f.('half-alpha.png'), '-o', f.('alpha.webp'))
      run('img2webp', '-loop', '0', '-lossless', f.('halves.png'), '-d', '300', f.('swapped.png'), '-o', f.('animated.webp'))
      run('convert', '-size', '1x1', 'xc:red', 'PNG24:' + f.('one-pixel.png'))
      run('convert', '-size', '3x3000', 'xc:red', 'PNG24:' + f.('thin.png'))
      File.binwrite(f.('empty.jpg'), '')
      File.binwrite(f.('empty.webp'), '')
      png = File.binread(f.('halves.png'))
      File.binwrite(f.('truncated.png'), png[0, png.bytesize / 2])
      File.binwrite(f.('corrupt.png'), with_flipped_bytes(png, 60)) # IDAT damaged, CRCs wrong
      File.binwrite(f.('header-only.png'), png[0, 33]) # signature and IHDR, no data
      webp = File.binread(f.('lossy.webp'))
      File.binwrite(f.('truncated.webp'), webp[0, webp.bytesize / 2])
      File.binwrite(f.('corrupt.webp'), webp[0, 12] + 'XXXX' + webp[16..]) # an unknown chunk where VP8 should be
      anim = File.binread(f.('animated.webp'))
      File.binwrite(f.('truncated-animated.webp'), anim[0, anim.bytesize - 40])
      jpeg = File.binread(f.('halves.jpg'))
      File.binwrite(f.('bomb.jpg'), jpeg_claiming(jpeg, 65_000, 65_000))
      File.binwrite(f.('bomb.webp'), webp_lossless_claiming(File.binread(f.('lossless.webp')), 16_384, 16_384))
      File.binwrite(f.('riff-only.webp'), "RIFF\x04\x00\x00\x00WEBP".b)
    end
  end
end

describe 'hostile input' do
  Hx = Booka::Hostile # rubocop:disable Lint/ConstantDefinitionInBlock

  before(:all) do
    @db = Booka::Database.recreate('booka_hostile_spec')
    @work = Dir.mktmpdir('booka-hostile')
    @media = File.join(@work, 'media')
    pics = File.join(@media, 'profile_pics')
    outside = File.join(@work, 'outside')
    FileUtils.mkdir_p([pics, outside, File.join(pics, 'dir.jpg')])
    Hx.make_sources(pics)
    FileUtils.cp(File.join(pics, 'halves.jpg'), File.join(outside, 'secret.jpg'))
    File.symlink(outside, File.join(pics, 'outside-dir'))
    File.symlink('/dev/zero', File.join(pics, 'zero.jpg'))
    File.mkfifo(File.join(pics, 'fifo.jpg'))

    Booka::Database.insert_providers(@db, Hx::SOURCES.transform_values(&:first), location: 'Cape Town')
    @providers = Hx::SOURCES.size

    @server = Booka.api_server(@db, origin: Hx::ORIGIN, avatar: <<~YAML).start(scope: :all)
      media-root: #{@media}
      worker-threads: 2
    YAML
  end

  after(:all) do
    FileUtils.rm_rf(@work) if @work
  end

  def request(path, proto: :h1, headers: {}, method: 'GET')
    started = Time.now
    res = get(@server.url(path, tls: proto == :h2), proto: proto, headers: headers, method: method, timeout: 10)
    res.define_singleton_method(:seconds) { Time.now - started }
    res
  end

  # expect_sane: what every answer to hostile input must be: a response within the deadline, never 5xx, a 4xx only as
  # JSON {"detail": ...} in valid UTF-8, nothing internal in a text body, response headers that are single clean lines
  # with nothing injected, a sane X-Request-Id, and no CORS grant for anything but the configured origin.
  def expect_sane(res, statuses)
    expect(res.status).not_to eq(0), "no answer within 10 s (curl exit #{res.curl_exit}: #{res.curl_error})"
    expect(statuses).to include(res.status), "got #{res.status}: #{res.body[0, 300]}"
    if res.status >= 400
      expect(res['content-type']).to eq('application/json')
      body = res.body.dup.force_encoding('UTF-8')
      expect(body).to be_valid_encoding
      expect(JSON.parse(body)).to have_key('detail')
    end
    expect(res.body).not_to match(Hx::LEAK) if res['content-type'].to_s =~ %r{json|text}
    res.header_list.each do |name, value|
      expect(name).to match(/\A[!#$%&'*+.^_`|~0-9a-z-]+\z/)
      expect(value).not_to match(/[\r\n\0]/)
    end
    expect(res.header_list.map(&:first)).not_to include('set-cookie', 'x-injected')
    expect(res['x-request-id']).to match(Hx::REQUEST_ID)
    expect(res['access-control-allow-origin']).to be_nil.or eq(Hx::ORIGIN)
  end

  def expect_validation_error(res, param, type)
    expect_sane(res, [422])
    detail = res.json['detail']
    expect(detail).to include(include('loc' => ['query', param], 'type' => type)), res.body[0, 400]
    detail.each { |e| expect(e.keys - %w[type loc msg input ctx]).to eq([]) }
  end

  def providers_intact
    Booka::Database.psql('SELECT count(*) FROM service_provider_profiles', url: @db).to_i == @providers &&
      Booka::Database.psql('SELECT count(*) FROM users', url: @db).to_i == @providers
  end

  # ---- query parameters ----

  def expect_list_text_or_error(res, param, type)
    if type.nil?
      expect_sane(res, [200])
      expect(res.json).to include('total' => 0, 'data' => [])
    else
      expect_validation_error(res, param, type)
    end
  end

  def expect_avatar_ignored_or_error(res, param, type)
    if type.nil?
      expect_sane(res, [200])
      expect(res['content-type']).to eq('image/jpeg')
      expect(res['cache-control']).not_to include('immutable')
    else
      expect_validation_error(res, param, type)
    end
  end

  describe 'SQL injection in every parameter' do
    Hx::LIST_PARAMS.each do |param, type|
      it "list #{param}: a literal value (#{type ? "422 #{type}" : '200, total 0'}), the tables intact" do
        Hx::SQL.each do |payload|
          res = request("#{Hx::LIST}?#{URI.encode_www_form(param => payload)}")
          expect_list_text_or_error(res, param, type)
        end
        expect(providers_intact).to be(true)
      end
    end

    it 'list: the control case: a location every provider has matches them all (total 0 above is no match, not a broken filter)' do
      res = request("#{Hx::LIST}?location=cape+town&fields=id")
      expect_sane(res, [200])
      expect(res.json['total']).to eq(@providers)
    end

    Hx::AVATAR_PARAMS.each do |param, type|
      it "avatar #{param}: #{type ? "422 #{type}" : 'ignored (200, not immutable)'}" do
        Hx::SQL.each do |payload|
          expect_avatar_ignored_or_error(request("#{Hx::AVATAR}1?#{URI.encode_www_form(param => payload)}"), param, type)
        end
      end
    end
  end

  describe 'NUL bytes, invalid UTF-8 and CR/LF in every parameter' do
    Hx::LIST_PARAMS.each_key do |param|
      it "list #{param}: NUL is 422 value_error, invalid UTF-8 is 422 string_unicode" do
        %w[%00 a%00b].each { |v| expect_validation_error(request("#{Hx::LIST}?#{param}=#{v}"), param, 'value_error') }
        Hx::INVALID_UTF8.each_value do |v|
          expect_validation_error(request("#{Hx::LIST}?#{param}=#{v}"), param, 'string_unicode')
        end
      end

      it "list #{param}: an encoded CRLF is a plain character of the value" do
        res = request("#{Hx::LIST}?#{param}=a%0D%0AX-Injected:%201")
        expect_list_text_or_error(res, param, Hx::LIST_PARAMS[param])
      end
    end

    it 'list: the error echoes invalid UTF-8 as U+FFFD, so the body stays valid JSON' do
      res = request("#{Hx::LIST}?category=a%FFb%C0%AF")
      expect(res.json['detail'][0]['input']).to eq("a\uFFFDb\uFFFD\uFFFD")
    end

    Hx::AVATAR_PARAMS.each do |param, type|
      it "avatar #{param}: NUL, invalid UTF-8 and encoded CRLF: #{type ? "422 #{type}" : 'ignored'}" do
        (%w[%00 a%00b a%0D%0AX-Injected:%201] + Hx::INVALID_UTF8.values).each do |v|
          expect_avatar_ignored_or_error(request("#{Hx::AVATAR}1?#{param}=#{v}"), param, type)
        end
      end
    end

    it 'the name of a parameter with NUL or invalid UTF-8 is just an unknown name' do
      %w[so%00rt=x li%FFmit=0 %ED%A0%80=1 %00=%00].each do |q|
        expect_sane(request("#{Hx::LIST}?#{q}&fields=id"), [200])
        expect_sane(request("#{Hx::AVATAR}1?#{q}&w=64"), [200])
      end
    end
  end

  describe 'overlong values and numbers' do
    Hx::LIST_PARAMS.each_key do |param|
      it "list #{param}: 7000 letters and 7000 digits are 422, never truncated into a valid value" do
        expected_letters = { 'category' => 'string_too_long', 'location' => 'string_too_long' }.fetch(param, Hx::LIST_PARAMS[param])
        expect_validation_error(request("#{Hx::LIST}?#{param}=#{'a' * 7000}"), param, expected_letters)
        expected_digits = { 'category' => 'string_too_long', 'location' => 'string_too_long', 'page' => 'less_than_equal',
                            'limit' => 'less_than_equal', 'min_price' => 'decimal_max_digits',
                            'max_price' => 'decimal_max_digits' }.fetch(param, Hx::LIST_PARAMS[param])
        expect_validation_error(request("#{Hx::LIST}?#{param}=#{'7' * 7000}"), param, expected_digits)
      end
    end

    it 'list: numbers past 64 bits saturate into the range errors; exponents, hex, inf and nan are not numbers' do
      expect_validation_error(request("#{Hx::LIST}?page=99999999999999999999999"), 'page', 'less_than_equal')
      expect_validation_error(request("#{Hx::LIST}?page=-99999999999999999999999"), 'page', 'greater_than_equal')
      expect_validation_error(request("#{Hx::LIST}?limit=18446744073709551621"), 'limit', 'less_than_equal')
      %w[1e309 0x10 inf nan Infinity 1_000 %201].each do |v|
        expect_validation_error(request("#{Hx::LIST}?min_price=#{v}"), 'min_price', 'decimal_parsing')
        expect_validation_error(request("#{Hx::LIST}?limit=#{v}"), 'limit', 'int_parsing')
      end
    end

    Hx::AVATAR_PARAMS.each do |param, type|
      next if type.nil?

      it "avatar #{param}: 7000 characters and numbers past 64 bits are 422" do
        expect_avatar_ignored_or_error(request("#{Hx::AVATAR}1?#{param}=#{'a' * 7000}"), param, type)
        digits = { 'w' => 'less_than_equal', 'q' => 'less_than_equal', 'dpr' => 'less_than_equal' }.fetch(param, type) # a number, judged whole
        expect_validation_error(request("#{Hx::AVATAR}1?#{param}=#{'9' * 7000}"), param, digits)
        expect_validation_error(request("#{Hx::AVATAR}1?#{param}=-99999999999999999999999"), param,
                                param == 'fmt' ? 'enum' : 'greater_than_equal')
      end
    end

    it 'avatar dpr: 1e309, inf and nan are not numbers in range' do
      expect_validation_error(request("#{Hx::AVATAR}1?dpr=1e309"), 'dpr', 'less_than_equal')
      %w[inf nan Infinity 0x2].each { |v| expect_validation_error(request("#{Hx::AVATAR}1?dpr=#{v}"), 'dpr', 'float_parsing') }
    end

    it 'avatar v: a 7000-character token is ignored' do
      expect_avatar_ignored_or_error(request("#{Hx::AVATAR}1?w=64&v=#{'a' * 7000}"), 'v', nil)
    end
  end

  describe 'duplicated parameters: the last occurrence wins' do
    # [a valid value, an invalid one, its error type]
    {
      'category' => ['dj', '%FF', 'string_unicode'], 'sort' => %w[newest x enum], 'page' => %w[1 0 greater_than_equal],
      'limit' => %w[5 0 greater_than_equal], 'fields' => %w[id nope value_error], 'location' => ['cape', 'a%00', 'value_error'],
      'min_price' => %w[1 -1 greater_than_equal], 'max_price' => %w[100000 abc decimal_parsing],
      'when' => %w[2025-06-01 2025-02-30 date_parsing], 'include_price_distribution' => %w[true maybe bool_parsing]
    }.each do |param, (good, bad, type)|
      it "list #{param}=#{bad}&#{param}=#{good} is 200, the reverse 422" do
        expect_sane(request("#{Hx::LIST}?#{param}=#{bad}&#{param}=#{good}"), [200])
        expect_validation_error(request("#{Hx::LIST}?#{param}=#{good}&#{param}=#{bad}"), param, type)
      end
    end

    { 'w' => %w[64 15 greater_than_equal], 'dpr' => %w[1.5 0 greater_than_equal], 'q' => %w[80 0 greater_than_equal],
      'fmt' => %w[jpeg png enum] }.each do |param, (good, bad, type)|
      it "avatar #{param}=#{bad}&#{param}=#{good} is 200, the reverse 422" do
        expect_sane(request("#{Hx::AVATAR}1?#{param}=#{bad}&#{param}=#{good}"), [200])
        expect_validation_error(request("#{Hx::AVATAR}1?#{param}=#{good}&#{param}=#{bad}"), param, type)
      end
    end

    it 'avatar v: only the last one decides immutable' do
      token = Digest::MD5.hexdigest(Hx::SOURCES[1][0])[0, 16]
      expect(request("#{Hx::AVATAR}1?v=x&v=#{token}")['cache-control']).to include('immutable')
      expect(request("#{Hx::AVATAR}1?v=#{token}&v=x")['cache-control']).not_to include('immutable')
    end

    it 'a thousand repetitions of one parameter are answered like one' do
      one = request("#{Hx::LIST}?limit=3&fields=id")
      res = request("#{Hx::LIST}?#{(['limit=3'] * 1000).join('&')}&fields=id")
      expect_sane(res, [200])
      expect(res.body).to eq(one.body)
      expect_sane(request("#{Hx::AVATAR}1?#{(['w=64'] * 1000).join('&')}"), [200])
    end
  end

  describe 'limits on what a client controls' do
    %i[h1 h2c].each do |proto|
      it "a 64 KiB query string is 414 JSON on both endpoints (#{proto})" do
        long = 'x=' + 'a' * (proto == :h1 ? 65_536 : 60_000) # nghttp2 (curl's HTTP/2) sends no header block of 64 KiB
        [Hx::LIST, "#{Hx::AVATAR}1", "#{Hx::AVATAR}999"].each do |path|
          res = request("#{path}?#{long}", proto: proto)
          expect_sane(res, [414])
          expect(res.json['detail']).to eq('the query string is longer than 8192 bytes')
        end
      end
    end

    it 'the avatar accepts a query string of up to 8192 bytes, like the list' do
      padded = ->(n) { "w=64&x=#{'a' * (n - 7)}" }
      expect_sane(request("#{Hx::AVATAR}1?#{padded.(8192)}"), [200])
      expect_sane(request("#{Hx::AVATAR}1?#{padded.(8193)}"), [414])
      expect_sane(request("#{Hx::LIST}?#{padded.(8192)}"), [200])
      expect_sane(request("#{Hx::LIST}?#{padded.(8193)}"), [414])
    end

    it 'a thousand fields entries, known or not, are 422 too_long' do
      expect_validation_error(request("#{Hx::LIST}?fields=#{(['id'] * 1000).join(',')}"), 'fields', 'too_long')
      expect_validation_error(request("#{Hx::LIST}?fields=#{(1..1000).map { |i| "f#{i}" }.join(',')}"), 'fields', 'too_long')
    end

    it 'empty fields items do not count, and unknown names are listed at most 512 bytes long' do
      expect_sane(request("#{Hx::LIST}?fields=#{',' * 7000}id"), [200])
      res = request("#{Hx::LIST}?fields=#{(1..90).map { |i| "unknown_field_name_#{i}" }.join(',')}")
      expect_validation_error(res, 'fields', 'value_error')
      expect(res.json['detail'][0]['msg'].bytesize).to be < 1200
    end

    it 'two thousand parameters within 8 KiB are answered at once' do
      expect_sane(request("#{Hx::LIST}?#{(['a='] * 2000).join('&')}"), [200])
      expect_sane(request("#{Hx::LIST}?#{'&' * 8000}limit=1"), [200])
      expect(request("#{Hx::LIST}?#{'&' * 8000}limit=1").json['limit']).to eq(1)
      expect_sane(request("#{Hx::AVATAR}1?#{'&' * 8000}w=64"), [200])
    end

    it 'a request head over libh2o\'s limit, or over 100 header fields in HTTP/1.1, is refused with 400' do
      # (libh2o may close before reading it all, and the reset can overtake its 400: no answer at all is a refusal too)
      status, = Hx.raw_http1(@server.port, "GET #{Hx::LIST} HTTP/1.1\r\nHost: x\r\nX-Big: #{'a' * 500_000}\r\n\r\n")
      expect([400, 0]).to include(status)
      many = (1..120).map { |i| "X-H#{i}: v\r\n" }.join
      status, = Hx.raw_http1(@server.port, "GET #{Hx::LIST} HTTP/1.1\r\nHost: x\r\n#{many}\r\n")
      expect(status).to eq(400)
      expect(@server.alive?).to be(true)
    end

    it 'two thousand header fields over h2c are answered (libh2o bounds the header block)' do
      headers = (1..2000).to_h { |i| ["X-H#{i}", 'v'] }
      expect_sane(request("#{Hx::LIST}?limit=1", proto: :h2c, headers: headers), [200])
    end
  end

  # ---- request headers ----

  describe 'request headers' do
    %i[h1 h2c].each do |proto|
      context "over #{proto}" do
        big = proto == :h1 ? 65_536 : 60_000
        payloads = {
          'SQL' => "' OR '1'='1", 'an encoded CRLF' => 'a%0D%0AX-Injected:%201', 'quotes and braces' => %q("}{\\'<>),
          'bytes that are not UTF-8' => "a\xFF\xFEb".b, "#{big} bytes" => 'a' * big, 'white space' => "  \t x y \t  "
        }

        payloads.each do |what, value|
          it "X-Request-Id with #{what} is replaced by a generated id on both endpoints and on errors" do
            ["#{Hx::LIST}?limit=1", "#{Hx::AVATAR}1?w=64", "#{Hx::AVATAR}999", "#{Hx::LIST}?limit=0", '/api/nope'].each do |path|
              res = request(path, proto: proto, headers: { 'X-Request-Id' => value })
              expect_sane(res, [200, 404, 422])
              expect(res['x-request-id']).to match(/\A[0-9a-f]{32}\z/)
            end
          end

          it "Origin with #{what} gets no CORS grant, on requests and preflights" do
            origin = Hx::ORIGIN + value
            res = request("#{Hx::LIST}?limit=1", proto: proto, headers: { 'Origin' => origin })
            expect_sane(res, [200])
            expect(res['access-control-allow-origin']).to be_nil
            expect(res['vary']).to include('Origin')
            res = request("#{Hx::AVATAR}1", proto: proto, method: 'OPTIONS',
                                        headers: { 'Origin' => origin, 'Access-Control-Request-Method' => 'GET' })
            expect_sane(res, [204])
            expect(res['access-control-allow-origin']).to be_nil
            expect(res['access-control-allow-methods']).to be_nil
          end

          it "If-None-Match with #{what} is not a match: 200 with the body" do
            [Hx::LIST + '?limit=1', "#{Hx::AVATAR}1?w=64"].each do |path|
              res = request(path, proto: proto, headers: { 'If-None-Match' => value })
              expect_sane(res, [200])
              expect(res.body).not_to be_empty
            end
          end

          it "Accept with #{what} gives JPEG" do
            res = request("#{Hx::AVATAR}1?w=64", proto: proto, headers: { 'Accept' => value })
            expect_sane(res, [200])
            expect(res['content-type']).to eq('image/jpeg')
          end

          it "Access-Control-Request-Headers with #{what} is not echoed back" do
            res = request(Hx::LIST, proto: proto, method: 'OPTIONS',
                                headers: { 'Origin' => Hx::ORIGIN, 'Access-Control-Request-Method' => 'GET',
                                           'Access-Control-Request-Headers' => value })
            expect_sane(res, [204])
            expect(res['access-control-allow-origin']).to eq(Hx::ORIGIN)
            expect(res['access-control-allow-headers']).to eq('Content-Type, If-None-Match, X-Request-Id')
          end
        end

        it 'Access-Control-Request-Headers that is a list of field names is echoed back (the control case)' do
          res = request(Hx::LIST, proto: proto, method: 'OPTIONS',
                              headers: { 'Origin' => Hx::ORIGIN, 'Access-Control-Request-Method' => 'GET',
                                         'Access-Control-Request-Headers' => 'x-request-id, if-none-match' })
          expect(res['access-control-allow-headers']).to eq('x-request-id, if-none-match')
        end

        it 'Accept of a thousand members naming image/webp last still finds it' do
          accept = (['image/avif;q=0.9'] * 1000 + ['image/webp;q=0.1']).join(', ')
          res = request("#{Hx::AVATAR}1?w=64", proto: proto, headers: { 'Accept' => accept })
          expect_sane(res, [200])
          expect(res['content-type']).to eq('image/webp')
        end
      end
    end
  end

  describe 'malformed If-None-Match' do
    def etag_of(path)
      request(path)['etag']
    end

    [[Hx::LIST + '?limit=2', 'list'], ["#{Hx::AVATAR}1?w=48", 'avatar']].each do |path, what|
      it "#{what}: malformed fields never match, even when they also list the right tag (RFC 9110 13.1.2)" do
        etag = etag_of(path)
        expect(etag).to match(/"\z/)
        ['"unterminated', 'W/', 'W/"', '"a" "b"', "#{etag}junk", "W/#{etag} x", "#{etag}, \"un", '*, "a"', "#{etag}, *",
         'W/W/"a"', "\"a\xFFb".b, "#{etag},W/", "\"#{'a' * 60_000}"].each do |inm|
          res = request(path, headers: { 'If-None-Match' => inm })
          expect_sane(res, [200])
          expect(res.body).not_to be_empty, "If-None-Match: #{inm[0, 80]}"
        end
      end

      it "#{what}: a valid list of 2500 tags is evaluated at once (304 when it holds the tag, 200 when not)" do
        etag = etag_of(path)
        others = (1..2500).map { |i| "\"not-this-one-#{i}\"" }
        [:h1, :h2c].each do |proto|
          res = request(path, proto: proto, headers: { 'If-None-Match' => (others + [etag]).join(', ') })
          expect_sane(res, [304])
          expect(res.seconds).to be < 10
          expect_sane(request(path, proto: proto, headers: { 'If-None-Match' => others.join(',') }), [200])
        end
      end
    end
  end

  describe 'what a raw client sends: bytes curl would not' do
    it 'HTTP/1.1: a bare CR, a NUL or another control character in a header is refused by libh2o with 400' do
      ["X-Request-Id: abc\rX-Injected: 1", "Origin: #{Hx::ORIGIN}\rX-Injected: 1", "X-Request-Id: a\0b",
       "Origin: #{Hx::ORIGIN}\0", "If-None-Match: \"abc\x01\"", "If-None-Match: \"abc\x7f\"", "Accept: image/webp\x1b"].each do |line|
        status, headers, head = Hx.raw_http1(@server.port, "GET #{Hx::LIST}?limit=1 HTTP/1.1\r\nHost: x\r\n#{line}\r\n\r\n")
        expect(status).to eq(400), line
        expect(headers.keys).not_to include('x-injected', 'access-control-allow-origin')
        expect(head).not_to include('abc')
      end
      expect(@server.alive?).to be(true)
    end

    it 'HTTP/1.1: a bare LF ends the header line, so what follows is another request header and nothing is echoed' do
      status, headers, = Hx.raw_http1(@server.port, "GET #{Hx::LIST}?limit=1 HTTP/1.1\r\nHost: x\r\nX-Request-Id: abc\n" \
                                                     "X-Injected: 1\r\nConnection: close\r\n\r\n")
      expect(status).to eq(200)
      expect(headers['x-request-id']).to eq('abc')
      expect(headers).not_to have_key('x-injected')
    end

    it 'HTTP/1.1: an obs-fold continuation is not joined to the value: X-Request-Id and Origin stay one clean line' do
      status, headers, = Hx.raw_http1(@server.port, "GET #{Hx::LIST}?limit=1 HTTP/1.1\r\nHost: x\r\nX-Request-Id: abc\r\n" \
                                                     " X-Injected: 1\r\nOrigin: https://evil.example\r\n" \
                                                     " #{Hx::ORIGIN}\r\nConnection: close\r\n\r\n")
      expect(status).to eq(200)
      expect(headers['x-request-id']).to eq('abc')
      expect(headers).not_to have_key('x-injected')
      expect(headers).not_to have_key('access-control-allow-origin')
    end

    it 'HTTP/1.1: the JSON answers keep their shape for an encoded CRLF in the path' do
      status, headers, _, body = Hx.raw_http1(@server.port, "GET /api/v1/img/avatar/1%0D%0AX-Injected:%201 HTTP/1.1\r\n" \
                                                             "Host: x\r\nConnection: close\r\n\r\n")
      expect(status).to eq(404)
      expect(headers).not_to have_key('x-injected')
      expect(JSON.parse(body)).to eq('detail' => 'Not Found')
    end

    it 'h2c: CR, LF or another control character in X-Request-Id, Origin or If-None-Match is refused by libh2o with 400' do
      ["abc\rx", "abc\nx-injected: 1", "abc\r\nx-injected: 1", "\"abc\x01\""].each do |value|
        %w[x-request-id origin if-none-match].each do |name|
          status, out = Hx.nghttp(@server.url("#{Hx::LIST}?limit=1"), name => value)
          expect(status).to eq(400), out[-600..]
          expect(out).not_to match(/recv \(stream_id=\d+\) (x-injected|access-control-allow-origin)/)
        end
      end
      expect(@server.alive?).to be(true)
    end
  end

  # ---- avatar ids and sources ----

  describe 'avatar ids: traversal, encoded slashes, overflow' do
    ['%2e%2e', '%2e%2e%2f%2e%2e%2fetc%2fpasswd', '..%252F..%252Fetc%252Fpasswd', '%252e%252e', '1%2F',
     '1%00', '1%0D%0A', '1;x', '1%20', '+1', '0x1', '1e3', '9223372036854775808', '-9223372036854775808',
     '18446744073709551617', '1' * 5000, '%31' * 30, '..', '.', '%2F', '%5C..%5C..%5Cetc%5Cpasswd'].each do |id|
      it "#{id[0, 40]}#{id.size > 40 ? "... (#{id.size} characters)" : ''} is 404 JSON" do
        res = request("#{Hx::AVATAR}#{id}?w=64")
        expect_sane(res, [404])
        expect(res.json['detail']).to be_a(String)
      end
    end

    it '1%2f..%2f2 is provider 2: libh2o decodes %2F and removes dot-segments once, as the router sees the path' do
      res = request("#{Hx::AVATAR}1%2f..%2f2?w=64")
      expect_sane(res, [200])
      expect(res.body).to eq(request("#{Hx::AVATAR}2?w=64").body)
    end

    it 'the largest 64-bit id is a provider that does not exist (404), not an overflow' do
      expect_sane(request("#{Hx::AVATAR}9223372036854775807"), [404])
      expect_sane(request("#{Hx::AVATAR}0"), [404])
    end
  end

  describe 'the avatar source matrix' do
    it 'covers every kind it names (fixtures check)' do
      pics = File.join(@media, 'profile_pics')
      expect(Hx.run('file', File.join(pics, 'interlaced.png'))).to include('interlaced')
      expect(Hx.run('file', File.join(pics, 'rgb16.png'))).to include('16-bit/color RGB')
      expect(Hx.run('file', File.join(pics, 'gray16.png'))).to include('16-bit grayscale')
      expect(Hx.run('file', File.join(pics, 'graya16.png'))).to include('16-bit gray+alpha')
      expect(Hx.run('file', File.join(pics, 'cmyk-progressive.jpg'))).to include('progressive', 'components 4')
      expect(Hx.run('webpmux', '-info', File.join(pics, 'animated.webp'))).to include('animation')
      expect(Hx.run('webpmux', '-info', File.join(pics, 'alpha.webp'))).to include('transparency')
      expect(File.binread(File.join(pics, 'lossless.webp'))[12, 4]).to eq('VP8L')
    end

    Hx::SOURCES.select { |_, (_, answer, _)| answer == :halves }.each do |id, (_, _, what)|
      %w[jpeg webp].each do |fmt|
        it "#{what} (provider #{id}) → #{fmt}: 200, 64 px, red left and blue right" do
          res = request("#{Hx::AVATAR}#{id}?w=64&fmt=#{fmt}")
          expect_sane(res, [200])
          expect(res['content-type']).to eq("image/#{fmt}")
          path = File.join(@work, "out-#{id}.#{fmt}")
          File.binwrite(path, res.body)
          expect(Hx.identify(path)).to eq([fmt.upcase, 64, 64])
          left = Hx.pixel(path, 8, 32)
          right = Hx.pixel(path, 55, 32)
          expect(left[0]).to be > 180
          expect(left[2]).to be < 90
          expect(right[2]).to be > 180
          expect(right[0]).to be < 90
        end
      end
    end

    it 'WebP with 50% alpha (provider 14): kept in WebP, flattened onto white in JPEG' do
      webp = File.join(@work, 'out-14.webp')
      File.binwrite(webp, request("#{Hx::AVATAR}14?w=64&fmt=webp").body)
      expect(Hx.identify(webp)).to eq(['WEBP', 64, 64])
      expect(Hx.run('convert', webp, '-format', '%[fx:p{8,32}.a]', 'info:').to_f).to be_within(0.1).of(0.5)
      jpeg = File.join(@work, 'out-14.jpg')
      File.binwrite(jpeg, request("#{Hx::AVATAR}14?w=64&fmt=jpeg").body)
      expect(Hx.pixel(jpeg, 8, 32)).to match([be > 230, be_within(25).of(128), be_within(25).of(128)])
      expect(Hx.pixel(jpeg, 55, 32)).to match([be_within(25).of(128), be_within(25).of(128), be > 230])
    end

    Hx::SOURCES.select { |_, (_, answer, _)| answer == :greys }.each do |id, (_, _, what)|
      it "#{what} (provider #{id}): 200, 64 px, the two greys kept (30% and 80%)" do
        res = request("#{Hx::AVATAR}#{id}?w=64&fmt=jpeg")
        expect_sane(res, [200])
        path = File.join(@work, "out-#{id}.jpg")
        File.binwrite(path, res.body)
        expect(Hx.identify(path)[1, 2]).to eq([64, 64])
        expect(Hx.pixel(path, 8, 32)).to all(be_within(12).of(77))
        expect(Hx.pixel(path, 55, 32)).to all(be_within(12).of(204))
      end
    end

    Hx::SOURCES.select { |_, (_, answer, _)| answer.is_a?(Integer) }.each do |id, (_, answer, what)|
      if answer < 100
        it "#{what} (provider #{id}): 200 at the source's short side (#{answer} px)" do
          res = request("#{Hx::AVATAR}#{id}?w=64&fmt=webp")
          expect_sane(res, [200])
          path = File.join(@work, "out-#{id}.webp")
          File.binwrite(path, res.body)
          expect(Hx.identify(path)).to eq(['WEBP', answer, answer])
        end
      else
        it "#{answer == 404 ? 'a stored media path with ' : ''}#{what} (provider #{id}): #{answer} JSON, quickly" do
          res = request("#{Hx::AVATAR}#{id}?w=64")
          expect_sane(res, [answer])
          expect(res.seconds).to be < 5
        end
      end
    end
  end

  describe 'afterwards' do
    it 'the server is alive, still answers, and its tables are intact' do
      expect(@server.alive?).to be(true)
      expect_sane(request("#{Hx::LIST}?limit=1"), [200])
      expect(providers_intact).to be(true)
      expect(@server.log).not_to match(Booka::SANITIZER_REPORT)
    end
  end
end
