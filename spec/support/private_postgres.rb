# private_postgres.rb: a throwaway PostgreSQL cluster a spec may stop and start (never the shared test cluster).
module Booka
  # PrivatePostgres: a throwaway cluster the spec may stop and start (never the shared test cluster).
  class PrivatePostgres
    BIN = Dir['/usr/lib/postgresql/*/bin'].max

    attr_reader :port, :dir


    def initialize
      @port = Booka.free_port
      @dir = Dir.mktmpdir('booka-pg')
      File.chmod(0o755, @dir)
      FileUtils.chown('postgres', nil, @dir) if Process.uid.zero?
      run('initdb', '-D', "#{@dir}/data", '-A', 'trust', '-U', 'postgres', '--no-sync')
    end

    # run: a PostgreSQL binary as the postgres user (the server refuses root).
    def run(cmd, *args)
      argv = [File.join(BIN, cmd), *args]
      argv = ['runuser', '-u', 'postgres', '--', *argv] if Process.uid.zero?
      out, status = Open3.capture2e(*argv)
      raise "#{cmd} failed: #{out}" unless status.success?
      out
    end

    def start
      run('pg_ctl', '-D', "#{@dir}/data", '-l', "#{@dir}/log", '-w', '-o', options, 'start')
    end

    # stop: pg_ctl's shutdown `mode`: fast (sessions terminated cleanly) or immediate (every process quits at once,
    # crash recovery at the next start).
    def stop(mode: 'fast')
      run('pg_ctl', '-D', "#{@dir}/data", '-m', mode, '-w', 'stop')
    end

    def restart(mode: 'fast')
      run('pg_ctl', '-D', "#{@dir}/data", '-l', "#{@dir}/log", '-m', mode, '-w', '-o', options, 'restart')
    end

    # pids: the postmaster and every process it started (backends, checkpointer, walwriter, ...).
    def pids
      postmaster = File.read("#{@dir}/data/postmaster.pid").to_i
      children = Dir['/proc/[0-9]*/stat'].filter_map do |stat|
        fields = File.read(stat)[/\) (.*)/, 1]&.split
        File.basename(File.dirname(stat)).to_i if fields && fields[1].to_i == postmaster
      rescue Errno::ENOENT, Errno::ESRCH
        nil
      end
      [postmaster, *children]
    end

    def options
      "-p #{@port} -k #{@dir} -c listen_addresses=127.0.0.1 -c fsync=off"
    end

    def url(db = 'postgres')
      "postgresql://postgres@127.0.0.1:#{@port}/#{db}"
    end

    # create_booka: a database `booka` in this cluster, migrated by schema/migrate.sh as an operator would, with `seed`
    # demo providers from schema/seed.sh when given; returns its URL.
    def create_booka(seed: nil)
      Database.psql('CREATE DATABASE booka;', url: url)
      out, status = Open3.capture2e(File.join(ROOT, 'schema', 'migrate.sh'), url('booka'))
      raise out unless status.success?
      if seed
        out, status = Open3.capture2e(File.join(ROOT, 'schema', 'seed.sh'), seed.to_s, url('booka'))
        raise out unless status.success?
      end
      url('booka')
    end

    def destroy
      stop rescue nil # rubocop:disable Style/RescueModifier
      FileUtils.rm_rf(@dir)
    end
  end
end
