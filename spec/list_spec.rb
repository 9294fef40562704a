# list_spec.rb: GET /api/v1/service-provider-profiles/ (API.md, list section): every parameter, sort, filter, field,
# error and header, against fixtures with deliberate ties whose expected answers are computed here, not copied from
# the server.
require_relative 'spec_helper'
require 'bigdecimal'
require 'digest'
require 'uri'

# The fixtures: a small provider data set with deliberate ties, loaded through SQL (the schema's triggers derive the
# denormalised columns), and the expected answers of the list endpoint computed here in Ruby from the same definitions.
module Booka
  module ListFixtures
    module_function

    CATEGORIES = { 1 => 'DJ', 2 => 'Sound Service', 3 => 'Musician', 4 => 'Photographer', 5 => 'Event Decor' }.freeze
    LOCATIONS = ['Cape Town, Western Cape', '100% Cape_Town Studio', 'Durban, KwaZulu-Natal', 'cape town', 'Johannesburg',
                 nil, 'Pretoria_North', '50%_off\\Studio'].freeze
    RATINGS = [[], [5, 4], [4, 5], [5, 4, 4, 5], [3], [5], [4, 4, 5], [5, 5, 3]].freeze
    WHEN = '2025-06-01'.freeze
    CLIENT_ID = 1
    BUCKETS = [[0, 500], [500, 1000], [1000, 2000], [2000, 5000], [5000, 10_000], [10_000, nil]].freeze

    # providers: the definitions every expectation is computed from.
    def providers
      @providers ||= (1..24).map { |i| provider(i) }
    end

    def provider(i)
      id = 100 + i
      services = []
      unless i == 24 # provider 124 has no approved service at all
        services << [(i % 4) + 1, 300 + (i % 6) * 700, 'approved']
        services << [((i + 1) % 4) + 1, 12_000, 'approved'] if (i % 3).zero?
        services << [(i % 4) + 1, 9_000, 'approved'] if i == 7 # a second service in the same category
      end
      services << [1, 100, 'pending'] if i % 5 == 1 || i == 24
      services << [2, 50, 'rejected'] if (i % 7).zero?
      bookings = []
      (i % 4).times { |k| bookings << ['confirmed', "2025-01-#{format('%02d', k + 1)}"] }
      bookings << ['completed', '2025-02-01'] if i % 6 == 3
      bookings << ['pending', '2025-03-01'] if i.even?
      bookings << ['cancelled', '2025-03-02'] if (i % 3).zero?
      bookings << [%w[pending confirmed cancelled completed][i % 4], WHEN] if i % 6 < 4
      {
        id: id,
        first_name: i == 5 ? 'Zoë' : "First#{i}",
        last_name: i == 6 ? %(O'Neil "Q") : "Last#{i}",
        business_name: i == 9 ? nil : "Provider #{i}",
        custom_subtitle: (i % 5).zero? ? nil : "Sub #{i}",
        location: LOCATIONS[i % LOCATIONS.size],
        hourly_rate: (i % 3).zero? ? nil : BigDecimal(1500 + i),
        price_visible: i.even?,
        picture: [nil, 'data:image/png;base64,iVBORw0KGgo=', "/static/profile_pics/p#{i}.jpg",
                  "https://cdn.example.com/a/#{i}.png"][i % 4],
        # groups of three share a created_at (ties broken by id), and some carry microseconds
        created_at: Time.utc(2024, 1, 1) + (i / 3) * 86_400 + (i % 2 == 1 ? Rational(123_456, 1_000_000) : 0),
        services: services,
        bookings: bookings,
        ratings: RATINGS[i % RATINGS.size]
      }
    end

    def q(value)
      return 'NULL' if value.nil?
      "'#{value.to_s.gsub("'", "''")}'"
    end

    def timestamp_sql(t)
      q(t.strftime('%Y-%m-%d %H:%M:%S.%6N+00'))
    end

    def load_sql
      sql = +"BEGIN;\n"
      sql << CATEGORIES.map { |id, name| "INSERT INTO service_categories (id, name) VALUES (#{id}, #{q(name)});\n" }.join
      sql << "INSERT INTO users (id, email, first_name, last_name, user_type) VALUES (#{CLIENT_ID}, 'client@example.com', 'C', 'L', 'client');\n"
      providers.each do |p|
        sql << "INSERT INTO users (id, email, first_name, last_name, user_type) VALUES (#{p[:id]}, 'p#{p[:id]}@example.com', " \
               "#{q(p[:first_name])}, #{q(p[:last_name])}, 'service_provider');\n"
        sql << 'INSERT INTO service_provider_profiles (user_id, business_name, custom_subtitle, description, location, hourly_rate, ' \
               'price_visible, profile_picture_url, created_at, updated_at) VALUES ' \
               "(#{p[:id]}, #{q(p[:business_name])}, #{q(p[:custom_subtitle])}, 'never listed', #{q(p[:location])}, " \
               "#{p[:hourly_rate] ? p[:hourly_rate].to_s('F') : 'NULL'}, #{p[:price_visible]}, #{q(p[:picture])}, " \
               "#{timestamp_sql(p[:created_at])}, #{timestamp_sql(p[:created_at])});\n"
      end
      providers.each do |p|
        p[:services].each_with_index do |(cat, price, status), k|
          sql << "INSERT INTO services (artist_id, service_category_id, title, price, status) VALUES (#{p[:id]}, #{cat}, 'S#{k}', #{price}, '#{status}');\n"
        end
        p[:bookings].each do |status, date|
          sql << "INSERT INTO bookings (artist_id, client_id, event_date, status) VALUES (#{p[:id]}, #{CLIENT_ID}, '#{date}', '#{status}');\n"
        end
        p[:ratings].each do |r|
          sql << "INSERT INTO reviews (artist_id, rating) VALUES (#{p[:id]}, #{r});\n"
        end
      end
      sql << "COMMIT;\nANALYZE;\n"
    end

    # ---- what the endpoint should answer ----

    def slug(name)
      name.strip.tr('A-Z', 'a-z').gsub(/[ \t-]+/, '_')
    end

    def category_id(slug_value)
      CATEGORIES.find { |_, name| slug(name) == slug_value }&.first
    end

    def approved(p, cat = nil)
      p[:services].select { |c, _, s| s == 'approved' && (cat.nil? || c == cat) }
    end

    def book_count(p)
      p[:bookings].count { |s, _| %w[confirmed completed].include?(s) }
    end

    def rating(p)
      return nil if p[:ratings].empty?
      (BigDecimal(p[:ratings].sum) / p[:ratings].size).round(2, BigDecimal::ROUND_HALF_UP)
    end

    def min_price(p, cat = nil)
      approved(p, cat).map { |_, price, _| price }.min
    end

    # matching_price: the lowest approved price matching the category and price range, or nil.
    def matching_price(p, cat, min, max)
      approved(p, cat).map { |_, price, _| price }.select { |x| (min.nil? || x >= min) && (max.nil? || x <= max) }.min
    end

    # filtered: the providers of a request (params as strings, already normalised for category).
    def filtered(params)
      cat = params['category'] ? category_id(slug(params['category'])) : nil
      return [] if params['category'] && cat.nil?
      min = params['min_price'] && BigDecimal(params['min_price'])
      max = params['max_price'] && BigDecimal(params['max_price'])
      providers.select do |p|
        next false if cat && approved(p, cat).empty?
        next false if params['location'] && !(p[:location] || '').downcase.include?(params['location'].downcase)
        next false if (min || max) && matching_price(p, cat, min, max).nil?
        next false if params['when'] && p[:bookings].any? { |s, d| d == params['when'] && %w[pending confirmed].include?(s) }
        true
      end
    end

    # ordered_ids: the ids of the filtered set in the request's sort order (ties on id desc).
    def ordered_ids(params)
      cat = params['category'] ? category_id(slug(params['category'])) : nil
      set = filtered(params)
      keyed = set.map do |p|
        price = min_price(p, cat)
        key = case params['sort'] || 'newest'
              when 'newest' then [-p[:created_at].to_r]
              when 'most_booked' then [-book_count(p)]
              when 'top_rated' then [rating(p).nil? ? 1 : 0, -(rating(p) || 0), -p[:ratings].size]
              when 'price_low' then [price.nil? ? 1 : 0, price || 0]
              when 'price_high' then [price.nil? ? 1 : 0, -(price || 0)]
              end
        [key + [-p[:id]], p[:id]]
      end
      keyed.sort_by(&:first).map(&:last)
    end

    def distribution(params)
      cat = params['category'] ? category_id(slug(params['category'])) : nil
      min = params['min_price'] && BigDecimal(params['min_price'])
      max = params['max_price'] && BigDecimal(params['max_price'])
      counts = Array.new(6, 0)
      filtered(params).each do |p|
        price = matching_price(p, cat, min, max)
        next if price.nil?
        counts[BUCKETS.index { |lo, hi| price >= lo && (hi.nil? || price < hi) }] += 1
      end
      BUCKETS.each_with_index.map { |(lo, hi), k| { 'min' => lo, 'max' => hi, 'count' => counts[k] } }
    end

    def by_id(id)
      providers.find { |p| p[:id] == id }
    end

    def rfc3339(time)
      frac = format('%06d', (time.to_r * 1_000_000).to_i % 1_000_000).sub(/0+\z/, '')
      time.utc.strftime('%Y-%m-%dT%H:%M:%S') + (frac.empty? ? '' : ".#{frac}") + 'Z'
    end

    def avatar_url(p, origin = '')
      return nil if p[:picture].nil?
      "#{origin}/api/v1/img/avatar/#{p[:id]}?w=256&dpr=2&q=90&v=#{Digest::MD5.hexdigest(p[:picture])[0, 16]}"
    end

    def categories_of(p)
      approved(p).map { |c, _, _| CATEGORIES[c] }.uniq.sort # String#<=> is byte order
    end
  end
end

describe 'GET /api/v1/service-provider-profiles/' do
  Fx = Booka::ListFixtures # rubocop:disable Lint/ConstantDefinitionInBlock
  # methods, not constants: a constant assigned in a describe block is global
  def list_path
    '/api/v1/service-provider-profiles/'
  end

  def list_origin
    'https://app.example.com'
  end

  def list_cache_control
    'public, max-age=30, s-maxage=120, stale-while-revalidate=600'
  end

  before(:all) do
    @db = Booka::Database.recreate('booka_spec_list')
    Booka::Database.psql(Fx.load_sql, url: @db)
    # updated_at moves whenever a trigger touches the row; read it back to know what to expect
    @updated_at = Booka::Database.psql('SELECT user_id, extract(epoch FROM updated_at) FROM service_provider_profiles', url: @db)
                                 .lines.to_h { |l| id, epoch = l.strip.split('|'); [id.to_i, Time.at(Rational(epoch)).utc] }
    db = @db
    @server = Booka::Server.new do |s|
      <<~YAML
        #{s.listeners.chomp}
        num-threads: 2
        booka.postgres:
          url: #{db}
          pool-size: 2
        booka.cors-origins: [#{list_origin}]
        hosts:
          default:
            paths:
              /api/v1/service-provider-profiles:
                booka.list:
                  max-age: 30
                  s-maxage: 120
                  stale-while-revalidate: 600
              /readyz:
                booka.readiness: ON
              /api:
                booka.not-found: ON
      YAML
    end
    @server.start(scope: :all)
  end

  # list: a request with `query` (a Hash, encoded as a form, or a raw String).
  # (Ruby 3 takes a braceless { 'limit' => 1 } as keywords: string keys are the query, symbols the options.)
  def list(query = {}, **opts)
    query = query.merge(opts.reject { |k, _| k.is_a?(Symbol) }) if query.is_a?(Hash)
    proto = opts.fetch(:proto, :h1)
    method = opts.fetch(:method, 'GET')
    headers = opts.fetch(:headers, {})
    path = opts.fetch(:path, list_path)
    qs = query.is_a?(String) ? query : URI.encode_www_form(query)
    get(@server.url("#{path}#{qs.empty? ? '' : '?'}#{qs}", tls: proto == :h2), proto: proto, method: method, headers: headers)
  end

  def ok(query = {}, **opts)
    r = list(query, **opts)
    expect(r.status).to eq(200), "#{r.status} #{r.body}"
    r.json
  end

  # all_ids: every page of `params` at `limit`, concatenated, checking the pages' shape on the way.
  def all_ids(params, limit: 5)
    expected_total = Fx.filtered(params).size
    pages = (expected_total.to_f / limit).ceil
    ids = []
    (1..pages + 1).each do |page|
      body = ok(params.merge('limit' => limit, 'page' => page, 'fields' => 'id'))
      expect(body['total']).to eq expected_total
      expect(body['page']).to eq page
      expect(body['limit']).to eq limit
      expect(body['data'].size).to eq(page <= pages ? [limit, expected_total - (page - 1) * limit].min : 0)
      ids.concat(body['data'].map { |item| item['id'] })
    end
    ids
  end

  def detail_errors(r)
    expect(r.status).to eq 422
    expect(r['content-type']).to eq 'application/json'
    detail = r.json['detail']
    expect(detail).to be_an(Array)
    detail.each do |e|
      expect(e.keys).to include('type', 'loc', 'msg', 'input')
      expect(e['loc'][0]).to eq 'query'
    end
    detail
  end

  describe 'sorting and paging' do
    %w[newest most_booked top_rated price_low price_high].each do |sort|
      [nil, 'dj', 'Sound Service'].each do |category|
        it "orders #{sort}#{category ? " in #{category}" : ''} with ties on id desc, pages 1..n without overlap or gap" do
          params = { 'sort' => sort }
          params['category'] = category if category
          expected = Fx.ordered_ids(params)
          expect(expected.size).to be > 5
          ids = all_ids(params)
          expect(ids).to eq expected
          expect(ids.uniq.size).to eq ids.size
        end
      end
    end

    it 'has real ties in the fixtures, broken by id desc' do
      created = Fx.providers.group_by { |p| p[:created_at] }.values.select { |g| g.size > 1 }
      expect(created).not_to be_empty
      booked = Fx.providers.group_by { |p| Fx.book_count(p) }.values.select { |g| g.size > 1 }
      expect(booked).not_to be_empty
      rated = Fx.providers.group_by { |p| [Fx.rating(p), p[:ratings].size] }.values.select { |g| g.size > 1 && Fx.rating(g[0]) }
      expect(rated).not_to be_empty
      ids = ok('sort' => 'most_booked', 'limit' => 100, 'fields' => 'id,book_count')['data']
      ids.each_cons(2) do |a, b|
        expect(a['book_count'] > b['book_count'] || (a['book_count'] == b['book_count'] && a['id'] > b['id'])).to be true
      end
    end

    it 'defaults to newest, page 1, limit 20' do
      body = ok
      expect(body['page']).to eq 1
      expect(body['limit']).to eq 20
      expect(body['total']).to eq Fx.providers.size
      expect(body['data'].map { |i| i['id'] }).to eq Fx.ordered_ids({})[0, 20]
    end

    it 'sorts providers without an approved price last in both price directions' do
      %w[price_low price_high].each do |sort|
        ids = ok('sort' => sort, 'limit' => 100, 'fields' => 'id')['data'].map { |i| i['id'] }
        expect(ids.last).to eq 124
      end
    end

    it 'answers a page past the end with data [] and the true total' do
      body = ok('page' => 50, 'limit' => 10)
      expect(body['data']).to eq []
      expect(body['total']).to eq Fx.providers.size
      body = ok('page' => 1_000_000_000, 'limit' => 100, 'category' => 'dj')
      expect(body['data']).to eq []
      expect(body['total']).to eq Fx.filtered('category' => 'dj').size
    end
  end

  describe 'category' do
    it 'normalises spelling: Dj, DJ, " dj ", Sound Service, sound-service, sound_service' do
      expect(ok('category' => 'Dj')).to eq ok('category' => 'dj')
      expect(ok('category' => ' DJ ')).to eq ok('category' => 'dj')
      sound = ok('category' => 'sound_service')
      expect(sound['total']).to eq Fx.filtered('category' => 'Sound Service').size
      expect(sound['total']).to be > 0
      expect(ok('category' => 'Sound Service')).to eq sound
      expect(ok('category' => 'sound-service')).to eq sound
      expect(ok('category' => "Sound \t- Service")).to eq sound
    end

    it 'counts only approved services (pending and rejected do not make a member)' do
      # provider 124 has only a pending DJ service
      ids = ok('category' => 'dj', 'limit' => 100, 'fields' => 'id')['data'].map { |i| i['id'] }
      expect(ids).not_to include(124)
      expect(ids.sort).to eq Fx.filtered('category' => 'dj').map { |p| p[:id] }.sort
    end

    it 'answers an unknown category with 200, data [] and total 0' do
      r = list('category' => 'no such thing', 'include_price_distribution' => 'true')
      expect(r.status).to eq 200
      expect(r.json['data']).to eq []
      expect(r.json['total']).to eq 0
      expect(r.json['price_distribution'].map { |b| b['count'] }).to eq [0] * 6
    end
  end

  describe 'filters' do
    it 'matches location as a case-insensitive substring' do
      %w[cape CAPE town Durban].each do |loc|
        body = ok('location' => loc, 'limit' => 100, 'fields' => 'id,location')
        expect(body['data'].map { |i| i['id'] }).to eq Fx.ordered_ids('location' => loc)
        expect(body['total']).to eq Fx.filtered('location' => loc).size
        body['data'].each { |i| expect(i['location'].downcase).to include(loc.downcase) }
      end
    end

    it 'treats %, _ and \\ in location as literal characters' do
      ['%', '_', 'e_T', '0% C', '\\', '%_', '_o'].each do |loc|
        # what LIKE wildcards would have matched instead
        pattern = Regexp.new(Regexp.escape(loc.downcase).gsub('%', '.*').gsub('_', '.'))
        as_wildcards = Fx.providers.count { |p| p[:location] && p[:location].downcase =~ pattern }
        expected = Fx.filtered('location' => loc).size
        expect(expected).to be > 0
        expect(expected).to be < as_wildcards unless ['0% C', '\\'].include?(loc)
        body = ok('location' => loc, 'limit' => 100, 'fields' => 'id,location')
        expect(body['total']).to eq(expected), "location=#{loc}"
        expect(body['data'].map { |i| i['id'] }).to eq Fx.ordered_ids('location' => loc)
      end
    end

    it 'filters on min_price and max_price (inclusive), alone and together' do
      [{ 'min_price' => '1700' }, { 'max_price' => '1000' }, { 'min_price' => '1000', 'max_price' => '2400' },
       { 'min_price' => '1000.00', 'max_price' => '1000' }, { 'min_price' => '0.5', 'max_price' => '299.99' },
       { 'min_price' => '12000' }].each do |params|
        body = ok(params.merge('limit' => 100, 'fields' => 'id', 'sort' => 'price_low'))
        expect(body['data'].map { |i| i['id'] }).to eq(Fx.ordered_ids(params.merge('sort' => 'price_low'))), params.inspect
        expect(body['total']).to eq Fx.filtered(params).size
      end
    end

    it 'with a category, needs one approved service in both the category and the price range' do
      # every provider with i % 3 == 0 has a 12000 service in category ((i+1) % 4) + 1, and one cheap one in (i % 4) + 1
      params = { 'category' => 'Musician', 'min_price' => '10000' }
      expected = Fx.filtered(params)
      expect(expected.map { |p| p[:id] }).to all(satisfy { |id| ((id - 100) % 3).zero? })
      expect(Fx.filtered('min_price' => '10000').size).to be > expected.size
      body = ok(params.merge('limit' => 100, 'fields' => 'id'))
      expect(body['data'].map { |i| i['id'] }).to eq Fx.ordered_ids(params)
      # and the price sort uses the lowest price within the category
      %w[price_low price_high].each do |sort|
        body = ok('category' => 'musician', 'sort' => sort, 'limit' => 100, 'fields' => 'id')
        expect(body['data'].map { |i| i['id'] }).to eq Fx.ordered_ids('category' => 'musician', 'sort' => sort)
      end
    end

    it 'drops providers with a pending or confirmed booking on `when` (cancelled and completed do not count)' do
      body = ok('when' => Fx::WHEN, 'limit' => 100, 'fields' => 'id')
      ids = body['data'].map { |i| i['id'] }
      expect(ids).to eq Fx.ordered_ids('when' => Fx::WHEN)
      blocked = Fx.providers.select { |p| p[:bookings].any? { |s, d| d == Fx::WHEN && %w[pending confirmed].include?(s) } }
      expect(blocked).not_to be_empty
      expect(ids & blocked.map { |p| p[:id] }).to eq []
      expect(ids).to include(*Fx.providers.select { |p| p[:bookings].include?(['cancelled', Fx::WHEN]) }.map { |p| p[:id] })
      expect(ok('when' => '2030-01-01')['total']).to eq Fx.providers.size
    end

    it 'combines every filter' do
      params = { 'category' => 'dj', 'location' => 'a', 'min_price' => '300', 'max_price' => '5000', 'when' => Fx::WHEN,
                 'sort' => 'top_rated' }
      body = ok(params.merge('limit' => 100, 'fields' => 'id', 'include_price_distribution' => 'yes'))
      expect(body['data'].map { |i| i['id'] }).to eq Fx.ordered_ids(params)
      expect(body['total']).to eq Fx.filtered(params).size
      expect(body['price_distribution']).to eq Fx.distribution(params)
    end
  end

  describe 'include_price_distribution' do
    [{}, { 'category' => 'dj' }, { 'min_price' => '1000' }, { 'category' => 'Musician', 'max_price' => '12000', 'min_price' => '1000' },
     { 'location' => 'cape' }, { 'when' => Fx::WHEN }].each do |params|
      it "counts the whole filtered set by lowest matching price in six fixed buckets (#{params.inspect})" do
        body = ok(params.merge('include_price_distribution' => 'true', 'limit' => 1))
        expect(body['price_distribution']).to eq Fx.distribution(params)
        expect(body['price_distribution'].map { |b| [b['min'], b['max']] }).to eq Fx::BUCKETS
        expect(body['price_distribution'].sum { |b| b['count'] }).to eq(Fx.providers.count { |p| Fx.min_price(p) }) if params.empty?
      end
    end

    it 'is absent unless asked for, and booleans accept true/false/1/0/yes/no/on/off in any case' do
      expect(ok.key?('price_distribution')).to be false
      %w[true TRUE 1 yes Yes on ON].each { |v| expect(ok('include_price_distribution' => v, 'limit' => 1).key?('price_distribution')).to be true }
      %w[false False 0 no NO off Off].each { |v| expect(ok('include_price_distribution' => v, 'limit' => 1).key?('price_distribution')).to be false }
    end
  end

  describe 'fields' do
    LIST_LEAN = %w[id user_id business_name profile_picture_url created_at updated_at].freeze
    LIST_ALL = %w[id user_id business_name custom_subtitle profile_picture_url hourly_rate price_visible rating rating_count book_count
             location service_categories created_at updated_at user].freeze

    it 'on the lean path returns only the requested keys, in the fixed order' do
      [%w[id], %w[business_name id], %w[updated_at profile_picture_url user_id], LIST_LEAN.reverse].each do |fields|
        body = ok('fields' => fields.join(','), 'limit' => 3)
        body['data'].each { |item| expect(item.keys).to eq(LIST_LEAN.select { |f| fields.include?(f) }) }
      end
    end

    it 'on the full path returns only the requested keys, user.* as a nested object' do
      body = ok('fields' => 'user.last_name,rating,id,service_categories', 'limit' => 3)
      body['data'].each do |item|
        expect(item.keys).to eq %w[id rating service_categories user]
        expect(item['user'].keys).to eq %w[last_name]
      end
      body = ok('fields' => 'user.first_name,user.last_name', 'limit' => 3)
      body['data'].each { |item| expect(item.keys).to eq %w[user] }
    end

    it 'without fields returns every field, keys in the same order whatever `fields` order' do
      body = ok('limit' => 100)
      body['data'].each { |item| expect(item.keys).to eq LIST_ALL }
      shuffled = %w[id user_id business_name custom_subtitle profile_picture_url hourly_rate price_visible rating rating_count
                    book_count location service_categories created_at updated_at user.first_name user.last_name].reverse.join(',')
      expect(list('fields' => shuffled, 'limit' => 100).body).to eq list('limit' => 100).body
      expect(list('fields' => 'id,business_name,id, business_name').body).to eq list('fields' => 'business_name,id').body
    end

    it 'formats every value as API.md says' do
      body = ok('limit' => 100, 'sort' => 'most_booked')
      body['data'].each do |item|
        p = Fx.by_id(item['id'])
        expect(item['user_id']).to eq p[:id]
        expect(item['business_name']).to eq p[:business_name]
        expect(item['custom_subtitle']).to eq p[:custom_subtitle]
        expect(item['location']).to eq p[:location]
        expect(item['hourly_rate']).to eq(p[:hourly_rate] && format('%.2f', p[:hourly_rate]))
        expect(item['price_visible']).to eq p[:price_visible]
        expect(item['rating']).to eq(Fx.rating(p)&.to_f)
        expect(item['rating_count']).to eq p[:ratings].size
        expect(item['book_count']).to eq Fx.book_count(p)
        expect(item['service_categories']).to eq Fx.categories_of(p)
        expect(item['created_at']).to eq Fx.rfc3339(p[:created_at])
        expect(item['updated_at']).to eq Fx.rfc3339(@updated_at.fetch(p[:id]))
        expect(item['user']).to eq('first_name' => p[:first_name], 'last_name' => p[:last_name])
        expect(item['profile_picture_url']).to eq Fx.avatar_url(p)
      end
      raw = list('limit' => 100).body
      expect(raw).not_to include('data:image')
      expect(raw).not_to include('never listed') # description
      expect(raw.scan(/"rating":([0-9.]+)/).flatten).to all(match(/\A\d+(\.\d{1,2})?\z/))
      expect(raw.scan(/"(?:created|updated)_at":"([^"]+)"/).flatten).to all(match(/\A\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z\z/))
    end

    it 'gives every picture a proxy URL whose token is derived from the stored URL, and null without one' do
      body = ok('fields' => 'id,profile_picture_url', 'limit' => 100)
      with = body['data'].reject { |i| i['profile_picture_url'].nil? }
      expect(with.size).to eq Fx.providers.count { |p| p[:picture] }
      body['data'].each { |i| expect(i['profile_picture_url']).to eq Fx.avatar_url(Fx.by_id(i['id'])) }
    end

    it 'changes the version token when the picture changes' do
      before = ok('fields' => 'id,profile_picture_url', 'limit' => 100)['data'].find { |i| i['id'] == 102 }
      Booka::Database.psql("UPDATE service_provider_profiles SET profile_picture_url = '/static/profile_pics/new.jpg' WHERE user_id = 102", url: @db)
      after = nil
      # the write reaches the cache by NOTIFY: visible within a second (API.md), not necessarily at once
      20.times do
        after = ok('fields' => 'id,profile_picture_url', 'limit' => 100)['data'].find { |i| i['id'] == 102 }
        break if after['profile_picture_url'] != before['profile_picture_url']
        sleep 0.05
      end
      expect(after['profile_picture_url']).not_to eq before['profile_picture_url']
      expect(after['profile_picture_url']).to end_with "v=#{Digest::MD5.hexdigest('/static/profile_pics/new.jpg')[0, 16]}"
    ensure
      Booka::Database.psql("UPDATE service_provider_profiles SET profile_picture_url = '#{Fx.by_id(102)[:picture]}' WHERE user_id = 102", url: @db)
    end
  end

  describe 'parameters' do
    it 'treats empty parameters as absent, lets the last occurrence win, and ignores unknown ones' do
      base = list('sort=most_booked&limit=7').body
      expect(list('sort=most_booked&limit=7&category=&page=&fields=&location=&min_price=&max_price=&when=&include_price_distribution=').body).to eq base
      expect(list('sort=newest&limit=abc&sort=most_booked&limit=7').body).to eq base
      expect(list('utm_source=news&_=1700000000&sort=most_booked&fbclid=x%ff&limit=7&Sort=newest').body).to eq base
      expect(list('sort=most_booked&limit=7&sort=').body).to eq list('limit=7').body
    end

    it 'percent-decodes names and values, with + as a space' do
      expect(list('%73ort=most%5Fbooked&limit=7').body).to eq list('sort=most_booked&limit=7').body
      expect(list('category=Sound+Service').body).to eq list('category=sound_service').body
      expect(list('location=cape+town&fields=id').body).to eq list('location=Cape%20Town&fields=id').body
    end
  end

  describe 'validation errors (422, FastAPI shape)' do
    {
      'sort=MOST_BOOKED' => ['sort', 'enum'],
      'sort=rating' => ['sort', 'enum'],
      'page=0' => ['page', 'greater_than_equal'],
      'page=1000000001' => ['page', 'less_than_equal'],
      'page=x' => ['page', 'int_parsing'],
      'limit=0' => ['limit', 'greater_than_equal'],
      'limit=101' => ['limit', 'less_than_equal'],
      'limit=1.5' => ['limit', 'int_parsing'],
      'fields=id,nope' => ['fields', 'value_error'],
      'min_price=-1' => ['min_price', 'greater_than_equal'],
      'min_price=abc' => ['min_price', 'decimal_parsing'],
      'max_price=1e3' => ['max_price', 'decimal_parsing'],
      'min_price=10&max_price=9.99' => ['min_price', 'value_error'],
      'when=2025-02-29' => ['when', 'date_parsing'],
      'when=2025-6-1' => ['when', 'date_parsing'],
      'when=2025-06-01T00:00' => ['when', 'date_parsing'],
      'include_price_distribution=maybe' => ['include_price_distribution', 'bool_parsing'],
      'category=%ff' => ['category', 'string_unicode'],
      'location=a%00b' => ['location', 'value_error']
    }.each do |query, (param, type)|
      it "rejects #{query} with #{type} at [query, #{param}]" do
        detail = detail_errors(list(query))
        expect(detail.size).to eq 1
        expect(detail[0]['loc']).to eq ['query', param]
        expect(detail[0]['type']).to eq type
        expect(detail[0]['msg']).to be_a(String)
      end
    end

    it 'uses FastAPI-like messages' do
      e = detail_errors(list('limit=101'))[0]
      expect(e).to include('msg' => 'Input should be less than or equal to 100', 'input' => '101', 'ctx' => { 'le' => 100 })
      e = detail_errors(list('limit=x'))[0]
      expect(e['msg']).to eq 'Input should be a valid integer, unable to parse string as an integer'
      e = detail_errors(list('sort=MOST_BOOKED'))[0]
      expect(e['msg']).to eq "Input should be 'most_booked', 'top_rated', 'newest', 'price_low' or 'price_high'"
    end

    it 'lists the allowed names for an unknown field' do
      e = detail_errors(list('fields=id,bogus'))[0]
      expect(e['msg']).to include("'bogus'")
      expect(e['ctx']['allowed']).to eq %w[id user_id business_name custom_subtitle profile_picture_url hourly_rate price_visible
                                          rating rating_count book_count location service_categories created_at updated_at
                                          user.first_name user.last_name]
    end

    it 'reports several bad parameters at once' do
      detail = detail_errors(list('sort=x&page=0&limit=abc&when=tomorrow&include_price_distribution=2'))
      expect(detail.map { |e| e['loc'][1] }).to eq %w[sort page limit when include_price_distribution]
    end

    it 'limits lengths: 200 characters for category and location, 100 fields, 8 KiB of query string (414)' do
      expect(list('location' => 'é' * 200).status).to eq 200
      expect(detail_errors(list('location' => 'é' * 201))[0]['type']).to eq 'string_too_long'
      expect(detail_errors(list('category' => 'x' * 201))[0]['type']).to eq 'string_too_long'
      expect(detail_errors(list('fields' => (['id'] * 101).join(',')))[0]['type']).to eq 'too_long'
      expect(list('fields' => (['id'] * 100).join(',')).status).to eq 200
      r = list('x=' + 'a' * 8200)
      expect(r.status).to eq 414
      expect(r.json['detail']).to be_a(String)
    end
  end

  describe 'HTTP' do
    it 'answers JSON with Cache-Control from the config, Vary: Origin and an X-Request-Id' do
      r = list('limit' => 1, headers: { 'X-Request-Id' => 'spec-123' })
      expect(r.status).to eq 200
      expect(r['content-type']).to eq 'application/json'
      expect(r['cache-control']).to eq list_cache_control
      expect(r['vary']).to eq 'Origin'
      expect(r['x-request-id']).to eq 'spec-123'
    end

    it 'serves the same bytes over HTTP/1.1, h2c and h2 (TLS)' do
      bodies = %i[h1 h2c h2].map do |proto|
        r = list({ 'category' => 'dj', 'limit' => 4, 'sort' => 'top_rated' }, proto: proto)
        expect(r.status).to eq 200
        expect(r.http_version).to eq(proto == :h1 ? '1.1' : '2')
        expect(r['cache-control']).to eq list_cache_control
        r.body
      end
      expect(bodies.uniq.size).to eq 1
    end

    it 'answers HEAD like GET without a body' do
      %i[h1 h2c].each do |proto|
        g = list({ 'limit' => 3 }, proto: proto)
        h = list({ 'limit' => 3 }, proto: proto, method: 'HEAD')
        expect(h.status).to eq 200
        expect(h.body).to eq ''
        expect(h['content-length']).to eq g.body.bytesize.to_s
        expect(h['content-type']).to eq g['content-type']
        expect(h['cache-control']).to eq g['cache-control']
      end
      expect(list('limit=0', method: 'HEAD').status).to eq 422
    end

    it 'grants CORS to an allowed origin on 200, 404 and 422, and none to others' do
      [[list_path, 'limit=1', 200], ["#{list_path}123", '', 404], [list_path, 'limit=0', 422]].each do |path, qs, status|
        r = list(qs, path: path, headers: { 'Origin' => list_origin })
        expect(r.status).to eq status
        expect(r['access-control-allow-origin']).to eq list_origin
        expect(r['access-control-allow-credentials']).to eq 'true'
        expect(r['vary']).to include 'Origin'
        expect(r['content-type']).to eq 'application/json'
        r = list(qs, path: path, headers: { 'Origin' => 'https://evil.example.com' })
        expect(r.status).to eq status
        expect(r['access-control-allow-origin']).to be_nil
      end
    end

    it 'answers a preflight with 204' do
      r = list('', method: 'OPTIONS', headers: { 'Origin' => list_origin, 'Access-Control-Request-Method' => 'GET' })
      expect(r.status).to eq 204
      expect(r['access-control-allow-methods']).to include 'GET'
      expect(r['access-control-allow-origin']).to eq list_origin
    end

    it 'answers other methods with 405 JSON' do
      r = list('', method: 'POST')
      expect(r.status).to eq 405
      expect(r['allow']).to eq 'GET, HEAD, OPTIONS'
      expect(r.json['detail']).to eq 'Method Not Allowed'
    end

    it 'serves the path without the trailing slash too' do
      expect(list('limit=2', path: list_path.chomp('/')).body).to eq list('limit=2').body
    end

    it 'reports postgres up on /readyz' do
      r = get(@server.url('/readyz'))
      expect(r.status).to eq 200
      expect(r.json['postgres']).to eq 'up'
    end
  end

  describe 'configuration' do
    def check(yaml, env: {})
      server = Booka::Server.new(yaml, env: env)
      out, status = Open3.capture2e(env, Booka::BIN, '-t', '-c', server.config_path)
      [status.exitstatus, out]
    end

    def list_conf(postgres)
      "listen: 1\n#{postgres}hosts:\n  default:\n    paths:\n      /l:\n        booka.list: ON\n"
    end

    it 'accepts the documented keys and rejects bad values with file:line' do
      ok_conf = list_conf("booka.postgres:\n  url: postgresql://u@127.0.0.1/db\n  pool-size: 3\n  queue-limit: 0\n  query-timeout: 500\n" \
                          "  statement-timeout: 0\n  connect-timeout: 100\n  cancel-grace: 50\n  max-reconnect-delay: 100\n" \
                          "  pgbouncer: ON\nbooka.postgres-replica: {url: 'host=10.0.0.2 dbname=db'}\n")
      expect(check(ok_conf)[0]).to eq 0
      status, out = check(list_conf("booka.postgres:\n  url: postgresql://u@127.0.0.1/db\n  pool-size: 0\n"))
      expect(status).not_to eq 0
      expect(out).to match(/h2o\.conf:\d+:\d+: .*expected a whole number from 1 to 256/)
      status, out = check(list_conf("booka.postgres:\n  url: postgresql://u@127.0.0.1/db\n  pool: 3\n"))
      expect(status).not_to eq 0
      expect(out).to include 'unknown key'
      status, out = check(list_conf("booka.postgres: 'host=x bogus_keyword=1'\n"))
      expect(status).not_to eq 0
      expect(out).to include 'bogus_keyword'
      expect(check(list_conf(''), env: { 'DATABASE_URL' => 'postgresql://u@127.0.0.1/db' })[0]).to eq 0
    end

    it 'refuses to start a list without any connection string (a warning only with -t)' do
      server = Booka::Server.new(list_conf(''))
      out, status = Open3.capture2e({ 'DATABASE_URL' => '' }, Booka::BIN, '-c', server.config_path)
      expect(status.success?).to be false
      expect(out).to include 'DATABASE_URL'
      out, status = Open3.capture2e({ 'DATABASE_URL' => '' }, Booka::BIN, '-t', '-c', server.config_path)
      expect(status.success?).to be true
      expect(out).to include 'warning'
    end
  end

  describe 'with booka.public-origin' do
    it 'prefixes avatar URLs with the public origin' do
      db = @db
      server = Booka::Server.new do |s|
        <<~YAML
          listen: #{s.port}
          num-threads: 1
          booka.public-origin: https://api.example.com
          booka.postgres: #{db}
          hosts:
            default:
              paths:
                /api/v1/service-provider-profiles/:
                  booka.list: ON
        YAML
      end
      server.start
      body = JSON.parse(get(server.url("#{list_path}?fields=id,profile_picture_url&limit=100")).body)
      body['data'].each { |i| expect(i['profile_picture_url']).to eq Fx.avatar_url(Fx.by_id(i['id']), 'https://api.example.com') }
      r = get(server.url("#{list_path}?limit=1"))
      expect(r['cache-control']).to eq 'public, max-age=30, s-maxage=60, stale-while-revalidate=300'
    end
  end
end
