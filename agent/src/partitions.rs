//! Reading a disk's partition table (MBR or GPT), and the table a captured image carries: the
//! same partitions but the config drive, the image ending after the last one kept (a GPT's backup
//! header and entries rewritten there).

use std::fs::File;
use std::os::unix::fs::FileExt;

const SECTOR: u64 = 512;

#[derive(Debug, Clone, PartialEq)]
pub struct Part {
    pub number: u32,
    pub start: u64,
    /// The last sector, inclusive.
    pub last: u64,
    /// The GPT partition name (empty for MBR).
    pub name: String,
    /// Holds the config drive: named `config-2`, or an ISO 9660 labelled `cidata`/`config-2`.
    pub config_drive: bool,
}

#[derive(Debug, Clone)]
pub enum Kind {
    Mbr,
    Gpt {
        hsize: usize,
        entries_lba: u64,
        count: usize,
        esize: usize,
    },
}

#[derive(Debug, Clone)]
pub struct Table {
    pub kind: Kind,
    pub parts: Vec<Part>,
}

pub fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

pub fn le64(b: &[u8], at: usize) -> u64 {
    le32(b, at) as u64 | (le32(b, at + 4) as u64) << 32
}

fn read_at(f: &File, at: u64, len: usize) -> Result<Vec<u8>, String> {
    let mut b = vec![0u8; len];
    f.read_exact_at(&mut b, at)
        .map_err(|e| format!("reading the disk at byte {at}: {e}"))?;
    Ok(b)
}

/// Fills a GPT header's own, alternate, last usable and entries LBAs and the entries' CRC, then
/// its own CRC (over its first `hsize` bytes).
pub fn seal_gpt_header(
    h: &mut [u8],
    hsize: usize,
    (my, alt, last_usable, entries): (u64, u64, u64, u64),
    entries_crc: u32,
) {
    h[24..32].copy_from_slice(&my.to_le_bytes());
    h[32..40].copy_from_slice(&alt.to_le_bytes());
    h[48..56].copy_from_slice(&last_usable.to_le_bytes());
    h[72..80].copy_from_slice(&entries.to_le_bytes());
    h[88..92].copy_from_slice(&entries_crc.to_le_bytes());
    h[16..20].copy_from_slice(&[0; 4]);
    let crc = crc32fast::hash(&h[..hsize]);
    h[16..20].copy_from_slice(&crc.to_le_bytes());
}

/// Whether the partition starting at `start` holds an ISO 9660 config drive.
fn holds_config_drive(f: &File, start: u64) -> bool {
    // The primary volume descriptor is at 32 KiB: type 1, "CD001", the volume id at byte 40.
    let Ok(pvd) = read_at(f, start * SECTOR + 32768, 80) else {
        return false;
    };
    if &pvd[1..6] != b"CD001" {
        return false;
    }
    let id = String::from_utf8_lossy(&pvd[40..72])
        .trim_matches(|c: char| c == ' ' || c == '\0')
        .to_lowercase();
    id == "cidata" || id == "config-2"
}

impl Table {
    /// The table of the disk (or disk image) `f`.
    pub fn read(f: &File) -> Result<Table, String> {
        let mbr = read_at(f, 0, 512)?;
        if mbr[510] != 0x55 || mbr[511] != 0xAA {
            return Err("the disk has no partition table (no MBR signature)".into());
        }
        let gpt = (0..4).any(|i| mbr[446 + i * 16 + 4] == 0xEE);
        if !gpt {
            let mut parts = Vec::new();
            for i in 0..4 {
                let e = &mbr[446 + i * 16..446 + (i + 1) * 16];
                let (start, n) = (le32(e, 8) as u64, le32(e, 12) as u64);
                if e[4] == 0 || n == 0 {
                    continue;
                }
                if matches!(e[4], 0x05 | 0x0F | 0x85) {
                    return Err(format!(
                        "MBR partition {} is an extended partition: capture reads primary partitions only",
                        i + 1
                    ));
                }
                parts.push(Part {
                    number: i as u32 + 1,
                    start,
                    last: start + n - 1,
                    name: String::new(),
                    config_drive: holds_config_drive(f, start),
                });
            }
            return Ok(Table {
                kind: Kind::Mbr,
                parts,
            });
        }
        let hdr = read_at(f, SECTOR, 512)?;
        if &hdr[..8] != b"EFI PART" {
            return Err("the protective MBR names a GPT, but sector 1 holds no GPT header".into());
        }
        let hsize = le32(&hdr, 12) as usize;
        let entries_lba = le64(&hdr, 72);
        let count = le32(&hdr, 80) as usize;
        let esize = le32(&hdr, 84) as usize;
        if !(92..=512).contains(&hsize)
            || !(128..=4096).contains(&esize)
            || count == 0
            || count > 1024
            || entries_lba < 2
        {
            return Err("the disk's GPT header is malformed".into());
        }
        let table = read_at(f, entries_lba * SECTOR, count * esize)?;
        if crc32fast::hash(&table) != le32(&hdr, 88) {
            return Err("the disk's GPT entries do not match their checksum".into());
        }
        let mut parts = Vec::new();
        for i in 0..count {
            let e = &table[i * esize..(i + 1) * esize];
            if e[..16].iter().all(|&b| b == 0) {
                continue;
            }
            let name: String = char::decode_utf16(
                e[56..128]
                    .chunks(2)
                    .map(|c| u16::from_le_bytes([c[0], c[1]]))
                    .take_while(|&c| c != 0),
            )
            .map(|c| c.unwrap_or('?'))
            .collect();
            let start = le64(e, 32);
            parts.push(Part {
                number: i as u32 + 1,
                start,
                last: le64(e, 40),
                config_drive: name == "config-2" || holds_config_drive(f, start),
                name,
            });
        }
        Ok(Table {
            kind: Kind::Gpt {
                hsize,
                entries_lba,
                count,
                esize,
            },
            parts,
        })
    }

