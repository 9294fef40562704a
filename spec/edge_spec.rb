# edge_spec.rb: the shared caches in front of the origin (issue 13, "Purge at the edge"; plugin/edge/README.md): the
# cache tags list and avatar responses carry, and the `booka.edge` directive's checks.
require_relative 'spec_helper'
require 'base64'
require 'digest'

describe 'booka.edge' do
  def list_path
    '/api/v1/service-provider-profiles/'
  end

  before(:all) do
    @db = Booka::Database.recreate('booka_spec_edge')
    out, status = Open3.capture2e(File.join(Booka::ROOT, 'schema', 'seed.sh'), '60', @db)
    raise out unless status.success?
    @picture = "data:image/png;base64,#{Base64.strict_encode64(Booka.png(64, 64, [200, 30, 30]))}"
    Booka::Database.insert_providers(@db, { 990_001 => @picture })
  end

  # origin: a booka-origin on the spec's database with `edge` as the value of booka.edge (nil: no booka.edge at all).
  def origin(edge, list: '{}', env: {}, redis: ENV.fetch('REDIS_URL'), start: true)
    s = Booka::Server.new(env: env) do |srv|
      <<~YAML
        listen: #{srv.port}
        num-threads: 2
        #{edge.nil? ? '' : "booka.edge: #{edge}"}
        booka.postgres: {url: "#{@db}", pool-size: 2}
        booka.redis: {url: "#{redis}", command-timeout: 200, connect-timeout: 500}
        hosts:
          default:
            paths:
              #{list_path}:
                booka.list: #{list}
              /api/v1/img/avatar/:
                booka.avatar: ON
              /metrics:
                booka.metrics: ON
              /healthz:
                booka.health: ON
              /readyz:
                booka.readiness: ON
      YAML
    end
    start ? s.start : s
  end

  describe 'cache tags on responses' do
    it 'names the data set and the category of a list, on MISS, HIT and 304 alike, in each configured header' do
      s = origin('{tag-headers: [cache-tag, xkey, surrogate-key]}')
      plain = get(s.url("#{list_path}?limit=3"), proto: :h2c)
      expect(plain.status).to eq 200
      expect(plain['cache-tag']).to eq 'booka-list,booka-list-all'
      expect(plain['xkey']).to eq 'booka-list booka-list-all'
      expect(plain['surrogate-key']).to eq 'booka-list booka-list-all'

      first = get(s.url("#{list_path}?category=MC%20%26%20Host&limit=3"), proto: :h1)
      again = get(s.url("#{list_path}?category=mc_%26_host&limit=3"), proto: :h2c)
      expect([first['x-cache'], again['x-cache']]).to eq %w[MISS HIT]
      [first, again].each do |r|
        expect(r['cache-tag']).to eq 'booka-list,booka-list-cat-mc_%26_host' # '&' spelled %26: tags hold no separators
        expect(r['xkey']).to eq 'booka-list booka-list-cat-mc_%26_host'
      end
      revalidated = get(s.url("#{list_path}?category=mc_%26_host&limit=3"), headers: { 'If-None-Match' => first['etag'] })
      expect(revalidated.status).to eq 304
      expect(revalidated['xkey']).to eq first['xkey']

      unknown = get(s.url("#{list_path}?category=No%20Such%20Thing"))
      expect(unknown.json['data']).to eq []
      expect(unknown['xkey']).to eq 'booka-list booka-list-cat-no_such_thing' # purged when such a category appears

      error = get(s.url("#{list_path}?sort=sideways"))
      expect(error.status).to eq 422
      expect(error['xkey']).to be_nil # errors are no-store: nothing to purge
    end

    it 'tags an avatar only at its unversioned URL (a versioned one never changes)' do
      s = origin('{tag-headers: [xkey, cache-tag]}')
      token = Digest::MD5.hexdigest(@picture)[0, 16]
      unversioned = get(s.url('/api/v1/img/avatar/990001?w=32'))
      expect(unversioned.status).to eq 200
      expect(unversioned['xkey']).to eq 'booka-avatar booka-avatar-990001'
      expect(unversioned['cache-tag']).to eq 'booka-avatar,booka-avatar-990001'
      versioned = get(s.url("/api/v1/img/avatar/990001?w=32&v=#{token}"))
      expect(versioned.status).to eq 200
      expect(versioned['cache-control']).to include 'immutable'
      expect(versioned['xkey']).to be_nil
      outdated = get(s.url('/api/v1/img/avatar/990001?w=32&v=0123456789abcdef')) # the picture changed since: mutable
      expect(outdated['cache-control']).not_to include 'immutable'
      expect(outdated['xkey']).to eq 'booka-avatar booka-avatar-990001'
    end

    it 'sends no tags without booka.edge, and stale-if-error and a prefix of its own when configured' do
      s = origin(nil)
      r = get(s.url("#{list_path}?limit=2"))
      expect(r.headers.keys & %w[cache-tag xkey surrogate-key]).to eq []
      expect(r['cache-control']).to eq 'public, max-age=30, s-maxage=60, stale-while-revalidate=300'
      s.stop

      s = origin('{tag-headers: surrogate-key, tag-prefix: "shop1:", stale-if-error: 86400}', list: '{s-maxage: 3600}')
      r = get(s.url("#{list_path}?limit=2&category=DJ"))
      expect(r['surrogate-key']).to eq 'shop1:list shop1:list-cat-dj'
      expect(r['cache-control']).to eq 'public, max-age=30, s-maxage=3600, stale-while-revalidate=300, stale-if-error=86400'
    end

    it 'rejects configuration mistakes with file:line:column' do
      {
        '{tag-headers: [xkey, cache-tags]}' => /h2o\.conf:\d+:\d+.*unknown tag header \(expected cache-tag, xkey or surrogate-key\)/,
        '{tag-prefix: "a b"}' => /h2o\.conf:\d+:\d+.*expected at most 64 characters/,
        '{stale-if-errors: 10}' => /h2o\.conf:\d+:\d+.*unknown key/,
        '{stale-if-error: -1}' => /h2o\.conf:\d+:\d+.*expected a number from 0 to 31536000/,
        '{stale-if-error: 10s}' => /h2o\.conf:\d+:\d+.*expected a number/,
        'ON' => /h2o\.conf:\d+:\d+.*argument cannot be a scalar/
      }.each do |edge, message|
        status, out = origin(edge, start: false).check_config
        expect(status).not_to eq(0), edge
        expect(out).to match(message), "#{edge}: #{out}"
      end
    end
  end
end
