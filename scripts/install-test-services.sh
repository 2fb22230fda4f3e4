#!/bin/sh
# Installs the services the AWS tests run against: Ceph's RADOS Gateway (S3 + STS with
# enforced role policies) on a single-node memstore cluster. Idempotent: does nothing
# when the binaries are already present. Needs root on Debian/Ubuntu; elsewhere it says
# so and exits 0 (the tests then skip with the same explanation).
set -eu

# The live-tree golden tests draw the tree in a real terminal: tmux (Debian's package).
if ! command -v tmux >/dev/null 2>&1 && [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends tmux >/dev/null 2>&1 || \
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends tmux >/dev/null; }
  echo "install-test-services: installed tmux"
fi

missing=""
for tool in radosgw radosgw-admin ceph-mon ceph-osd ceph monmaptool; do
  command -v "$tool" >/dev/null 2>&1 || missing="$missing $tool"
done
if [ -z "$missing" ]; then
  echo "install-test-services: radosgw, ceph-mon, ceph-osd already installed"
  exit 0
fi
if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "install-test-services: missing:$missing; not root on Debian, install by hand: apt-get install -y radosgw ceph-mon ceph-osd" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends radosgw ceph-mon ceph-osd ceph-common >/dev/null
echo "install-test-services: installed $(radosgw --version 2>/dev/null | head -n1)"
