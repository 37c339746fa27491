//! Reads a qcow2 file (versions 2 and 3) as the disk it describes, cluster by cluster, from the
//! format's specification (QEMU's `docs/interop/qcow2.txt`): uncompressed clusters, zlib (raw
//! deflate) and zstd compressed clusters, zero and unallocated clusters. What a deployed disk cannot
//! be made from is refused with its reason: a backing file, encryption, an external data file,
//! extended L2 entries, an image marked corrupt.

use std::io::{Read, Seek, SeekFrom};

const MAGIC: u32 = 0x5146_49fb;
const OFFSET_MASK: u64 = 0x00ff_ffff_ffff_fe00;
const COMPRESSED: u64 = 1 << 62;

#[derive(Debug)]
pub struct Qcow2<R> {
    inner: R,
    cluster_bits: u32,
    /// The disk's size in bytes.
    pub size: u64,
    l1: Vec<u64>,
    zstd: bool,
    version: u32,
    /// The L2 table read last, by its offset.
    l2_cache: Option<(u64, Vec<u64>)>,
}

/// A cluster of the disk.
pub enum Cluster {
    /// Reads as zeros (unallocated, or marked zero).
    Zero,
    Data(Vec<u8>),
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn be64(b: &[u8], at: usize) -> u64 {
    (be32(b, at) as u64) << 32 | be32(b, at + 4) as u64
}

impl<R: Read + Seek> Qcow2<R> {
    /// Reads the header and the L1 table.
    pub fn open(mut inner: R) -> Result<Qcow2<R>, String> {
        let mut h = [0u8; 112];
        inner
            .seek(SeekFrom::Start(0))
            .and_then(|_| inner.read_exact(&mut h[..72]))
            .map_err(|e| format!("reading the qcow2 header: {e}"))?;
        if be32(&h, 0) != MAGIC {
            return Err("not a qcow2 image (no QFI magic at its start)".into());
        }
        let version = be32(&h, 4);
        if version != 2 && version != 3 {
            return Err(format!(
                "qcow2 version {version} is not supported (2 and 3 are)"
            ));
        }
        if be64(&h, 8) != 0 {
            return Err(
                "the qcow2 image has a backing file: flatten it first (qemu-img convert)".into(),
            );
        }
        let cluster_bits = be32(&h, 20);
        if !(9..=21).contains(&cluster_bits) {
            return Err(format!(
                "qcow2 cluster_bits {cluster_bits} is out of range 9..21"
            ));
        }
        let size = be64(&h, 24);
        if be32(&h, 32) != 0 {
            return Err("the qcow2 image is encrypted: not supported".into());
        }
        let l1_size = be32(&h, 36) as u64;
        let l1_offset = be64(&h, 40);
        let mut zstd = false;
        if version == 3 {
            inner
                .read_exact(&mut h[72..104])
                .map_err(|e| format!("reading the qcow2 header: {e}"))?;
            let incompatible = be64(&h, 72);
            let header_len = be32(&h, 100);
            if incompatible & 0b10 != 0 {
                return Err("the qcow2 image is marked corrupt".into());
            }
            if incompatible & 0b100 != 0 {
                return Err(
                    "the qcow2 image keeps its data in an external file: not supported".into(),
                );
            }
            if incompatible & 0b1_0000 != 0 {
                return Err("qcow2 extended L2 entries (subclusters) are not supported".into());
            }
            if incompatible & !0b1001 != 0 {
                return Err(format!(
                    "qcow2 incompatible features {incompatible:#x} are not supported"
                ));
            }
            if incompatible & 0b1000 != 0 && header_len > 104 {
                inner
                    .read_exact(&mut h[104..105])
                    .map_err(|e| format!("reading the qcow2 header: {e}"))?;
                zstd = match h[104] {
                    0 => false,
                    1 => true,
                    t => return Err(format!("qcow2 compression type {t} is not supported")),
                };
            }
        }
        let cluster = 1u64 << cluster_bits;
        let needed = size.div_ceil(cluster).div_ceil(cluster / 8);
        if l1_size < needed || l1_size > 1 << 25 {
            return Err(format!(
                "qcow2 L1 table of {l1_size} entries does not cover a disk of {size} bytes"
            ));
        }
        let mut raw = vec![0u8; l1_size as usize * 8];
        inner
            .seek(SeekFrom::Start(l1_offset))
            .and_then(|_| inner.read_exact(&mut raw))
            .map_err(|e| format!("reading the qcow2 L1 table: {e}"))?;
        let l1 = raw.chunks_exact(8).map(|c| be64(c, 0)).collect();
        Ok(Qcow2 {
            inner,
            cluster_bits,
            size,
            l1,
            zstd,
            version,
            l2_cache: None,
        })
    }

