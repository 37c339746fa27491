//! Writing an image onto the root device. The order is the promise: the image is fetched and its
//! checksum verified before a byte goes to the disk, so a wrong checksum changes nothing.
//!
//! - An image that fits in the ramdisk's memory is fetched once into it, verified, then written.
//! - A larger one (raw only: qcow2 needs random access) is fetched twice: once to verify, once to
//!   write, the second fetch verified again (an origin that changes the file between the two fails
//!   the deployment, and says so).
//!
//! Then the config drive goes in as a partition at the end of the disk (`configdrive`).

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use planner_core::deploy::agent::{ImageFormat, WriteImage};
use planner_core::deploy::image::{Checksum, Hasher};
use serde_json::json;

use crate::disk::{self, Writer};
use crate::Report;

/// A reader that reports how much passed through it, and hashes it when given a hasher.
struct Hashing<'a, R> {
    inner: R,
    hasher: Option<Hasher>,
    done: u64,
    total: Option<u64>,
    report: &'a Report,
    step: &'static str,
    last: Instant,
}

impl<'a, R> Hashing<'a, R> {
    fn new(
        inner: R,
        hasher: Option<Hasher>,
        total: Option<u64>,
        report: &'a Report,
        step: &'static str,
    ) -> Self {
        Hashing {
            inner,
            hasher,
            done: 0,
            total,
            report,
            step,
            last: Instant::now(),
        }
    }

    /// The digest of what was read (empty when nothing was hashed).
    fn finish(self) -> String {
        self.hasher.map(Hasher::finish).unwrap_or_default()
    }
}

impl<R: Read> Read for Hashing<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(h) = &mut self.hasher {
            h.update(&buf[..n]);
        }
        self.done += n as u64;
        if self.last.elapsed().as_millis() >= 500 || n == 0 {
            self.report.progress(self.step, self.done, self.total);
            self.last = Instant::now();
        }
        Ok(n)
    }
}

pub fn client(ca_pem: Option<&str>) -> Result<reqwest::blocking::Client, String> {
    let mut b = reqwest::blocking::Client::builder()
        .connect_timeout(std::time::Duration::from_secs(30))
        .timeout(None);
    if let Some(pem) = ca_pem {
        for c in reqwest::Certificate::from_pem_bundle(pem.as_bytes())
            .map_err(|e| format!("the CA certificates given: {e}"))?
        {
            b = b.add_root_certificate(c);
        }
    }
    b.build().map_err(|e| format!("HTTP client: {e}"))
}

fn get(
    client: &reqwest::blocking::Client,
    url: &str,
) -> Result<reqwest::blocking::Response, String> {
    let r = client
        .get(url)
        .send()
        .map_err(|e| format!("fetching {}: {}", shown(url), chain(&e.without_url())))?;
    if !r.status().is_success() {
        return Err(format!("fetching {}: HTTP {}", shown(url), r.status()));
    }
    Ok(r)
}

fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(x) = src {
        s.push_str(&format!(": {x}"));
        src = x.source();
    }
    s
}

/// The URL as logs may show it: no credentials, no query.
pub fn shown(url: &str) -> String {
    planner_core::text::shown(url.split('?').next().unwrap_or(url))
}

/// Bytes the ramdisk can give to a staged image, keeping 256 MiB for itself.
pub fn memory_for_staging() -> u64 {
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let avail = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemAvailable:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .unwrap_or(0)
        * 1024;
    avail.saturating_sub(256 << 20)
}

/// Where the verified image is.
enum Staged {
    File(PathBuf),
    /// Too large to keep: verified by a first fetch; written from a second.
    Remote,
}

