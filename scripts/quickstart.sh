#!/usr/bin/env bash
# The main job, on the embedded default (a local file:// store, no service, no
# credentials): upload eight builds, list them, see the savings, download and verify.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
work="${QUICKSTART_DIR:-$repo/.quickstart}"
dg() { echo "\$ deltaglider $*"; "$repo/.venv/bin/deltaglider" "$@"; }

rm -rf "$work"
mkdir -p "$work/store/releases" "$work/downloads"   # a bucket is a folder in the store
cd "$work"
export AWS_ENDPOINT_URL="file://$work/store"
echo "== store: $AWS_ENDPOINT_URL (bucket 'releases')"

echo "== eight builds of myapp"
"$repo/.venv/bin/python" "$repo/scripts/demo_builds.py" builds

echo "== upload them, version by version"
for build in builds/*.zip; do
  dg cp "$build" s3://releases/myapp/
done

echo "== what users see: original names and sizes"
dg ls s3://releases/myapp/ --human-readable --summarize

echo "== what is stored: one reference plus small deltas"
dg stats s3://releases
echo "the files in the store (metadata sits beside each, in hidden .dg-meta.json files):"
find store -type f ! -name '.*' -printf '%10s  %P\n' | sort -k2

echo "== download every build back and check it"
for build in builds/*.zip; do
  name=$(basename "$build")
  dg cp "s3://releases/myapp/$name" downloads/
  cmp "$build" "downloads/$name"
done
dg verify s3://releases/myapp/myapp-1.0.7.zip
echo "== all $(ls builds/*.zip | wc -l) builds came back byte-identical (SHA256-verified)"
echo "   try it yourself: export AWS_ENDPOINT_URL=$AWS_ENDPOINT_URL; .venv/bin/deltaglider ls s3://releases/myapp/"
