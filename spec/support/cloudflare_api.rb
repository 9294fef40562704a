# cloudflare_api.rb: a local HTTPS endpoint standing in for Cloudflare's API (no machine here reaches Cloudflare): it
# records every request and answers as the API does, or as a spec scripts it (429s, 5xx, silence).
require 'webrick'
require 'webrick/https'
require 'openssl'

module Booka
  class CloudflareApi
    Request = Struct.new(:method, :path, :headers, :body, :at)
    OK = '{"success":true,"errors":[],"messages":[],"result":{"id":"9a7806061c88ada191ed06f989cc3dac"}}'.freeze

    attr_reader :port

    # answers: what the next requests get, in order, each [status, headers, body] or :hang (no answer for 8 s);
    # once they are used up, 200 with OK.
    def initialize(answers: [])
      @answers = answers.dup
      @requests = []
      @lock = Mutex.new
      tls = Booka.tls_cert
      @server = WEBrick::HTTPServer.new(BindAddress: '127.0.0.1', Port: 0, SSLEnable: true,
                                        SSLCertificate: OpenSSL::X509::Certificate.new(File.read(tls[:cert])),
                                        SSLPrivateKey: OpenSSL::PKey.read(File.read(tls[:key])),
                                        Logger: WEBrick::Log.new(File::NULL), AccessLog: [])
      @port = @server.listeners.first.addr[1]
      @server.mount_proc('/') { |req, res| answer(req, res) }
      @thread = Thread.new { @server.start }
    end

    # the base URL for booka.edge's `api`, and the CA file that makes its certificate trusted
    def api
      "https://127.0.0.1:#{@port}/client/v4"
    end

    def ca_file
      Booka.tls_cert[:cert]
    end

    def requests
      @lock.synchronize { @requests.dup }
    end

    def script(*answers)
      @lock.synchronize { @answers.concat(answers) }
    end

    def stop
      @server.shutdown
      @thread.join(5)
    end

    private

    def answer(req, res)
      answer = @lock.synchronize do
        @requests << Request.new(req.request_method, req.path, req.header.transform_values(&:first), req.body.to_s, Time.now)
        @answers.shift
      end
      if answer == :hang
        sleep 8
        answer = nil
      end
      status, headers, body = answer || [200, {}, OK]
      res.status = status
      res['Content-Type'] = 'application/json'
      (headers || {}).each { |k, v| res[k] = v }
      res.body = body
    end
  end
end
