# h2.rb: an HTTP/2 client (cleartext, prior knowledge) for drills that need control curl does not give: the stream
# window a reader advertises, when it credits the window back, and resetting a stream mid-body. Framing, HPACK, stream
# states, SETTINGS and PING acknowledgements are the http-2 gem's (Debian's ruby-http-2); this file gives it a socket
# read with deadlines and keeps, per stream, the :status, the DATA bytes and how the stream ended. Two behaviours of the
# gem (0.11.0) are replaced below, each with its reason: the connection's receive window, and what a GOAWAY does.
require 'socket'
require 'http/2'

module Booka
  class H2Client
    class Error < StandardError; end

    # Stream: what arrived on one stream. ended: the server's END_STREAM came; reset: the server's RST_STREAM error
    # (a symbol, e.g. :refused_stream), if any. Our own resets set neither.
    Stream = Struct.new(:id, :status, :body, :ended, :reset, keyword_init: true)

    # ConnectionWindow: the connection's receive window is credited here, not by the gem. The gem sizes it from our
    # SETTINGS_INITIAL_WINDOW_SIZE, which applies to streams only (RFC 7540 6.9.2: the connection's starts at 65,535
    # whatever the setting), and credits it back once half of that count is used: with a larger stream window it never
    # credits the real 65,535 back (the server stalls), with a smaller one it credits a slow reader's connection anyway.
    module ConnectionWindow
      private

      def calculate_window_update(_window_max_size); end
    end

    # WithheldWindow: a slow reader's stream, credited only by #credit. The gem credits every stream back once half its
    # window is used, and has no switch for that. It still fails a server that sends beyond the window.
    module WithheldWindow
      private

      def calculate_window_update(_window_max_size)
        error(:flow_control_error) if local_window.negative?
      end
    end

    # ReadsAfterGoaway: a GOAWAY is recorded and the connection keeps reading. The gem marks the connection closed on
    # GOAWAY and from then on drops every HEADERS frame, including the responses to streams at or below the GOAWAY's
    # last stream id, which the server still answers (RFC 7540 6.8): those answers are what the SIGTERM drill checks.
    module ReadsAfterGoaway
      private

      def connection_management(frame)
        return super unless frame[:type] == :goaway && state == :connected

        emit(:goaway, frame[:last_stream], frame[:error], frame[:payload])
      end
    end

    # goaway: the last stream id of the server's latest GOAWAY, nil before any. streams: id => Stream.
    attr_reader :goaway, :streams

    # initial_window: our SETTINGS_INITIAL_WINDOW_SIZE. auto_window: a fast reader, crediting the connection for every
    # DATA frame at once and each stream as the gem does (once half its window is used); false leaves all crediting to
    # #credit.
    def initialize(host, port, initial_window: HTTP2::DEFAULT_FLOW_WINDOW, auto_window: true, timeout: 10)
      @authority = "#{host}:#{port}"
      @auto_window = auto_window
      @timeout = timeout
      @sock = Socket.tcp(host, port, connect_timeout: timeout)
      @sock.setsockopt(Socket::IPPROTO_TCP, Socket::TCP_NODELAY, 1)
      @streams = {}
      @h2_streams = {}
      @goaway = nil
      @conn = HTTP2::Client.new(settings_initial_window_size: initial_window, settings_enable_push: 0)
      @conn.extend(ConnectionWindow, ReadsAfterGoaway)
      @conn.on(:frame) { |bytes| @sock.write(bytes) }
      @conn.on(:goaway) { |last_stream, _error, _debug| @goaway = last_stream }
      @conn.on(:frame_received) { |frame| credit_connection(frame) } if auto_window
      @conn.send_connection_preface
    end

    # get: sends a GET and returns its stream id.
    def get(path)
      h2 = @conn.new_stream
      h2.extend(WithheldWindow) unless @auto_window
      stream = Stream.new(id: h2.id, body: ''.b, ended: false)
      h2.on(:headers) { |fields| stream.status ||= Integer(fields.to_h.fetch(':status')) }
      h2.on(:data) { |bytes| stream.body << bytes }
      h2.on(:close) do |error|
        case h2.closed
        when :remote_closed then stream.ended = true
        when :remote_rst then stream.reset = error
        end
      end
      @h2_streams[h2.id] = h2
      @streams[h2.id] = stream
      h2.headers({ ':method' => 'GET', ':scheme' => 'http', ':path' => path, ':authority' => @authority },
                 end_stream: true)
      h2.id
    end

    # reset: RST_STREAM(CANCEL) on our stream.
    def reset(id)
      @h2_streams.fetch(id).cancel
    end

    # credit: a WINDOW_UPDATE of n bytes for stream id (unless it is closed) and for the connection.
    def credit(id, n)
      @h2_streams.fetch(id).window_update(n)
      @conn.window_update(n)
    end

    # read_until: reads until the block (given the client) is true; raises Error after `timeout` seconds, EOFError when
    # the server closes the connection.
    def read_until(timeout: @timeout)
      deadline = now + timeout
      until yield(self)
        left = deadline - now
        raise Error, 'timed out waiting for the server' if left <= 0 || !@sock.wait_readable(left)

        chunk = @sock.read_nonblock(65_536, exception: false)
        raise EOFError, 'the server closed the connection' if chunk.nil?

        @conn << chunk unless chunk == :wait_readable
      end
      self
    end

    # response: reads until stream id ended (or the server reset it) and returns it.
    def response(id, timeout: @timeout)
      read_until(timeout: timeout) { @streams[id].ended || @streams[id].reset }
      @streams[id]
    end

    def close
      @sock.close unless @sock.closed?
    end

    private

    def now
      Process.clock_gettime(Process::CLOCK_MONOTONIC)
    end

    # credit_connection: a fast reader's connection credit, the DATA frame's whole flow-controlled length (padding
    # included), also for streams we reset (their DATA still counts against the connection's window).
    def credit_connection(frame)
      return unless frame[:type] == :data

      n = frame[:payload].bytesize + (frame[:padding] || 0)
      @conn.window_update(n) if n.positive?
    end
  end
end
