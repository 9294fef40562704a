# varnish.rb: a real varnishd (Debian's varnish with varnish-modules' xkey) in front of an origin, running the VCL the
# repository ships (plugin/edge/varnish.vcl) with its backend pointed at the origin's port.
module Booka
  class Varnish
    VCL = File.join(ROOT, 'plugin', 'edge', 'varnish.vcl')
    attr_reader :port

    # origin_port: the backend; port: where Varnish listens (chosen before the origin starts, which purges it there).
    def initialize(origin_port, port: Booka.free_port)
      @port = port
      @dir = Dir.mktmpdir('booka-varnish')
      vcl = File.read(VCL)
      raise 'varnish.vcl: no backend port to point at the origin' unless vcl.include?('.port = "8080";')
      File.write(File.join(@dir, 'booka.vcl'), vcl.sub('.port = "8080";', ".port = \"#{origin_port}\";"))
    end

    # start: varnishd in the foreground as this user (-j none), no management port, a small malloc store; waits until it
    # answers HTTP.
    def start
      @pid = Process.spawn('varnishd', '-F', '-j', 'none', '-a', "127.0.0.1:#{@port}", '-T', 'none', '-n', File.join(@dir, 'n'),
                           '-f', File.join(@dir, 'booka.vcl'), '-s', 'malloc,64m', out: log_path, err: log_path)
      Booka.wait_for(timeout: 30) do
        raise "varnishd exited:\n#{log}" unless Process.waitpid(@pid, Process::WNOHANG).nil?
        Booka.listening?(@port)
      end
      self
    end

    def url(path)
      "http://127.0.0.1:#{@port}#{path}"
    end

    def log_path
      File.join(@dir, 'varnishd.log')
    end

    def log
      File.exist?(log_path) ? File.read(log_path) : ''
    end

    def stop
      return unless @pid
      Process.kill('TERM', @pid)
      Process.wait(@pid)
      @pid = nil
      FileUtils.rm_rf(@dir)
    rescue Errno::ESRCH, Errno::ECHILD
      @pid = nil
    end
  end
end
