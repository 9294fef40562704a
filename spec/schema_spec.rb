# schema_spec.rb: the migrations apply twice safely, the generator is deterministic, the denormalised list data stays
# exact under random writes, and writes notify the next cache generation.
require_relative 'spec_helper'

describe 'schema/' do
  db = Booka::Database

  def run!(*cmd)
    out, status = Open3.capture2e(*cmd)
    raise "#{cmd.join(' ')} failed:\n#{out}" unless status.success?
    out
  end

  it 'applies every migration twice without error and records each once' do
    url = db.recreate('booka_spec_schema')
    run!(File.join(Booka::ROOT, 'schema', 'migrate.sh'), url)
    names = Dir[File.join(Booka::ROOT, 'schema', 'migrations', '*.sql')].map { |f| File.basename(f) }.sort
    expect(db.psql('SELECT name FROM booka.schema_migrations ORDER BY name', url: url).split("\n")).to eq names
    expect(db.psql("SELECT count(*) FROM pg_indexes WHERE indexname LIKE '%location%trgm%' OR indexdef LIKE '%gin_trgm_ops%'", url: url).to_i).to be >= 1
  end

  it 'generates the same rows for the same N' do
    digests = %w[booka_spec_seed_a booka_spec_seed_b].map do |name|
      url = db.recreate(name)
      run!(File.join(Booka::ROOT, 'schema', 'seed.sh'), '300', url)
      db.psql(<<~SQL, url: url).strip
        SELECT md5(string_agg(t, '|' ORDER BY t)) FROM (
          SELECT format('%s/%s/%s/%s/%s', user_id, business_name, book_count, rating_avg, coalesce(left(profile_picture_url, 60), '-')) AS t
          FROM service_provider_profiles
          UNION ALL SELECT format('b%s/%s/%s', artist_id, event_date, status) FROM bookings) x
      SQL
    end
    expect(digests[0]).to match(/\A\h{32}\z/)
    expect(digests[0]).to eq digests[1]
    url = db.url_for('booka_spec_seed_a')
    forms = db.psql(<<~SQL, url: url).split("\n")
      SELECT DISTINCT CASE WHEN profile_picture_url IS NULL THEN 'none' WHEN profile_picture_url LIKE 'data:%' THEN 'data'
                           WHEN profile_picture_url LIKE '/static/%' THEN 'media' ELSE 'other' END
      FROM service_provider_profiles ORDER BY 1
    SQL
    expect(forms).to eq %w[data media none]
  end

  it 'keeps counts, ratings, memberships and totals exact under random writes' do
    url = db.url_for('booka_spec_seed_a')
    out = run!({ 'CHURN_ROUNDS' => '300', 'CHURN_SECONDS' => '3' }, File.join(Booka::ROOT, 'schema', 'check.sh'), url)
    expect(out).to match(/processed/)
  end

  it 'notifies booka_invalidate with the next cache generation and the tags of what changed on a write' do
    url = db.url_for('booka_spec_seed_a')
    out = db.psql(<<~SQL, url: url)
      LISTEN booka_invalidate;
      SELECT nextval('booka.cache_generation');
      UPDATE service_provider_profiles SET business_name = business_name || '' WHERE user_id = (SELECT min(user_id) FROM service_provider_profiles);
    SQL
    before = out.lines.first.to_i
    # 005: the generation, then the cache tags the write made stale (plugin/edge/README.md)
    expect(out).to match(/Asynchronous notification "booka_invalidate" with payload "#{before + 1} list-all( list-cat-[a-z0-9_.%]+)*"/)
  end
end
