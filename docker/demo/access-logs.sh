#!/bin/sh
# Owns the shared access-logs volume of docker/compose.yaml: makes it writable for the apimeter sidecars
# (uid 10001 in docker/Dockerfile), then keeps every log file under a size cap. apimeter appends with
# O_APPEND and keeps the file open, so truncating in place is safe (the next line lands at offset 0) and
# Fluent Bit's tail notices the truncation and reads on from the start.
set -eu
dir=/var/log/apimeter
max_bytes=$(( ${ACCESS_LOG_MAX_MB:-200} * 1024 * 1024 ))
mkdir -p "$dir"
chown 10001 "$dir"
chmod 0755 "$dir"
touch "$dir/.ready"   # the healthcheck: the sidecars start once the directory is theirs
trap 'exit 0' TERM INT
echo "access-logs: $dir ready, files truncated above $max_bytes bytes"
while :; do
  for file in "$dir"/*.log; do
    [ -f "$file" ] || continue
    size=$(stat -c %s "$file")
    if [ "$size" -gt "$max_bytes" ]; then
      : > "$file"
      echo "access-logs: truncated $file at $size bytes"
    fi
  done
  sleep 60 &
  wait $!
done
