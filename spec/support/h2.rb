# h2.rb: a minimal HTTP/2 client (cleartext, prior knowledge) for drills that need control curl does not give: the
# stream window a reader advertises, when it credits the window back, and resetting a stream mid-body. It sends
# HEADERS as HPACK literals without indexing (so it needs no encoder state), decodes only a response's :status (the
# first field h2o sends), and keeps each stream's DATA bytes.
require 'socket'

module Booka
  class H2Client
    PREFACE = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".b
    DATA = 0
    HEADERS = 1
    RST_STREAM = 3
    SETTINGS = 4
    PING = 6
    GOAWAY = 7
    WINDOW_UPDATE = 8
    CONTINUATION = 9
    END_STREAM = 0x1
    ACK = 0x1
    END_HEADERS = 0x4
    CANCEL = 0x8
    # RFC 7541 appendix A: the static table's :status entries
    STATIC_STATUS = { 8 => 200, 9 => 204, 10 => 206, 11 => 304, 12 => 400, 13 => 404, 14 => 500 }.freeze
    # RFC 7541 appendix B: the Huffman codes of the digits ([code, bit length]), all a status can hold
    HUFFMAN_DIGITS = {
      [0x0, 5] => '0', [0x1, 5] => '1', [0x2, 5] => '2', [0x19, 6] => '3', [0x1a, 6] => '4', [0x1b, 6] => '5',
      [0x1c, 6] => '6', [0x1d, 6] => '7', [0x1e, 6] => '8', [0x1f, 6] => '9'
    }.freeze

    class Error < StandardError; end

    # Stream: what arrived on one stream. reset: the server's RST_STREAM code, if any.
    Stream = Struct.new(:id, :status, :body, :ended, :reset, :headers_at, keyword_init: true)

    attr_reader :goaway, :streams

    # initial_window: our SETTINGS_INITIAL_WINDOW_SIZE. auto_window: credit every DATA frame back at once (stream and
    # connection), i.e. a fast reader; false leaves crediting to #credit.
    def initialize(host, port, initial_window: 65_535, auto_window: true, timeout: 10)
      @host = host
      @port = port
      @auto_window = auto_window
      @timeout = timeout
      @sock = Socket.tcp(host, port, connect_timeout: timeout)
      @sock.setsockopt(Socket::IPPROTO_TCP, Socket::TCP_NODELAY, 1)
      @next_id = 1
      @streams = {}
      @goaway = nil
      @buf = ''.b
      write(PREFACE + frame(SETTINGS, 0, 0, [2, 0, 4, initial_window].pack('nNnN')))
    end

    # get: sends a GET and returns its stream id.
    def get(path)
      id = @next_id
      @next_id += 2
      block = [[':method', 'GET'], [':scheme', 'http'], [':path', path], [':authority', "#{@host}:#{@port}"]]
              .map { |name, value| "\x00".b + string(name) + string(value) }.join
      @streams[id] = Stream.new(id: id, body: ''.b, ended: false)
      write(frame(HEADERS, END_STREAM | END_HEADERS, id, block))
      id
    end

    # reset: RST_STREAM(CANCEL) on our stream.
    def reset(id)
      write(frame(RST_STREAM, 0, id, [CANCEL].pack('N')))
    end

    # credit: a WINDOW_UPDATE of n bytes for stream id and for the connection.
    def credit(id, n)
      write(frame(WINDOW_UPDATE, 0, id, [n].pack('N')) + frame(WINDOW_UPDATE, 0, 0, [n].pack('N')))
    end

    # read_until: reads frames until the block (given the client) is true; raises after `timeout` seconds.
    def read_until(timeout: @timeout)
      deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + timeout
      until yield(self)
        left = deadline - Process.clock_gettime(Process::CLOCK_MONOTONIC)
        raise Error, 'timed out waiting for the server' if left <= 0
        read_frame(left)
      end
      self
    end

    # response: reads until stream id ended (or was reset) and returns it.
    def response(id, timeout: @timeout)
      read_until(timeout: timeout) { @streams[id].ended || @streams[id].reset }
      @streams[id]
    end

    def close
      @sock.close unless @sock.closed?
    end

    private

    def write(bytes)
      @sock.write(bytes)
    end

    def frame(type, flags, id, payload)
      [payload.bytesize >> 16, payload.bytesize & 0xffff, type, flags, id].pack('CnCCN') + payload.b
    end

    # string: an HPACK string literal, not Huffman-coded (RFC 7541 5.2).
    def string(text)
      integer(text.bytesize, 7) + text.b
    end

    # integer: an HPACK integer with an n-bit prefix (RFC 7541 5.1), the prefix's other bits zero.
    def integer(value, bits)
      max = (1 << bits) - 1
      return [value].pack('C') if value < max
      out = [max]
      value -= max
      while value >= 128
        out << ((value & 0x7f) | 0x80)
        value >>= 7
      end
      (out << value).pack('C*')
    end

    def fill(bytes, timeout)
      while @buf.bytesize < bytes
        raise Error, 'timed out waiting for the server' unless @sock.wait_readable(timeout)
        chunk = @sock.read_nonblock(65_536, exception: false)
        raise EOFError, 'the server closed the connection' if chunk.nil?
        @buf << chunk unless chunk == :wait_readable
      end
    end

    def read_frame(timeout)
      fill(9, timeout)
      hi, lo, type, flags, id = @buf.unpack('CnCCN')
      length = (hi << 16) | lo
      fill(9 + length, timeout)
      payload = @buf.byteslice(9, length)
      @buf = @buf.byteslice(9 + length..)
      handle(type, flags, id & 0x7fffffff, payload)
    end

    def handle(type, flags, id, payload)
      case type
      when SETTINGS then write(frame(SETTINGS, ACK, 0, '')) if (flags & ACK).zero?
      when PING then write(frame(PING, ACK, 0, payload)) if (flags & ACK).zero?
      when GOAWAY then @goaway = payload.unpack1('N') & 0x7fffffff
      when HEADERS then on_headers(flags, id, payload)
      when DATA then on_data(flags, id, payload)
      when RST_STREAM then (s = @streams[id]) && (s.reset = payload.unpack1('N'))
      end
    end

    def on_headers(flags, id, payload)
      stream = @streams.fetch(id)
      payload = payload.byteslice(1 + payload.getbyte(0)..) if (flags & 0x8).nonzero? # PADDED (never with h2o)
      payload = payload.byteslice(5..) if (flags & 0x20).nonzero? # PRIORITY
      stream.status ||= status_of(payload)
      stream.headers_at ||= Process.clock_gettime(Process::CLOCK_MONOTONIC)
      stream.ended = true if (flags & END_STREAM).nonzero?
    end

    def on_data(flags, id, payload)
      stream = @streams.fetch(id)
      stream.body << payload
      stream.ended = true if (flags & END_STREAM).nonzero?
      credit(id, payload.bytesize) if @auto_window && !payload.empty?
    end

    # status_of: the :status field, when it opens the header block as an indexed static entry or a literal with the
    # static name 8 (h2o's encoder does one or the other); :unknown otherwise.
    def status_of(block)
      first = block.getbyte(0)
      return STATIC_STATUS.fetch(first & 0x7f, :unknown) if first & 0x80 != 0
      name = if first & 0xc0 == 0x40 then first & 0x3f else first & 0x0f end
      return :unknown unless name == 8
      length_byte = block.getbyte(1)
      raw = block.byteslice(2, length_byte & 0x7f)
      text = (length_byte & 0x80).zero? ? raw : huffman_digits(raw)
      text&.match?(/\A\d{3}\z/) ? text.to_i : :unknown
    end

    def huffman_digits(raw)
      bits = raw.unpack1('B*')
      out = +''
      until bits.empty? || bits.match?(/\A1{1,7}\z/) # the padding: the EOS code's most significant bits
        digit = [5, 6].lazy.map { |n| HUFFMAN_DIGITS[[bits[0, n].to_i(2), n]] }.find(&:itself)
        return nil unless digit
        bits = bits[(digit.between?('0', '2') ? 5 : 6)..]
        out << digit
      end
      out
    end
  end
end
