# fixtures.rb: small helpers several specs share: waiting for a condition, and a PNG made without an image tool.
require 'zlib'

module Booka
  # wait_for: the block's first truthy value, polled every 50 ms; raises after `timeout` seconds.
  def self.wait_for(timeout: 15)
    deadline = Time.now + timeout
    until (value = yield)
      raise 'condition not met in time' if Time.now > deadline
      sleep 0.05
    end
    value
  end

  # png: a width x height RGB PNG of one colour (`rgb`: three bytes).
  def self.png(width, height, rgb)
    chunk = ->(type, data) { [data.bytesize].pack('N') + type + data + [Zlib.crc32(type + data)].pack('N') }
    rows = ([0] + rgb * width).pack('C*') * height
    "\x89PNG\r\n\x1a\n".b + chunk.call('IHDR', [width, height, 8, 2, 0, 0, 0].pack('NNCCCCC')) +
      chunk.call('IDAT', Zlib::Deflate.deflate(rows)) + chunk.call('IEND', '')
  end
end
