#!/usr/bin/env bash
sed -n '2,6s/^# \{0,1\}//p' "$(dirname "$0")/../dev"
