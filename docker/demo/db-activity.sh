#!/bin/sh
# A little steady work on the shop and MES databases (pgbench at a fixed, low rate), so the PostgreSQL
# panels show connections, transactions and a slowly growing database. Bounded: pgbench_history, the
# only table that grows, is cut back to the last day after every run.
set -eu
RATE=${DB_ACTIVITY_TPS:-3}

work() {   # host user database password
  export PGPASSWORD="$4"
  until pg_isready -q -h "$1" -U "$2" -d "$3"; do sleep 2; done
  if [ -z "$(psql -h "$1" -U "$2" -d "$3" -tAc "select to_regclass('pgbench_accounts')")" ]; then
    pgbench -h "$1" -U "$2" -i -s 5 -q "$3"
  fi
  while :; do
    pgbench -h "$1" -U "$2" -n -c 2 -j 1 -R "$RATE" -T 600 "$3" > /dev/null || sleep 10
    psql -h "$1" -U "$2" -d "$3" -qc "delete from pgbench_history where mtime < now() - interval '1 day'"
  done
}

trap 'trap - TERM INT; kill 0; exit 0' TERM INT
work shop-db shop shop shop-demo &
work mes-db mes mes mes-demo &
wait
