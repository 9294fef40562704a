# edge_spec.rb: the shared caches in front of the origin (issue 13, "Purge at the edge"; plugin/edge/README.md): the
# cache tags list and avatar responses carry, and the `booka.edge` directive's checks.
require_relative 'spec_helper'
require 'base64'
require 'digest'
require 'uri'

# edge_origin_yaml: the configuration of an origin on the spec's database (@db) with booka.edge `edge` (nil: none), the
# list's `list` settings and Redis at `redis`; shared by the two groups below.
module EdgeOrigin
  def edge_origin_yaml(port, edge, list, redis)
    <<~YAML
      listen: #{port}
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
end

describe 'booka.edge' do
  include EdgeOrigin
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
      edge_origin_yaml(srv.port, edge, list, redis)
    end
    start ? s.start : s
  end

  describe 'cache tags on responses' do
    it 'names the data set and the category of a list, on MISS, HIT and 304 alike, in each configured header' do
      s = origin('{tag-headers: [cache-tag, xkey, surrogate-key]}')
      # until the LISTEN connection is up the keys are the instance's own: the MISS-then-HIT below needs one key space
      Booka.wait_for(timeout: 20) { get(s.url('/readyz')).json['invalidation'] == 'up' }
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

    it 'spells a category tag in the trigger as the origin does on the response' do
      Booka::Database.psql("INSERT INTO service_categories (name) VALUES ('Café Crème, 2.0%') ON CONFLICT DO NOTHING", url: @db)
      s = origin('{tag-headers: xkey}')
      Booka::Database.psql('SELECT name, booka.edge_tag_text(slug) FROM service_categories ORDER BY id', url: @db).lines.each do |line|
        name, tag = line.chomp.split('|', 2)
        r = get(s.url("#{list_path}?category=#{URI.encode_www_form_component(name)}&limit=1"))
        expect(r['xkey']).to eq("booka-list booka-list-cat-#{tag}"), name
      end
    end

    it 'rejects configuration mistakes with file:line:column' do
      {
        '{tag-headers: [xkey, cache-tags]}' => /h2o\.conf:\d+:\d+.*unknown tag header \(expected cache-tag, xkey or surrogate-key\)/,
        '{tag-prefix: "a b"}' => /h2o\.conf:\d+:\d+.*expected at most 64 characters/,
        '{stale-if-errors: 10}' => /h2o\.conf:\d+:\d+.*unknown key/,
        '{stale-if-error: -1}' => /h2o\.conf:\d+:\d+.*expected a whole number from 0 to 31536000/,
        '{stale-if-error: 10s}' => /h2o\.conf:\d+:\d+.*expected a whole number/,
        'ON' => /h2o\.conf:\d+:\d+.*argument cannot be a scalar/
      }.each do |edge, message|
        status, out = origin(edge, start: false).check_config
        expect(status).not_to eq(0), edge
        expect(out).to match(message), "#{edge}: #{out}"
      end
    end
  end
end

