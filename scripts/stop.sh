#!/usr/bin/env bash
# stop.sh: stops the local Postgres and Redis that run.sh / test.sh started.
exec "$(dirname "$0")/stack.sh" stop
