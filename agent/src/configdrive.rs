//! The config drive (an ISO 9660 image labelled `cidata`) written as a new partition at the end of
//! the root device, after the image, so cloud-init finds it by its label on every boot (as Ironic's
//! agent does). MBR and GPT partition tables are both extended: an MBR gets a primary entry; a GPT
//! gets an entry, and its backup header and entries move to the disk's real end (an image written
//! to a larger disk has them at the image's end).

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};

const SECTOR: u64 = 512;
/// Partitions start on 1 MiB boundaries.
const ALIGN: u64 = 2048;

#[derive(Debug, PartialEq)]
pub struct Partition {
    pub number: u32,
    pub start_sector: u64,
    pub sectors: u64,
    pub table: &'static str,
}

fn read_at(f: &File, at: u64, len: usize) -> Result<Vec<u8>, String> {
    let mut f = f;
    let mut b = vec![0u8; len];
    f.seek(SeekFrom::Start(at))
        .and_then(|_| f.read_exact(&mut b))
        .map_err(|e| format!("reading the partition table: {e}"))?;
    Ok(b)
}

fn write_at(f: &File, at: u64, data: &[u8]) -> Result<(), String> {
    let mut f = f;
    f.seek(SeekFrom::Start(at))
        .and_then(|_| f.write_all(data))
        .map_err(|e| format!("writing at byte {at}: {e}"))
}

use crate::partitions::{le32, le64, seal_gpt_header};

/// Writes `drive` as a partition at the end of a disk of `capacity` bytes whose image ends at
/// `image_end`.
pub fn append(f: &File, capacity: u64, image_end: u64, drive: &[u8]) -> Result<Partition, String> {
    let disk_sectors = capacity / SECTOR;
    let need = (drive.len() as u64).div_ceil(SECTOR).div_ceil(ALIGN) * ALIGN;
    let mbr = read_at(f, 0, 512)?;
    if mbr[510] != 0x55 || mbr[511] != 0xAA {
        return Err("the image has no partition table (no MBR signature): there is nowhere to add the config drive".into());
    }
    if let Some(s) = crate::sys::sector_size(f).filter(|s| *s != 512) {
        return Err(format!(
            "the disk has {s}-byte sectors: the config drive partition is written for 512-byte sectors only"
        ));
    }
    let gpt = (0..4).any(|i| mbr[446 + i * 16 + 4] == 0xEE);
    // GPT keeps its backup entries and header at the end of the disk.
    let reserve = if gpt {
        let hdr = read_at(f, SECTOR, 512)?;
        let table = le32(&hdr, 80) as u64 * le32(&hdr, 84) as u64;
        if table == 0 || table > 1024 * 512 {
            return Err("the image's GPT header is malformed".into());
        }
        1 + table.div_ceil(SECTOR)
    } else {
        0
    };
    let start = (disk_sectors - reserve)
        .checked_sub(need)
        .map(|s| s / ALIGN * ALIGN);
    // A GPT image's last sectors are its backup table, which moves to the disk's end: only its
    // partitions must lie before the config drive (`gpt_add` checks them). A captured image
    // whose root partition was grown up to the config drive ends so.
    let start = match start {
        Some(s) if gpt || s * SECTOR >= image_end => s,
        _ => {
            return Err(format!(
                "the disk ({capacity} bytes) has no room after the image ({image_end} bytes) for the config drive ({} bytes)",
                drive.len()
            ))
        }
    };
    let p = if gpt {
        let p = gpt_add(f, disk_sectors, start, need)?;
        // The protective MBR covers the whole disk now.
        for i in 0..4 {
            let at = 446 + i * 16;
            if mbr[at + 4] == 0xEE {
                let size = (disk_sectors - 1).min(u32::MAX as u64) as u32;
                write_at(f, at as u64 + 12, &size.to_le_bytes())?;
            }
        }
        p
    } else {
        mbr_add(f, &mbr, start, need)?
    };
    write_at(f, start * SECTOR, drive)?;
    let pad = need * SECTOR - drive.len() as u64;
    write_at(
        f,
        start * SECTOR + drive.len() as u64,
        &vec![0u8; pad.min(1 << 20) as usize],
    )?;
    f.sync_all()
        .map_err(|e| format!("flushing the disk: {e}"))?;
    Ok(p)
}