    pub fn kind_name(&self) -> &'static str {
        match self.kind {
            Kind::Mbr => "mbr",
            Kind::Gpt { .. } => "gpt",
        }
    }

    /// The partitions a captured image keeps (all but the config drive).
    pub fn kept(&self) -> impl Iterator<Item = &Part> {
        self.parts.iter().filter(|p| !p.config_drive)
    }
}

/// A captured image's layout: its first bytes (the table, rewritten), its length, and the bytes
/// at its end (a GPT's backup entries and header).
#[derive(Debug)]
pub struct Layout {
    pub head: Vec<u8>,
    /// Where the disk's own bytes end (sectors before it come from the disk, `head` over them).
    pub data_end: u64,
    pub tail: Vec<u8>,
    pub dropped: Option<u32>,
}

impl Layout {
    pub fn total(&self) -> u64 {
        self.data_end + self.tail.len() as u64
    }
}

/// The layout of the image captured from `f` with table `t`.
pub fn captured(f: &File, t: &Table) -> Result<Layout, String> {
    let last = t.kept().map(|p| p.last).max().ok_or(
        "the root device has no partition but the config drive: there is no system to capture",
    )?;
    let dropped: Vec<&Part> = t.parts.iter().filter(|p| p.config_drive).collect();
    if dropped.len() > 1 {
        return Err(format!(
            "the root device has {} config drive partitions: capture expects one at most",
            dropped.len()
        ));
    }
    let dropped = dropped.first().map(|p| p.number);
    match t.kind {
        Kind::Mbr => {
            let data_end = (last + 1).div_ceil(2048) * 2048 * SECTOR;
            let mut head = read_at(f, 0, 512)?;
            if let Some(n) = dropped {
                let at = 446 + (n as usize - 1) * 16;
                head[at..at + 16].fill(0);
            }
            Ok(Layout {
                head,
                data_end,
                tail: Vec::new(),
                dropped,
            })
        }
        Kind::Gpt {
            hsize,
            entries_lba,
            count,
            esize,
        } => {
            let table_len = count * esize;
            let table_sectors = (table_len as u64).div_ceil(SECTOR);
            // The kept partitions end at `last`; the backup entries follow, then its header.
            let backup_entries = last + 1;
            let last_lba = backup_entries + table_sectors;
            let mut head = read_at(f, 0, ((entries_lba + table_sectors) * SECTOR) as usize)?;
            let mut table = head[(entries_lba * SECTOR) as usize..][..table_len].to_vec();
            if let Some(n) = dropped {
                let at = (n as usize - 1) * esize;
                table[at..at + esize].fill(0);
            }
            let entries_crc = crc32fast::hash(&table);
            let mut hdr = head[SECTOR as usize..][..512].to_vec();
            let mut backup = hdr.clone();
            seal_gpt_header(
                &mut hdr,
                hsize,
                (1, last_lba, last, entries_lba),
                entries_crc,
            );
            seal_gpt_header(
                &mut backup,
                hsize,
                (last_lba, 1, last, backup_entries),
                entries_crc,
            );
            head[SECTOR as usize..][..512].copy_from_slice(&hdr);
            head[(entries_lba * SECTOR) as usize..][..table_len].copy_from_slice(&table);
            // The protective MBR covers the image.
            for i in 0..4 {
                let at = 446 + i * 16;
                if head[at + 4] == 0xEE {
                    let size = last_lba.min(u32::MAX as u64) as u32;
                    head[at + 12..at + 16].copy_from_slice(&size.to_le_bytes());
                }
            }
            let mut tail = table;
            tail.resize((table_sectors * SECTOR) as usize, 0);
            tail.extend_from_slice(&backup);
            Ok(Layout {
                head,
                data_end: backup_entries * SECTOR,
                tail,
                dropped,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    //! Checked with sfdisk, a partitioner we did not write: a captured image's table must be
    //! whole, without the config drive, and take a new config drive when deployed again.
    use super::*;
    use std::io::Write;
    use std::process::Command;

    fn sfdisk(args: &[&str], path: &std::path::Path) -> String {
        let o = Command::new("sfdisk")
            .args(args)
            .arg(path)
            .output()
            .expect("sfdisk (package fdisk) is needed");
        String::from_utf8_lossy(&o.stdout).to_string() + &String::from_utf8_lossy(&o.stderr)
    }

    /// A 64 MiB disk: one partition filling it up to a config drive at its end.
    fn deployed(label: &str) -> (tempfile::NamedTempFile, File) {
        let t = tempfile::NamedTempFile::new().unwrap();
        t.as_file().set_len(16 << 20).unwrap();
        let mut child = Command::new("sfdisk")
            .arg("-q")
            .arg(t.path())
            .stdin(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(format!("label: {label}\nstart=2048, size=8192, type=L\n").as_bytes())
            .unwrap();
        assert!(child.wait().unwrap().success());
        let f = crate::disk::open(t.path()).unwrap();
        f.set_len(64 << 20).unwrap();
        // A config drive as the deployment writes it: an ISO 9660 labelled cidata.
        let mut iso = vec![0u8; 40 << 10];
        iso[32768] = 1;
        iso[32769..32774].copy_from_slice(b"CD001");
        iso[32768 + 40..32768 + 46].copy_from_slice(b"cidata");
        crate::configdrive::append(&f, 64 << 20, 16 << 20, &iso).unwrap();
        // cloud-init's growpart then grows the root partition up to the config drive.
        let mut child = Command::new("sfdisk")
            .args(["-q", "--no-reread", "--no-tell-kernel", "-N", "1"])
            .arg(t.path())
            .stdin(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(b", +\n").unwrap();
        assert!(child.wait().unwrap().success());
        (t, f)
    }

    fn image_of(f: &File, l: &Layout) -> Vec<u8> {
        let mut out = vec![0u8; l.data_end as usize];
        f.read_exact_at(&mut out, 0).unwrap();
        out[..l.head.len()].copy_from_slice(&l.head);
        out.extend_from_slice(&l.tail);
        out
    }

    fn round_trip(label: &str, want_last: u64, want_total: u64) {
        let (_t, f) = deployed(label);
        let t = Table::read(&f).unwrap();
        assert_eq!(t.parts.len(), 2, "{t:?}");
        assert!(t.parts[1].config_drive && !t.parts[0].config_drive, "{t:?}");
        let l = captured(&f, &t).unwrap();
        assert_eq!(l.dropped, Some(2));
        assert_eq!(l.total(), want_total);
        let img = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(img.path(), image_of(&f, &l)).unwrap();
        let dump = sfdisk(&["--dump"], img.path());
        let grown = format!("start=        2048, size=      {}", want_last - 2047);
        assert!(dump.contains(&grown), "{grown} in {dump}");
        assert!(!dump.contains("img2"), "the config drive is gone: {dump}");
        let verify = sfdisk(&["--verify"], img.path());
        assert!(verify.contains("No errors detected"), "{verify}");
        // Deployed again, onto a disk as large as the source's: a new config drive fits.
        let again = crate::disk::open(img.path()).unwrap();
        again.set_len(64 << 20).unwrap();
        let p = crate::configdrive::append(&again, 64 << 20, l.total(), &[9u8; 4096]).unwrap();
        assert_eq!(p.number, 2);
        let verify = sfdisk(&["--verify"], img.path());
        assert!(verify.contains("No errors detected"), "{verify}");
    }

    #[test]
    fn a_captured_gpt_image_drops_the_config_drive_and_ends_after_its_backup_table() {
        // Partition 1 was grown to sector 126975, before the config drive (at 126976, the last
        // MiB boundary before the disk's backup GPT); 32 sectors of backup entries and the
        // header follow it.
        round_trip("gpt", 126975, (126976 + 32 + 1) * 512);
    }

    #[test]
    fn a_captured_mbr_image_drops_the_config_drive_and_ends_at_the_next_mib() {
        round_trip("dos", 129023, 129024 * 512);
    }

    #[test]
    fn a_disk_without_a_table_or_a_system_is_refused() {
        let t = tempfile::NamedTempFile::new().unwrap();
        t.as_file().set_len(1 << 20).unwrap();
        let f = crate::disk::open(t.path()).unwrap();
        assert!(Table::read(&f).unwrap_err().contains("no partition table"));
        let t = Table {
            kind: Kind::Mbr,
            parts: vec![],
        };
        assert!(captured(&f, &t)
            .unwrap_err()
            .contains("no system to capture"));
    }
}
