# mruby.rb: the repository's rewrites (mruby/rewrites.rb) mounted as h2o.conf mounts them, with a stand-in behind each
# canonical path that answers with what reached it. mruby_spec.rb runs them on booka-origin, mruby_compat_spec.rb on
# booka-origin and on the stock h2o alike (the stand-in is plain Rack, for mruby 1.3 and 3.1).
module Booka
  module MrubyRewrites
    module_function

    def rewrites
      File.join(ROOT, 'mruby', 'rewrites.rb')
    end

    # echo_app: the stand-in: a JSON body of the route (SCRIPT_NAME), method, PATH_INFO, QUERY_STRING and the GREETING
    # that a handler falling through before it may set.
    def echo_app
      <<~RUBY
        Proc.new do |env|
          fields = { "route" => env["SCRIPT_NAME"], "method" => env["REQUEST_METHOD"], "path_info" => env["PATH_INFO"],
                     "query" => env["QUERY_STRING"], "greeting" => env["GREETING"].to_s }
          body = "{" + fields.map { |k, v| k.inspect + ": " + v.to_s.inspect }.join(", ") + "}"
          [200, { "content-type" => "application/json", "cache-control" => "max-age=60", "x-stand-in" => "echo" }, [body]]
        end
      RUBY
    end

    # write_echo: echo_app in dir/echo.rb; returns its path.
    def write_echo(dir)
      path = File.join(dir, 'echo.rb')
      File.write(path, echo_app)
      path
    end

    # mounts: the entries of a host's `paths` (indented for it: six spaces) that mount the rewrites as h2o.conf does
    # (each collection without its slash, and /static/api) and the stand-in `echo` (a file) at the canonical paths.
    def mounts(echo)
      <<~YAML.chomp.gsub(/^/, '      ')
        /api/v1/service-provider-profiles/:
          mruby.handler-file: #{echo}
        /api/v1/img/avatar:
          mruby.handler-file: #{echo}
        /api/v1/service-provider-profiles:
          reproxy: ON
          mruby.handler-file: #{rewrites}
        /static/api:
          reproxy: ON
          mruby.handler-file: #{rewrites}
      YAML
    end
  end
end
