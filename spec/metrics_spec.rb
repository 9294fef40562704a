# metrics_spec.rb: GET /metrics is Prometheus text that a real parser accepts, and it counts what the server answered.
require_relative 'spec_helper'

describe 'GET /metrics' do
  let(:server) do
    Booka::Server.new do |s|
      <<~YAML
        listen: #{s.port}
        num-threads: 2
        hosts:
          default:
            paths:
              /healthz:
                booka.health: ON
              /metrics:
                booka.metrics: ON
              /api:
                booka.not-found: ON
      YAML
    end
  end

  # parse: the exposition through prometheus_client's own parser (Debian's python3-prometheus-client); returns {[name, labels] => value}
  def parse(text)
    script = <<~PY
      import json, sys
      from prometheus_client.parser import text_string_to_metric_families
      out = []
      for family in text_string_to_metric_families(sys.stdin.read()):
          for s in family.samples:
              out.append([s.name, s.labels, s.value, family.type])
      print(json.dumps(out))
    PY
    out, err, status = Open3.capture3('/usr/bin/python3', '-c', script, stdin_data: text)
    raise "the Prometheus parser rejected the exposition: #{err}" unless status.success?
    JSON.parse(out).to_h { |name, labels, value, _| [[name, labels], value] }
  end

  it 'counts responses by route and status, with latency histograms, in a format the parser accepts' do
    server.start
    3.times { expect(get(server.url('/healthz'), proto: :h2c).status).to eq 200 }
    2.times { expect(get(server.url('/api/nope'), proto: :h1).status).to eq 404 }
    r = get(server.url('/metrics'), proto: :h2c)
    expect(r.status).to eq 200
    expect(r['content-type']).to start_with 'text/plain; version=0.0.4'
    samples = parse(r.body)
    expect(samples[['booka_http_requests_total', { 'route' => '/healthz', 'status' => '200' }]]).to eq 3
    expect(samples[['booka_http_requests_total', { 'route' => '/api', 'status' => '404' }]]).to eq 2
    expect(samples[['booka_http_request_duration_seconds_count', { 'route' => '/healthz' }]]).to eq 3
    expect(samples[['booka_http_request_duration_seconds_bucket', { 'route' => '/healthz', 'le' => '+Inf' }]]).to eq 3
    # libh2o stamps both ends from the loop's cached clock, so an answer within one loop turn measures 0
    expect(samples[['booka_http_request_duration_seconds_sum', { 'route' => '/healthz' }]]).to be >= 0
    expect(samples.keys.map(&:first)).to include('booka_cache_hits_total', 'booka_cache_coalesced_total', 'booka_cache_stale_total')
    # the scrape itself shows up in the next one
    again = parse(get(server.url('/metrics'), proto: :h1).body)
    expect(again[['booka_http_requests_total', { 'route' => '/metrics', 'status' => '200' }]]).to eq 1
  end
end