fn fetch_verified(
    client: &reqwest::blocking::Client,
    w: &WriteImage,
    sum: &Checksum,
    report: &Report,
    staging_dir: &Path,
) -> Result<Staged, String> {
    let resp = get(client, &w.url)?;
    let total = resp.content_length();
    let room = memory_for_staging();
    let keep = total.is_some_and(|t| t <= room);
    if w.format == ImageFormat::Qcow2 && !keep {
        return Err(format!(
            "a qcow2 image is read at random, so the agent keeps it in memory: {} bytes do not fit in the {} bytes it has (give the server more memory, or deploy a raw or compressed raw image)",
            total.map(|t| t.to_string()).unwrap_or_else(|| "an unknown number of".into()),
            room
        ));
    }
    let mut src = Hashing::new(
        resp,
        Some(Hasher::new(sum.algorithm)),
        total,
        report,
        "fetching and verifying",
    );
    report.log(format!(
        "fetching {} ({} bytes){}",
        shown(&w.url),
        total.map(|t| t.to_string()).unwrap_or_else(|| "?".into()),
        if keep {
            " into memory"
        } else {
            " to verify it; it is fetched again to write it"
        }
    ));
    let staged = if keep {
        let path = staging_dir.join("image");
        let mut f = File::create(&path).map_err(|e| format!("staging the image: {e}"))?;
        std::io::copy(&mut src, &mut f).map_err(|e| format!("fetching {}: {e}", shown(&w.url)))?;
        Staged::File(path)
    } else {
        std::io::copy(&mut src, &mut std::io::sink())
            .map_err(|e| format!("fetching {}: {e}", shown(&w.url)))?;
        Staged::Remote
    };
    let done = src.done;
    let got = src.finish();
    if got != sum.hex {
        if let Staged::File(p) = &staged {
            let _ = std::fs::remove_file(p);
        }
        return Err(format!(
            "the image's {} is {got}, not {} as given: nothing was written",
            sum.algorithm.as_str(),
            sum.hex
        ));
    }
    report.log(format!(
        "checksum {} verified over {} bytes",
        sum.algorithm.as_str(),
        done
    ));
    Ok(staged)
}

/// Buffers writes into the disk writer.
struct ToDisk<'a> {
    w: &'a mut Writer,
    buf: Vec<u8>,
}

impl Write for ToDisk<'_> {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(b);
        if self.buf.len() >= 4 << 20 {
            // Whole 64 KiB blocks only, so the disk position stays aligned for write-zeroes; the
            // rest waits for more (or for the final flush).
            let whole = self.buf.len() / (64 << 10) * (64 << 10);
            self.w
                .put(&self.buf[..whole])
                .map_err(std::io::Error::other)?;
            self.buf.drain(..whole);
        }
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.w.put(&self.buf).map_err(std::io::Error::other)?;
        self.buf.clear();
        Ok(())
    }
}

/// Decodes `src` (of `format`, not qcow2) onto the disk.
fn decode_onto(format: ImageFormat, src: impl Read, w: &mut Writer) -> Result<(), String> {
    let mut out = ToDisk {
        w,
        buf: Vec::with_capacity(4 << 20),
    };
    let mut src = BufReader::with_capacity(1 << 20, src);
    let r = match format {
        ImageFormat::Raw => std::io::copy(&mut src, &mut out).map(|_| ()),
        ImageFormat::RawGzip => {
            std::io::copy(&mut flate2::read::MultiGzDecoder::new(src), &mut out).map(|_| ())
        }
        ImageFormat::RawXz => lzma_rs::xz_decompress(&mut src, &mut out)
            .map_err(|e| std::io::Error::other(format!("xz: {e:?}"))),
        ImageFormat::RawZstd => (|| {
            // One frame after another, until the stream ends.
            loop {
                if src.fill_buf()?.is_empty() {
                    return Ok(());
                }
                let mut d = ruzstd::decoding::StreamingDecoder::new(&mut src)
                    .map_err(|e| std::io::Error::other(format!("zstd: {e}")))?;
                std::io::copy(&mut d, &mut out)?;
            }
        })(),
        ImageFormat::Qcow2 | ImageFormat::Iso => {
            return Err(format!("{} is not a streamed format", format.as_str()))
        }
    };
    r.and_then(|()| out.flush())
        .map_err(|e| format!("decoding the {} image onto the disk: {e}", format.as_str()))
}

fn qcow2_onto(path: &Path, w: &mut Writer, report: &Report) -> Result<(), String> {
    let f = File::open(path).map_err(|e| format!("opening the staged image: {e}"))?;
    let mut img = crate::qcow2::Qcow2::open(BufReader::new(f))?;
    let size = img.size;
    let cs = img.cluster_size();
    let mut last = Instant::now();
    for i in 0..img.clusters() {
        let len = cs.min(size - i * cs);
        match img.cluster(i)? {
            crate::qcow2::Cluster::Zero => w.zeros(len)?,
            crate::qcow2::Cluster::Data(d) => w.put(&d[..len as usize])?,
        }
        if last.elapsed().as_millis() >= 500 {
            report.progress("writing", w.position(), Some(size));
            last = Instant::now();
        }
    }
    Ok(())
}

