#!/usr/bin/env bash
# The s3-tests conformance selection (../shared/s3-tests, 196 core-API tests) against
# `deltaglider serve`, over a fresh directory (file) or over the S3 endpoint that
# DG_TEST_CEPH_ENDPOINT names (ceph; make test starts it). Prints the failures and
# "s3-tests: P/196 passed"; exits 1 when fewer than MIN_PASSED pass.
#   usage: scripts/gateway-s3-tests.sh file|ceph [MIN_PASSED]
set -euo pipefail
cd "$(dirname "$0")/.."
backend=${1:?usage: gateway-s3-tests.sh file|ceph [MIN_PASSED]}
min=${2:-0}
suite=${DG_S3_TESTS:-../shared/s3-tests}
[ -x "$suite/run.sh" ] || { echo "no s3-tests suite at $suite (DG_S3_TESTS)" >&2; exit 2; }

work=$(mktemp -d "${TMPDIR:-/tmp}/dg-s3t-XXXXXX")
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

"$suite/users.sh" >"$work/users.txt"
port=$(.venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
case $backend in
  file) args=(--data "$work/store"); env=() ;;
  ceph)
    : "${DG_TEST_CEPH_ENDPOINT:?ceph needs DG_TEST_CEPH_ENDPOINT (scripts/ceph-rgw.sh)}"
    args=(--upstream "$DG_TEST_CEPH_ENDPOINT")
    # the conformance user when ceph-rgw.sh made one: buckets apart from the tests'
    env=(AWS_ACCESS_KEY_ID="${DG_TEST_CEPH_CONFORMANCE_ACCESS_KEY:-$DG_TEST_CEPH_ACCESS_KEY}"
         AWS_SECRET_ACCESS_KEY="${DG_TEST_CEPH_CONFORMANCE_SECRET_KEY:-$DG_TEST_CEPH_SECRET_KEY}"
         AWS_DEFAULT_REGION=us-east-1 AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null) ;;
  *) echo "unknown backend $backend: file or ceph" >&2; exit 2 ;;
esac
env "${env[@]}" .venv/bin/deltaglider \
  serve "${args[@]}" --port "$port" --users "$work/users.txt" --workers 2 2>"$work/serve.log" &
pid=$!
for _ in $(seq 100); do grep -q "deltaglider serve: http" "$work/serve.log" && break; sleep 0.2; done
grep -q "deltaglider serve: http" "$work/serve.log" || { cat "$work/serve.log" >&2; exit 2; }

echo "s3-tests against deltaglider serve ($backend):" >&2
S3T_LOG="$work/s3tests.log" "$suite/run.sh" "$port" | tee "$work/out"
passed=$(sed -n 's|^s3-tests: \([0-9]*\)/.*|\1|p' "$work/out" | tail -1)
if [ "${passed:-0}" -lt "$min" ]; then
  echo "s3-tests ($backend): ${passed:-0} passed, fewer than $min" >&2
  exit 1
fi
