#!/usr/bin/env bash
# The whole test suite: starts a one-node Ceph RGW, fetches the release corpus, runs
# pytest (unit, integration against moto and Ceph, end to end), stops Ceph.
# Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

ceph_dir=$(mktemp -d "${TMPDIR:-/tmp}/dg-ceph-XXXXXX")
cleanup() { scripts/ceph-rgw.sh stop "$ceph_dir" || true; rm -rf "$ceph_dir"; }
trap cleanup EXIT
rmdir "$ceph_dir"  # ceph-rgw.sh wants an absent or empty directory
echo "starting Ceph RADOS Gateway..." >&2
scripts/ceph-rgw.sh start "$ceph_dir" >/dev/null
set -a; . "$ceph_dir/env"; set +a
export DG_TEST_REQUIRE_CEPH=1

echo "fetching the release corpus..." >&2
benchmarks/corpus/fetch.sh .cache/corpus >/dev/null
export DG_TEST_CORPUS="$PWD/.cache/corpus"

.venv/bin/python -m pytest "$@"
