# http.rb: requests through curl, so HTTP/2 (h2 over TLS with ALPN, and h2c prior knowledge) is a real client's.
module Booka
  Response = Struct.new(:status, :headers, :header_list, :body, :http_version, :curl_exit) do
    def json
      JSON.parse(body)
    end

    def [](name)
      headers[name.downcase]
    end
  end

  PROTOCOLS = {
    h1: ['--http1.1'],
    h2c: ['--http2-prior-knowledge'],
    h2: ['--http2', '-k']
  }.freeze

  # curl: one request. proto: :h1, :h2c or :h2 (TLS). Returns a Response; `status` is 0 when no response came.
  def self.curl(url, proto: :h1, method: 'GET', headers: {}, timeout: 15, extra: [])
    Dir.mktmpdir('booka-curl') do |tmp|
      body_file = File.join(tmp, 'body')
      header_file = File.join(tmp, 'headers')
      args = ['curl', '-sS', '--path-as-is', '-o', body_file, '-D', header_file, '-w', '%{http_version}',
              '--max-time', timeout.to_s, *PROTOCOLS.fetch(proto)]
      args += method == 'HEAD' ? ['--head'] : ['-X', method] unless method == 'GET'
      headers.each { |k, v| args += ['-H', "#{k}: #{v}"] }
      args += extra
      args << url
      out, err, status = Open3.capture3(*args)
      raw = File.exist?(header_file) ? File.read(header_file, encoding: 'BINARY') : ''
      body = File.exist?(body_file) ? File.read(body_file, encoding: 'BINARY') : ''
      # with --head, curl writes the header block to the output file too; what follows it is the body (none, we expect)
      body = body.sub(/\A.*?\r?\n\r?\n/m, '') if method == 'HEAD'
      parse_response(raw, body, out.strip, status.exitstatus, err)
    end
  end

  def self.parse_response(raw, body, http_version, curl_exit, err)
    # the last block is the final response (after any 1xx)
    block = raw.split(/\r?\n\r?\n/).reject(&:empty?).last || ''
    lines = block.split(/\r?\n/)
    status_line = lines.shift || ''
    status = status_line[/\AHTTP\/[\d.]+ (\d{3})/, 1].to_i
    list = lines.map { |l| k, v = l.split(':', 2); [k.strip.downcase, v.to_s.strip] }
    headers = {}
    list.each { |k, v| headers[k] = headers.key?(k) ? "#{headers[k]}, #{v}" : v }
    resp = Response.new(status, headers, list, body, http_version, curl_exit)
    resp.define_singleton_method(:curl_error) { err }
    resp.define_singleton_method(:status_line) { status_line }
    resp
  end

  module Helpers
    def get(url, **opts)
      Booka.curl(url, **opts)
    end
  end
end
