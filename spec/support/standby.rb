# standby.rb: a real streaming hot standby of a PrivatePostgres primary (pg_basebackup -R), and a psql session that
# stays open for quick single-value queries.
module Booka
  # PrivateStandby: a hot standby made with `pg_basebackup -R` from a running PrivatePostgres (whose default pg_hba.conf
  # trusts replication from loopback), streaming from it; `apply_delay` (seconds) sets recovery_min_apply_delay, so it
  # replays each commit that much later than the primary made it (`apply_delay=` changes it for the next start);
  # `settings`: more `-c name=value` server options.
  class PrivateStandby < PrivatePostgres
    def initialize(primary, apply_delay: 0, settings: {}) # rubocop:disable Lint/MissingSuper: there is no cluster to initdb
      @port = Booka.free_port
      @dir = Dir.mktmpdir('booka-standby')
      self.apply_delay = apply_delay
      @settings = settings
      File.chmod(0o755, @dir)
      FileUtils.chown('postgres', nil, @dir) if Process.uid.zero?
      run('pg_basebackup', '-D', "#{@dir}/data", '-R', '-X', 'stream', '-c', 'fast', '-h', '127.0.0.1', '-p',
          primary.port.to_s, '-U', 'postgres')
    end

    def options
      extra = @settings.map { |name, value| " -c #{name}=#{value}" }.join
      "#{super} -c hot_standby=on -c recovery_min_apply_delay=#{@apply_delay_ms}ms#{extra}"
    end

    def apply_delay=(seconds)
      @apply_delay_ms = (seconds * 1000).round
    end

    # set: changes a setting of the running standby (ALTER SYSTEM + reload), e.g. recovery_min_apply_delay.
    def set(name, value)
      PsqlSession.once(url, "ALTER SYSTEM SET #{name} = '#{value.to_s.gsub("'", "''")}'")
      PsqlSession.once(url, 'SELECT pg_reload_conf()')
    end
  end

  # PsqlSession: one psql process kept open; #value runs a query that returns one value (or none) and returns it as text
  # (nil for no row). Much cheaper than a psql per query when a spec polls.
  class PsqlSession
    def self.once(url, sql)
      session = new(url)
      session.value(sql)
    ensure
      session&.close
    end

    def initialize(url)
      @io = IO.popen(['psql', url, '-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=0'], 'r+', err: %i[child out])
    end

    # value: the query's single value; a marker line after it tells where its output ends. Raises on an error.
    def value(sql)
      @io.puts "#{sql.chomp.chomp(';')};"
      @io.puts "SELECT 'booka-end-of-output';"
      @io.flush
      lines = []
      while (line = @io.gets&.chomp) != 'booka-end-of-output'
        raise "psql session ended: #{lines.join("\n")}" if line.nil?
        lines << line
      end
      raise "psql: #{lines.join("\n")}" if lines.any? { |l| l.start_with?('ERROR:', 'FATAL:', 'psql:') }
      lines.first
    end

    def close
      @io.close_write
      @io.read
      @io.close
    rescue IOError
      nil
    end
  end
end
