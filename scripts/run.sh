#!/usr/bin/env bash
# run.sh: the whole thing on this machine: packages, build, Postgres with demo data, Redis, then booka-origin in the
# foreground with the repo's h2o.conf (Ctrl-C stops the server; `./dev stop` stops Postgres and Redis).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
scripts/build.sh release
scripts/stack.sh start
eval "$(scripts/stack.sh env)"
scripts/tls.sh .state/tls
scripts/demo-data.sh
build/booka-origin -t -c h2o.conf >/dev/null
cat <<MSG

booka-origin is starting with h2o.conf. Open in a browser:
  http://127.0.0.1:8080/      the demo homepage (web/): provider carousels per category, avatars through the proxy
  https://localhost:8443/     the same over HTTP/2 + TLS (self-signed certificate: accept it once)
The API and the probes:
  http://127.0.0.1:8080/api/v1/service-provider-profiles/?category=dj&sort=most_booked&limit=12
  http://127.0.0.1:8080/healthz   http://127.0.0.1:8080/readyz
Postgres: $DATABASE_URL   Redis: $REDIS_URL

MSG
exec build/booka-origin -c h2o.conf