    pub fn cluster_size(&self) -> u64 {
        1 << self.cluster_bits
    }

    pub fn clusters(&self) -> u64 {
        self.size.div_ceil(self.cluster_size())
    }

    fn l2_entry(&mut self, index: u64) -> Result<u64, String> {
        let per_l2 = self.cluster_size() / 8;
        let l1 = self.l1[(index / per_l2) as usize];
        let l2_offset = l1 & OFFSET_MASK;
        if l2_offset == 0 {
            return Ok(0);
        }
        if self.l2_cache.as_ref().map(|c| c.0) != Some(l2_offset) {
            let mut raw = vec![0u8; self.cluster_size() as usize];
            self.inner
                .seek(SeekFrom::Start(l2_offset))
                .and_then(|_| self.inner.read_exact(&mut raw))
                .map_err(|e| format!("reading a qcow2 L2 table at {l2_offset}: {e}"))?;
            let table = raw.chunks_exact(8).map(|c| be64(c, 0)).collect();
            self.l2_cache = Some((l2_offset, table));
        }
        Ok(self
            .l2_cache
            .as_ref()
            .map(|c| c.1[(index % per_l2) as usize])
            .unwrap_or(0))
    }

    /// The disk's cluster `index`.
    pub fn cluster(&mut self, index: u64) -> Result<Cluster, String> {
        let entry = self.l2_entry(index)?;
        let size = self.cluster_size() as usize;
        if entry & COMPRESSED != 0 {
            let x = 62 - (self.cluster_bits - 8);
            let offset = entry & ((1u64 << x) - 1);
            let sectors = ((entry >> x) & ((1u64 << (self.cluster_bits - 8)) - 1)) + 1;
            let len = (sectors * 512 - (offset & 511)) as usize;
            let mut comp = vec![0u8; len];
            self.inner
                .seek(SeekFrom::Start(offset))
                .map_err(|e| format!("reading compressed cluster {index}: {e}"))?;
            // The last compressed cluster may end before its last sector does.
            let mut got = 0;
            while got < len {
                match self.inner.read(&mut comp[got..]) {
                    Ok(0) => break,
                    Ok(n) => got += n,
                    Err(e) => return Err(format!("reading compressed cluster {index}: {e}")),
                }
            }
            comp.truncate(got);
            let mut out = vec![0u8; size];
            let filled = if self.zstd {
                let mut d = ruzstd::decoding::StreamingDecoder::new(&comp[..])
                    .map_err(|e| format!("cluster {index}: zstd: {e}"))?;
                read_full(&mut d, &mut out)
            } else {
                read_full(&mut flate2::read::DeflateDecoder::new(&comp[..]), &mut out)
            }
            .map_err(|e| format!("decompressing cluster {index}: {e}"))?;
            if filled != size {
                return Err(format!(
                    "compressed cluster {index} holds {filled} bytes, not {size}"
                ));
            }
            return Ok(Cluster::Data(out));
        }
        let offset = entry & OFFSET_MASK;
        if (self.version == 3 && entry & 1 != 0) || offset == 0 {
            return Ok(Cluster::Zero);
        }
        let mut out = vec![0u8; size];
        self.inner
            .seek(SeekFrom::Start(offset))
            .and_then(|_| self.inner.read_exact(&mut out))
            .map_err(|e| format!("reading cluster {index} at {offset}: {e}"))?;
        Ok(Cluster::Data(out))
    }
}

fn read_full(r: &mut impl Read, out: &mut [u8]) -> std::io::Result<usize> {
    let mut got = 0;
    while got < out.len() {
        match r.read(&mut out[got..])? {
            0 => break,
            n => got += n,
        }
    }
    Ok(got)
}

#[cfg(test)]
mod tests {
    //! Against qemu-img, a peer we did not write: each image is made by it from a known raw disk,
    //! and must read back as that disk.
    use super::*;
    use std::process::Command;

