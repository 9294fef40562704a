# load.rb: a bounded, loopback-only steady load for fault drills. Threads with persistent HTTP/1.1 connections
# (Net::HTTP, no automatic retries) pace requests over a mix of URLs and record every answer: status, X-Cache,
# Retry-After, body bytes against Content-Length, latency, or the error (refused, reset, closed, timeout) and whether
# any byte of a response had arrived. A run stops by itself at its request count or its duration, whichever comes first.
require 'net/http'
require 'uri'

module Booka
  # Load: one steady load against one server; #start runs it in the background, #wait joins it.
  class Load
    # One answer. kind: the URL's label (e.g. :hit, :miss, :avatar); error: nil or a Symbol; at: seconds since the
    # load started (monotonic), when the request was sent; latency: seconds to the last byte (or to the error).
    Sample = Struct.new(:kind, :path, :status, :x_cache, :retry_after, :content_type, :body, :length_ok, :error,
                        :responded, :at, :latency, keyword_init: true) do
      # outcome: what the histogram counts, e.g. "200 HIT", "503", "error:refused"
      def outcome
        return "error:#{error}#{responded ? '(mid-response)' : ''}" if error
        [status, x_cache].compact.join(' ')
      end
    end

    ERRORS = {
      Errno::ECONNREFUSED => :refused, Errno::ECONNRESET => :reset, Errno::EPIPE => :reset, EOFError => :closed,
      Net::ReadTimeout => :timeout, Net::OpenTimeout => :timeout, Net::WriteTimeout => :timeout
    }.freeze

    attr_reader :samples, :started_at

    # urls: { kind => path or a lambda (n) -> path, n counting that kind's requests }. threads: concurrent connections;
    # interval: seconds each thread waits between its requests (the load's pace); requests: total bound; duration:
    # seconds bound; timeout: read/open timeout of one request (a request never waits longer).
    def initialize(base_url, urls:, threads: 4, interval: 0.02, requests: 5000, duration: 20, timeout: 10,
                   keep_bodies: false)
      @base = URI(base_url)
      @urls = urls.to_a
      @threads = threads
      @interval = interval
      @limit = requests
      @duration = duration
      @timeout = timeout
      @keep_bodies = keep_bodies
      @samples = []
      @lock = Mutex.new
      @counters = Hash.new(0)
      @sent = 0
      @stop = false
    end

    # run: the whole load in the foreground; returns self.
    def run
      start
      wait
    end

    def start
      @started_at = now
      @workers = Array.new(@threads) { |i| Thread.new { work(i) } }
      self
    end

    # stop: ends the load after each thread's current request.
    def stop
      @stop = true
      self
    end

    # wait: joins the threads (they end by themselves at the request or time bound) and returns self.
    def wait
      @workers.each(&:join)
      self
    end

    # elapsed: seconds since the load started, on the clock samples use for `at`.
    def elapsed
      now - @started_at
    end

    def histogram(samples = @samples)
      samples.group_by(&:kind).transform_values { |list| list.map(&:outcome).tally.sort.to_h }
    end

    # report: the histogram and latencies, one line per kind, for the CI log.
    def report(title, samples = @samples)
      span = samples.map { |s| s.at + s.latency }.max.to_f - samples.map(&:at).min.to_f
      lines = ["drill: #{title} (#{samples.size} requests in #{format('%.1f', span)} s)"]
      histogram(samples).each do |kind, counts|
        lat = samples.select { |s| s.kind == kind }.map(&:latency).sort
        lines << format('  %-8s %s  p50 %.0f ms, max %.0f ms', kind, counts.map { |k, v| "#{k}: #{v}" }.join(', '),
                        1000 * lat[lat.size / 2], 1000 * lat.last)
      end
      text = lines.join("\n")
      puts text
      text
    end

    def select(kind: nil, from: nil, to: nil)
      @samples.select do |s|
        (kind.nil? || Array(kind).include?(s.kind)) && (from.nil? || s.at >= from) && (to.nil? || s.at < to)
      end
    end

    private

    def now
      Process.clock_gettime(Process::CLOCK_MONOTONIC)
    end

    def next_request
      @lock.synchronize do
        return nil if @stop || @sent >= @limit || elapsed >= @duration
        kind, url = @urls[@sent % @urls.size]
        @sent += 1
        n = (@counters[kind] += 1)
        [kind, url.respond_to?(:call) ? url.call(n) : url]
      end
    end

    def work(index)
      sleep(@interval * index / @threads) # spread the threads over one interval
      http = nil
      while (job = next_request)
        http ||= connect
        sample = request(http, *job)
        @lock.synchronize { @samples << sample }
        if sample.error
          http&.finish rescue nil # rubocop:disable Style/RescueModifier
          http = nil
        end
        sleep @interval
      end
    ensure
      http&.finish rescue nil # rubocop:disable Style/RescueModifier
    end

    def connect
      http = Net::HTTP.new(@base.host, @base.port)
      http.open_timeout = @timeout
      http.read_timeout = @timeout
      http.write_timeout = @timeout
      http.max_retries = 0 # a retry would hide exactly what a drill looks for
      http.keep_alive_timeout = 60
      http
    end

    # request: one GET on `http` (opened on first use), timed from the first byte sent to the last byte read.
    def request(http, kind, path)
      started = now
      sample = Sample.new(kind: kind, path: path, at: started - @started_at, responded: false)
      http.start unless http.started?
      body = +''
      http.request(Net::HTTP::Get.new(path)) do |res|
        sample.responded = true
        res.read_body { |chunk| body << chunk }
        sample.status = res.code.to_i
        sample.x_cache = res['x-cache']
        sample.retry_after = res['retry-after']
        sample.content_type = res['content-type']
        length = res['content-length']
        sample.length_ok = length.nil? || length.to_i == body.bytesize
      end
      sample.body = body if @keep_bodies || (sample.status && sample.status >= 400)
      sample
    rescue *ERRORS.keys, IOError, SystemCallError => e
      sample.error = ERRORS.find { |klass, _| e.is_a?(klass) }&.last || e.class.name.to_sym
      sample
    ensure
      sample.latency = now - started
    end
  end
end
