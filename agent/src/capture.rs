//! The `capture` command: the root device becomes a golden image, and stays as it was.
//!
//! 1. The partition table is read; the config drive's partition is left out (`partitions`).
//! 2. Each ext2/3/4 partition gets a copy-on-write snapshot (device-mapper's `snapshot` target,
//!    its changes in a file in the ramdisk's memory), mounted; one holding `/etc` is a root
//!    filesystem and is generalised (`Generalise`), then the site's script runs chrooted in it.
//! 3. The disk is read up to its last kept partition, the snapshots' blocks in place of the
//!    originals, the table rewritten; it is compressed with zstd (a frame per 4 MiB), hashed, and
//!    POSTed to the engine as it goes.
//! 4. The snapshots go. The disk was only read: the host boots its OS unchanged.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use planner_core::deploy::capture::{self, Capture, Captured, Generalise, Step};
use sha2::{Digest, Sha256};

use crate::partitions::{self, Table};
use crate::Report;

const CHUNK: u64 = 4 << 20;

fn run(cmd: &str, args: &[&str]) -> Result<String, String> {
    let o = Command::new(cmd)
        .args(args)
        .output()
        .map_err(|e| format!("{cmd}: {e}"))?;
    if !o.status.success() {
        return Err(format!(
            "{cmd} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&o.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&o.stdout).trim().to_string())
}

/// Whether `path` (below `root`) can be reached without following a link: a link in a parent
/// would lead out of the captured system (an absolute link points into the ramdisk).
fn inside(root: &Path, rel: &str) -> bool {
    let mut p = root.to_path_buf();
    let comps: Vec<&str> = rel.split('/').filter(|c| !c.is_empty()).collect();
    for c in &comps[..comps.len().saturating_sub(1)] {
        p.push(c);
        match std::fs::symlink_metadata(&p) {
            Ok(m) if m.file_type().is_dir() => {}
            _ => return false,
        }
    }
    true
}

/// The paths `rel` names below `root` (its last component may hold one `*`).
fn expand(root: &Path, rel: &str) -> Vec<PathBuf> {
    if !inside(root, rel) {
        return Vec::new();
    }
    let rel = rel.trim_start_matches('/');
    let (dir, last) = rel.rsplit_once('/').unwrap_or(("", rel));
    let dir = root.join(dir);
    if !last.contains('*') {
        let p = dir.join(last);
        return if std::fs::symlink_metadata(&p).is_ok() {
            vec![p]
        } else {
            Vec::new()
        };
    }
    let mut out: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|rd| {
            rd.flatten()
                .filter(|e| capture::matches(last, &e.file_name().to_string_lossy()))
                .map(|e| e.path())
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

fn remove(p: &Path) -> std::io::Result<()> {
    let m = std::fs::symlink_metadata(p)?;
    if m.file_type().is_dir() {
        std::fs::remove_dir_all(p)
    } else {
        std::fs::remove_file(p)
    }
}

/// Empties every regular file under `dir` and removes rotated ones; links are not followed.
/// Returns (emptied, removed).
fn logs(dir: &Path) -> std::io::Result<(u64, u64)> {
    let (mut emptied, mut removed) = (0, 0);
    for e in std::fs::read_dir(dir)?.flatten() {
        let p = e.path();
        let Ok(m) = std::fs::symlink_metadata(&p) else {
            continue;
        };
        if m.file_type().is_dir() {
            let (a, b) = logs(&p)?;
            emptied += a;
            removed += b;
        } else if m.file_type().is_file() {
            if capture::rotated_log(&e.file_name().to_string_lossy()) {
                std::fs::remove_file(&p)?;
                removed += 1;
            } else if m.len() > 0 {
                std::fs::OpenOptions::new()
                    .write(true)
                    .open(&p)?
                    .set_len(0)?;
                emptied += 1;
            }
        }
    }
    Ok((emptied, removed))
}

/// Generalises the system mounted at `root`; a line per step that found something.
pub fn generalise(root: &Path, g: &Generalise) -> Result<Vec<String>, String> {
    g.check()?;
    let mut done = Vec::new();
    for st in &g.steps {
        let err = |e: std::io::Error| format!("generalising ({}): {e}", st.describe());
        let found = expand(root, st.path());
        let shown = |p: &Path| format!("/{}", p.strip_prefix(root).unwrap_or(p).display());
        match st {
            Step::Empty(_) => {
                for p in found {
                    let m = std::fs::symlink_metadata(&p).map_err(err)?;
                    if m.file_type().is_file() && m.len() > 0 {
                        std::fs::OpenOptions::new()
                            .write(true)
                            .open(&p)
                            .and_then(|f| f.set_len(0))
                            .map_err(err)?;
                        done.push(format!("emptied {}", shown(&p)));
                    }
                }
            }
            Step::Remove(_) => {
                for p in found {
                    // The usual /var/lib/dbus/machine-id is a link to /etc/machine-id: kept.
                    let link = std::fs::symlink_metadata(&p)
                        .map(|m| m.file_type().is_symlink())
                        .unwrap_or(false);
                    if link && st.path().ends_with("machine-id") {
                        continue;
                    }
                    remove(&p).map_err(err)?;
                    done.push(format!("removed {}", shown(&p)));
                }
            }
            Step::RemoveContents(_) => {
                for p in found {
                    if !std::fs::symlink_metadata(&p).is_ok_and(|m| m.is_dir()) {
                        continue;
                    }
                    let mut n = 0;
                    for e in std::fs::read_dir(&p).map_err(err)?.flatten() {
                        remove(&e.path()).map_err(err)?;
                        n += 1;
                    }
                    if n > 0 {
                        done.push(format!("removed the {n} entries of {}", shown(&p)));
                    }
                }
            }
            Step::Logs(_) => {
                for p in found {
                    if !std::fs::symlink_metadata(&p).is_ok_and(|m| m.is_dir()) {
                        continue;
                    }
                    let (e, r) = logs(&p).map_err(err)?;
                    if e + r > 0 {
                        done.push(format!(
                            "logs under {}: {e} emptied, {r} rotated ones removed",
                            shown(&p)
                        ));
                    }
                }
            }
        }
    }
    Ok(done)
}

/// `ID` of `/etc/os-release` (or `/usr/lib/os-release`) below `root`.
fn os_id(root: &Path) -> Option<String> {
    ["etc/os-release", "usr/lib/os-release"]
        .iter()
        .find_map(|p| std::fs::read_to_string(root.join(p)).ok())?
        .lines()
        .find_map(|l| l.strip_prefix("ID="))
        .map(|v| v.trim_matches('"').to_string())
        .filter(|v| !v.is_empty())
}

/// A partition's block device (`/dev/vda1`, `/dev/nvme0n1p1`) from sysfs.
fn partition_device(disk: &str, number: u32) -> Result<PathBuf, String> {
    let dir = Path::new("/sys/class/block").join(disk);
    let found = std::fs::read_dir(&dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .flatten()
        .find(|e| {
            std::fs::read_to_string(e.path().join("partition"))
                .is_ok_and(|n| n.trim() == number.to_string())
        })
        .map(|e| Path::new("/dev").join(e.file_name()));
    found.ok_or_else(|| format!("the kernel shows no partition {number} of /dev/{disk}"))
}

/// A copy-on-write snapshot of a partition, mounted; removed on drop.
struct Snapshot {
    name: String,
    loop_dev: String,
    cow: PathBuf,
    dev: PathBuf,
    mount: Option<PathBuf>,
}

impl Snapshot {
    fn create(part: &Path, sectors: u64, tag: &str, cow_bytes: u64) -> Result<Snapshot, String> {
        let cow = PathBuf::from(format!("/tmp/bmcap-{tag}.cow"));
        File::create(&cow)
            .and_then(|f| f.set_len(cow_bytes))
            .map_err(|e| format!("the snapshot's store in memory: {e}"))?;
        let loop_dev = run("losetup", &["-f"])?;
        run("losetup", &[&loop_dev, &cow.display().to_string()])?;
        let name = format!("bmcap-{tag}");
        let s = Snapshot {
            name: name.clone(),
            loop_dev,
            cow,
            dev: PathBuf::from(format!("/dev/mapper/{name}")),
            mount: None,
        };
        let table = format!("0 {sectors} snapshot {} {} N 8", part.display(), s.loop_dev);
        run(
            "dmsetup",
            &["create", &name, "--noudevsync", "--table", &table],
        )?;
        // Without udev in the ramdisk, the device's node is made here.
        let _ = run("dmsetup", &["mknodes", &name]);
        Ok(s)
    }

    /// Mounts the snapshot if it holds an ext2/3/4 filesystem (its magic at byte 1080).
    fn mount(&mut self) -> Result<Option<PathBuf>, String> {
        let f = File::open(&self.dev).map_err(|e| format!("{}: {e}", self.dev.display()))?;
        let mut magic = [0u8; 2];
        if f.read_exact_at(&mut magic, 1080).is_err() || magic != [0x53, 0xEF] {
            return Ok(None);
        }
        let at = PathBuf::from(format!("/tmp/{}", self.name));
        std::fs::create_dir_all(&at).map_err(|e| e.to_string())?;
        run(
            "mount",
            &[
                "-t",
                "ext4",
                &self.dev.display().to_string(),
                &at.display().to_string(),
            ],
        )?;
        self.mount = Some(at.clone());
        Ok(Some(at))
    }

    fn unmount(&mut self) -> Result<(), String> {
        if let Some(m) = self.mount.take() {
            run("umount", &[&m.display().to_string()])?;
        }
        Ok(())
    }
}

impl Drop for Snapshot {
    fn drop(&mut self) {
        let _ = self.unmount();
        let _ = run("dmsetup", &["remove", "--noudevsync", &self.name]);
        let _ = run("losetup", &["-d", &self.loop_dev]);
        let _ = std::fs::remove_file(&self.cow);
    }
}

/// Where each byte of the captured image comes from.
struct Source {
    disk: Arc<File>,
    /// (the partition's first byte, its end byte, the snapshot's device)
    snapshots: Vec<(u64, u64, Arc<File>)>,
    head: Vec<u8>,
    data_end: u64,
    tail: Vec<u8>,
}

impl Source {
    fn read_chunk(&self, at: u64, buf: &mut [u8]) -> std::io::Result<()> {
        let end = at + buf.len() as u64;
        // The disk first, then the snapshots over their partitions, then the table over both.
        self.disk.read_exact_at(buf, at)?;
        for (s, e, f) in &self.snapshots {
            let (lo, hi) = (at.max(*s), end.min(*e));
            if lo < hi {
                f.read_exact_at(&mut buf[(lo - at) as usize..(hi - at) as usize], lo - s)?;
            }
        }
        let h = self.head.len() as u64;
        if at < h {
            let n = (h.min(end) - at) as usize;
            buf[..n].copy_from_slice(&self.head[at as usize..at as usize + n]);
        }
        Ok(())
    }
}

#[derive(Default)]
struct Tally {
    hasher: Option<Sha256>,
    sent: u64,
}

/// The compressed image as a reader: a zstd frame per 4 MiB of disk, hashed as it is read.
struct Stream {
    src: Source,
    pos: u64,
    level: i32,
    out: Vec<u8>,
    out_pos: usize,
    tail_done: bool,
    zero_frame: Vec<u8>,
    tally: Arc<Mutex<Tally>>,
    report: Report,
    last: Instant,
    total: u64,
}

impl Stream {
    fn frame(&self, data: &[u8]) -> std::io::Result<Vec<u8>> {
        zstd::bulk::compress(data, self.level)
    }

    fn next_frame(&mut self) -> std::io::Result<bool> {
        let mut data = if self.pos < self.src.data_end {
            let n = CHUNK.min(self.src.data_end - self.pos) as usize;
            let mut buf = vec![0u8; n];
            self.src.read_chunk(self.pos, &mut buf)?;
            self.pos += n as u64;
            buf
        } else if !self.tail_done {
            self.tail_done = true;
            if self.src.tail.is_empty() {
                return Ok(false);
            }
            std::mem::take(&mut self.src.tail)
        } else {
            return Ok(false);
        };
        self.out = if data.len() as u64 == CHUNK && crate::disk::is_zero(&data) {
            self.zero_frame.clone()
        } else {
            self.frame(&data)?
        };
        data.clear();
        self.out_pos = 0;
        let mut t = self.tally.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(h) = &mut t.hasher {
            h.update(&self.out);
        }
        t.sent += self.out.len() as u64;
        drop(t);
        if self.last.elapsed().as_millis() >= 500 {
            self.report
                .progress("capturing", self.pos, Some(self.total));
            self.last = Instant::now();
        }
        Ok(true)
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.out_pos >= self.out.len() {
            if !self.next_frame()? {
                return Ok(0);
            }
        }
        let n = buf.len().min(self.out.len() - self.out_pos);
        buf[..n].copy_from_slice(&self.out[self.out_pos..self.out_pos + n]);
        self.out_pos += n;
        Ok(n)
    }
}

/// The `capture` command.
pub fn capture(c: &Capture, report: &Report) -> Result<(String, serde_json::Value), String> {
    c.generalise.check()?;
    if !(1..=19).contains(&c.level) {
        return Err(format!("zstd level {} is not within 1–19", c.level));
    }
    let disks = crate::disk::disks();
    let target = c.root_device.pick(&disks)?.clone();
    let dev = PathBuf::from("/dev").join(&target.name);
    let disk = File::open(&dev).map_err(|e| format!("opening {}: {e}", dev.display()))?;
    let table = Table::read(&disk)?;
    let layout = partitions::captured(&disk, &table)?;
    report.log(format!(
        "root device /dev/{} ({} bytes): {} table, {} partitions{}; the image is {} bytes",
        target.name,
        target.size_bytes,
        table.kind_name(),
        table.parts.len(),
        layout
            .dropped
            .map(|n| format!(", config drive (partition {n}) left out"))
            .unwrap_or_default(),
        layout.total()
    ));
    // 2. Snapshots, generalised.
    let mut snaps = Vec::new();
    let mut generalised = Vec::new();
    let mut os = None;
    let cow_bytes = (crate::image::memory_for_staging() / 2).max(64 << 20);
    for p in table.kept() {
        let pdev = partition_device(&target.name, p.number)?;
        let sectors = p.last - p.start + 1;
        let mut s = Snapshot::create(&pdev, sectors, &p.number.to_string(), cow_bytes)
            .map_err(|e| format!("snapshotting partition {}: {e}", p.number))?;
        let Some(root) = s.mount()? else {
            continue;
        };
        if root.join("etc").is_dir() {
            os = os.or_else(|| os_id(&root));
            report.log(format!(
                "partition {} holds a root filesystem ({}); generalising its snapshot",
                p.number,
                os_id(&root).unwrap_or_else(|| "no os-release".into())
            ));
            let done = generalise(&root, &c.generalise)?;
            for d in &done {
                report.log(format!("partition {}: {d}", p.number));
            }
            generalised.extend(
                done.into_iter()
                    .map(|d| format!("partition {}: {d}", p.number)),
            );
            if let Some(script) = &c.script {
                report.log("running the capture script, chrooted in the snapshot");
                let o = Command::new("chroot")
                    .arg(&root)
                    .args(["/bin/sh", "-c", script])
                    .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
                    .output()
                    .map_err(|e| format!("the capture script: {e}"))?;
                for l in String::from_utf8_lossy(&o.stdout)
                    .lines()
                    .chain(String::from_utf8_lossy(&o.stderr).lines())
                {
                    report.log(format!("script: {l}"));
                }
                if !o.status.success() {
                    return Err(format!(
                        "the capture script failed ({}): nothing was captured, and the disk is unchanged",
                        o.status
                    ));
                }
                generalised.push(format!("partition {}: the capture script ran", p.number));
            }
        }
        s.unmount()?;
        let _ = run("sync", &[]);
        snaps.push((p.start * 512, (p.last + 1) * 512, s));
    }
    if os.is_none() && generalised.is_empty() {
        return Err("no partition of the root device holds an ext2/3/4 root filesystem (with /etc): capture generalises Linux systems on ext2/3/4 only; nothing was captured".into());
    }
    // 3. The stream.
    let mut files = Vec::new();
    for (s, e, snap) in &snaps {
        let f = File::open(&snap.dev).map_err(|x| format!("{}: {x}", snap.dev.display()))?;
        files.push((*s, *e, Arc::new(f)));
    }
    let total = layout.total();
    let tally = Arc::new(Mutex::new(Tally {
        hasher: Some(Sha256::new()),
        ..Tally::default()
    }));
    let zero_frame = zstd::bulk::compress(&vec![0u8; CHUNK as usize], c.level)
        .map_err(|e| format!("zstd: {e}"))?;
    let stream = Stream {
        src: Source {
            disk: Arc::new(disk),
            snapshots: files,
            head: layout.head,
            data_end: layout.data_end,
            tail: layout.tail,
        },
        pos: 0,
        level: c.level,
        out: Vec::new(),
        out_pos: 0,
        tail_done: false,
        zero_frame,
        tally: tally.clone(),
        report: report.clone(),
        last: Instant::now(),
        total,
    };
    let started = Instant::now();
    report.log(format!(
        "streaming the image to {} (zstd level {})",
        crate::image::shown(&c.upload_url),
        c.level
    ));
    let client = crate::image::client(None)?;
    let resp = client
        .post(&c.upload_url)
        .header("Content-Type", "application/zstd")
        .body(reqwest::blocking::Body::new(stream))
        .send()
        .map_err(|e| format!("uploading the image: {}", e.without_url()))?;
    let status = resp.status();
    let answer: serde_json::Value = resp.json().unwrap_or_default();
    if !status.is_success() {
        return Err(format!(
            "the engine refused the image: HTTP {status} {}",
            answer["error"].as_str().unwrap_or("")
        ));
    }
    let secs = started.elapsed().as_secs_f64().max(1e-3);
    let mut t = tally.lock().unwrap_or_else(|p| p.into_inner());
    let hex = hex::encode(t.hasher.take().unwrap_or_default().finalize());
    let got = answer["sha256"].as_str().unwrap_or("");
    if got != hex {
        return Err(format!(
            "the engine received an image with sha256 {got:?}, not the {hex} sent"
        ));
    }
    let captured = Captured {
        checksum: format!("sha256:{hex}"),
        bytes: t.sent,
        disk_bytes: total,
        os_id: os,
        generalised,
        table: table.kind_name().into(),
        config_drive_dropped: layout.dropped,
    };
    drop(snaps);
    Ok((
        format!(
            "captured {} bytes of disk as {} bytes of zstd in {secs:.1} s ({:.1} MB/s of disk)",
            total,
            t.sent,
            total as f64 / 1e6 / secs
        ),
        serde_json::to_value(&captured).unwrap_or_default(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> tempfile::TempDir {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        for d in [
            "etc/ssh",
            "var/lib/cloud/instances/i-1",
            "var/lib/dbus",
            "var/log/journal/abc",
            "tmp",
            "etc/udev/rules.d",
        ] {
            std::fs::create_dir_all(r.join(d)).unwrap();
        }
        std::fs::write(r.join("etc/machine-id"), "0123456789abcdef\n").unwrap();
        std::os::unix::fs::symlink("/etc/machine-id", r.join("var/lib/dbus/machine-id")).unwrap();
        std::fs::write(r.join("etc/ssh/ssh_host_ed25519_key"), "k").unwrap();
        std::fs::write(r.join("etc/ssh/ssh_host_ed25519_key.pub"), "k").unwrap();
        std::fs::write(r.join("etc/ssh/sshd_config"), "Port 22").unwrap();
        std::fs::write(r.join("var/lib/cloud/instances/i-1/boot-finished"), "x").unwrap();
        std::fs::write(r.join("var/log/syslog"), "lines").unwrap();
        std::fs::write(r.join("var/log/syslog.1"), "old").unwrap();
        std::fs::write(r.join("var/log/journal/abc/system.journal"), "j").unwrap();
        std::fs::write(r.join("etc/udev/rules.d/70-persistent-net.rules"), "x").unwrap();
        std::fs::write(r.join("tmp/x"), "x").unwrap();
        t
    }

    #[test]
    fn generalising_removes_the_machines_identity_and_keeps_the_rest() {
        let t = tree();
        let r = t.path();
        let done = generalise(r, &Generalise::standard()).unwrap();
        assert_eq!(std::fs::read(r.join("etc/machine-id")).unwrap(), b"");
        // The link to /etc/machine-id stays a link.
        assert!(std::fs::symlink_metadata(r.join("var/lib/dbus/machine-id"))
            .unwrap()
            .file_type()
            .is_symlink());
        assert!(!r.join("etc/ssh/ssh_host_ed25519_key").exists());
        assert!(!r.join("etc/ssh/ssh_host_ed25519_key.pub").exists());
        assert!(r.join("etc/ssh/sshd_config").exists());
        assert!(r.join("var/lib/cloud").is_dir());
        assert_eq!(
            std::fs::read_dir(r.join("var/lib/cloud")).unwrap().count(),
            0
        );
        assert_eq!(std::fs::read(r.join("var/log/syslog")).unwrap(), b"");
        assert!(!r.join("var/log/syslog.1").exists());
        assert_eq!(
            std::fs::read(r.join("var/log/journal/abc/system.journal")).unwrap(),
            b""
        );
        assert!(!r.join("etc/udev/rules.d/70-persistent-net.rules").exists());
        assert_eq!(std::fs::read_dir(r.join("tmp")).unwrap().count(), 0);
        let text = done.join("\n");
        for want in [
            "emptied /etc/machine-id",
            "removed /etc/ssh/ssh_host_ed25519_key",
            "removed the 1 entries of /var/lib/cloud",
            "logs under /var/log: 2 emptied, 1 rotated ones removed",
        ] {
            assert!(text.contains(want), "{want} in {text}");
        }
        // Again: nothing left to do.
        assert!(generalise(r, &Generalise::standard()).unwrap().is_empty());
    }

    #[test]
    fn a_link_in_a_parent_is_not_followed_out_of_the_captured_system() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("keep.log"), "mine").unwrap();
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(t.path().join("var")).unwrap();
        std::os::unix::fs::symlink(outside.path(), t.path().join("var/log")).unwrap();
        generalise(t.path(), &Generalise::standard()).unwrap();
        assert_eq!(
            std::fs::read(outside.path().join("keep.log")).unwrap(),
            b"mine"
        );
    }

    #[test]
    fn the_stream_puts_the_table_and_snapshots_over_the_disk_and_decodes_to_it() {
        let t = tempfile::tempdir().unwrap();
        let disk_path = t.path().join("disk");
        let mut disk = vec![1u8; 10 << 20];
        disk[(5 << 20)..(9 << 20)].fill(0);
        std::fs::write(&disk_path, &disk).unwrap();
        let snap_path = t.path().join("snap");
        std::fs::write(&snap_path, vec![7u8; 1 << 20]).unwrap();
        let tally = Arc::new(Mutex::new(Tally {
            hasher: Some(Sha256::new()),
            ..Tally::default()
        }));
        let report = Report::for_tests();
        let mut s = Stream {
            src: Source {
                disk: Arc::new(File::open(&disk_path).unwrap()),
                snapshots: vec![(2 << 20, 3 << 20, Arc::new(File::open(&snap_path).unwrap()))],
                head: vec![9u8; 512],
                data_end: 10 << 20,
                tail: vec![5u8; 1024],
            },
            pos: 0,
            level: 3,
            out: Vec::new(),
            out_pos: 0,
            tail_done: false,
            zero_frame: zstd::bulk::compress(&vec![0u8; CHUNK as usize], 3).unwrap(),
            tally: tally.clone(),
            report,
            last: Instant::now(),
            total: (10 << 20) + 1024,
        };
        let mut compressed = Vec::new();
        s.read_to_end(&mut compressed).unwrap();
        // Decoded by the decoder the deploy path uses, frame after frame.
        let mut out = Vec::new();
        let mut src = std::io::BufReader::new(&compressed[..]);
        use std::io::BufRead;
        while !src.fill_buf().unwrap().is_empty() {
            let mut d = ruzstd::decoding::StreamingDecoder::new(&mut src).unwrap();
            d.read_to_end(&mut out).unwrap();
        }
        let mut want = disk.clone();
        want[..512].fill(9);
        want[(2 << 20)..(3 << 20)].fill(7);
        want.extend_from_slice(&[5u8; 1024]);
        assert!(out == want, "the decoded image differs");
        let t = tally.lock().unwrap();
        assert_eq!(t.sent, compressed.len() as u64);
        assert_eq!(
            t.hasher.clone().unwrap().finalize().to_vec(),
            Sha256::digest(&compressed).to_vec()
        );
    }
}
