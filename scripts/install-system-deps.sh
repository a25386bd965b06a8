#!/usr/bin/env bash
# Installs the system programs DeltaGlider needs (Debian/Ubuntu): xdelta3; with --test,
# also the S3 clients the gateway's tests drive (rclone, the AWS CLI v2; the others come
# from pip).
# Does nothing when they are there; says what to run when it cannot install them.
set -euo pipefail

missing=()
command -v xdelta3 >/dev/null 2>&1 || missing+=(xdelta3)
if [ "${1:-}" = "--test" ]; then
  command -v rclone >/dev/null 2>&1 || missing+=(rclone)
  [ -x /usr/bin/aws ] || missing+=(awscli)  # the AWS CLI v2 (the venv has v1)
fi
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "missing: ${missing[*]}; install with: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "missing: ${missing[*]}; install it with your package manager (e.g. brew install xdelta)" >&2
  exit 1
fi
echo "installing ${missing[*]} with apt-get" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1 || {
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}