/// The `write_image` command.
pub fn write(w: &WriteImage, report: &Report) -> Result<(String, serde_json::Value), String> {
    let sum = Checksum::parse(&w.checksum).map_err(|e| e.0)?;
    if !w.format.by_agent() {
        return Err("an installer ISO is booted by virtual media, not written by the agent".into());
    }
    if w.url.starts_with("https://") && w.ca_pem.is_none() {
        report.log("https image: the agent was given no CA certificates, so it trusts no server certificate");
    }
    let client = client(w.ca_pem.as_deref())?;
    let disks = disk::disks();
    let target = w.root_device.pick(&disks)?.clone();
    report.log(format!(
        "root device /dev/{} ({} bytes, serial {})",
        target.name,
        target.size_bytes,
        target.serial.as_deref().unwrap_or("-")
    ));
    let dev = PathBuf::from("/dev").join(&target.name);
    write_to(w, &sum, &client, &dev, Path::new("/tmp"), report)
}

/// Fetches, verifies and writes onto `dev` (a disk, or a file in tests).
pub fn write_to(
    w: &WriteImage,
    sum: &Checksum,
    client: &reqwest::blocking::Client,
    dev: &Path,
    staging_dir: &Path,
    report: &Report,
) -> Result<(String, serde_json::Value), String> {
    let started = Instant::now();
    // 1. Fetched and verified: nothing is opened for writing before this.
    let staged = fetch_verified(client, w, sum, report, staging_dir)?;
    let fetched_s = started.elapsed().as_secs_f64();
    // 2. Written.
    let f = disk::open(dev)?;
    let capacity = crate::sys::device_size(&f)
        .or_else(|_| f.metadata().map(|m| m.len()))
        .map_err(|e| format!("reading the size of {}: {e}", dev.display()))?;
    let mut writer = Writer::new(f, capacity);
    let written_at = Instant::now();
    report.log(format!(
        "writing the {} image to {}",
        w.format.as_str(),
        dev.display()
    ));
    match (&staged, w.format) {
        (Staged::File(p), ImageFormat::Qcow2) => qcow2_onto(p, &mut writer, report)?,
        (Staged::File(p), f) => {
            // Verified already: read with progress, not hashed again.
            let src = File::open(p).map_err(|e| format!("opening the staged image: {e}"))?;
            let total = src.metadata().map(|m| m.len()).ok();
            let src = Hashing::new(src, None, total, report, "writing");
            decode_onto(f, src, &mut writer)?
        }
        (Staged::Remote, f) => {
            let resp = get(client, &w.url)?;
            let total = resp.content_length();
            let mut src = Hashing::new(
                resp,
                Some(Hasher::new(sum.algorithm)),
                total,
                report,
                "writing",
            );
            let decoded = decode_onto(f, &mut src, &mut writer);
            let again = src.finish();
            let why = match decoded {
                Err(e) => Some(e),
                Ok(()) if again != sum.hex => Some(format!(
                    "the image changed at its origin between its verification and its writing (its {} is now {again})",
                    sum.algorithm.as_str()
                )),
                Ok(()) => None,
            };
            if let Some(why) = why {
                // Written but not verified: its partition tables go, so it never boots.
                let erased = writer.zeros_at(0, (1 << 20).min(capacity)).and_then(|()| {
                    writer.zeros_at(capacity.saturating_sub(1 << 20), (1 << 20).min(capacity))
                });
                return Err(match erased {
                    Ok(()) => format!("{why}; the disk was written, and its first and last MiB (the partition tables) were erased so it does not boot"),
                    Err(e) => format!("{why}; the disk was written, and erasing its partition tables failed too: {e}"),
                });
            }
        }
    }
    if let Staged::File(p) = &staged {
        let _ = std::fs::remove_file(p);
    }
    let image_end = writer.position();
    let (written, zeroed) = (writer.written, writer.zeroed);
    let file = writer.finish()?;
    let write_s = written_at.elapsed().as_secs_f64();
    // 3. The config drive, as a partition at the end of the disk.
    let mut partition = serde_json::Value::Null;
    if let Some(url) = &w.config_drive_url {
        let mut drive = Vec::new();
        get(client, url)?
            .read_to_end(&mut drive)
            .map_err(|e| format!("fetching the config drive: {e}"))?;
        let p = crate::configdrive::append(&file, capacity, image_end, &drive)?;
        report.log(format!(
            "config drive ({} bytes) written as partition {} at sector {}",
            drive.len(),
            p.number,
            p.start_sector
        ));
        partition = json!({"number": p.number, "start_sector": p.start_sector, "sectors": p.sectors, "table": p.table});
    }
    let _ = crate::sys::reread_partitions(&file);
    let mbps = (image_end as f64 / 1e6) / write_s.max(1e-3);
    Ok((
        format!(
            "{} image written to {}: {image_end} bytes in {write_s:.1} s ({mbps:.1} MB/s)",
            w.format.as_str(),
            dev.display()
        ),
        json!({
            "device": dev.display().to_string(),
            "image_bytes": image_end,
            "bytes_written": written,
            "bytes_zeroed": zeroed,
            "fetch_seconds": fetched_s,
            "write_seconds": write_s,
            "config_drive": partition,
        }),
    ))
}

