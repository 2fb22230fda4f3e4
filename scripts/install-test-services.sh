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

# The schedule tests: a real crontab (Debian's cron) and systemd-analyze verify (Debian's
# systemd; works without systemd as PID 1). Each installed only when its tool is missing.
install_for_tool() { # <tool> <package>
  command -v "$1" >/dev/null 2>&1 && return 0
  if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "install-test-services: $1 missing; not root on Debian, install by hand: apt-get install -y $2 (the schedule tests skip what needs it)" >&2
    return 0
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$2" >/dev/null 2>&1 || \
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$2" >/dev/null; }
  echo "install-test-services: installed $2 ($1)"
}
install_for_tool crontab cron
install_for_tool systemd-analyze systemd

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