fn mbr_add(f: &File, mbr: &[u8], start: u64, sectors: u64) -> Result<Partition, String> {
    if start + sectors > u32::MAX as u64 {
        return Err(
            "an MBR cannot address a partition past 2 TiB: use a GPT image on this disk".into(),
        );
    }
    let mut slot = None;
    for i in 0..4 {
        let e = &mbr[446 + i * 16..446 + (i + 1) * 16];
        if e[4] == 0 {
            slot = slot.or(Some(i));
            continue;
        }
        let (s, n) = (le32(e, 8) as u64, le32(e, 12) as u64);
        if s + n > start {
            return Err(format!(
                "partition {} of the image ends at sector {}, past where the config drive would start ({start})",
                i + 1,
                s + n
            ));
        }
    }
    let Some(i) = slot else {
        return Err("the image's MBR has no free primary entry for the config drive".into());
    };
    let mut e = [0u8; 16];
    // CHS fields say "use LBA".
    e[1..4].copy_from_slice(&[0xFE, 0xFF, 0xFF]);
    e[4] = 0x83;
    e[5..8].copy_from_slice(&[0xFE, 0xFF, 0xFF]);
    e[8..12].copy_from_slice(&(start as u32).to_le_bytes());
    e[12..16].copy_from_slice(&(sectors as u32).to_le_bytes());
    write_at(f, 446 + i as u64 * 16, &e)?;
    Ok(Partition {
        number: i as u32 + 1,
        start_sector: start,
        sectors,
        table: "mbr",
    })
}

/// The Linux filesystem data partition type, in GPT's mixed-endian byte order.
const LINUX_FS: [u8; 16] = [
    0xAF, 0x3D, 0xC6, 0x0F, 0x83, 0x84, 0x72, 0x47, 0x8E, 0x79, 0x3D, 0x69, 0xD8, 0x47, 0x7D, 0xE4,
];

fn random_guid() -> [u8; 16] {
    let mut g = [0u8; 16];
    let _ = File::open("/dev/urandom").and_then(|mut u| u.read_exact(&mut g));
    g[7] = (g[7] & 0x0F) | 0x40;
    g[8] = (g[8] & 0x3F) | 0x80;
    g
}

fn gpt_add(f: &File, disk_sectors: u64, start: u64, sectors: u64) -> Result<Partition, String> {
    let mut hdr = read_at(f, SECTOR, 512)?;
    if &hdr[..8] != b"EFI PART" {
        return Err(
            "the image's protective MBR names a GPT, but sector 1 holds no GPT header".into(),
        );
    }
    let hsize = le32(&hdr, 12) as usize;
    let entries_lba = le64(&hdr, 72);
    let count = le32(&hdr, 80) as usize;
    let esize = le32(&hdr, 84) as usize;
    if !(92..=512).contains(&hsize) || esize < 128 || count == 0 || count > 1024 {
        return Err("the image's GPT header is malformed".into());
    }
    let table_len = count * esize;
    if entries_lba < 2 || entries_lba >= disk_sectors {
        return Err(format!(
            "the image's GPT puts its entries at sector {entries_lba}, outside the disk"
        ));
    }
    let mut table = read_at(f, entries_lba * SECTOR, table_len)?;
    let mut slot = None;
    for i in 0..count {
        let e = &table[i * esize..(i + 1) * esize];
        if e[..16].iter().all(|&b| b == 0) {
            slot = slot.or(Some(i));
            continue;
        }
        let last = le64(e, 40);
        if last >= start {
            return Err(format!(
                "GPT partition {} ends at sector {last}, past where the config drive would start ({start})",
                i + 1
            ));
        }
    }
    let Some(i) = slot else {
        return Err("the image's GPT has no free entry for the config drive".into());
    };
    let e = &mut table[i * esize..(i + 1) * esize];
    e[..16].copy_from_slice(&LINUX_FS);
    e[16..32].copy_from_slice(&random_guid());
    e[32..40].copy_from_slice(&start.to_le_bytes());
    e[40..48].copy_from_slice(&(start + sectors - 1).to_le_bytes());
    for (k, c) in "config-2".encode_utf16().enumerate() {
        e[56 + k * 2..58 + k * 2].copy_from_slice(&c.to_le_bytes());
    }
    let entries_crc = crc32fast::hash(&table);
    let last = disk_sectors - 1;
    let backup_entries = last - (table_len as u64).div_ceil(SECTOR);
    let mut backup = hdr.clone();
    let last_usable = backup_entries - 1;
    seal_gpt_header(
        &mut hdr,
        hsize,
        (1, last, last_usable, entries_lba),
        entries_crc,
    );
    seal_gpt_header(
        &mut backup,
        hsize,
        (last, 1, last_usable, backup_entries),
        entries_crc,
    );
    write_at(f, entries_lba * SECTOR, &table)?;
    write_at(f, SECTOR, &hdr)?;
    write_at(f, backup_entries * SECTOR, &table)?;
    write_at(f, last * SECTOR, &backup)?;
    Ok(Partition {
        number: i as u32 + 1,
        start_sector: start,
        sectors,
        table: "gpt",
    })
}

