#!/usr/bin/env bash
# local/Dockerfile built and run by a real container engine on a machine with no Docker engine
# and no Docker Hub: podman (Debian's), over a stand-in for `python:3.12-slim` made from Debian
# bookworm (debootstrap, from the Debian mirror) and this machine's Python 3.12 at /usr/local.
# Not in CI (minutes of installs, and a machine that may refuse containers); run it by hand
# after changing the Dockerfile:
#
#     bash scripts/try_local_image.sh        # as root; prints each check, exits 1 on a failure
#
# What the stand-in cannot show: the real base image's own Python build and OS packages.
set -euo pipefail
cd "$(dirname "$0")/.."

BASE=docker.io/library/python:3.12-slim
IMAGE=localhost/test-data-agent:try
WORK=$(mktemp -d)
NAME="tda-try-$$"
VOLUME="tda-try-$$"
GRPC_PORT=${GRPC_PORT:-19001}
HTTP_PORT=${HTTP_PORT:-18081}

cleanup() {
  podman rm -f "$NAME" >/dev/null 2>&1 || true
  podman volume rm -f "$VOLUME" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

for tool in podman runc debootstrap; do
  command -v "$tool" >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
    podman runc debootstrap >/dev/null
done

# This machine's kernel refuses a container's init raising RLIMIT_NOFILE/NPROC to podman's
# defaults (crun and runc alike: "setrlimit ... Operation not permitted"): keep the host's.
cat >"$WORK/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=$(ulimit -n):$(ulimit -Hn)", "nproc=4096:4096"]
[engine]
runtime = "runc"
EOF
export CONTAINERS_CONF="$WORK/containers.conf"

if ! podman image exists "$BASE"; then
  python312=$(ls -d "$(pyenv root)"/versions/3.12* | head -1)
  echo "stand-in base: Debian bookworm + $python312 at /usr/local/py312"
  rootfs="$WORK/rootfs"
  debootstrap --variant=minbase bookworm "$rootfs" http://deb.debian.org/debian >/dev/null
  cp /etc/resolv.conf "$rootfs/etc/resolv.conf"
  # What python:3.12-slim has beside its Python: the libraries its modules load, CA certificates.
  chroot "$rootfs" sh -c "apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -q --no-install-recommends libssl3 libffi8 libsqlite3-0 liblzma5 \
    libbz2-1.0 libreadline8 libncursesw6 zlib1g libuuid1 libgdbm6 ca-certificates >/dev/null \
    && rm -rf /var/lib/apt/lists/*"
  rm "$rootfs/etc/resolv.conf"
  mkdir -p "$rootfs/usr/local/py312"
  cp -a "$python312/." "$rootfs/usr/local/py312/"
  rm -f "$rootfs"/usr/local/py312/lib/python3.12/site-packages/*.pth
  echo /usr/local/py312/lib >"$rootfs/etc/ld.so.conf.d/py312.conf"
  chroot "$rootfs" ldconfig
  ln -s /usr/local/py312/bin/python3.12 "$rootfs/usr/local/bin/python3"
  ln -s /usr/local/py312/bin/python3.12 "$rootfs/usr/local/bin/python"
  printf '#!/bin/sh\nexec /usr/local/bin/python3 -m pip "$@"\n' >"$rootfs/usr/local/bin/pip"
  chmod 755 "$rootfs/usr/local/bin/pip"
  # The host's trust store: a TLS-intercepting proxy's CA (this machine's egress) included.
  cp /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/ca-certificates.crt"
  tar -C "$rootfs" -c . | podman import \
    --change 'ENV PATH=/usr/local/py312/bin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' --change 'CMD ["python3"]' - "$BASE" >/dev/null
fi

echo "build: podman build -f local/Dockerfile"
podman build --network host -f local/Dockerfile -t "$IMAGE" . >"$WORK/build.log" 2>&1 \
  || { tail -40 "$WORK/build.log"; exit 1; }

# Read-only but for the volume: nothing the service does may write anywhere else.
echo "run: as the Dockerfile says, with a named volume at /data, the rest read-only"
podman run -d --read-only --name "$NAME" -p "$GRPC_PORT:9001" -p "$HTTP_PORT:8081" \
  -v "$VOLUME:/data" "$IMAGE" >/dev/null
for _ in $(seq 60); do
  curl -fs "http://127.0.0.1:$HTTP_PORT/health/live" >/dev/null && break
  sleep 1
done

failed=0
check() {  # check NAME EXPECTED ACTUAL
  if [ "$2" = "$3" ]; then echo "  ok   $1"; else echo "  FAIL $1: expected $2, got $3"; failed=1; fi
}
generate() {  # the metadata's FIELD of a POST /v1/generate of BODY
  curl -fs -m 60 "http://127.0.0.1:$HTTP_PORT/v1/generate" -H 'content-type: application/json' \
    -d "$1" | python3 -c "import json, sys; print(json.load(sys.stdin)$2)"
}
check "health" "healthy" "$(curl -fs "http://127.0.0.1:$HTTP_PORT/health" \
  | python3 -c 'import json, sys; print(json.load(sys.stdin)["status"])')"
check "3 carts" "3" "$(generate '{"entity": "cart", "count": 3}' '["record_count"]')"
check "the rag path serves from the seeded memory" "rag" \
  "$(generate '{"entity": "cart", "count": 3, "learn_from_history": true}' \
    '["metadata"]["generation_path"]')"
check "a 2,500-record job" "SUCCEEDED" "$(podman exec "$NAME" sh -c \
  "TDA_API=http://127.0.0.1:8081 tda jobs submit order --count 2500 --wait 2>&1 | tail -1" \
  | cut -d: -f1)"
check "runs as uid" "10001" "$(podman exec "$NAME" id -u)"
check "owns TDA_HOME" "tda tda" "$(podman exec "$NAME" stat -c '%U %G' /data)"
check "owns the memory" "" "$(podman exec "$NAME" find /data ! -user tda)"
podman stop -t 40 "$NAME" >/dev/null
check "stops cleanly (SIGTERM)" "0" "$(podman inspect "$NAME" --format '{{.State.ExitCode}}')"
exit "$failed"
