#!/usr/bin/env bash
# The whole test suite: starts a one-node Ceph RGW, fetches the release corpus, runs
# pytest (unit, integration against moto and Ceph, end to end) and the s3-tests
# conformance suite against the gateway over Ceph beside it, then over a directory
# (when ../shared/s3-tests is there), stops Ceph. Extra arguments go to pytest.
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

# The gateway's conformance over Ceph waits on Ceph more than it computes (about five
# minutes): it runs beside pytest, as its own Ceph user (ceph-rgw.sh), so neither sees
# the other's buckets. The floors are the counts reached (docs/GATEWAY.md).
conformance=
if [ -x ../shared/s3-tests/run.sh ]; then
  scripts/gateway-s3-tests.sh ceph 194 >"$ceph_dir.s3t-ceph" 2>&1 &  # 196 seen; room for the suite's flaky UploadPartCopy
  conformance=$!
fi

# On every core (DG_TEST_WORKERS to change): a module's tests stay on one worker, so a
# module's shared fixtures (the aws-parity session, a gateway) are made once; the
# longest modules are handed out first (tests/conftest.py, LONGEST_FIRST).
status=0
.venv/bin/python -m pytest -n "${DG_TEST_WORKERS:-auto}" --dist loadfile --no-loadscope-reorder "$@" || status=$?

if [ -n "$conformance" ]; then
  scripts/gateway-s3-tests.sh file 191 || status=1  # the 5 others need a/b and a/b/c both, see GATEWAY.md
  wait "$conformance" || status=1
  cat "$ceph_dir.s3t-ceph"
  rm -f "$ceph_dir.s3t-ceph"
else
  echo "no ../shared/s3-tests: the gateway's conformance suite is not run" >&2
fi
exit "$status"
