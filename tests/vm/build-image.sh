#!/usr/bin/env bash
# Builds the Debian 12 (bookworm) guest the VM suite boots, with Debian's own tools:
# debootstrap makes the root filesystem (systemd as PID 1, Debian's linux-image-amd64, sshd,
# what Gantry's agent runs), mkfs.ext4 -d turns it into a disk image without a loop mount,
# and the kernel and initrd are copied out for qemu's -kernel/-initrd.
#
# Usage: tests/vm/build-image.sh [CACHE_DIR]   (as root; default: <target dir>/vm)
# Prints the image directory. The image is keyed by a hash of this script, so a changed
# script builds a new one; an unchanged one returns at once. Older images are removed.
# The directory holds: rootfs.ext4, vmlinuz, initrd.img, id_ed25519 (the key the harness
# logs in with, made per build), cmdline (the kernel command line) and .built.
set -euo pipefail
# debootstrap, dpkg (ldconfig, start-stop-daemon), mkfs.ext4 and chroot live in the sbin
# directories, which a CI runner's or sudo's PATH may leave out.
export PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH"
# Standard output carries only the image directory (fd 3); whatever the tools print goes to
# standard error.
exec 3>&1 1>&2
here="$(cd "$(dirname "$0")" && pwd)"
root_dir="$(cd "$here/../.." && pwd)"
cache="${1:-${GANTRY_VM_CACHE:-${CARGO_TARGET_DIR:-$root_dir/target}/vm}}"
# The Debian mirror: $GANTRY_VM_MIRROR, else the one this machine's apt already uses (deb822
# .sources files first, then the one-line sources.list format).
mirror="${GANTRY_VM_MIRROR:-}"
if [[ -z "$mirror" ]]; then
  mirror="$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null |
    awk '$1 == "URIs:" { for (i = 2; i <= NF; i++) print $i }' |
    grep -E '/debian/?$' | head -n 1 || true)"
fi
if [[ -z "$mirror" ]]; then
  mirror="$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
    awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; break } }' |
    grep -E '/debian/?$' | head -n 1 || true)"
fi
if [[ -z "$mirror" ]]; then
  echo "no Debian mirror found in /etc/apt: set GANTRY_VM_MIRROR" >&2
  exit 1
fi
key="$(sha256sum "$0" | cut -c1-16)"
out="$cache/bookworm-$key"
if [[ -f "$out/.built" ]]; then
  echo "$out" >&3
  exit 0
fi
for tool in debootstrap mkfs.ext4 ssh-keygen; do
  command -v "$tool" >/dev/null || {
    echo "$tool is missing: run tests/install-deps.sh first" >&2
    exit 1
  }
done
mkdir -p "$cache"
# One build at a time per cache: parallel test binaries may all ask for the image.
exec 9>"$cache/.lock"
flock 9
if [[ -f "$out/.built" ]]; then
  echo "$out" >&3
  exit 0
fi
start=$(date +%s)
work="$cache/.work-$key"
rm -rf "$work"
mkdir -p "$work"
trap 'rm -rf "$work"' EXIT
rootfs="$work/root"

# What the guest needs: systemd as init (and udev, so fstab's /dev/vda is a device unit),
# the kernel and its modules (kmod: nftables and bridges load modules on demand), sshd for the
# harness, and what Gantry's agent runs or links: ip, nft, conntrack, nsenter (util-linux),
# busybox for the test images' tools, libseccomp, CA certificates.
packages=systemd-sysv,udev,dbus,kmod,linux-image-amd64,initramfs-tools,openssh-server
packages+=,iproute2,nftables,conntrack,util-linux,busybox-static,libseccomp2,ca-certificates
packages+=,procps,psmisc,less
echo "debootstrap bookworm from $mirror (a few minutes)" >&2
# Downloaded packages are kept in the cache (not in the image), so a rebuild after a script
# change downloads only what changed.
mkdir -p "$cache/debs"
debootstrap --variant=minbase --cache-dir="$cache/debs" --include="$packages" bookworm "$rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 || {
  tail -n 30 "$work/debootstrap.log" >&2
  exit 1
}

# The guest's own configuration.
echo gantry-vm >"$rootfs/etc/hostname"
printf '127.0.0.1 localhost\n127.0.1.1 gantry-vm\n' >"$rootfs/etc/hosts"
printf '/dev/vda / ext4 rw,errors=remount-ro 0 1\n' >"$rootfs/etc/fstab"
# qemu user networking: DHCP on the one virtio NIC, whatever udev names it.
mkdir -p "$rootfs/etc/systemd/network"
cat >"$rootfs/etc/systemd/network/10-vm.network" <<'NET'
[Match]
Name=en* eth*

[Network]
DHCP=ipv4
NET
ln -sf /lib/systemd/system/systemd-networkd.service \
  "$rootfs/etc/systemd/system/multi-user.target.wants/systemd-networkd.service"
# The guest reaches nothing outside (qemu's restrict=on): no DNS, no apt timers, no waiting.
: >"$rootfs/etc/resolv.conf"
for unit in apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer fstrim.timer \
  systemd-networkd-wait-online.service; do
  ln -sf /dev/null "$rootfs/etc/systemd/system/$unit"
done
# A root login for the harness: its key only, no password anywhere.
ssh-keygen -q -t ed25519 -N '' -C gantry-vm-harness -f "$work/id_ed25519"
install -d -m 0700 "$rootfs/root/.ssh"
install -m 0600 "$work/id_ed25519.pub" "$rootfs/root/.ssh/authorized_keys"
cat >"$rootfs/etc/ssh/sshd_config.d/gantry-vm.conf" <<'SSHD'
PermitRootLogin prohibit-password
PasswordAuthentication no
UseDNS no
SSHD
# A serial console login too, for a human debugging a boot (root has no password: the
# console is only the qemu process's own stdio/log).
passwd -R "$rootfs" -d root >/dev/null
# The kernel's and the initrd's copies for qemu's -kernel/-initrd.
cp "$(ls "$rootfs"/boot/vmlinuz-* | sort -V | tail -n1)" "$work/vmlinuz"
cp "$(ls "$rootfs"/boot/initrd.img-* | sort -V | tail -n1)" "$work/initrd.img"
# Debian's defaults otherwise: systemd 252 mounts the pure cgroup v2 hierarchy.
echo "root=/dev/vda rw console=ttyS0 quiet systemd.show_status=0 net.ifnames=0" >"$work/cmdline"
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
# A sparse 8 GiB disk: room for the binary, the test images and a nextest archive.
mkfs.ext4 -q -L gantry-vm -d "$rootfs" "$work/rootfs.ext4" 8G
rm -rf "$rootfs"
mkdir -p "$out"
mv "$work"/rootfs.ext4 "$work"/vmlinuz "$work"/initrd.img "$work"/id_ed25519 "$work"/id_ed25519.pub "$work"/cmdline "$out"/
touch "$out/.built"
# Only the newest image is kept.
for old in "$cache"/bookworm-* "$cache"/.work-*; do
  [[ "$old" == "$out" ]] || rm -rf "$old"
done
echo "built $out in $(($(date +%s) - start)) s"
echo "$out" >&3
