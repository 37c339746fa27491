//! The system calls std does not offer: block device ioctls (size, zero-out, discard, secure
//! discard, partition re-read) and a raw packet socket for LLDP. The only unsafe code of the agent,
//! each call with its buffer sizes checked here.
#![allow(unsafe_code)]

use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

// From <linux/fs.h>.
const BLKRRPART: libc::c_ulong = 0x125f;
const BLKSECDISCARD: libc::c_ulong = 0x127d;
const BLKZEROOUT: libc::c_ulong = 0x127f;
const BLKGETSIZE64: libc::c_ulong = 0x8008_1272;

fn check(r: libc::c_int) -> io::Result<()> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// The size of a block device in bytes.
pub fn device_size(f: &File) -> io::Result<u64> {
    let mut size: u64 = 0;
    // SAFETY: BLKGETSIZE64 writes one u64 through the pointer, which lives for the call.
    check(unsafe { libc::ioctl(f.as_raw_fd(), BLKGETSIZE64, &mut size as *mut u64) })?;
    Ok(size)
}

fn range_ioctl(f: &File, req: libc::c_ulong, start: u64, len: u64) -> io::Result<()> {
    let range: [u64; 2] = [start, len];
    // SAFETY: these ioctls read two u64 (start, length) through the pointer, live for the call.
    check(unsafe { libc::ioctl(f.as_raw_fd(), req, range.as_ptr()) })
}

/// The device's logical sector size, if it is a block device.
pub fn sector_size(f: &File) -> Option<u32> {
    const BLKSSZGET: libc::c_ulong = 0x1268;
    let mut size: libc::c_int = 0;
    // SAFETY: BLKSSZGET writes one int through the pointer, which lives for the call.
    let r = unsafe { libc::ioctl(f.as_raw_fd(), BLKSSZGET, &mut size as *mut libc::c_int) };
    (r == 0 && size > 0).then_some(size as u32)
}

/// Zeroes `len` bytes at `start` with the device's write-zeroes (reads back as zeros, guaranteed).
pub fn zero_out(f: &File, start: u64, len: u64) -> io::Result<()> {
    range_ioctl(f, BLKZEROOUT, start, len)
}

/// A secure discard: the device erases the blocks and any copies it keeps.
pub fn secure_discard(f: &File, start: u64, len: u64) -> io::Result<()> {
    range_ioctl(f, BLKSECDISCARD, start, len)
}

/// Drops what the kernel caches of the device (or file), so reads come from the media: the
/// buffer cache of a block device (BLKFLSBUF), and the page cache (`POSIX_FADV_DONTNEED`).
pub fn drop_cache(f: &File) {
    const BLKFLSBUF: libc::c_ulong = 0x1261;
    // SAFETY: BLKFLSBUF takes no argument; posix_fadvise takes plain integers.
    unsafe {
        let _ = libc::ioctl(f.as_raw_fd(), BLKFLSBUF, 0);
        let _ = libc::posix_fadvise(f.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED);
    }
}

/// Asks the kernel to read the partition table again.
pub fn reread_partitions(f: &File) -> io::Result<()> {
    // SAFETY: BLKRRPART takes no argument.
    check(unsafe { libc::ioctl(f.as_raw_fd(), BLKRRPART, 0) })
}

/// A raw socket bound to one interface, receiving frames of one ethertype.
pub struct PacketSocket {
    fd: OwnedFd,
}

impl PacketSocket {
    pub fn open(ifindex: i32, ethertype: u16) -> io::Result<PacketSocket> {
        let proto = ethertype.to_be();
        // SAFETY: plain socket(2); the descriptor is owned at once.
        let raw = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW, proto as libc::c_int) };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` is a fresh descriptor nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        // SAFETY: sockaddr_ll is plain data; zeroed is a valid value.
        let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        addr.sll_family = libc::AF_PACKET as u16;
        addr.sll_protocol = proto;
        addr.sll_ifindex = ifindex;
        // SAFETY: the address and its size are those of a sockaddr_ll on the stack.
        check(unsafe {
            libc::bind(
                fd.as_raw_fd(),
                &addr as *const libc::sockaddr_ll as *const libc::sockaddr,
                std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        })?;
        // LLDP goes to a link-local group address that NICs (virtio's receive filter among
        // them) drop unless told otherwise: the interface is made promiscuous while the socket is
        // open, as Ironic's agent does (the kernel undoes it when the socket closes).
        // SAFETY: packet_mreq is plain data; zeroed is valid.
        let mut mreq: libc::packet_mreq = unsafe { std::mem::zeroed() };
        mreq.mr_ifindex = ifindex;
        mreq.mr_type = libc::PACKET_MR_PROMISC as u16;
        // SAFETY: the option value and its size are those of a packet_mreq on the stack.
        check(unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_PACKET,
                libc::PACKET_ADD_MEMBERSHIP,
                &mreq as *const libc::packet_mreq as *const libc::c_void,
                std::mem::size_of::<libc::packet_mreq>() as libc::socklen_t,
            )
        })?;
        Ok(PacketSocket { fd })
    }

    /// Receives one frame, waiting at most `timeout_ms`. `Ok(None)` on timeout.
    pub fn recv(&self, buf: &mut [u8], timeout_ms: i32) -> io::Result<Option<usize>> {
        let mut pfd = libc::pollfd {
            fd: self.fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one pollfd on the stack.
        let n = unsafe { libc::poll(&mut pfd, 1, timeout_ms) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        if n == 0 {
            return Ok(None);
        }
        // SAFETY: the buffer is valid for its length.
        let r = unsafe {
            libc::recv(
                self.fd.as_raw_fd(),
                buf.as_mut_ptr() as *mut libc::c_void,
                buf.len(),
                0,
            )
        };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Some(r as usize))
    }
}