    fn have_qemu_img() -> bool {
        Command::new("qemu-img")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    }

    /// A 3 MiB disk with data, zeros and a partial last cluster.
    fn raw_disk() -> Vec<u8> {
        let mut d = vec![0u8; 3 * 1024 * 1024 + 4096];
        for (i, b) in d.iter_mut().enumerate().take(700_000) {
            *b = (i * 7 % 251) as u8;
        }
        d[2_000_000] = 9;
        let n = d.len();
        d[n - 1] = 0x55;
        d
    }

    fn roundtrip(args: &[&str]) {
        let t = tempfile::tempdir().unwrap();
        let raw = t.path().join("d.raw");
        let q = t.path().join("d.qcow2");
        let want = raw_disk();
        std::fs::write(&raw, &want).unwrap();
        let mut cmd = Command::new("qemu-img");
        cmd.args(["convert", "-f", "raw", "-O", "qcow2"])
            .args(args)
            .arg(&raw)
            .arg(&q);
        let o = cmd.output().unwrap();
        assert!(
            o.status.success(),
            "qemu-img {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let mut img = Qcow2::open(std::fs::File::open(&q).unwrap()).unwrap();
        assert_eq!(img.size, want.len() as u64);
        let mut got = Vec::new();
        for i in 0..img.clusters() {
            match img.cluster(i).unwrap() {
                Cluster::Zero => got.extend(std::iter::repeat_n(0u8, img.cluster_size() as usize)),
                Cluster::Data(d) => got.extend(d),
            }
        }
        got.truncate(want.len());
        assert!(got == want, "qemu-img {args:?}: the disk read back differs");
    }

    #[test]
    fn qcow2_images_made_by_qemu_img_read_back_as_their_disk() {
        if !have_qemu_img() {
            panic!("qemu-img is needed (package qemu-utils; scripts/test.sh installs it)");
        }
        roundtrip(&[]);
        roundtrip(&["-o", "compat=0.10"]);
        roundtrip(&["-o", "cluster_size=4096"]);
        roundtrip(&["-c"]);
        roundtrip(&["-c", "-o", "compression_type=zstd"]);
    }

    #[test]
    fn what_a_disk_cannot_be_made_from_is_refused() {
        let mut h = vec![0u8; 4096];
        assert!(Qcow2::open(std::io::Cursor::new(h.clone()))
            .unwrap_err()
            .contains("not a qcow2"));
        h[..4].copy_from_slice(&MAGIC.to_be_bytes());
        h[4..8].copy_from_slice(&3u32.to_be_bytes());
        h[8..16].copy_from_slice(&512u64.to_be_bytes());
        let e = Qcow2::open(std::io::Cursor::new(h.clone())).unwrap_err();
        assert!(e.contains("backing file"), "{e}");
        h[8..16].copy_from_slice(&0u64.to_be_bytes());
        h[20..24].copy_from_slice(&16u32.to_be_bytes());
        h[32..36].copy_from_slice(&1u32.to_be_bytes());
        assert!(Qcow2::open(std::io::Cursor::new(h.clone()))
            .unwrap_err()
            .contains("encrypted"));
        h[32..36].copy_from_slice(&0u32.to_be_bytes());
        h[72..80].copy_from_slice(&0b10u64.to_be_bytes());
        assert!(Qcow2::open(std::io::Cursor::new(h.clone()))
            .unwrap_err()
            .contains("corrupt"));
        h[72..80].copy_from_slice(&0b1_0000u64.to_be_bytes());
        assert!(Qcow2::open(std::io::Cursor::new(h))
            .unwrap_err()
            .contains("subclusters"));
    }
}
