# upstream.rb: a loopback HTTP/1.1 server on threads of the spec's own whose answers a spec scripts (the avatar's
# picture servers). Subclasses say how a request is answered.
module Booka
  class ScriptedUpstream
    # server: the listening TCPServer; each connection is served on a thread of its own, one request, then closed.
    def initialize(server)
      @server = server
      @mutex = Mutex.new
      @thread = Thread.new { accept_loop }
    end

    def stop
      @server.close
    end

    private

    # answer(sock, head): writes the response to a request whose head (request line and headers) was read; a subclass's.
    def answer(_sock, _head)
      raise NotImplementedError
    end

    def accept_loop
      loop { Thread.new(@server.accept) { |sock| serve(sock) } }
    rescue IOError, Errno::EBADF
      nil
    end

    def serve(sock)
      head = +''
      head << sock.readpartial(4096) until head.include?("\r\n\r\n")
      answer(sock, head)
    rescue StandardError
      nil # the server under test may close first (a refused size, a timeout): nothing more to answer
    ensure
      sock.close unless sock.closed?
    end
  end
end
