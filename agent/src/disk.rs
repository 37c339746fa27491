//! The disks the kernel sees (from `/sys/block`), and a writer that puts an image onto one: data
//! written as it comes, runs of zeros given to the device's write-zeroes.

use std::fs::{File, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
use std::path::Path;

use planner_core::deploy::agent::Disk;

/// Names that are not disks an image or a wipe is for: loops, RAM disks, CD-ROMs, floppies,
/// device-mapper and software RAID on top of real disks.
fn skipped(name: &str) -> bool {
    ["loop", "ram", "zram", "sr", "fd", "dm-", "md", "nbd"]
        .iter()
        .any(|p| name.starts_with(p))
}

fn read(p: &Path) -> Option<String> {
    std::fs::read_to_string(p)
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// The `/dev/disk/by-path/` name udev gives a disk, from its sysfs path: the PCI address of its
/// controller, then the SCSI address when there is one (`pci-0000:00:05.0-scsi-0:0:0:0`).
pub fn by_path(sys_path: &str) -> Option<String> {
    let parts: Vec<&str> = sys_path.split('/').collect();
    let is_pci = |s: &str| {
        let b = s.as_bytes();
        s.len() == 12 && b[4] == b':' && b[7] == b':' && b[10] == b'.'
    };
    let pci = parts.iter().rposition(|s| is_pci(s))?;
    let mut out = format!("pci-{}", parts[pci]);
    let is_hctl =
        |s: &str| s.split(':').count() == 4 && s.split(':').all(|x| x.parse::<u32>().is_ok());
    if let Some(h) = parts[pci..].iter().find(|s| is_hctl(s)) {
        out.push_str(&format!("-scsi-{h}"));
    }
    Some(out)
}

/// The disks under `root` (`/sys/block` on a live system), sorted by name.
pub fn disks_under(root: &Path) -> Vec<Disk> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(root) else {
        return out;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        if skipped(&name) {
            continue;
        }
        let dir = e.path();
        if read(&dir.join("removable")).as_deref() == Some("1") {
            continue;
        }
        let sectors: u64 = read(&dir.join("size"))
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        if sectors == 0 {
            continue;
        }
        let link = std::fs::read_link(&dir)
            .map(|p| p.to_string_lossy().to_string())
            .unwrap_or_default();
        out.push(Disk {
            size_bytes: sectors * 512,
            model: read(&dir.join("device/model")),
            serial: read(&dir.join("serial"))
                .or_else(|| read(&dir.join("device/serial")))
                .or_else(|| read(&dir.join("device/wwid"))),
            rotational: read(&dir.join("queue/rotational")).as_deref() == Some("1"),
            by_path: by_path(&link),
            name,
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

pub fn disks() -> Vec<Disk> {
    disks_under(Path::new("/sys/block"))
}

/// Opens `/dev/<name>` (or a file, in tests) for writing.
pub fn open(dev: &Path) -> Result<File, String> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .open(dev)
        .map_err(|e| format!("opening {}: {e}", dev.display()))
}

/// Writes an image in order; zero runs go to the device's write-zeroes (a file in tests: written).
pub struct Writer {
    file: File,
    pos: u64,
    /// Bytes written as data, and bytes zeroed.
    pub written: u64,
    pub zeroed: u64,
    /// Set when the device's write-zeroes was refused: zeros are written from then on.
    no_zero_out: bool,
    capacity: u64,
}

impl Writer {
    pub fn new(file: File, capacity: u64) -> Writer {
        Writer {
            file,
            pos: 0,
            written: 0,
            zeroed: 0,
            no_zero_out: false,
            capacity,
        }
    }

    pub fn position(&self) -> u64 {
        self.pos
    }

    /// Moves where the next write goes.
    pub fn seek_to(&mut self, pos: u64) {
        self.pos = pos;
    }

    /// Writes `data` at the current position.
    pub fn put(&mut self, data: &[u8]) -> Result<(), String> {
        if self.pos + data.len() as u64 > self.capacity {
            return Err(format!(
                "the image is larger than the disk ({} bytes): it does not fit",
                self.capacity
            ));
        }
        const BLOCK: usize = 64 * 1024;
        let mut i = 0;
        while i < data.len() {
            let end = (i + BLOCK).min(data.len());
            let chunk = &data[i..end];
            if chunk.len() == BLOCK && is_zero(chunk) {
                // Coalesce the zero run.
                let mut j = end;
                while j + BLOCK <= data.len() && is_zero(&data[j..j + BLOCK]) {
                    j += BLOCK;
                }
                self.zeros((j - i) as u64)?;
                i = j;
            } else {
                // Coalesce the data run: one write for consecutive blocks that are not all zeros.
                let mut j = end;
                while j < data.len() {
                    let k = (j + BLOCK).min(data.len());
                    if k - j == BLOCK && is_zero(&data[j..k]) {
                        break;
                    }
                    j = k;
                }
                self.data(&data[i..j])?;
                i = j;
            }
        }
        Ok(())
    }

    fn data(&mut self, chunk: &[u8]) -> Result<(), String> {
        self.file
            .seek(SeekFrom::Start(self.pos))
            .and_then(|_| self.file.write_all(chunk))
            .map_err(|e| format!("writing at byte {}: {e}", self.pos))?;
        self.pos += chunk.len() as u64;
        self.written += chunk.len() as u64;
        Ok(())
    }

    /// `len` zero bytes at `at`; the position moves past them.
    pub fn zeros_at(&mut self, at: u64, len: u64) -> Result<(), String> {
        self.pos = at;
        self.zeros(len)
    }

    /// `len` zero bytes at the current position.
    pub fn zeros(&mut self, len: u64) -> Result<(), String> {
        if self.pos + len > self.capacity {
            return Err(format!(
                "the image is larger than the disk ({} bytes): it does not fit",
                self.capacity
            ));
        }
        let aligned = self.pos % 512 == 0 && len % 512 == 0;
        if !self.no_zero_out && aligned {
            match crate::sys::zero_out(&self.file, self.pos, len) {
                Ok(()) => {
                    self.pos += len;
                    self.zeroed += len;
                    return Ok(());
                }
                // The device (or a file) has no write-zeroes: zeros are written from now on.
                Err(e)
                    if matches!(
                        e.raw_os_error(),
                        Some(libc::ENOTTY | libc::EOPNOTSUPP | libc::EINVAL)
                    ) =>
                {
                    self.no_zero_out = true
                }
                Err(_) => {}
            }
        }
        let buf = vec![0u8; 1 << 20];
        let mut left = len;
        while left > 0 {
            let n = left.min(buf.len() as u64) as usize;
            self.data(&buf[..n])?;
            left -= n as u64;
        }
        Ok(())
    }

    /// Flushes what was written to the device, keeping the writer.
    pub fn sync(&mut self) -> Result<(), String> {
        self.file
            .sync_all()
            .map_err(|e| format!("flushing the disk: {e}"))
    }

    /// Flushes everything to the device.
    pub fn finish(self) -> Result<File, String> {
        self.file
            .sync_all()
            .map_err(|e| format!("flushing the disk: {e}"))?;
        Ok(self.file)
    }
}

pub fn is_zero(b: &[u8]) -> bool {
    // Word at a time: this runs over every byte of every image.
    let words = b.chunks_exact(8);
    let tail = words.remainder();
    words
        .map(|c| u64::from_ne_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
        .fold(0u64, |acc, w| acc | w)
        == 0
        && tail.iter().all(|&x| x == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn by_path_is_the_controllers_pci_address_and_the_scsi_address() {
        assert_eq!(
            by_path("../devices/pci0000:00/0000:00:04.0/virtio1/block/vda").as_deref(),
            Some("pci-0000:00:04.0")
        );
        assert_eq!(
            by_path(
                "../devices/pci0000:00/0000:00:05.0/virtio2/host0/target0:0:0/0:0:0:1/block/sda"
            )
            .as_deref(),
            Some("pci-0000:00:05.0-scsi-0:0:0:1")
        );
        assert_eq!(by_path("../devices/virtual/block/loop0"), None);
    }

    #[test]
    fn disks_are_read_from_sysfs_and_cdroms_loops_and_removables_left_out() {
        let t = tempfile::tempdir().unwrap();
        let mk = |name: &str, files: &[(&str, &str)]| {
            let d = t.path().join(name);
            std::fs::create_dir_all(d.join("device")).unwrap();
            std::fs::create_dir_all(d.join("queue")).unwrap();
            for (f, v) in files {
                std::fs::write(d.join(f), v).unwrap();
            }
        };
        mk(
            "vda",
            &[
                ("size", "8388608\n"),
                ("serial", "disk-a\n"),
                ("queue/rotational", "0"),
                ("removable", "0"),
            ],
        );
        mk(
            "sda",
            &[
                ("size", "2048"),
                ("device/model", "QEMU HARDDISK   "),
                ("device/serial", "S1"),
                ("queue/rotational", "1"),
            ],
        );
        mk("sr0", &[("size", "100")]);
        mk("loop0", &[("size", "100")]);
        mk("sdb", &[("size", "100"), ("removable", "1")]);
        mk("vdz", &[("size", "0")]);
        let d = disks_under(t.path());
        assert_eq!(d.len(), 2, "{d:?}");
        assert_eq!(d[0].name, "sda");
        assert_eq!(d[0].model.as_deref(), Some("QEMU HARDDISK"));
        assert_eq!(d[0].serial.as_deref(), Some("S1"));
        assert!(d[0].rotational);
        assert_eq!(d[1].name, "vda");
        assert_eq!(d[1].size_bytes, 4 << 30);
        assert_eq!(d[1].serial.as_deref(), Some("disk-a"));
        assert!(!d[1].rotational);
    }

    #[test]
    fn the_writer_puts_data_and_zeros_where_they_belong_and_refuses_what_does_not_fit() {
        let t = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(t.path(), vec![0xAAu8; 512 * 1024]).unwrap();
        let mut w = Writer::new(open(t.path()).unwrap(), 512 * 1024);
        let mut img = vec![0u8; 256 * 1024];
        img[0] = 1;
        img[200_000] = 2;
        w.put(&img).unwrap();
        w.put(&[7u8; 10]).unwrap();
        let pos = w.position();
        assert_eq!(pos, 256 * 1024 + 10);
        // A regular file refuses BLKZEROOUT: zeros are written instead.
        assert!(w.zeroed == 0 && w.written == pos);
        let e = w.put(&vec![1u8; 512 * 1024]).unwrap_err();
        assert!(e.contains("does not fit"), "{e}");
        w.finish().unwrap();
        let back = std::fs::read(t.path()).unwrap();
        assert_eq!(&back[..pos as usize - 10], &img[..]);
        assert_eq!(&back[pos as usize - 10..pos as usize], &[7u8; 10]);
        assert_eq!(back[pos as usize], 0xAA, "nothing written past the image");
    }
}
