#!/usr/bin/env bash
# tls.sh DIR: a self-signed certificate for localhost in DIR/cert.pem + DIR/key.pem, made once.
set -euo pipefail
dir=$1
mkdir -p "$dir"
if [ ! -s "$dir/cert.pem" ] || [ ! -s "$dir/key.pem" ]; then
    openssl req -x509 -newkey rsa:2048 -nodes -days 365 -subj /CN=localhost \
        -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" -keyout "$dir/key.pem" -out "$dir/cert.pem" 2>/dev/null
fi