#[cfg(test)]
mod tests {
    //! Compressed images made by the compressors users have (gzip, xz, zstd from Debian), decoded
    //! onto a disk file: the disk must hold the raw image, byte for byte.
    use super::*;
    use std::process::Command;

    fn raw() -> Vec<u8> {
        let mut d = vec![0u8; 3 << 20];
        for (i, b) in d.iter_mut().enumerate().take(1 << 20) {
            *b = (i * 31 % 253) as u8;
        }
        d[(2 << 20) + 5] = 7;
        d
    }

    fn decoded(format: ImageFormat, tool: &[&str]) -> Vec<u8> {
        let t = tempfile::tempdir().unwrap();
        let src = t.path().join("disk.raw");
        std::fs::write(&src, raw()).unwrap();
        let out = Command::new(tool[0])
            .args(&tool[1..])
            .arg(&src)
            .output()
            .unwrap_or_else(|e| panic!("{} is needed (scripts/test.sh installs it): {e}", tool[0]));
        assert!(
            out.status.success(),
            "{tool:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let disk = t.path().join("disk");
        std::fs::write(&disk, vec![0xEEu8; 4 << 20]).unwrap();
        let mut w = Writer::new(crate::disk::open(&disk).unwrap(), 4 << 20);
        decode_onto(format, &out.stdout[..], &mut w).unwrap();
        assert_eq!(w.position(), 3 << 20);
        w.finish().unwrap();
        std::fs::read(&disk).unwrap()[..3 << 20].to_vec()
    }

    #[test]
    fn gzip_xz_and_zstd_images_decode_onto_the_disk_byte_for_byte() {
        let want = raw();
        assert!(
            decoded(ImageFormat::RawGzip, &["gzip", "-c"]) == want,
            "gzip"
        );
        assert!(decoded(ImageFormat::RawXz, &["xz", "-c"]) == want, "xz");
        assert!(
            decoded(ImageFormat::RawZstd, &["zstd", "-q", "-c"]) == want,
            "zstd"
        );
        // Two zstd frames one after the other (pzstd and `cat a.zst b.zst` make these).
        let t = tempfile::tempdir().unwrap();
        let half = &want[..want.len() / 2];
        let rest = &want[want.len() / 2..];
        let mut frames = Vec::new();
        for (i, part) in [half, rest].iter().enumerate() {
            let p = t.path().join(format!("p{i}"));
            std::fs::write(&p, part).unwrap();
            let o = Command::new("zstd")
                .args(["-q", "-c"])
                .arg(&p)
                .output()
                .unwrap();
            frames.extend(o.stdout);
        }
        let disk = t.path().join("disk");
        std::fs::write(&disk, vec![0u8; 4 << 20]).unwrap();
        let mut w = Writer::new(crate::disk::open(&disk).unwrap(), 4 << 20);
        decode_onto(ImageFormat::RawZstd, &frames[..], &mut w).unwrap();
        assert_eq!(w.position(), want.len() as u64);
    }

    #[test]
    fn a_corrupt_stream_is_an_error_not_a_short_image() {
        let disk = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(disk.path(), vec![0u8; 1 << 20]).unwrap();
        let mut w = Writer::new(crate::disk::open(disk.path()).unwrap(), 1 << 20);
        let e = decode_onto(
            ImageFormat::RawGzip,
            &[0x1f, 0x8b, 8, 0, 1, 2, 3][..],
            &mut w,
        )
        .unwrap_err();
        assert!(e.contains("decoding the raw.gz image"), "{e}");
    }
}
