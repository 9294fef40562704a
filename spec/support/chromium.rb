# chromium.rb: Debian's headless Chromium driven over the DevTools protocol on --remote-debugging-pipe, without a gem:
# commands are NUL-terminated JSON messages written to the browser's fd 3, answers and events NUL-terminated JSON
# read from its fd 4. One browser, one page (the tab it opens), flattened sessions.
require 'io/nonblock'

module Booka
  class Chromium
    class Error < StandardError; end

    FLAGS = %w[--headless --no-sandbox --disable-gpu --disable-background-networking].freeze

    attr_reader :log_path, :session

    # start: spawns chromium (extra flags after FLAGS) and attaches to its page.
    def self.start(*flags, width: 1280, height: 800, scale: 1)
      browser = new(flags)
      browser.attach(width, height, scale)
      browser
    rescue StandardError
      browser&.close
      raise
    end

    def initialize(flags)
      @dir = Dir.mktmpdir('booka-chromium')
      @log_path = File.join(@dir, 'chromium.log')
      commands_in, @commands = IO.pipe
      @answers, answers_out = IO.pipe
      # Ruby makes its pipes O_NONBLOCK; Chromium's pipe reader takes the EAGAIN of a non-blocking fd 3 for a closed pipe
      commands_in.nonblock = false
      answers_out.nonblock = false
      @pid = Process.spawn(ENV.fetch('BOOKA_CHROMIUM', 'chromium'), *FLAGS, *flags, '--remote-debugging-pipe',
                           "--user-data-dir=#{@dir}/profile", '--no-first-run', '--no-default-browser-check', 'about:blank',
                           3 => commands_in, 4 => answers_out, in: File::NULL, out: @log_path, err: @log_path,
                           pgroup: true)
      commands_in.close
      answers_out.close
      @next_id = 0
      @buffer = String.new(encoding: Encoding::BINARY)
      @events = []
    end

    # attach: the session of the browser's first page, with the given viewport and device pixel ratio.
    def attach(width, height, scale)
      page = nil
      wait_for(10, 'a page target') do
        page = command('Target.getTargets')['targetInfos'].find { |t| t['type'] == 'page' }
      end
      @session = command('Target.attachToTarget', { targetId: page['targetId'], flatten: true })['sessionId']
      command('Page.enable', session: @session)
      resize(width, height, scale)
    end

    def resize(width, height, scale = 1)
      command('Emulation.setDeviceMetricsOverride', { width: width, height: height, deviceScaleFactor: scale, mobile: false },
              session: @session)
    end

    # navigate: loads url and waits for its load event.
    def navigate(url, timeout: 30)
      @events.clear
      answer = command('Page.navigate', { url: url }, session: @session)
      raise Error, "navigation to #{url} failed: #{answer['errorText']}" if answer['errorText']
      wait_event('Page.loadEventFired', timeout: timeout)
    end

    # evaluate: the value of a JS expression in the page (promises awaited), or Error with the exception's text.
    def evaluate(expression, timeout: 30)
      answer = command('Runtime.evaluate', { expression: expression, awaitPromise: true, returnByValue: true },
                       session: @session, timeout: timeout)
      if (ex = answer['exceptionDetails'])
        raise Error, "#{expression[0, 200]}: #{ex.dig('exception', 'description') || ex['text']}"
      end
      answer.dig('result', 'value')
    end

    # wait_until: evaluates expression until it is truthy (returns that value); Error after timeout seconds.
    def wait_until(expression, timeout: 30, what: expression)
      value = nil
      wait_for(timeout, what) { value = evaluate(expression) }
      value
    end

    # screenshot: a PNG of the viewport, or of the whole page (full_page), written to path.
    def screenshot(path, full_page: false)
      data = command('Page.captureScreenshot', { format: 'png', captureBeyondViewport: full_page }, session: @session)['data']
      FileUtils.mkdir_p(File.dirname(path))
      File.binwrite(path, data.unpack1('m'))
      path
    end

    # close: Browser.close, then the process is waited for (its process group killed when it does not exit: renderers
    # and the zygote too) and its profile removed.
    def close
      return if @pid.nil?
      begin
        command('Browser.close', timeout: 5)
      rescue Error, IOError, SystemCallError
        nil
      end
      begin
        Timeout.timeout(10) { Process.waitpid(@pid) }
      rescue Timeout::Error
        Process.kill('KILL', -@pid)
        Process.waitpid(@pid)
      rescue Errno::ECHILD
        nil
      end
      @pid = nil
      [@commands, @answers].each { |io| io.close unless io.closed? }
      FileUtils.rm_rf(@dir)
    end

    def log
      File.exist?(@log_path) ? File.read(@log_path, encoding: 'BINARY') : ''
    end

    # command: sends one command (to the page's session when given) and returns its result; events read meanwhile
    # are kept for wait_event.
    def command(method, params = {}, session: nil, timeout: 30)
      id = (@next_id += 1)
      message = { id: id, method: method, params: params }
      message[:sessionId] = session if session
      @commands.write(JSON.generate(message), "\0")
      deadline = Time.now + timeout
      loop do
        answer = read_message(deadline, method)
        next @events << answer unless answer['id'] == id
        raise Error, "#{method}: #{answer['error']['message']}" if answer['error']
        return answer['result']
      end
    end

    private

    def wait_event(method, timeout:)
      deadline = Time.now + timeout
      loop do
        found = @events.index { |e| e['method'] == method }
        return @events.delete_at(found) if found
        @events << read_message(deadline, method)
      end
    end

    def wait_for(timeout, what)
      deadline = Time.now + timeout
      until (value = yield)
        raise Error, "timed out after #{timeout}s waiting for #{what}" if Time.now > deadline
        sleep 0.1
      end
      value
    end

    # read_message: the next message from the browser; Error at the deadline or when the browser went away.
    def read_message(deadline, waiting_for)
      loop do
        if (nul = @buffer.index("\0"))
          text = @buffer.slice!(0, nul + 1).chop
          return JSON.parse(text.force_encoding(Encoding::UTF_8))
        end
        left = deadline - Time.now
        raise Error, "timed out waiting for #{waiting_for}\n#{log[-2000..] || log}" if left <= 0
        next unless IO.select([@answers], nil, nil, left)
        begin
          @buffer << @answers.read_nonblock(1 << 20)
        rescue IO::WaitReadable
          next
        rescue EOFError
          raise Error, "chromium closed its DevTools pipe while we waited for #{waiting_for}\n#{log}"
        end
      end
    end
  end
end
