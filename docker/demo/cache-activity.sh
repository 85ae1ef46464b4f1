#!/bin/sh
# A little steady work on Redis (the shop's cache), so the Redis panels show commands, hits and memory:
# a short redis-benchmark burst every few seconds over a bounded key space.
set -eu
trap 'exit 0' TERM INT
until redis-cli -h redis ping > /dev/null 2>&1; do sleep 2; done
while :; do
  redis-benchmark -h redis -q -c 2 -n 300 -r 10000 -t set,get,incr,lpush,lpop > /dev/null
  sleep 5 &
  wait $!
done
