#!/usr/bin/env bash
# Builds the deploy agent's ramdisk and its bootable ISO from Debian's packages and this
# repository: Debian's kernel (linux-image-amd64) with the block and network drivers servers and VMs
# need, busybox (busybox-static), and bm-agent with the libraries it links. The ISO boots by BIOS
# and UEFI (grub-mkrescue), so a BMC's virtual media can boot it.
#
#   scripts/build-agent-iso.sh [OUT_DIR]
#
# Writes agent.iso, vmlinuz, initrd.img and SHA256SUMS into OUT_DIR (default: the image cache,
# keyed by this script, the agent's sources and Cargo.lock) and prints OUT_DIR; a finished OUT_DIR
# is reused. The kernel command line in the ISO ends with a 512-byte placeholder (BMARGS####…) that
# the engine overwrites, byte for byte, with `bm.url=<endpoint>/agent/<token>` for each operation.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
CACHE="${BAREMETAL_IMAGE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/baremetal-images}"
KEY="$(cd "$ROOT" && { cat scripts/build-agent-iso.sh Cargo.lock agent/Cargo.toml; find agent/src planner/core/src -name '*.rs' | sort | xargs cat; } | sha256sum | cut -c1-16)"
OUT="${1:-$CACHE/agent-$KEY}"
if [ -f "$OUT/SHA256SUMS" ]; then echo "$OUT"; exit 0; fi
for tool in grub-mkrescue xorriso mformat cpio apt-get dpkg-deb modprobe depmod; do
  command -v "$tool" >/dev/null || { echo "error: $tool is missing (scripts/test.sh installs it)" >&2; exit 1; }
done
[ -x /bin/busybox ] && /bin/busybox true || {
  echo "error: /bin/busybox (package busybox-static) is missing" >&2; exit 1; }
WORK="$(mktemp -d "${TMPDIR:-/tmp}/bm-agentiso.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

echo "building bm-agent" >&2
(cd "$ROOT" && cargo build -q -p bm-agent --locked)
AGENT="$ROOT/target/debug/bm-agent"

# The kernel: the version linux-image-amd64 depends on, fetched as a package (cached by name).
KPKG="$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')"
[ -n "$KPKG" ] || { echo "error: cannot tell which kernel linux-image-amd64 depends on" >&2; exit 1; }
mkdir -p "$CACHE/debs"
DEB="$(ls "$CACHE/debs/${KPKG}_"*.deb 2>/dev/null | head -1 || true)"
if [ -z "$DEB" ]; then
  (cd "$CACHE/debs" && apt-get download -q "$KPKG" >&2)
  DEB="$(ls "$CACHE/debs/${KPKG}_"*.deb | head -1)"
fi
dpkg-deb -x "$DEB" "$WORK/k"
KVER="$(ls "$WORK/k/lib/modules" | head -1)"
depmod -b "$WORK/k" "$KVER"

R="$WORK/initrd"
mkdir -p "$R"/{bin,sbin,etc,proc,sys,dev,tmp,run,lib/modules,usr/share/udhcpc}
cp /bin/busybox "$R/bin/busybox"
ln -s busybox "$R/bin/sh"
cp "$AGENT" "$R/bin/bm-agent"
strip "$R/bin/bm-agent" 2>/dev/null || true
# Capture snapshots the root filesystem with device-mapper (Debian's dmsetup).
DMSETUP="$(command -v dmsetup || true)"
[ -n "$DMSETUP" ] || { echo "error: dmsetup (package dmsetup) is missing" >&2; exit 1; }
cp "$DMSETUP" "$R/sbin/dmsetup"
# The libraries bm-agent and dmsetup link (glibc's loader among them).
{ ldd "$AGENT"; ldd "$DMSETUP"; } | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}' | while read -r lib; do
  mkdir -p "$R$(dirname "$lib")"
  cp -L "$lib" "$R$lib"
done
# Drivers: virtio (VMs), NVMe/AHCI/SCSI disks, common server NICs, and what they need.
# Capture: ext4 (ext2/3 too), device-mapper snapshots, and loop devices for their stores.
MODS="virtio_pci virtio_blk virtio_scsi virtio_net sd_mod nvme ahci ata_piix e1000 e1000e igb ixgbe i40e tg3 bnxt_en af_packet ext4 dm_snapshot loop"
: > "$R/etc/modules.order"
for m in $MODS; do
  modprobe -d "$WORK/k" -S "$KVER" --show-depends "$m" 2>/dev/null | awk '$1 == "insmod" {print $2}' | while read -r ko; do
    rel="${ko#"$WORK/k/lib/modules/$KVER/"}"
    if ! grep -qxF "$rel" "$R/etc/modules.order"; then
      mkdir -p "$R/lib/modules/$(dirname "$rel")"
      cp "$ko" "$R/lib/modules/$rel"
      echo "$rel" >> "$R/etc/modules.order"
    fi
  done
done

