# server.rb: a booka-origin process booted from a config string, and what it logged.
module Booka
  ROOT = File.expand_path('../..', __dir__)
  BIN = File.expand_path(ENV['BOOKA_BIN'] || File.join(ROOT, 'build', 'booka-origin'), ROOT)
  SANITIZER_REPORT = /ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:|SUMMARY: UndefinedBehaviorSanitizer|WARNING: ThreadSanitizer/

  class ServerError < StandardError; end

  # A port nobody listens on right now (the kernel picks it; the tiny race is acceptable on loopback).
  # listening?: whether something listens on host:port. A connection whose local end is the port it asked for is not
  # an answer: with nothing listening on an ephemeral-range port, the kernel may pick that very port as the
  # connection's source and connect the socket to itself (TCP simultaneous open), and a caller that took that for
  # "listening" went on while the server was still starting (a first request refused; server_spec, CI).
  def self.listening?(port, host = '127.0.0.1')
    sock = TCPSocket.new(host, port)
    begin
      local = sock.local_address
      !(local.ip_port == port && local.ip_address == sock.remote_address.ip_address)
    ensure
      sock.close
    end
  rescue Errno::ECONNREFUSED, Errno::ECONNRESET
    false
  end

  def self.free_port
    s = TCPServer.new('127.0.0.1', 0)
    s.addr[1]
  ensure
    s&.close
  end

  # A self-signed certificate for localhost / 127.0.0.1, made once per run.
  def self.tls_cert
    @tls_cert ||= begin
      dir = Dir.mktmpdir('booka-tls')
      out, status = Open3.capture2e('openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2',
                                    '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
                                    '-keyout', "#{dir}/key.pem", '-out', "#{dir}/cert.pem")
      raise ServerError, "openssl failed: #{out}" unless status.success?
      { cert: "#{dir}/cert.pem", key: "#{dir}/key.pem" }
    end
  end

  class Server
    attr_reader :port, :tls_port, :dir, :config_path, :log_path, :pid, :exit_status

    @started = []
    @started_in_example = []
    class << self
      attr_reader :started, :started_in_example

      def stop_all
        started.dup.each(&:stop)
      end

      def stop_all_started_in_example
        started_in_example.dup.each(&:stop)
        started_in_example.clear
      end
    end

    # config: a String, or a block given this server (for #port, #tls_port, #dir) that returns the YAML. wrap: a command
    # that runs the server (its arguments follow), e.g. one that starts it in namespaces of its own.
    def initialize(config = nil, env: {}, wrap: [], &block)
      @port = Booka.free_port
      @tls_port = Booka.free_port
      @dir = Dir.mktmpdir('booka-spec')
      @config_path = File.join(@dir, 'h2o.conf')
      @log_path = File.join(@dir, 'server.log')
      @env = env
      @wrap = wrap
      File.write(@config_path, Server.as_invoker(block ? block.call(self) : config))
    end

    # as_invoker: the config, plus `user: root` when the specs run as root and the config names no user: like H2O,
    # booka-origin started as root without `user` switches to `nobody`, who cannot write the spec's private directory.
    def self.as_invoker(yaml)
      return yaml unless Process.uid.zero? && yaml !~ /^user:/
      "#{yaml.chomp}\nuser: root\n"
    end

    def tls
      Booka.tls_cert
    end

    # booka-origin -t: [exit status, combined output]
    def check_config(env: {})
      out, status = Open3.capture2e(env, BIN, '-t', '-c', @config_path)
      [status.exitstatus, out]
    end

    # metric: the sum of the samples of `name` on this server's /metrics whose labels include `labels` ({name => value}).
    def metric(name, labels = {})
      Booka.curl(url('/metrics')).body.lines.grep(/\A#{name}[{ ]/)
           .select { |l| labels.all? { |k, v| l.include?(%(#{k}="#{v}")) } }
           .sum { |l| l.split.last.to_f }
    end

    # start: spawns the server and waits until its first port accepts connections. `scope: :all` keeps it running
    # across the examples of a group (stopped in after(:all)); the default stops it after the current example.
    # A stopped server starts again the same way (same configuration and ports).
    def start(scope: :example, wait_for: @port)
      @stopped = false
      @exit_status = nil
      @pid = Process.spawn(server_env, *@wrap, BIN, '-c', @config_path, out: @log_path, err: @log_path, chdir: @dir)
      (scope == :all ? self.class.started : self.class.started_in_example) << self
      wait_until_listening(wait_for)
      self
    end

    # server_env: the sanitizers' options. An ASan build runs LeakSanitizer when the server exits after draining (a
    # report fails #stop); test/lsan-server.supp is for leaks inside third-party libraries (none so far).
    def server_env
      { 'ASAN_OPTIONS' => 'detect_leaks=1:abort_on_error=0:halt_on_error=1',
        'LSAN_OPTIONS' => "suppressions=#{File.join(ROOT, 'test', 'lsan-server.supp')}:print_suppressions=0",
        'UBSAN_OPTIONS' => 'print_stacktrace=1',
        'TSAN_OPTIONS' => "suppressions=#{File.join(ROOT, 'test', 'tsan-server.supp')}:halt_on_error=0:second_deadlock_stack=1" }
        .merge(@env)
    end

    def wait_until_listening(port, timeout: 20)
      deadline = Time.now + timeout
      loop do
        raise ServerError, "server exited early:\n#{log}" unless alive?
        return if Booka.listening?(port)
        raise ServerError, "server not listening on #{port} after #{timeout}s:\n#{log}" if Time.now > deadline
        sleep 0.05
      end
    end

    def alive?
      return false if @pid.nil? || @exit_status
      Process.waitpid(@pid, Process::WNOHANG).nil?
    rescue Errno::ECHILD
      false
    end

    def signal(name)
      Process.kill(name, @pid)
    end

    # stop: SIGTERM (or `signal`), waits for the exit, and fails when the sanitizers reported anything.
    def stop(signal: 'TERM', timeout: 30)
      return @exit_status if @pid.nil? || @stopped
      begin
        Process.kill(signal, @pid)
      rescue Errno::ESRCH
        nil
      end
      wait(timeout: timeout)
    end

    # wait: waits (without a signal) for the process to exit, at most `timeout` s (then kills it and raises), and fails
    # when the sanitizers reported anything. Returns the exit status.
    def wait(timeout: 30)
      @stopped = true
      self.class.started.delete(self)
      self.class.started_in_example.delete(self)
      begin
        Timeout.timeout(timeout) { _, st = Process.waitpid2(@pid); @exit_status = st.exitstatus || -(st.termsig || 0) }
      rescue Errno::ESRCH, Errno::ECHILD
        @exit_status ||= 0
      rescue Timeout::Error
        Process.kill('KILL', @pid)
        Process.waitpid(@pid)
        raise ServerError, "server did not stop within #{timeout}s:\n#{log}"
      end
      raise ServerError, "sanitizer report in the server log:\n#{log}" if log =~ SANITIZER_REPORT
      @exit_status
    end

    def log
      File.exist?(@log_path) ? File.read(@log_path, encoding: 'BINARY') : ''
    end

    # listeners: the `listen` pair of specs that talk every protocol: cleartext (HTTP/1.1, h2c) and TLS (h2, HTTP/1.1).
    def listeners
      <<~YAML
        listen: #{@port}
        listen:
          port: #{@tls_port}
          host: 127.0.0.1
          ssl:
            certificate-file: #{tls[:cert]}
            key-file: #{tls[:key]}
      YAML
    end

    def url(path = '/', tls: false)
      tls ? "https://127.0.0.1:#{@tls_port}#{path}" : "http://127.0.0.1:#{@port}#{path}"
    end
  end
end
