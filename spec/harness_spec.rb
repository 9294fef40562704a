# harness_spec.rb: the spec support's own traps, where a mistake makes other specs fail at random.
require_relative 'spec_helper'

describe 'spec support' do
  # in_netns: runs `ruby_code` (with spec/support/server.rb loaded) in a network namespace of its own, loopback up and
  # the kernel's ephemeral ports narrowed to `port` alone; returns what it printed. Needs root (unshare), as CI has.
  def in_netns(port, ruby_code)
    script = <<~SH
      ip link set lo up && sysctl -qw net.ipv4.ip_local_port_range="#{port} #{port}" &&
      exec ruby -rsocket -r#{File.join(__dir__, 'support', 'server.rb')} -e "$0"
    SH
    out, status = Open3.capture2e('unshare', '-n', 'sh', '-c', script, ruby_code)
    raise "in_netns failed: #{out}" unless status.success?
    out
  end

  it 'Booka.listening? does not take a socket connected to itself for a listener (the first request was refused)' do
    port = 40_000
    # the trap is real here: with nothing listening, a plain connect to the only ephemeral port reaches itself
    expect(in_netns(port, "s = TCPSocket.new('127.0.0.1', #{port}); print s.local_address.ip_port")).to eq(port.to_s)
    expect(in_netns(port, "print Booka.listening?(#{port})")).to eq('false')
    # and a real listener is one (on the next port: the ephemeral one is the connection's)
    expect(in_netns(port, "l = TCPServer.new('127.0.0.1', #{port + 1}); print Booka.listening?(#{port + 1}); l.close"))
      .to eq('true')
  end
end
