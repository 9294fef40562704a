# private_redis.rb: a throwaway redis-server on loopback that a spec may kill, restart and pause (never the stack's).
module Booka
  class PrivateRedis
    attr_reader :port

    def initialize
      @port = Booka.free_port
      @dir = Dir.mktmpdir('booka-redis')
    end

    # start: a foreground redis-server child (so #kill can SIGKILL it), DEBUG allowed from loopback; waits for PONG.
    def start
      @pid = Process.spawn('redis-server', '--port', @port.to_s, '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
                           '--dir', @dir, '--enable-debug-command', 'local', out: "#{@dir}/log", err: "#{@dir}/log")
      deadline = Time.now + 10
      sleep 0.05 until cli('PING') == 'PONG' || Time.now > deadline
      raise "redis-server did not start: #{File.read("#{@dir}/log")}" unless cli('PING') == 'PONG'
      self
    end

    # kill: SIGKILL, no shutdown of any kind (a crashed or OOM-killed Redis).
    def kill
      return unless @pid
      Process.kill('KILL', @pid)
      Process.wait(@pid)
      @pid = nil
    end

    # cli: one redis-cli command; returns its output, stripped. `wait: false` returns at once (DEBUG SLEEP blocks).
    def cli(*args, wait: true)
      argv = ['redis-cli', '-p', @port.to_s, *args]
      return Process.detach(Process.spawn(*argv, out: File::NULL, err: File::NULL)) unless wait
      out, = Open3.capture2e(*argv)
      out.strip
    end

    def url
      "redis://127.0.0.1:#{@port}/0"
    end

    def destroy
      kill
      FileUtils.rm_rf(@dir)
    end
  end
end