describe 'booka.edge purging' do
  include EdgeOrigin
  def list_path
    '/api/v1/service-provider-profiles/'
  end

  def psql(sql)
    Booka::Database.psql(sql, url: @db).strip
  end

  before(:all) do
    @db = Booka::Database.recreate('booka_spec_edge_purge')
    out, status = Open3.capture2e(File.join(Booka::ROOT, 'schema', 'seed.sh'), '60', @db)
    raise out unless status.success?
    # a provider in some categories (`@in`), and a category with providers that it is not in (`@out`)
    @provider, @in = psql('SELECT m.user_id, c.slug FROM booka.provider_categories m JOIN service_categories c ON c.id = m.category_id ' \
                          'ORDER BY m.user_id, c.slug LIMIT 1').split('|')
    @out = psql('SELECT c.slug FROM service_categories c WHERE EXISTS (SELECT 1 FROM booka.provider_categories m WHERE ' \
                "m.category_id = c.id) AND NOT EXISTS (SELECT 1 FROM booka.provider_categories m WHERE m.category_id = c.id AND m.user_id = #{@provider}) " \
                'ORDER BY c.slug LIMIT 1')
    @picture = "data:image/png;base64,#{Base64.strict_encode64(Booka.png(64, 64, [30, 30, 200]))}"
    Booka::Database.insert_providers(@db, { 990_002 => @picture })
    # seed.sh wrote while no origin listened: the first origin to start purges the families, once (the restart example
    # below shows it). Taken here, so that each example counts the purges of its own writes.
    first = origin("{varnish: \"http://127.0.0.1:#{Booka.free_port}/\"}")
    Booka.wait_for(timeout: 10) { first.metric('booka_edge_changes_total', decision: 'claimed') == 1 }
    first.stop
  end

  # origin: a booka-origin on this group's database and the stack's Redis, with booka.edge `edge`, ready: its LISTEN
  # connection is up (a write before that would not reach it) and its pool answers.
  def origin(edge, list: '{s-maxage: 3600}', env: {}, redis: ENV.fetch('REDIS_URL'))
    s = Booka::Server.new(env: env) do |srv|
      edge_origin_yaml(srv.port, edge, list, redis)
    end.start
    ready(s)
  end

  def ready(srv)
    Booka.wait_for(timeout: 20) { get(srv.url('/readyz')).json.values_at('postgres', 'invalidation') == %w[up up] }
    srv
  end

  def names(response)
    response.json['data'].to_h { |item| [item['id'].to_s, item['business_name']] }
  end

  def rename(id, name)
    psql("UPDATE service_provider_profiles SET business_name = '#{name}' WHERE user_id = #{id}")
  end

  describe 'with Varnish in front' do
    before(:each) { @varnish_port = Booka.free_port }
    after(:each) { @varnish&.stop }

    def varnish_in_front_of(srv)
      @varnish = Booka::Varnish.new(srv.port, port: @varnish_port).start
    end

    def edge
      "{varnish: http://127.0.0.1:#{@varnish_port}/}"
    end

    it 'keeps lists for an hour, and a write shows through Varnish within 2 s, purged by one of two instances' do
      a = origin(edge)
      b = origin(edge)
      varnish = varnish_in_front_of(a)
      mine = varnish.url("#{list_path}?category=#{@in}&limit=100&fields=id,business_name")
      whole = varnish.url("#{list_path}?limit=100&fields=id,business_name")
      other = varnish.url("#{list_path}?category=#{@out}&limit=100&fields=id,business_name")
      [mine, whole, other].each do |url|
        first = get(url)
        expect(first.status).to eq 200
        expect(first['cache-control']).to include 's-maxage=3600'
        expect(first['xkey']).to be_nil # the VCL keeps the tags to itself
        expect(get(url)['x-edge-cache']).to eq 'HIT'
      end
      expect(names(get(mine))[@provider]).not_to be_nil

      rename(@provider, 'Renamed At The Edge')
      started = Time.now
      Booka.wait_for(timeout: 10) { names(get(mine))[@provider] == 'Renamed At The Edge' }
      expect(Time.now - started).to be < 2.0
      Booka.wait_for(timeout: 10) { names(get(whole))[@provider] == 'Renamed At The Edge' }
      expect(Time.now - started).to be < 2.0
      unrelated = get(other)
      expect(unrelated['x-edge-cache']).to eq 'HIT' # a category the provider is not in keeps its copy
      expect(unrelated['age'].to_i).to be >= 0

      # exactly one instance claimed the change and sent one purge; the other saw it claimed
      sleep 1.5 # a second purge, if any were sent, would have come by now
      changes = [a, b].map { |s| s.metric('booka_edge_changes_total', decision: 'claimed') }
      expect(changes.sort).to eq [0, 1]
      expect([a, b].sum { |s| s.metric('booka_edge_changes_total', decision: 'elsewhere') }).to eq 1
      expect([a, b].sum { |s| s.metric('booka_edge_purge_requests_total', target: 'varnish', outcome: 'ok') }).to eq 1
      expect([a, b].sum { |s| s.metric('booka_edge_purged_tags_total', target: 'varnish') }).to be >= 2
    end

    it 'purges an avatar at its unversioned URL when the picture changes' do
      a = origin(edge)
      varnish = varnish_in_front_of(a)
      url = varnish.url('/api/v1/img/avatar/990002?w=32&fmt=jpeg')
      before = get(url)
      expect(before.status).to eq 200
      expect(get(url)['x-edge-cache']).to eq 'HIT'
      other = "data:image/png;base64,#{Base64.strict_encode64(Booka.png(64, 64, [30, 200, 30]))}"
      psql("UPDATE service_provider_profiles SET profile_picture_url = '#{other}' WHERE user_id = 990002")
      started = Time.now
      Booka.wait_for(timeout: 10) { get(url)['etag'] != before['etag'] }
      expect(Time.now - started).to be < 2.0
    end

    it 'purges at start-up what was written while no instance listened, and nothing after a quiet restart' do
      a = origin(edge)
      varnish = varnish_in_front_of(a)
      url = varnish.url("#{list_path}?category=#{@in}&limit=100&fields=id,business_name")
      expect(get(url).status).to eq 200
      expect(get(url)['x-edge-cache']).to eq 'HIT'

      a.stop # the only instance: nobody hears the write
      rename(@provider, 'Renamed While Nobody Listened')
      ready(a.start)
      Booka.wait_for(timeout: 10) { (r = get(url)).status == 200 && names(r)[@provider] == 'Renamed While Nobody Listened' }
      expect(a.metric('booka_edge_changes_total', decision: 'claimed')).to eq 1
      Booka.wait_for(timeout: 10) { a.metric('booka_edge_purge_requests_total', target: 'varnish', outcome: 'ok') == 1 }
      expect(get(url)['x-edge-cache']).to eq 'HIT'

      a.stop # nothing written meanwhile: nothing to purge, the edge keeps its copies
      ready(a.start)
      Booka.wait_for(timeout: 10) { a.metric('booka_edge_changes_total', decision: 'unchanged') == 1 }
      sleep 0.5 # a purge, if one were sent, would have gone by now
      expect(a.metric('booka_edge_purge_batches_total', target: 'varnish')).to eq 0
      expect(get(url)['x-edge-cache']).to eq 'HIT'
    end

    it 'without purging, the same Varnish serves the old list for its s-maxage' do
      a = origin('{tag-headers: xkey}') # tags, but no purge target
      varnish = varnish_in_front_of(a)
      url = varnish.url("#{list_path}?category=#{@in}&limit=100&fields=id,business_name")
      expect(get(url).status).to eq 200
      rename(@provider, 'Never Purged')
      Booka.wait_for(timeout: 10) { names(get(a.url("#{list_path}?category=#{@in}&limit=100&fields=id,business_name")))[@provider] == 'Never Purged' }
      expect(names(get(url))[@provider]).not_to eq 'Never Purged' # the origin has it; the edge keeps its copy
      expect(get(url)['x-edge-cache']).to eq 'HIT'
    end

    it 'retries a purge Varnish cannot take, and logs it' do
      a = origin(edge) # nothing listens at the Varnish port yet
      rename(@provider, 'While Varnish Is Down')
      Booka.wait_for(timeout: 10) { a.metric('booka_edge_purge_requests_total', target: 'varnish', outcome: 'retried') >= 1 }
      expect(a.log).to match(/\[booka\] \[edge\] varnish 127\.0\.0\.1:#{@varnish_port}: purge of \d+ tags failed .* try 2 of 8/)
      varnish_in_front_of(a)
      Booka.wait_for(timeout: 20) { a.metric('booka_edge_purge_requests_total', target: 'varnish', outcome: 'ok') >= 1 }
      expect(a.log).to include 'purging works again'
    end

    it 'takes a purge answer without a body' do
      stub = TCPServer.new('127.0.0.1', @varnish_port) # answers every purge with an empty 200, as some purgers do
      heads = Queue.new
      Thread.new do
        loop do
          c = stub.accept
          head = +''
          head << c.gets until head.end_with?("\r\n\r\n")
          c.write "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
          c.close
          heads << head
        end
      rescue IOError
        nil
      end
      a = origin(edge)
      rename(@provider, 'Purged By A Quiet Target')
      expect(Timeout.timeout(10) { heads.pop }).to match(/^xkey-purge: .*booka-list-all/)
      Booka.wait_for(timeout: 10) { a.metric('booka_edge_purge_requests_total', target: 'varnish', outcome: 'ok') == 1 }
      a.stop # fails on a sanitizer report (an empty body once reached memcpy as a null pointer)
    ensure
      stub&.close
    end
  end

  describe 'with Cloudflare in front (a local stand-in for its API)' do
    before(:each) { @api = Booka::CloudflareApi.new }
    after(:each) { @api.stop }

    def zone
      '023e105f4ecef8ad9ca31a8372d0c353' # the shape of a zone id: 32 hex digits
    end

    def token
      'Sp3c-T0ken_for.the-edge'
    end

    def cf_env
      { 'CLOUDFLARE_ZONE_ID' => zone, 'CLOUDFLARE_API_TOKEN' => token }
    end

    def cf_edge(extra = '')
      "{cloudflare: {api: \"#{@api.api}\", ca-file: \"#{@api.ca_file}\"#{extra}}}"
    end

    # every request must be what Cloudflare documents: POST /client/v4/zones/{zone_id}/purge_cache, a bearer token,
    # JSON {"tags": [...]} of at most 100 tags
    def expect_documented(request)
      expect(request.method).to eq 'POST'
      expect(request.path).to eq "/client/v4/zones/#{zone}/purge_cache"
      expect(request.headers['authorization']).to eq "Bearer #{token}"
      expect(request.headers['content-type']).to eq 'application/json'
      body = JSON.parse(request.body)
      expect(body.keys).to eq ['tags']
      expect(body['tags'].size).to be_between(1, 100)
      expect(body['tags']).to all(match(/\Abooka-[a-z0-9_.%-]+\z/))
      body['tags']
    end

    it 'purges by tag through the documented API call, exactly once per change with two instances on one Redis' do
      a = origin(cf_edge, env: cf_env)
      b = origin(cf_edge, env: cf_env)
      expect(get(a.url("#{list_path}?limit=1"))['cache-tag']).to eq 'booka-list,booka-list-all'
      rename(@provider, 'Purged At Cloudflare')
      Booka.wait_for(timeout: 10) { @api.requests.size >= 1 }
      sleep 1.5 # a duplicate, if any instance sent one, would have come by now
      expect(@api.requests.size).to eq 1
      tags = expect_documented(@api.requests.first)
      expect(tags).to include('booka-list-all', "booka-list-cat-#{@in}")
      expect(tags).not_to include("booka-list-cat-#{@out}")
      expect([a, b].sum { |s| s.metric('booka_edge_purge_requests_total', target: 'cloudflare', outcome: 'ok') }).to eq 1

      psql("UPDATE service_provider_profiles SET profile_picture_url = '/static/profile_pics/new.jpg' WHERE user_id = 990002")
      Booka.wait_for(timeout: 10) { @api.requests.size >= 2 }
      sleep 1.5
      expect(@api.requests.size).to eq 2
      expect(expect_documented(@api.requests.last)).to include('booka-avatar-990002', 'booka-list-all')
    end

    it 'batches changes and keeps within the rate and the tags per request it is given' do
      a = origin(cf_edge(', requests-per-minute: 60, burst: 1, max-tags: 2'), env: cf_env)
      ids = psql('SELECT user_id FROM service_provider_profiles WHERE user_id <> 990002 ORDER BY user_id LIMIT 4').split
      expected = psql("SELECT DISTINCT 'booka-list-cat-' || booka.edge_tag_text(c.slug) FROM booka.provider_categories m " \
                      "JOIN service_categories c ON c.id = m.category_id WHERE m.user_id IN (#{ids.join(',')})").split
      ids.each { |id| rename(id, "Batched #{id}") }
      Booka.wait_for(timeout: 60) do
        purged = @api.requests.flat_map { |r| JSON.parse(r.body)['tags'] }
        (expected + ['booka-list-all']).all? { |t| purged.include?(t) }
      end
      requests = @api.requests
      requests.each { |r| expect(expect_documented(r).size).to be <= 2 }
      expect(requests.size).to be < ids.size * ((expected.size + 2) / 2.0).ceil # changes shared requests
      requests.each_cons(2) { |x, y| expect(y.at - x.at).to be > 0.8 } # one a second (a bucket of one)
      expect(a.metric('booka_edge_purged_tags_total', target: 'cloudflare')).to be >= expected.size + 1
    end

    it 'retries 429 and 5xx with backoff (Retry-After honoured), drops what Cloudflare refuses, and never holds a request' do
      @api.script(:hang, [429, { 'Retry-After' => '1' }, '{"success":false,"errors":[{"code":10000,"message":"rate limited"}]}'],
                  [503, {}, '{"success":false}'])
      a = origin(cf_edge(', timeout: 5000'), env: cf_env)
      rename(@provider, 'Retried')
      Booka.wait_for(timeout: 10) { @api.requests.size >= 1 }
      # while the purge hangs (up to its 5 s timeout), requests are served as ever
      10.times do
        started = Time.now
        expect(get(a.url("#{list_path}?limit=5")).status).to eq 200
        expect(Time.now - started).to be < 2.5
      end
      expect(@api.requests.size).to eq 1
      Booka.wait_for(timeout: 30) { @api.requests.size >= 4 }
      first, second, third, fourth = @api.requests
      expect(second.at - first.at).to be >= 4.9 # the timeout
      expect(third.at - second.at).to be >= 1.0 # Retry-After: 1
      expect([second, third, fourth].map(&:body).uniq).to eq [first.body] # the same tags each time
      Booka.wait_for(timeout: 10) { a.metric('booka_edge_purge_requests_total', target: 'cloudflare', outcome: 'ok') == 1 }
      expect(a.metric('booka_edge_purge_requests_total', target: 'cloudflare', outcome: 'retried')).to eq 3
      expect(a.log).to include('no answer within the timeout', 'status 429', 'status 503')

      @api.script([403, {}, '{"success":false,"errors":[{"code":10000,"message":"Authentication error"}]}'])
      rename(@provider, 'Refused')
      Booka.wait_for(timeout: 10) { a.metric('booka_edge_purge_requests_total', target: 'cloudflare', outcome: 'failed') == 1 }
      expect(a.log).to match(/cloudflare 127\.0\.0\.1:\d+: purge of \d+ tags failed \(status 403: .*Authentication error.*\) after 1 tries; dropped/)
    end

    it 'purges without a claim while Redis does not answer: twice rather than never' do
      redis = Booka::PrivateRedis.new.start
      a = origin(cf_edge, env: cf_env, redis: redis.url)
      b = origin(cf_edge, env: cf_env, redis: redis.url)
      # a Redis without a record of what was purged: the families go at start-up, from one of the two instances
      Booka.wait_for(timeout: 10) { @api.requests.size >= 1 }
      sleep 0.5
      expect(@api.requests.map { |r| expect_documented(r).sort }).to eq [%w[booka-avatar booka-list]]
      expect([a, b].sum { |s| s.metric('booka_edge_changes_total', decision: 'unchanged') }).to eq 1
      redis.kill
      rename(@provider, 'Redis Is Gone')
      Booka.wait_for(timeout: 10) { @api.requests.size >= 3 }
      expect(@api.requests.drop(1).map { |r| expect_documented(r) }.uniq.size).to eq 1 # both purged the same tags
      [a, b].each do |s|
        expect(s.metric('booka_edge_changes_total', decision: 'uncoordinated')).to eq 1
        expect(s.log).to include 'Redis does not answer: purging changes without claiming them'
      end
    ensure
      redis&.destroy
    end

    it 'needs the zone and token from the environment, and a trusted certificate' do
      s = Booka::Server.new(<<~YAML)
        listen: #{Booka.free_port}
        booka.edge: #{cf_edge}
      YAML
      status, out = s.check_config
      expect(status).not_to eq 0
      expect(out).to match(/h2o\.conf:\d+:\d+.*Cloudflare purging needs the environment variable CLOUDFLARE_ZONE_ID \(not set\)/)

      a = origin("{cloudflare: {api: \"#{@api.api}\"}}", env: cf_env) # the system's CAs do not know the spec's certificate
      rename(@provider, 'Untrusted')
      Booka.wait_for(timeout: 10) { a.metric('booka_edge_purge_requests_total', target: 'cloudflare', outcome: 'retried') >= 1 }
      expect(@api.requests).to eq []
    end
  end
end
