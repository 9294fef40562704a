# api_server.rb: the API server that avatar_spec.rb and hostile_input_spec.rb test, configured as h2o.conf serves the
# API, so the two specs look at the same server and differ only in the avatar settings they name.
module Booka
  # api_server: a booka-origin (not started) on the cleartext and TLS listeners, 2 threads, a pool of 2 on
  # `database_url`, CORS for `origin`; booka.avatar with `avatar` (the lines of its YAML mapping), booka.list with its
  # defaults, /status when `status`, and the JSON 404 for the rest of /api.
  # check_avatar_config: `booka-origin -t` (with `env`) on a configuration whose booka.avatar at `path` is `avatar`;
  # returns [exit status, output].
  def self.check_avatar_config(database_url, avatar, env: {}, path: '/api/v1/img/avatar')
    Server.new(<<~YAML).check_config(env: env)
      listen: 1
      booka.postgres: #{database_url}
      hosts:
        default:
          paths:
            #{path}:
              booka.avatar: #{avatar}
    YAML
  end

  def self.api_server(database_url, origin:, avatar:, status: false)
    Server.new do |s|
      <<~YAML
        #{s.listeners.chomp}
        num-threads: 2
        booka.postgres:
          url: #{database_url}
          pool-size: 2
        booka.cors-origins: [#{origin}]
        hosts:
          default:
            paths:
              /api/v1/img/avatar:
                booka.avatar:
        #{avatar.chomp.gsub(/^/, ' ' * 10)}
              /api/v1/service-provider-profiles:
                booka.list: ON
        #{'      /status: {status: ON}' if status}
              /api:
                booka.not-found: ON
      YAML
    end
  end
end
