#!/usr/bin/env bash
# Tries each bad input against a scratch file:// store and prints a Markdown table of
# what deltaglider says: the table in docs/ERRORS.md. Run: scripts/bad-inputs.sh
set -uo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
dg="$repo/.venv/bin/deltaglider"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
mkdir -p store/releases empty
export AWS_ENDPOINT_URL="file://$work/store"
"$repo/.venv/bin/python" "$repo/scripts/demo_builds.py" builds >/dev/null
"$dg" cp builds/myapp-1.0.0.zip s3://releases/ >/dev/null
"$dg" cp builds/myapp-1.0.1.zip s3://releases/ >/dev/null
DG_CODEC=xdelta3 "$dg" cp builds/myapp-1.0.2.zip s3://releases/ >/dev/null  # needs xdelta3 to read
port=""  # the port of a plain web server, once one runs
deep=$(printf 'd%.0s' {1..200}); deep="$deep/$deep/$deep/$deep/$deep"  # a 1,004-byte prefix
cp builds/myapp-1.0.0.zip .dg-index.json  # a name of our own objects, kept at NAME.delta

try() {  # DESCRIPTION COMMAND...: one table row (stderr without empty lines, exit status)
  local what=$1 said status
  shift
  said=$("$@" 2>&1 >/dev/null | grep -v '^$' | tr '\n' ' ' | sed "s#$deep#\$DEEP#g; s#$work/##g")
  "$@" >/dev/null 2>&1
  status=$?
  printf '| %s | `%s` | %s | %s |\n' "$what" "$(echo "$*" | sed "s#$dg#deltaglider#; s#$work/##g; s#$deep#\$DEEP#g; s#:${port:-none}\\b#:PORT#g")" \
    "$status" "${said% }"
}
flip_tail() { python3 -c "import sys; p=sys.argv[1]; d=bytearray(open(p,'rb').read()); d[-30:]=bytes(b^255 for b in d[-30:]); open(p,'wb').write(d)" "$1"; }

echo '| bad input | command | exit | what it says (stderr) |'
echo '|---|---|---|---|'
try "missing local file" "$dg" cp nothere.zip s3://releases/
try "unknown bucket" "$dg" cp builds/myapp-1.0.0.zip s3://no-such-bucket/
try "missing key" "$dg" cp s3://releases/missing.zip .
try "key over 1,024 bytes" "$dg" cp builds/myapp-1.0.0.zip "s3://releases/$deep/$(printf 'k%.0s' {1..20})"
try "reserved name whose .delta form is over 1,024 bytes" "$dg" cp .dg-index.json "s3://releases/$deep/"
try "bad S3 URI" "$dg" cp builds/myapp-1.0.0.zip s3:///x
try "unknown option" "$dg" ls --no-such-flag s3://releases/
try "invalid DG_MAX_RATIO" env DG_MAX_RATIO=abc "$dg" ls s3://releases/
try "invalid DG_CODEC" env DG_CODEC=bsdiff "$dg" ls s3://releases/
try "invalid DG_REFERENCE_POLICY" env DG_REFERENCE_POLICY=chain "$dg" ls s3://releases/
try "invalid DG_UNWRAP_GZIP" env DG_UNWRAP_GZIP=perhaps "$dg" ls s3://releases/
try "invalid DG_LOG_LEVEL" env DG_LOG_LEVEL=LOUD "$dg" ls s3://releases/
try "invalid DG_CACHE_BACKEND" env DG_CACHE_BACKEND=redis "$dg" ls s3://releases/
try "invalid DG_CACHE_MEMORY_SIZE_MB" env DG_CACHE_MEMORY_SIZE_MB=lots "$dg" ls s3://releases/
try "invalid DG_CACHE_ENCRYPTION" env DG_CACHE_ENCRYPTION=maybe "$dg" ls s3://releases/
try "invalid DG_CACHE_ENCRYPTION_KEY" env DG_CACHE_ENCRYPTION_KEY=short "$dg" ls s3://releases/
try "invalid DG_SEGMENT_MB" env DG_SEGMENT_MB=big "$dg" ls s3://releases/
try "invalid endpoint URL" env AWS_ENDPOINT_URL=ftp://x "$dg" ls s3://releases/
try "unreachable endpoint" env AWS_ENDPOINT_URL=http://127.0.0.1:9 AWS_ACCESS_KEY_ID=k AWS_SECRET_ACCESS_KEY=s "$dg" ls s3://releases/
try "no credentials" env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY -u AWS_PROFILE AWS_ENDPOINT_URL=http://127.0.0.1:9 AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_EC2_METADATA_DISABLED=true "$dg" ls s3://releases/
try "a local store that is not there" env AWS_ENDPOINT_URL="file://$work/no-such-store" "$dg" ls s3://releases/
python3 -m http.server 0 --bind 127.0.0.1 >"$work/web.log" 2>&1 &
web=$!
for _ in $(seq 50); do grep -q "Serving HTTP" "$work/web.log" && break; sleep 0.1; done
port=$(sed -n 's/.*port \([0-9]*\).*/\1/p' "$work/web.log" | head -1)
try "an endpoint that is not S3 (a web server)" env AWS_ENDPOINT_URL="http://127.0.0.1:$port" AWS_ACCESS_KEY_ID=k AWS_SECRET_ACCESS_KEY=s "$dg" cp s3://releases/myapp-1.0.0.zip .
kill "$web"
try "invalid bucket name" "$dg" mb s3://Bad_Name
try "an ACL that lets others read a delta" "$dg" cp builds/myapp-1.0.1.zip s3://releases/ --acl public-read
try "a storage class read only after a restore" "$dg" cp builds/myapp-1.0.1.zip s3://releases/ --storage-class GLACIER
try "encryption on a local store" "$dg" cp builds/myapp-1.0.1.zip s3://releases/ --sse --no-delta
try "invalid gc grace period" "$dg" gc s3://releases --grace soon
try "a file that is not regular" "$dg" cp /dev/null s3://releases/
try "missing xdelta3 (an xdelta3 delta)" env PATH="$work/empty" "$dg" cp s3://releases/myapp-1.0.2.zip out.zip
flip_tail store/releases/myapp-1.0.1.zip.delta
try "damaged delta" "$dg" cp s3://releases/myapp-1.0.1.zip out.zip
try "damaged delta (verify)" "$dg" verify s3://releases/myapp-1.0.1.zip
flip_tail store/releases/reference.bin
try "reference changed" "$dg" cp s3://releases/myapp-1.0.0.zip out.zip
try "fsck after the damage" "$dg" fsck s3://releases --verify
[ -e out.zip ] && echo "BUG: out.zip exists after failed downloads" >&2
exit 0
