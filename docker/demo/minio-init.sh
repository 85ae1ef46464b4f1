#!/bin/sh
# Creates the MES bucket for 3D part models in MinIO and puts a few models in it, so the S3 bucket panels
# and alerts have data. Idempotent: run again, it changes nothing.
set -eu
bucket=${MINIO_BUCKET:-mes-3d-models}
mc alias set demo http://minio:9000 "$MINIO_ROOT_USER" "$MINIO_ROOT_PASSWORD" > /dev/null
mc mb --ignore-existing "demo/$bucket"
i=1
while [ "$i" -le 12 ]; do
  object="demo/$bucket/parts/$i/model.glb"
  if ! mc stat "$object" > /dev/null 2>&1; then
    # 256 KiB to 1 MiB, like the MES route that serves them.
    head -c $(( (i % 4 + 1) * 262144 )) /dev/urandom | mc pipe "$object" > /dev/null
  fi
  i=$(( i + 1 ))
done
mc du "demo/$bucket"
