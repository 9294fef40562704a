# rewrites.rb: booka-origin's URL rewrites, served inside the server (reproxy), never as a redirect.
#
# Mounted by h2o.conf in front of /api and /static/api, on paths that have `reproxy: ON`. It evaluates to a Rack app
# that answers either [307, {"x-reproxy-url" => target}, []], which the reproxy filter turns into an internal
# re-dispatch of the request (same method, query kept; the client never sees the 307), or 399, which hands the request
# unchanged to the next handler of the path. docs/ROUTING.md has the rules and the reasoning.
#
# Runs unchanged on booka-origin (Debian's mruby 3.1, which has no Regexp) and on the stock h2o 2.2 (mruby 1.3), so it
# sticks to String, Array and Hash methods both have. State lives in the object, not in top-level local variables: on
# the stock h2o, a Proc that captures top-level locals sees them overwritten once another mruby handler is loaded.
class BookaRewrites
  def initialize
    # Collections also served without their trailing slash: exactly these paths, nothing below them, no other path.
    # /api/v1/service-provider-profiles?x=1 is served as /api/v1/service-provider-profiles/?x=1; /api/v1/img/avatar/7
    # and /api/v1/service-provider-profiles/7 are never touched. List a collection here only when its canonical path
    # (with the slash) exists in h2o.conf.
    @collections = [
      "/api/v1/service-provider-profiles",
    ]

    # /static/api/<anything> is served as /api/<anything> (stale front-end bundles still build image URLs this way).
    @static_prefix = "/static/api"
    @api_prefix = "/api"

    # Bytes that stay literal when a decoded path is encoded again: RFC 3986 unreserved and sub-delims, ":" and "@".
    # Everything else (including "%", "?" and "#") goes back to %XX, so nothing is ever decoded twice.
    @literal = {}
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()*+,;=:@".bytes.each { |b| @literal[b] = true }
  end

  def call(env)
    path_info = env["PATH_INFO"]
    # h2o 2.2 starts PATH_INFO one byte into a "%2F" that directly follows the mount point ("/static/api%2Fx" gives
    # "Fx"); booka-origin gives "/x". Either way the router saw a "/" there.
    path_info = "/" + path_info[1, path_info.length - 1] if path_info != "" && path_info[0] != "/"
    path = canonical_path(env["SCRIPT_NAME"] + path_info)

    target = path
    if target == @static_prefix || target.start_with?(@static_prefix + "/")
      target = @api_prefix + target[@static_prefix.length, target.length - @static_prefix.length]
    end
    target += "/" if @collections.include?(target)
    return [399, {}, []] if target == path

    query = env["QUERY_STRING"].to_s
    target += "?" + query unless query.empty?
    [307, { "x-reproxy-url" => target }, []]
  end

  private

  # canonical_path: the path as libh2o's router sees it when it picks a path (h2o_url_normalize_path): %XX decoded once
  # (so %2F is a "/" and %2E%2E a ".." segment), "." and ".." segments resolved, empty segments ("//") kept; then
  # encoded again (encode_segment), so that it compares with the plain paths above and can be handed back to the
  # router. A path without "%" and without "/." is already in that form, as libh2o itself assumes.
  def canonical_path(raw)
    return raw if raw[0] == "/" && raw.index("%").nil? && raw.index("/.").nil?
    segments = [[]]
    percent_decode(raw.bytes).each { |b| b == 47 ? segments << [] : segments.last << b }
    segments.shift if raw[0] == "/" # what precedes the leading "/"
    kept = []
    trailing_slash = false
    segments.each_with_index do |segment, index|
      dots = segment == [46] || segment == [46, 46]
      kept.pop if segment == [46, 46]
      kept << segment unless dots
      trailing_slash = dots && index == segments.length - 1
    end
    path = "/" + kept.map { |segment| encode_segment(segment) }.join("/")
    trailing_slash && !kept.empty? ? path + "/" : path
  end

  # percent_decode: the bytes with each %XX (two hex digits) replaced by the byte it stands for, once.
  def percent_decode(bytes)
    decoded = []
    i = 0
    while i < bytes.length
      hi = bytes[i] == 37 && i + 2 < bytes.length ? hex_value(bytes[i + 1]) : nil
      lo = hi.nil? ? nil : hex_value(bytes[i + 2])
      if lo.nil?
        decoded << bytes[i]
        i += 1
      else
        decoded << hi * 16 + lo
        i += 3
      end
    end
    decoded
  end

  # hex_value: the value of an ASCII hex digit byte, or nil.
  def hex_value(b)
    if b >= 48 && b <= 57
      b - 48
    elsif b >= 65 && b <= 70
      b - 55
    elsif b >= 97 && b <= 102
      b - 87
    end
  end

  # encode_segment: the bytes of one decoded path segment as a URL path segment.
  def encode_segment(bytes)
    out = ""
    bytes.each do |b|
      if @literal[b]
        out << b.chr
      else
        out << "%" << "0123456789ABCDEF"[b >> 4] << "0123456789ABCDEF"[b & 15]
      end
    end
    out
  end
end

BookaRewrites.new
