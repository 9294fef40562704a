# spec_helper.rb: request specs boot the real booka-origin binary from a config written in the spec and talk to it
# with real clients (curl over HTTP/1.1, h2c prior knowledge and h2 over TLS), against real Postgres and Redis.
require 'json'
require 'open3'
require 'socket'
require 'tmpdir'
require 'fileutils'
require 'timeout'

Dir[File.join(__dir__, 'support', '*.rb')].sort.each { |f| require f }

RSpec.configure do |config|
  config.expect_with(:rspec) { |c| c.syntax = :expect }
  config.order = :defined
  config.include Booka::Helpers
  config.after(:each) { Booka::Server.stop_all_started_in_example }
  config.after(:all) { Booka::Server.stop_all }
end
