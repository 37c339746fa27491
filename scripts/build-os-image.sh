#!/usr/bin/env bash
# Builds a real operating-system image from Debian's packages: Debian 12 with Debian's cloud kernel
# and cloud-init, the kind of cloud image users deploy. It is the VM rig's test image
# (docs/guides/vm-rig.md). Needs root (it mounts the image's partition through a loop device).
#
#   scripts/build-os-image.sh [OUT_DIR]
#
# Writes, into OUT_DIR (default: the image cache, keyed by this script's content):
#   debian-12.raw       a 2 GiB raw disk: MBR, one ext4 partition labelled root, extlinux (BIOS)
#   debian-12.qcow2     the same disk as qcow2 (qemu-img convert)
#   debian-12.raw.zst   the raw disk, zstd-compressed
#   debian-12.raw.gz    the raw disk, gzip-compressed
#   SHA256SUMS          their checksums
# and prints OUT_DIR. A finished OUT_DIR (SHA256SUMS present) is reused as it is.
#
# The image boots with `console=ttyS0`, finds its seed on a NoCloud `cidata` filesystem, and runs a
# trimmed cloud-init. Besides ifupdown (cloud-init's renderer here), ifenslave makes its bonds and
# iputils-ping lets a host show that it reaches another (docs/guides/networks.md). The cloud-init
# module list is in 99-rig.cfg below (measured in ../shared/notes/vm-peers.md).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE="${BAREMETAL_IMAGE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/baremetal-images}"
KEY="$(sha256sum "$HERE/build-os-image.sh" | cut -c1-16)"
OUT="${1:-$CACHE/os-$KEY}"
if [ -f "$OUT/SHA256SUMS" ]; then echo "$OUT"; exit 0; fi
[ "$(id -u)" -eq 0 ] || { echo "error: building the OS image needs root (loop mount)" >&2; exit 1; }
for tool in mmdebstrap sfdisk mkfs.ext4 extlinux qemu-img zstd losetup; do
  command -v "$tool" >/dev/null || { echo "error: $tool is missing (scripts/test.sh installs it)" >&2; exit 1; }
done
MIRROR="$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)"
MIRROR="${MIRROR:-http://deb.debian.org/debian}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/bm-osimage.XXXXXX")"
MNT="$WORK/mnt"
LOOP=""
cleanup() {
  mountpoint -q "$MNT" 2>/dev/null && umount "$MNT"
  [ -n "$LOOP" ] && losetup -d "$LOOP" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT
mkdir -p "$MNT" "$OUT.partial"

echo "building the OS image from $MIRROR (bookworm) in $WORK" >&2
mmdebstrap --quiet --variant=apt \
  --include=linux-image-cloud-amd64,initramfs-tools,systemd-sysv,udev,cloud-init,openssh-server,ifupdown,ifenslave,isc-dhcp-client,iproute2,iputils-ping,sudo \
  --customize-hook='chroot "$1" systemctl mask apt-daily.timer apt-daily-upgrade.timer man-db.timer e2scrub_all.timer fstrim.timer >/dev/null 2>&1 || true' \
  bookworm "$WORK/root.tar" "deb $MIRROR bookworm main" >&2

# The disk: MBR, one bootable partition from sector 2048 to the end.
SIZE=$((2 * 1024 * 1024 * 1024))
IMG="$WORK/disk.raw"
truncate -s "$SIZE" "$IMG"
echo 'start=2048, type=83, bootable' | sfdisk -q "$IMG"
OFFSET=$((2048 * 512))
LOOP="$(losetup -f --show -o "$OFFSET" --sizelimit "$((SIZE - OFFSET))" "$IMG")"
mkfs.ext4 -q -L root -O ^metadata_csum_seed "$LOOP"
mount "$LOOP" "$MNT"
tar -C "$MNT" -xf "$WORK/root.tar"
KVER="$(ls "$MNT/lib/modules" | head -1)"
cat > "$MNT/etc/fstab" <<'EOF'
LABEL=root / ext4 defaults,errors=remount-ro 0 1
EOF
echo debian > "$MNT/etc/hostname"
cat > "$MNT/etc/cloud/cloud.cfg.d/99-rig.cfg" <<'EOF'
datasource_list: [ NoCloud, ConfigDrive, None ]
ssh_genkeytypes: [ ed25519 ]
cloud_init_modules: [ bootcmd, write-files, set_hostname, update_hostname, update_etc_hosts, users-groups, ssh ]
cloud_config_modules: [ set-passwords, runcmd ]
cloud_final_modules: [ scripts-vendor, scripts-per-once, scripts-per-boot, scripts-per-instance, scripts-user, ssh-authkey-fingerprints, phone-home, final-message, power-state-change ]
EOF
# The image's own boot loader (BIOS): extlinux on the root filesystem, syslinux's MBR code.
mkdir -p "$MNT/boot/extlinux"
extlinux --install "$MNT/boot/extlinux" >/dev/null 2>&1
cat > "$MNT/boot/extlinux/extlinux.conf" <<EOF
DEFAULT debian
TIMEOUT 1
PROMPT 0
LABEL debian
  LINUX /boot/vmlinuz-$KVER
  INITRD /boot/initrd.img-$KVER
  APPEND root=LABEL=root ro console=ttyS0,115200 net.ifnames=0
EOF
rm -rf "$MNT/var/cache/apt/archives/"*.deb "$MNT/var/lib/apt/lists/"*
umount "$MNT"
losetup -d "$LOOP"; LOOP=""
dd if=/usr/lib/syslinux/mbr/mbr.bin of="$IMG" bs=440 count=1 conv=notrunc status=none

cd "$OUT.partial"
mv "$IMG" debian-12.raw
qemu-img convert -f raw -O qcow2 debian-12.raw debian-12.qcow2
zstd -q -T0 -3 -f debian-12.raw -o debian-12.raw.zst
gzip -1 -c debian-12.raw > debian-12.raw.gz
sha256sum debian-12.raw debian-12.qcow2 debian-12.raw.zst debian-12.raw.gz > SHA256SUMS
cd /
rm -rf "$OUT"
mv "$OUT.partial" "$OUT"
# Older builds go: the newest three of this kind stay.
ls -td "$CACHE"/os-* 2>/dev/null | tail -n +4 | xargs -r rm -rf
echo "$OUT"
