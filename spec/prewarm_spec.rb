# prewarm_spec.rb: booka.list's `prewarm` fills the cache after start-up, and scripts/prewarm.sh reports each URL.
require_relative 'spec_helper'

describe 'prewarming the list cache' do
  before(:all) do
    @db = Booka::Database.recreate('booka_spec_prewarm')
    out, status = Open3.capture2e(File.join(Booka::ROOT, 'schema', 'seed.sh'), '120', @db)
    raise out unless status.success?
  end

  def server(list)
    db = @db
    Booka::Server.new do |s|
      <<~YAML
        listen: #{s.port}
        booka.postgres: "#{db}"
        booka.redis: OFF
        hosts:
          default:
            paths:
              /api/v1/service-provider-profiles/:
                booka.list: #{list}
      YAML
    end
  end

  it 'fills the configured queries after start-up, so their first request is a HIT' do
    s = server('{prewarm: ["category=dj&sort=most_booked&limit=12", "sort=newest&limit=20"]}').start
    sleep 1.0
    %w[category=dj&sort=most_booked&limit=12 limit=20].each do |q|
      r = get(s.url("/api/v1/service-provider-profiles/?#{q}"))
      expect(r.status).to eq 200
      expect(r['x-cache']).to eq 'HIT'
    end
    expect(get(s.url('/api/v1/service-provider-profiles/?limit=21'))['x-cache']).to eq 'MISS'
    expect(s.log).to include 'prewarmed category=dj&sort=most_booked&limit=12: 200 MISS'
  end

  it 'rejects a prewarm entry that is not a valid query at config time' do
    status, out = server('{prewarm: ["sort=sideways"]}').check_config
    expect(status).not_to eq 0
    expect(out).to match(/h2o\.conf:\d+:\d+: in command booka\.list, not a valid list query string/)
  end

  it 'prints status, X-Cache and time per URL with the prewarm command' do
    # entries that outlive both passes: on a loaded machine the first pass took longer than the default TTL, and its
    # first entries came back STALE in the second
    s = server('{cache-ttl: 600}').start
    out, status = Open3.capture2e({ 'DATABASE_URL' => @db }, File.join(Booka::ROOT, 'scripts', 'prewarm.sh'), s.url(''))
    expect(status.success?).to be(true), out
    rows = out.lines.drop(1).map(&:split)
    categories = Booka::Database.psql('SELECT count(*) FROM service_categories', url: @db).to_i
    expect(rows.size).to eq((categories + 1) * 3 * 2)
    expect(rows.map(&:first).uniq).to eq ['200']
    expect(rows.map { |r| r[1] }.uniq - %w[MISS HIT]).to eq []
    expect(rows.map { |r| r[2] }).to all(match(/\A\d+\.\d+\z/))
    again, = Open3.capture2e({ 'DATABASE_URL' => @db }, File.join(Booka::ROOT, 'scripts', 'prewarm.sh'), s.url(''))
    expect(again.lines.drop(1).map { |l| l.split[1] }.uniq).to eq ['HIT']
  end
end
