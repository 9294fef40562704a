vcl 4.1;
# plugin/edge/varnish.vcl: Varnish (Debian's varnish 7.1 with varnish-modules' xkey) in front of booka-origin, purged
# by cache tag when the database changes. The origin names what each response depends on in its `xkey` header
# (`booka.edge` with `varnish:` sends it); on a write, exactly one origin instance sends `PURGE /` with an
# `xkey-purge: <tag> <tag>...` header here, and every object carrying one of those tags goes at once.
# Edge lifetimes come from the origin's Cache-Control: s-maxage is the TTL (it can be long: purges keep it fresh);
# stale-if-error keeps objects that much longer, served while the origin is down (its health probe fails).
# Set the backend below to the origin (spec/edge_spec.rb rewrites the port), and the ACL to the origin instances.

import std;
import xkey;

backend origin {
    .host = "127.0.0.1";
    .port = "8080";
    .connect_timeout = 2s;
    .first_byte_timeout = 10s;
    .probe = {
        .url = "/healthz";
        .interval = 1s;
        .timeout = 1s;
        .window = 3;
        .threshold = 2;
    }
}

# who may purge: the origin instances
acl purgers {
    "127.0.0.1";
    "::1";
}

sub vcl_recv {
    if (req.method == "PURGE") {
        if (client.ip !~ purgers) {
            return (synth(403, "Forbidden"));
        }
        if (!req.http.xkey-purge) {
            return (synth(400, "PURGE needs an xkey-purge header"));
        }
        set req.http.n-gone = xkey.purge(req.http.xkey-purge);
        return (synth(200, "Invalidated " + req.http.n-gone + " objects"));
    }
    # While the origin is healthy an expired object is served for at most 10 s while it is refetched; while it is
    # down, for as long as the object's grace (its stale-if-error) lasts.
    if (std.healthy(req.backend_hint)) {
        set req.grace = 10s;
    }
}

sub vcl_backend_response {
    if (beresp.http.Cache-Control ~ "stale-if-error=[0-9]+") {
        set beresp.grace = std.duration(regsub(beresp.http.Cache-Control, "^.*stale-if-error=([0-9]+).*$", "\1") + "s", beresp.grace);
    }
    # a background refresh that fails keeps the stale object rather than caching the error
    if (beresp.status >= 500 && bereq.is_bgfetch) {
        return (abandon);
    }
}

sub vcl_deliver {
    # the tags are for this cache, not for clients
    unset resp.http.xkey;
    if (obj.hits > 0) {
        set resp.http.X-Edge-Cache = "HIT";
    } else {
        set resp.http.X-Edge-Cache = "MISS";
    }
}