#[cfg(test)]
mod tests {
    //! Checked with sfdisk, a partitioner we did not write: it must read the table we extend.
    use super::*;
    use std::process::Command;

    fn sfdisk_dump(path: &std::path::Path) -> String {
        let o = Command::new("sfdisk")
            .arg("--dump")
            .arg(path)
            .output()
            .expect("sfdisk (package fdisk) is needed");
        assert!(
            o.status.success(),
            "sfdisk: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).to_string()
    }

    fn disk(label: &str) -> tempfile::NamedTempFile {
        let t = tempfile::NamedTempFile::new().unwrap();
        t.as_file().set_len(16 << 20).unwrap();
        let mut c = Command::new("sfdisk");
        c.arg("-q")
            .arg(t.path())
            .stdin(std::process::Stdio::piped());
        let mut child = c.spawn().unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(format!("label: {label}\nstart=2048, size=8192, type=L\n").as_bytes())
            .unwrap();
        assert!(child.wait().unwrap().success());
        t
    }

    #[test]
    fn the_config_drive_becomes_the_last_partition_of_an_mbr_disk() {
        let t = disk("dos");
        let f = crate::disk::open(t.path()).unwrap();
        let drive = vec![0x42u8; 70_000];
        f.set_len(64 << 20).unwrap();
        let p = append(&f, 64 << 20, 5 << 20, &drive).unwrap();
        assert_eq!(p.number, 2);
        assert_eq!(p.start_sector, (64 << 20) / 512 - 2048);
        let dump = sfdisk_dump(t.path());
        assert!(
            dump.contains(&format!(
                "start=      {}, size=        2048, type=83",
                p.start_sector
            )),
            "{dump}"
        );
        let back = std::fs::read(t.path()).unwrap();
        let at = p.start_sector as usize * 512;
        assert_eq!(&back[at..at + drive.len()], &drive[..]);
    }

    #[test]
    fn a_gpt_disk_gets_an_entry_and_its_backup_moves_to_the_disks_end() {
        let t = disk("gpt");
        let f = crate::disk::open(t.path()).unwrap();
        // The image was 16 MiB; the disk is 64 MiB.
        f.set_len(64 << 20).unwrap();
        let p = append(&f, 64 << 20, 16 << 20, &[7u8; 4096]).unwrap();
        assert_eq!((p.number, p.table), (2, "gpt"));
        let dump = sfdisk_dump(t.path());
        assert!(
            dump.contains("last-lba: 131038"),
            "the GPT now spans the disk: {dump}"
        );
        assert!(
            dump.contains(&format!("start=      {}", p.start_sector)),
            "{dump}"
        );
        // sfdisk --verify finds both headers consistent.
        let o = Command::new("sfdisk")
            .arg("--verify")
            .arg(t.path())
            .output()
            .unwrap();
        let out =
            String::from_utf8_lossy(&o.stdout).to_string() + &String::from_utf8_lossy(&o.stderr);
        assert!(o.status.success() && !out.contains("corrupt"), "{out}");
    }

    #[test]
    fn a_disk_without_room_or_a_table_is_refused() {
        let t = tempfile::NamedTempFile::new().unwrap();
        t.as_file().set_len(8 << 20).unwrap();
        let f = crate::disk::open(t.path()).unwrap();
        assert!(append(&f, 8 << 20, 1 << 20, &[1u8; 10])
            .unwrap_err()
            .contains("no partition table"));
        let t = disk("dos");
        let f = crate::disk::open(t.path()).unwrap();
        let e = append(&f, 16 << 20, 15 << 20, &[1u8; 4 << 20]).unwrap_err();
        assert!(e.contains("no room after the image"), "{e}");
    }
}
