# images.rb: ImageMagick helpers for specs that make pictures and look at the server's output. A fixtures module
# `extend`s this one to call them as its own (Booka::Images.identify works too).
module Booka
  module Images
    extend self

    # run: the command's combined output; raises when it fails.
    def run(*cmd)
      out, status = Open3.capture2e(*cmd)
      raise "#{cmd.join(' ')} failed: #{out}" unless status.success?
      out
    end

    # identify: [format, width, height] of an image file.
    def identify(path)
      out = run('identify', '-format', '%m %w %h\n', path).lines.first.split
      [out[0], out[1].to_i, out[2].to_i]
    end

    # pixel: [r, g, b] 0..255 at (x, y).
    def pixel(path, x, y)
      run('convert', path, '-format', "%[fx:int(255*p{#{x},#{y}}.r)] %[fx:int(255*p{#{x},#{y}}.g)] %[fx:int(255*p{#{x},#{y}}.b)]",
          'info:').split.map(&:to_i)
    end

    # opacity: alpha 0..1 at (x, y).
    def opacity(path, x, y)
      run('convert', path, '-format', "%[fx:p{#{x},#{y}}.a]", 'info:').to_f
    end
  end
end
