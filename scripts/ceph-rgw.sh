#!/usr/bin/env bash
# Throw-away one-node Ceph RADOS Gateway (real S3 server) for the test suite.
#
#   scripts/ceph-rgw.sh start DIR   # prints + writes DIR/env (DG_TEST_CEPH_*)
#   scripts/ceph-rgw.sh stop  DIR   # kills the daemons recorded in DIR/pids
#
# One ceph-mon, one memstore ceph-osd and one radosgw, everything bound to
# 127.0.0.1 and every file (conf, keyrings, data, logs, sockets) inside DIR.
# No systemd: daemons run with --foreground in their own session, their PIDs
# go to DIR/pids. Several instances in different DIRs can run side by side.
# Env knobs: CEPH_RGW_TIMEOUT (s, default 120), CEPH_RGW_MEMSTORE_BYTES.
set -euo pipefail

die() { echo "ceph-rgw: $*" >&2; exit 1; }
[ $# -eq 2 ] && [ -n "$2" ] || die "usage: $0 start|stop DIR"
CMD=$1
D=$(realpath -m -- "$2")
CONF=$D/ceph.conf

alive() {  # PID is running (not a zombie) and belongs to this DIR's cluster
  local st
  st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
  [ "$st" != Z ] && tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -qF -- "$CONF"
}

stop_one() {  # SIGNAL PID: signal, wait up to ~5 s, then KILL
  alive "$2" || return 0
  kill "-$1" "$2" 2>/dev/null || true
  for _ in $(seq 50); do alive "$2" || return 0; sleep 0.1; done
  kill -KILL "$2" 2>/dev/null || true
}
do_stop() {  # newest first (rgw, osd, mon): rgw hangs on TERM if the mon/osd are gone
  [ -f "$D/pids" ] || return 0
  local name pid
  # The memstore OSD would dump its whole RAM store to disk on a clean
  # shutdown; the data is throw-away, so it gets KILL straight away.
  tac "$D/pids" | while read -r name pid; do
    if [ "$name" = osd ]; then stop_one KILL "$pid"; else stop_one TERM "$pid"; fi
  done
}

if [ "$CMD" = stop ]; then do_stop; exit 0; fi
[ "$CMD" = start ] || die "usage: $0 start|stop DIR"

# ---- packages ---------------------------------------------------------------
PKGS=(radosgw ceph-mon ceph-osd)
have_bins() {
  local b
  for b in radosgw radosgw-admin ceph-mon ceph-osd ceph ceph-authtool monmaptool; do
    command -v "$b" >/dev/null || return 1
  done
}
if ! have_bins; then
  [ "$(id -u)" = 0 ] || die "missing Ceph binaries; run: sudo apt-get install -y --no-install-recommends ${PKGS[*]}"
  export DEBIAN_FRONTEND=noninteractive
  inst() { apt-get install -y -q -o DPkg::Lock::Timeout=120 --no-install-recommends "${PKGS[@]}" >&2; }
  if ! compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null || ! inst; then
    { apt-get update -q >&2 && inst; } || die "apt-get install ${PKGS[*]} failed"
  fi
  have_bins || die "Ceph binaries still missing after installing ${PKGS[*]}"
fi

# ---- cluster directory + config ---------------------------------------------
if [ -e "$D" ] && [ -n "$(ls -A "$D")" ]; then die "$D exists and is not empty"; fi
mkdir -p "$D"/{run,log,keys,mon/a,osd/0,rgw}
: >"$D/pids"
STARTED=0
on_exit() {  # on any failure: explain, show the logs, leave nothing running
  local rc=$?
  [ "$STARTED" = 1 ] && return
  echo "ceph-rgw: start FAILED (rc=$rc); log tails follow, daemons stopped, state kept in $D" >&2
  for f in "$D"/log/{setup.log,*.out,mon.a.log,osd.0.log,client.rgw.log}; do
    [ -s "$f" ] && { echo "--- $f" >&2; tail -n 15 "$f" >&2; }
  done
  do_stop
  exit 1
}
trap on_exit EXIT
DEADLINE=$((SECONDS + ${CEPH_RGW_TIMEOUT:-120}))
SETUP_LOG=$D/log/setup.log
run() { echo "+ $*" >>"$SETUP_LOG"; "$@" >>"$SETUP_LOG" 2>&1; }

read -r MON_PORT RGW_PORT FSID OSD_UUID ACCESS_KEY SECRET_KEY LIMITED_ACCESS_KEY \
  LIMITED_SECRET_KEY CONFORMANCE_ACCESS_KEY CONFORMANCE_SECRET_KEY < <(python3 - <<'EOF'
import socket, uuid, secrets, string, random
# Free ports below the ephemeral range (so no client connection grabs them
# before the daemons bind) and outside the OSDs' 6800-7300.
lo = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
ports = []
while len(ports) < 2:
    p = random.randrange(10000, lo if lo > 11000 else 65535)
    with socket.socket() as s:
        try: s.bind(("127.0.0.1", p)); p not in ports and ports.append(p)
        except OSError: pass
def key(): return "DG" + "".join(secrets.choice(string.ascii_uppercase + string.digits) for _ in range(18))
pairs = [v for _ in range(3) for v in (key(), secrets.token_hex(20))]  # three users' keys
print(*ports, uuid.uuid4(), uuid.uuid4(), *pairs)
EOF
)
ENDPOINT=http://127.0.0.1:$RGW_PORT

# msgr v2 only, so the mon needs exactly one port; the OSD picks its own
# ports (6800-7300) on public/cluster addr 127.0.0.1.
cat >"$CONF" <<EOF
[global]
fsid = $FSID
mon_host = [v2:127.0.0.1:$MON_PORT]
public_addr = 127.0.0.1
cluster_addr = 127.0.0.1
ms_bind_msgr1 = false
ms_bind_ipv6 = false
auth_cluster_required = cephx
auth_service_required = cephx
auth_client_required = cephx
run_dir = $D/run
admin_socket = $D/run/\$name.asok
pid_file = $D/run/\$name.pid
log_file = $D/log/\$name.log
crash_dir = $D/crash
keyring = $D/keys/\$name.keyring
client_mount_timeout = 60
osd_pool_default_size = 1
osd_pool_default_min_size = 1
osd_pool_default_pg_num = 8
osd_pool_default_pgp_num = 8
osd_pool_default_pg_autoscale_mode = off
osd_crush_chooseleaf_type = 0
mon_allow_pool_size_one = true
mon_warn_on_pool_no_redundancy = false
mon_max_pg_per_osd = 1000
[mon]
mon_data = $D/mon/\$id
mon_data_avail_crit = 1
mon_allow_pool_delete = true
mon_cluster_log_file = default=$D/log/ceph.\$channel.log cluster=$D/log/ceph.log
# Commit map changes every 50 ms instead of 1 s: each pool radosgw creates
# costs two map commits, this alone takes startup from ~12 s to a few s.
paxos_propose_interval = 0.05
paxos_min_wait = 0.01
[osd]
osd_data = $D/osd/\$id
osd_objectstore = memstore
memstore_device_bytes = ${CEPH_RGW_MEMSTORE_BYTES:-4294967296}
[client.rgw]
rgw_data = $D/rgw
objecter_tick_interval = 1
rgw_frontends = beast endpoint=127.0.0.1:$RGW_PORT
EOF

# ---- keys + mon ----------------------------------------------------------------
K=$D/keys
OSD_KEY=$(ceph-authtool --gen-print-key)
run ceph-authtool --create-keyring "$K/mon.a.keyring" --gen-key -n mon. --cap mon 'allow *'
run ceph-authtool --create-keyring "$K/client.admin.keyring" --gen-key -n client.admin \
  --cap mon 'allow *' --cap osd 'allow *' --cap mgr 'allow *'
run ceph-authtool --create-keyring "$K/client.rgw.keyring" --gen-key -n client.rgw \
  --cap mon 'allow rw' --cap osd 'allow rwx'
run ceph-authtool --create-keyring "$K/osd.0.keyring" -n osd.0 --add-key "$OSD_KEY"
run ceph-authtool "$K/mon.a.keyring" --import-keyring "$K/client.admin.keyring"
run ceph-authtool "$K/mon.a.keyring" --import-keyring "$K/client.rgw.keyring"
run monmaptool --create --fsid "$FSID" --addv a "[v2:127.0.0.1:$MON_PORT]" "$D/monmap"
run ceph-mon -c "$CONF" --mkfs -i a --monmap "$D/monmap" --keyring "$K/mon.a.keyring"

daemon() {  # NAME CMD...: run in its own session, detached from our stdio
  local name=$1; shift
  setsid "$@" -c "$CONF" --foreground </dev/null >>"$D/log/$name.out" 2>&1 &
  echo "$name $!" >>"$D/pids"
}
daemon mon ceph-mon -i a

# ---- osd (memstore) -------------------------------------------------------------
ceph_cli() { timeout 60 ceph -c "$CONF" --connect-timeout 60 "$@"; }
echo "{\"cephx_secret\": \"$OSD_KEY\"}" >"$D/osd-secret.json"
OSD_ID=$(ceph_cli osd new "$OSD_UUID" -i "$D/osd-secret.json" 2>>"$SETUP_LOG")
[ "$OSD_ID" = 0 ] || die "unexpected osd id '$OSD_ID'"
run ceph-osd -c "$CONF" -i 0 --mkfs --osd-uuid "$OSD_UUID"
daemon osd ceph-osd -i 0
# Start radosgw only once the OSD is up: if its first op meets an osdmap with
# no OSD up, the objecter waits for its next tick before asking for a new map.
until ceph_cli osd stat -f json 2>>"$SETUP_LOG" | grep -q '"num_up_osds":1'; do
  [ $SECONDS -lt $DEADLINE ] || die "timeout: osd.0 never came up"
  sleep 0.2
done

# ---- radosgw + S3 user ----------------------------------------------------------
daemon rgw radosgw -n client.rgw
until curl -s -o /dev/null --noproxy '*' -m 2 "$ENDPOINT/"; do  # rgw init done?
  [ $SECONDS -lt $DEADLINE ] || die "timeout: radosgw never answered on $ENDPOINT"
  alive "$(awk '$1=="rgw"{print $2}' "$D/pids")" || die "radosgw exited"
  sleep 0.3
done
run timeout 60 radosgw-admin -c "$CONF" user create --uid=dgtest --display-name="deltaglider tests" \
  --access-key="$ACCESS_KEY" --secret-key="$SECRET_KEY"
# A second user, with no rights of its own: tests grant it a prefix by bucket policy.
run timeout 60 radosgw-admin -c "$CONF" user create --uid=dglimited \
  --display-name="deltaglider tests, one prefix" \
  --access-key="$LIMITED_ACCESS_KEY" --secret-key="$LIMITED_SECRET_KEY"
# A third, for the s3-tests conformance run through the gateway: its buckets are its
# own, so it can run beside pytest, whose buckets its ListBuckets tests never see.
run timeout 60 radosgw-admin -c "$CONF" user create --uid=dgconformance \
  --display-name="deltaglider conformance run" \
  --access-key="$CONFORMANCE_ACCESS_KEY" --secret-key="$CONFORMANCE_SECRET_KEY"

# Authenticated ListBuckets (SigV4, stdlib only) until it returns 200.
probe() { python3 - "$ENDPOINT" "$ACCESS_KEY" "$SECRET_KEY" <<'EOF'
import sys, hmac, hashlib, datetime, urllib.request
ep, ak, sk = sys.argv[1:4]
amz = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ"); day = amz[:8]
ph = hashlib.sha256(b"").hexdigest(); sh = "host;x-amz-content-sha256;x-amz-date"
canon = f"GET\n/\n\nhost:{ep.split('//')[1]}\nx-amz-content-sha256:{ph}\nx-amz-date:{amz}\n\n{sh}\n{ph}"
scope = f"{day}/us-east-1/s3/aws4_request"
k = ("AWS4" + sk).encode()
for m in (day, "us-east-1", "s3", "aws4_request"): k = hmac.new(k, m.encode(), hashlib.sha256).digest()
sts = f"AWS4-HMAC-SHA256\n{amz}\n{scope}\n" + hashlib.sha256(canon.encode()).hexdigest()
sig = hmac.new(k, sts.encode(), hashlib.sha256).hexdigest()
req = urllib.request.Request(ep + "/", headers={"x-amz-date": amz, "x-amz-content-sha256": ph,
    "Authorization": f"AWS4-HMAC-SHA256 Credential={ak}/{scope}, SignedHeaders={sh}, Signature={sig}"})
urllib.request.build_opener(urllib.request.ProxyHandler({})).open(req, timeout=5).read()
EOF
}
until probe 2>>"$SETUP_LOG"; do
  [ $SECONDS -lt $DEADLINE ] || die "timeout: authenticated S3 request to $ENDPOINT never succeeded"
  sleep 0.5
done

# ---- done -------------------------------------------------------------------------
rm -f "$D/osd-secret.json"
cat >"$D/env" <<EOF
DG_TEST_CEPH_ENDPOINT=$ENDPOINT
DG_TEST_CEPH_ACCESS_KEY=$ACCESS_KEY
DG_TEST_CEPH_SECRET_KEY=$SECRET_KEY
DG_TEST_CEPH_LIMITED_USER=dglimited
DG_TEST_CEPH_LIMITED_ACCESS_KEY=$LIMITED_ACCESS_KEY
DG_TEST_CEPH_LIMITED_SECRET_KEY=$LIMITED_SECRET_KEY
DG_TEST_CEPH_CONFORMANCE_ACCESS_KEY=$CONFORMANCE_ACCESS_KEY
DG_TEST_CEPH_CONFORMANCE_SECRET_KEY=$CONFORMANCE_SECRET_KEY
EOF
STARTED=1
cat "$D/env"