cat > "$R/usr/share/udhcpc/default.script" <<'EOF'
#!/bin/sh
case "$1" in
  bound|renew)
    ifconfig "$interface" "$ip" netmask "${subnet:-255.255.255.0}" up
    if [ -n "$router" ]; then
      for r in $router; do route add default gw "$r" dev "$interface" 2>/dev/null; break; done
    fi
    : > /etc/resolv.conf
    for d in $dns; do echo "nameserver $d" >> /etc/resolv.conf; done
    echo "bm-agent ramdisk: $interface has $ip" > /dev/console
    ;;
esac
exit 0
EOF
chmod +x "$R/usr/share/udhcpc/default.script"

cat > "$R/init" <<'EOF'
#!/bin/sh
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
/bin/busybox --install -s
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs -o size=90% tmp /tmp
echo "bm-agent ramdisk: loading drivers" > /dev/console
while read -r m; do insmod "/lib/modules/$m" 2>/dev/null; done < /etc/modules.order
sleep 1
ip link set lo up
for i in /sys/class/net/*; do
  n="${i##*/}"; [ "$n" = lo ] && continue
  ip link set "$n" up
  udhcpc -i "$n" -q -n -t 8 -T 2 -s /usr/share/udhcpc/default.script &
done
wait
# The benchmark baseline (scripts/bench-deploy.py): with bm.dd=<url> on the command line, the
# ramdisk fetches that file into memory, writes it to the first virtio disk with busybox dd, prints
# the time, and powers off; the agent does not start.
DD_URL="$(sed -n 's/.*bm\.dd=\([^ ]*\).*/\1/p' /proc/cmdline)"
if [ -n "$DD_URL" ]; then
  wget -q -O /tmp/dd.img "$DD_URL"
  start=$(cut -d' ' -f1 /proc/uptime)
  dd if=/tmp/dd.img of=/dev/vda bs=4M conv=fsync 2>/dev/null
  end=$(cut -d' ' -f1 /proc/uptime)
  echo "BM-DD bytes=$(stat -c %s /tmp/dd.img) start=$start end=$end" > /dev/console
  poweroff -f
fi
# The capture benchmark's baseline: with bm.ddread=<MiB> on the command line, busybox dd reads that
# much of the first virtio disk to /dev/null, prints the time, and powers off.
DD_READ="$(sed -n 's/.*bm\.ddread=\([0-9]*\).*/\1/p' /proc/cmdline)"
if [ -n "$DD_READ" ]; then
  start=$(cut -d' ' -f1 /proc/uptime)
  dd if=/dev/vda of=/dev/null bs=1M count="$DD_READ" 2>/dev/null
  end=$(cut -d' ' -f1 /proc/uptime)
  echo "BM-DDREAD bytes=$((DD_READ * 1048576)) start=$start end=$end" > /dev/console
  poweroff -f
fi
echo "bm-agent ramdisk: starting the agent" > /dev/console
while true; do
  /bin/bm-agent > /dev/console 2>&1
  echo "bm-agent ramdisk: the agent stopped ($?); starting it again in 5 s" > /dev/console
  sleep 5
done
EOF
chmod +x "$R/init"
(cd "$R" && find . | LC_ALL=C sort | cpio -o -H newc --quiet --reproducible) | gzip -n -6 > "$WORK/initrd.img"

ISO="$WORK/iso"
mkdir -p "$ISO/boot/grub"
cp "$WORK/k/boot/vmlinuz-$KVER" "$ISO/boot/vmlinuz"
cp "$WORK/initrd.img" "$ISO/boot/initrd.img"
PLACEHOLDER="BMARGS$(printf '#%.0s' $(seq 1 506))"
cat > "$ISO/boot/grub/grub.cfg" <<EOF
serial --unit=0 --speed=115200
terminal_input serial console
terminal_output serial console
set timeout=0
set default=0
menuentry "bm-agent" {
  linux /boot/vmlinuz console=tty0 console=ttyS0,115200 panic=10 $PLACEHOLDER
  initrd /boot/initrd.img
}
EOF
export SOURCE_DATE_EPOCH=1700000000
grub-mkrescue -o "$WORK/agent.iso" "$ISO" -- -volid BMAGENT >/dev/null 2>&1
count="$(grep -c -a "BMARGS#" "$WORK/agent.iso" || true)"
[ "$count" = 1 ] || { echo "error: the placeholder appears $count times in the ISO, not once" >&2; exit 1; }

mkdir -p "$OUT.partial"
cp "$WORK/agent.iso" "$WORK/initrd.img" "$OUT.partial/"
cp "$ISO/boot/vmlinuz" "$OUT.partial/vmlinuz"
(cd "$OUT.partial" && sha256sum agent.iso vmlinuz initrd.img > SHA256SUMS)
rm -rf "$OUT"
mv "$OUT.partial" "$OUT"
# Older builds go: the newest three of this kind stay.
ls -td "$CACHE"/agent-* 2>/dev/null | tail -n +4 | xargs -r rm -rf
echo "$OUT"
