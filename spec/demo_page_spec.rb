# demo_page_spec.rb: the demo homepage (web/, served by file.dir as in h2o.conf) in Debian's headless Chromium, over
# HTTP/2 from the real server with demo data: the first section's cards and avatars render at load, sections below the
# fold ask for nothing until they are scrolled near the view, avatars come through the proxy with a 1x/2x/3x srcset,
# a failing list shows the API's `detail`, and every request is HTTP/2. Screenshots go to spec/tmp/demo-page/.
require_relative 'spec_helper'
require 'uri'

describe 'the demo page (web/) in headless Chromium' do
  def shots
    File.join(Booka::ROOT, 'spec', 'tmp', 'demo-page')
  end

  def list_path
    '/api/v1/service-provider-profiles/'
  end

  # the viewport: shorter than the hero plus the first section, so no other section is in view or near it
  def view
    { width: 1280, height: 420, scale: 2 }
  end

  # config: the parts of h2o.conf the page needs (list, avatars, the JSON 404s, web/ at /), an access log with the
  # protocol of every request, on the cleartext + TLS listeners.
  def self.config(server, database_url, media_root)
    <<~YAML
      #{server.listeners}
      booka.redis: OFF
      booka.postgres:
        url: #{database_url}
        connect-timeout: 1000
      access-log:
        path: #{server.dir}/access.log
        format: '%H %s "%r"'
      hosts:
        default:
          paths:
            /api:
              booka.not-found: ON
            /api/v1/service-provider-profiles/:
              booka.list: ON
            /api/v1/img/avatar:
              booka.avatar:
                media-root: #{media_root}
            /:
              file.dir: #{File.join(Booka::ROOT, 'web')}
    YAML
  end

  def self.run!(*cmd)
    out, status = Open3.capture2e(*cmd)
    raise "#{cmd.join(' ')} failed:\n#{out}" unless status.success?
  end

  before(:all) do
    @db = Booka::Database.recreate('booka_spec_demo_page')
    self.class.run!(File.join(Booka::ROOT, 'schema', 'seed.sh'), '600', @db)
    # the demo pictures the seeded rows point at; kept between runs (make-media.sh only makes missing files)
    @media = File.join(Booka::ROOT, 'spec', 'tmp', 'demo-media')
    self.class.run!(File.join(Booka::ROOT, 'schema', 'make-media.sh'), @media)
    @server = Booka::Server.new { |s| self.class.config(s, @db, @media) }.start(scope: :all)
    @browser = Booka::Chromium.start('--ignore-certificate-errors', **view)
    # every navigation asks the server again (the list answers carry max-age)
    @browser.command('Network.enable', session: @browser.session)
    @browser.command('Network.setCacheDisabled', { cacheDisabled: true }, session: @browser.session)
    @categories = File.read(File.join(Booka::ROOT, 'web', 'index.html')).scan(/data-category="([^"]+)"/).flatten
                      .map { |c| c.gsub('&amp;', '&') }
  end

  after(:all) do
    @browser&.close
  end

  def access_log
    path = File.join(@server.dir, 'access.log')
    File.exist?(path) ? File.readlines(path, chomp: true) : []
  end

  # list_categories: the category of each list request in the access log since line `from`, in order.
  def list_categories(from)
    access_log.drop(from).filter_map do |line|
      target = line[/"GET (#{Regexp.escape(list_path)}\S*) /, 1]
      target && URI.decode_www_form(target.split('?', 2)[1]).to_h['category']
    end
  end

  # open_page: navigates to the page over TLS and returns the access log's length before the navigation.
  def open_page(browser = @browser, server = @server)
    before = access_log.size
    browser.navigate(server.url('/', tls: true))
    before
  end

  # settled_list_categories: list_categories once at least `count` requests were logged (a request is logged when its
  # response ends, an instant after the browser may have rendered it), or after 5 s.
  def settled_list_categories(from, count)
    deadline = Time.now + 5
    sleep 0.05 while list_categories(from).size < count && Time.now < deadline
    list_categories(from)
  end

  def section_state(index)
    @browser.evaluate("document.querySelectorAll('section.row')[#{index}].dataset.state")
  end

  # wait_for_section: waits until section `index` rendered its cards and every avatar in view (horizontally: the
  # carousel's lazy images further right load when scrolled there) is decoded; returns its cards.
  def wait_for_section(index)
    @browser.wait_until("['loaded', 'error'].includes(document.querySelectorAll('section.row')[#{index}].dataset.state)",
                        what: "section #{index} to load")
    expect(section_state(index)).to eq('loaded'), @browser.evaluate("document.querySelectorAll('section.row')[#{index}].innerText")
    @browser.wait_until(<<~JS, what: "the avatars in view of section #{index} to decode")
      Array.from(document.querySelectorAll('section.row')[#{index}].querySelectorAll('img.avatar'))
        .filter((img) => img.getBoundingClientRect().left < innerWidth)
        .every((img) => img.complete && img.naturalWidth > 0)
    JS
    @browser.evaluate(<<~JS)
      Array.from(document.querySelectorAll('section.row')[#{index}].querySelectorAll('.card')).map((card) => {
        const img = card.querySelector('img.avatar');
        return { name: card.querySelector('h3').textContent, skeleton: card.classList.contains('skeleton'),
                 location: card.querySelector('.location')?.textContent, facts: card.querySelector('.facts')?.textContent,
                 img: img && { src: img.getAttribute('src'), srcset: img.getAttribute('srcset'), current: img.currentSrc,
                               loading: img.loading, width: img.getAttribute('width'), height: img.getAttribute('height'),
                               natural: img.naturalWidth, inView: img.getBoundingClientRect().left < innerWidth } };
      })
    JS
  end

  it 'renders the first section with decoded avatars at load and asks nothing for the sections below the fold' do
    from = open_page
    cards = wait_for_section(0)
    expect(cards.size).to eq(12)
    expect(cards.map { |c| c['skeleton'] }.uniq).to eq([false])
    expect(cards.map { |c| c['name'] }).to all(match(/\S/))
    expect(cards.map { |c| c['location'] }).to all(match(/\S/))
    expect(cards.map { |c| c['facts'] }).to all(match(/★ \d\.\d|New/))
    pictured = cards.map { |c| c['img'] }.compact
    expect(pictured.size).to be >= 3
    pictured.select { |i| i['inView'] }.each { |img| expect(img['natural']).to be > 0 }
    expect(pictured.count { |i| i['inView'] }).to be >= 1

    # the geometry the rest relies on: every other section starts below the view plus the prefetch margin
    tops = @browser.evaluate("Array.from(document.querySelectorAll('section.row')).map((s) => s.getBoundingClientRect().top)")
    margin = @browser.evaluate('Number(document.body.dataset.prefetchMargin)')
    expect(margin).to be > 0
    expect(tops.drop(1)).to all(be > view[:height] + margin)

    sleep 1.5 # time for a wrongly eager section to fire
    expect(list_categories(from)).to eq([@categories.first])
    expect(@categories.drop(1).map.with_index(1) { |_, i| section_state(i) }).to all(eq('idle'))
    puts "\n    screenshot: #{@browser.screenshot(File.join(shots, 'at-load.png'))}"

    # the list's own order: most booked first, as the API answers it
    api = get(@server.url("#{list_path}?category=dj&sort=most_booked&limit=12&fields=id,business_name"), proto: :h2).json
    expect(cards.map { |c| c['name'] }).to eq(api['data'].map { |p| p['business_name'] })
  end

  it 'builds each avatar URL from profile_picture_url: same w, dpr 1/2/3, the v token kept, lazy, sized' do
    open_page
    pictured = wait_for_section(0).map { |c| c['img'] }.compact
    api = get(@server.url("#{list_path}?category=dj&sort=most_booked&limit=12&fields=id,profile_picture_url"), proto: :h2).json
    tokens = api['data'].filter_map { |p| p['profile_picture_url'] && URI(p['profile_picture_url']) }
    expect(pictured.size).to eq(tokens.size)
    pictured.zip(tokens).each do |img, picture|
      query = URI.decode_www_form(picture.query).to_h
      candidates = img['srcset'].split(', ').map(&:split)
      expect(candidates.map(&:last)).to eq(%w[1x 2x 3x])
      candidates.map(&:first).zip([1, 2, 3]).each do |url, dpr|
        uri = URI(url)
        expect(uri.path).to eq(picture.path)
        expect(URI.decode_www_form(uri.query).to_h).to eq(query.merge('w' => '176', 'dpr' => dpr.to_s))
      end
      expect(img['src']).to eq(candidates.first.first)
      expect(img).to include('loading' => 'lazy', 'width' => '176', 'height' => '176')
      # the 2x candidate on this 2x screen, decoded at 352 px
      next unless img['inView']
      expect(img['current']).to end_with(candidates[1].first)
      expect(img['natural']).to be_between(1, 352) # 352 px, or the source's shorter side when smaller
    end

    # the lazy ones further right load when the carousel is scrolled to them: every picture of the row decodes
    @browser.evaluate("document.querySelector('section.row .cards').scrollLeft = 1e6")
    @browser.wait_until(<<~JS, what: 'every avatar of the first row to decode')
      Array.from(document.querySelectorAll('section.row')[0].querySelectorAll('img.avatar'))
        .every((img) => img.complete && img.naturalWidth > 0)
    JS
  end

  it 'loads each further section only when it is scrolled near the view, one at a time' do
    from = open_page
    wait_for_section(0)
    (1...@categories.size).each do |i|
      # the section's top just inside the view's bottom edge; the next one stays beyond the prefetch margin
      @browser.evaluate(<<~JS)
        window.scrollTo(0, scrollY + document.querySelectorAll('section.row')[#{i}].getBoundingClientRect().top - innerHeight + 40)
      JS
      cards = wait_for_section(i)
      expect(cards).not_to be_empty
      expect(cards.map { |c| c['skeleton'] }.uniq).to eq([false])
      expect(settled_list_categories(from, i + 1)).to eq(@categories.take(i + 1))
      if i + 1 < @categories.size
        expect(section_state(i + 1)).to eq('idle')
      end
    end
    @browser.evaluate('window.scrollTo(0, 0)')
    begin
      @browser.resize(view[:width], 900, 1)
      @browser.wait_until(<<~JS, what: 'the avatars in the taller view')
        Array.from(document.images).every((img) => img.getBoundingClientRect().top >= innerHeight ||
          img.getBoundingClientRect().left >= innerWidth || (img.complete && img.naturalWidth > 0))
      JS
      puts "\n    screenshots: #{@browser.screenshot(File.join(shots, 'top.png'))} " \
           "#{@browser.screenshot(File.join(shots, 'full-page.png'), full_page: true)}"
    ensure
      @browser.resize(view[:width], view[:height], view[:scale])
    end
  end

  it 'came over HTTP/2: the page, the lists and the avatars' do
    from = open_page
    wait_for_section(0)
    protocols = @browser.evaluate(<<~JS)
      [performance.getEntriesByType('navigation')[0].nextHopProtocol]
        .concat(performance.getEntriesByType('resource').map((e) => e.nextHopProtocol))
    JS
    expect(protocols.size).to be >= 4 # page, css, js, list, avatars
    expect(protocols.uniq).to eq(['h2'])
    lines = access_log.drop(from)
    expect(lines.grep(/"GET #{Regexp.escape(list_path)}/).size).to eq(1)
    expect(lines.grep(%r{"GET /api/v1/img/avatar/})).not_to be_empty
    expect(lines.grep(%r{"GET /app\.(js|css) })).not_to be_empty
    expect(lines.map { |l| l.split(' ', 2).first }.uniq).to eq(['HTTP/2'])
    expect(@browser.evaluate("document.getElementById('protocol').textContent")).to include('h2')
  end

  it "shows the API's JSON detail in a section whose list fails, keeping the layout" do
    # a server whose database does not answer: each list request is a 503 with a JSON detail
    dead = Booka::Server.new { |s| self.class.config(s, "postgresql://postgres@127.0.0.1:#{Booka.free_port}/none", @media) }.start
    answer = get(dead.url("#{list_path}?category=dj&sort=most_booked&limit=12"), proto: :h2)
    expect(answer.status).to eq(503)
    detail = answer.json['detail']
    expect(detail).to be_a(String).and(match(/\S/))
    @browser.navigate(dead.url('/', tls: true))
    @browser.wait_until("document.querySelector('section.row').dataset.state === 'error'", what: 'the error state')
    text = @browser.evaluate("document.querySelector('section.row .status').innerText")
    expect(text).to include('Could not load DJs', detail, 'Try again')
    # no provider card, and the section kept its height: the next sections stayed out of view and asked nothing
    expect(@browser.evaluate("document.querySelector('section.row').querySelectorAll('.card:not(.skeleton)').length")).to eq(0)
    tops = @browser.evaluate("Array.from(document.querySelectorAll('section.row')).map((s) => s.getBoundingClientRect().top)")
    expect(tops.drop(1)).to all(be > view[:height] + @browser.evaluate('Number(document.body.dataset.prefetchMargin)'))
    sleep 1
    requests = File.readlines(File.join(dead.dir, 'access.log')).grep(/"GET #{Regexp.escape(list_path)}/)
    expect(requests.size).to eq(2) # ours above, and the page's first section
    puts "\n    screenshot: #{@browser.screenshot(File.join(shots, 'error.png'))}"
  end
end
