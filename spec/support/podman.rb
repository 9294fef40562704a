# podman.rb: the image of container/Dockerfile built and run by rootful podman, for spec/container_spec.rb.
#
# No container registry is reachable here, so `FROM debian:bookworm-slim` resolves to a base image built from Debian's
# mirror by container/bookworm-slim.sh (cached in podman's storage between runs) and the Dockerfile is built unchanged
# with --pull=never. podman reads a containers.conf of our own (CONTAINERS_CONF) for what a sandboxed host needs:
# runc (crun refuses this kernel's hybrid cgroup v1/v2 layout: "cgroups in hybrid mode not supported"), the cgroupfs
# manager (no systemd), and rlimits no higher than ours (podman's default RLIMIT_NOFILE/NPROC are refused without
# CAP_SYS_RESOURCE: "setrlimit `RLIMIT_NOFILE`: Operation not permitted").
require 'digest'

module Booka
  module Podman
    module_function

    BASE = 'docker.io/library/debian:bookworm-slim'

    def env
      @env ||= begin
        dir = Dir.mktmpdir('booka-podman')
        nofile = Process.getrlimit(:NOFILE)[1]
        nproc = [Process.getrlimit(:NPROC)[1], 4096].min
        File.write(File.join(dir, 'containers.conf'), <<~TOML)
          [containers]
          default_ulimits = ["nofile=#{nofile}:#{nofile}", "nproc=#{nproc}:#{nproc}"]
          [engine]
          runtime = "runc"
          cgroup_manager = "cgroupfs"
        TOML
        { 'CONTAINERS_CONF' => File.join(dir, 'containers.conf') }
      end
    end

    # run: podman with `args`; [combined output, success?]
    def run(*args, timeout: 60)
      out = +''
      status = nil
      Open3.popen2e(env, 'podman', *args) do |stdin, io, thread|
        stdin.close
        reader = Thread.new { out << io.read }
        unless thread.join(timeout)
          Process.kill('KILL', thread.pid)
          raise "podman #{args.join(' ')} took more than #{timeout}s:\n#{out}"
        end
        reader.join
        status = thread.value
      end
      [out, status.success?]
    end

    # run!: run, raising with podman's output when it fails; returns the output.
    def run!(*args, timeout: 60)
      out, ok = run(*args, timeout: timeout)
      raise "podman #{args.join(' ')} failed:\n#{out}" unless ok
      out
    end

    # base_image: builds the base (container/bookworm-slim.sh) unless podman holds one made by the same script (its
    # checksum is the image's label); seconds spent, 0 when it was cached.
    def base_image
      script = File.join(ROOT, 'container', 'bookworm-slim.sh')
      made_by, ok = run('image', 'inspect', '--format', '{{index .Labels "org.booka.bookworm-slim-sh"}}', BASE)
      return 0 if ok && made_by.strip == Digest::SHA256.file(script).hexdigest
      started = Time.now
      out, status = Open3.capture2e(env, script, BASE)
      raise "container/bookworm-slim.sh failed:\n#{out}" unless status.success?
      Time.now - started
    end

    # build: `podman build` of the repo root as context; seconds spent.
    def build(tag, dockerfile: File.join(ROOT, 'container', 'Dockerfile'), timeout: 1200)
      started = Time.now
      run!('build', '--pull=never', '--network', 'host', '--quiet', '-f', dockerfile, '-t', tag, ROOT, timeout: timeout)
      Time.now - started
    end

    def image_size(tag)
      Integer(run!('image', 'inspect', '--format', '{{.Size}}', tag).strip)
    end
  end
end
