//! Erasing every disk, each with the strongest method it offers, the method recorded per disk and
//! the result read back. A disk that cannot be erased fails the wipe with its reason: nothing is
//! skipped silently.
//!
//! - `metadata`: zeros over the first and last 64 MiB (partition tables, the GPT backup, RAID and
//!   LVM labels) and the first MiB of every partition (filesystem superblocks).
//! - `full`: the device's secure discard where it offers one; else its write-zeroes (the device
//!   guarantees zeros); else zeros written over every byte. Plain discard is not used: whether
//!   discarded blocks read back as zeros is the device's choice.
//!
//! ATA Security Erase and NVMe Format are not issued by the agent (the BMC's `Drive.SecureErase`
//! covers drives that offer it); this is said in `docs/guides/hosts.md`.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::time::Instant;

use planner_core::deploy::agent::WipeMode;
use serde_json::json;

use crate::disk::{self, Writer};
use crate::Report;

const EDGE: u64 = 64 << 20;
const STEP: u64 = 256 << 20;

/// Where the partitions of `name` start, in bytes (from sysfs).
fn partition_starts(name: &str) -> Vec<u64> {
    let dir = std::path::Path::new("/sys/block").join(name);
    let Ok(rd) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    rd.flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(name))
        .filter_map(|e| std::fs::read_to_string(e.path().join("start")).ok())
        .filter_map(|s| s.trim().parse::<u64>().ok())
        .map(|s| s * 512)
        .collect()
}

fn zero_range(w: &mut Writer, f: &File, start: u64, len: u64) -> Result<(), String> {
    let _ = f;
    w.seek_to(start);
    w.zeros(len)
}

/// Reads `len` bytes at `at` and says whether they are all zeros.
fn zero_at(f: &mut File, at: u64, len: usize) -> Result<bool, String> {
    let mut b = vec![0u8; len];
    f.seek(SeekFrom::Start(at))
        .and_then(|_| f.read_exact(&mut b))
        .map_err(|e| format!("reading back at byte {at}: {e}"))?;
    Ok(disk::is_zero(&b))
}

/// Reads back both ends of the disk and 16 places between (`everywhere`), or both ends only,
/// from the media (the kernel's cache dropped first): whether all of it is zeros.
fn reads_zero(path: &std::path::Path, size: u64, everywhere: bool) -> Result<Option<u64>, String> {
    let mut f = disk::open(path)?;
    crate::sys::drop_cache(&f);
    let probe = (1u64 << 20).min(size);
    let mut places = vec![0, size - probe];
    if everywhere {
        places.extend((1..=16).map(|k| (size / 17 * k) / 512 * 512));
    }
    for at in places.into_iter().filter(|a| a + probe <= size) {
        if !zero_at(&mut f, at, probe as usize)? {
            return Ok(Some(at));
        }
    }
    Ok(None)
}

/// Zeros over the whole disk: write-zeroes where the device has it, else zeros written.
fn zero_all(
    w: &mut Writer,
    f: &File,
    name: &str,
    size: u64,
    report: &Report,
) -> Result<(), String> {
    let mut at = 0;
    while at < size {
        let len = STEP.min(size - at);
        zero_range(w, f, at, len)?;
        at += len;
        report.progress(&format!("erasing {name}"), at, Some(size));
    }
    Ok(())
}

/// Erases one disk; returns the method used.
pub fn wipe_device(
    path: &std::path::Path,
    name: &str,
    mode: WipeMode,
    report: &Report,
) -> Result<String, String> {
    let f = disk::open(path)?;
    let size = crate::sys::device_size(&f)
        .or_else(|_| f.metadata().map(|m| m.len()))
        .map_err(|e| format!("reading its size: {e}"))?;
    if size == 0 {
        return Err("it reports a size of 0 bytes".into());
    }
    let mut w = Writer::new(f.try_clone().map_err(|e| e.to_string())?, size);
    let mut method = match mode {
        WipeMode::Metadata => {
            let edge = EDGE.min(size);
            zero_range(&mut w, &f, 0, edge)?;
            zero_range(&mut w, &f, size - edge, edge)?;
            for s in partition_starts(name) {
                if s < size {
                    zero_range(&mut w, &f, s, (1 << 20).min(size - s))?;
                }
            }
            "metadata zeroed (first and last 64 MiB, each partition's first MiB)".to_string()
        }
        WipeMode::Full if crate::sys::secure_discard(&f, 0, size).is_ok() => {
            "secure discard".to_string()
        }
        WipeMode::Full => {
            zero_all(&mut w, &f, name, size, report)?;
            if w.written > 0 {
                "zeros written over every byte".to_string()
            } else {
                "write-zeroes over every byte".to_string()
            }
        }
    };
    w.sync()?;
    let everywhere = mode == WipeMode::Full;
    let mut bad = reads_zero(path, size, everywhere)?;
    if bad.is_some() && method == "secure discard" {
        // Secure discard need not read back as zeros (flash may read 0xFF): zeros over it.
        zero_all(&mut w, &f, name, size, report)?;
        w.sync()?;
        method = "secure discard, then zeros (it did not read back as zeros)".into();
        bad = reads_zero(path, size, everywhere)?;
    }
    if let Some(at) = bad {
        return Err(format!(
            "{method}, but byte {at} onward does not read back as zeros"
        ));
    }
    Ok(method)
}

/// The `wipe` command: every disk.
pub fn wipe(mode: WipeMode, report: &Report) -> Result<(String, serde_json::Value), String> {
    let disks = disk::disks();
    if disks.is_empty() {
        return Err("the agent sees no disks to erase".into());
    }
    let mut done = Vec::new();
    for d in &disks {
        let started = Instant::now();
        report.log(format!(
            "erasing /dev/{} ({} bytes, {:?})",
            d.name, d.size_bytes, mode
        ));
        let path = std::path::PathBuf::from("/dev").join(&d.name);
        let method = wipe_device(&path, &d.name, mode, report).map_err(|e| {
            format!(
                "disk {} (serial {}) could not be erased: {e}",
                d.name,
                d.serial.as_deref().unwrap_or("-")
            )
        })?;
        let secs = started.elapsed().as_secs_f64();
        report.log(format!(
            "/dev/{}: {method} in {secs:.1} s; read back as zeros",
            d.name
        ));
        done.push(json!({"disk": d.name, "serial": d.serial, "size_bytes": d.size_bytes, "method": method, "seconds": secs}));
    }
    Ok((
        format!("{} disks erased", done.len()),
        json!({ "disks": done }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> Report {
        Report {
            shared: Default::default(),
            id: 1,
        }
    }

    #[test]
    fn a_full_wipe_leaves_only_zeros_and_says_how() {
        let t = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(t.path(), vec![0x5Au8; 3 << 20]).unwrap();
        let m = wipe_device(t.path(), "test", WipeMode::Full, &report()).unwrap();
        // A file refuses the device ioctls: zeros are written, and that is what is recorded.
        assert_eq!(m, "zeros written over every byte");
        assert!(std::fs::read(t.path()).unwrap().iter().all(|&b| b == 0));
    }

    #[test]
    fn a_metadata_wipe_zeroes_both_ends() {
        let t = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(t.path(), vec![0x5Au8; 200 << 20]).unwrap();
        wipe_device(t.path(), "test", WipeMode::Metadata, &report()).unwrap();
        let back = std::fs::read(t.path()).unwrap();
        assert!(back[..64 << 20].iter().all(|&b| b == 0));
        assert!(back[(200 - 64) << 20..].iter().all(|&b| b == 0));
        assert_eq!(back[100 << 20], 0x5A, "the middle is left: a metadata wipe");
    }
}
