//! Bounded fuzzing, run by the test command on the stable toolchain: each target is fed mutations of
//! its seed corpus (`fuzz/seeds/<target>/`, the repository's examples and fixtures) for
//! `BMPLAN_FUZZ_SECONDS` seconds (default 6) and must never panic. Mutations are random but seeded
//! (`BMPLAN_FUZZ_SEED`, else the clock; the seed is printed), with no coverage feedback: the
//! nightly cargo-fuzz targets in `fuzz/` (`scripts/fuzz.sh`) explore deeper. An input that panics is
//! written to `target/fuzz-failures/` and named in the failure; a stack overflow aborts the test
//! binary, which fails the run as well.

mod common;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

fn seed() -> u64 {
    std::env::var("BMPLAN_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
        })
        | 1
}

fn budget() -> Duration {
    Duration::from_secs_f64(
        std::env::var("BMPLAN_FUZZ_SECONDS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(6.0),
    )
}

const MAX_INPUT: usize = 256 << 10;

/// One mutation of `input`: bit flips, interesting bytes, dictionary tokens, deletions,
/// duplications (which grow nesting), splices from another seed, truncations.
fn mutate(rng: &mut Rng, input: &mut Vec<u8>, corpus: &[Vec<u8>], dict: &[&[u8]]) {
    let len = input.len();
    match rng.below(8) {
        0 if len > 0 => {
            let i = rng.below(len);
            input[i] ^= 1 << rng.below(8);
        }
        1 if len > 0 => {
            const BYTES: &[u8] = b"\0\xff\"{}[]()\n\\$%#,:=.-0123456789\x1b\r\t ";
            let i = rng.below(len);
            input[i] = BYTES[rng.below(BYTES.len())];
        }
        2 if !dict.is_empty() => {
            let t = dict[rng.below(dict.len())];
            let i = rng.below(len + 1);
            input.splice(i..i, t.iter().copied());
        }
        3 if len > 0 => {
            let a = rng.below(len);
            let b = (a + 1 + rng.below(64)).min(len);
            input.drain(a..b);
        }
        4 if len > 0 => {
            let a = rng.below(len);
            let b = (a + 1 + rng.below(256)).min(len);
            let piece: Vec<u8> = input[a..b].to_vec();
            let times = 1 + rng.below(8);
            for _ in 0..times {
                input.splice(b..b, piece.iter().copied());
            }
        }
        5 if !corpus.is_empty() => {
            let other = &corpus[rng.below(corpus.len())];
            if !other.is_empty() {
                let a = rng.below(other.len());
                let b = (a + 1 + rng.below(512)).min(other.len());
                let i = rng.below(len + 1);
                input.splice(i..i, other[a..b].iter().copied());
            }
        }
        6 if len > 0 => input.truncate(rng.below(len)),
        _ => {
            let i = rng.below(len + 1);
            input.insert(i, rng.next() as u8);
        }
    }
    input.truncate(MAX_INPUT);
}

fn failures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/fuzz-failures")
}

/// Feeds `target` with mutations of `corpus` until the time budget is spent; panics (with the
/// input saved) when the target panics. Returns how many inputs ran.
fn fuzz(name: &str, corpus: Vec<Vec<u8>>, dict: &[&[u8]], target: impl Fn(&[u8])) -> u64 {
    assert!(!corpus.is_empty(), "{name}: no seeds");
    let seed = seed();
    let mut rng = Rng(seed);
    let started = Instant::now();
    let budget = budget();
    let mut runs = 0u64;
    // Seeds first, as they are.
    let mut inputs: Vec<Vec<u8>> = corpus.clone();
    let mut failure = None;
    while started.elapsed() < budget {
        let input = match inputs.pop() {
            Some(i) => i,
            None => {
                let mut i = corpus[rng.below(corpus.len())].clone();
                for _ in 0..1 + rng.below(6) {
                    mutate(&mut rng, &mut i, &corpus, dict);
                }
                i
            }
        };
        runs += 1;
        if let Err(p) = catch_unwind(AssertUnwindSafe(|| target(&input))) {
            let msg = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            failure = Some((input, msg));
            break;
        }
    }
    if let Some((input, msg)) = failure {
        let dir = failures_dir();
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join(format!("{name}-{seed}-{runs}"));
        let _ = std::fs::write(&path, &input);
        panic!(
            "{name}: input {runs} (seed {seed}) panicked: {msg}\nthe input is in {}",
            path.display()
        );
    }
    eprintln!(
        "{name}: {runs} inputs in {:.1}s (seed {seed}), 0 panics",
        started.elapsed().as_secs_f64()
    );
    runs
}

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

/// Every file under `dir` whose name ends with one of `exts`, read.
fn files(dir: &Path, exts: &[&str]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if exts.iter().any(|x| p.to_string_lossy().ends_with(x)) {
                if let Ok(b) = std::fs::read(&p) {
                    if b.len() <= MAX_INPUT {
                        out.push(b);
                    }
                }
            }
        }
    }
    out.sort();
    out
}

#[test]
fn fuzz_hcl_loader() {
    let mut corpus = files(&repo("examples"), &[".tf"]);
    corpus.extend(files(&repo("fuzz/seeds/hcl_loader"), &[""]));
    let dict: &[&[u8]] = &[
        b"resource \"baremetal_node\" \"n\" {\n",
        b"resource \"baremetal_network\" \"n\" { name = \"a\"\n vlan_id = 1 }\n",
        b"locals {\n a = local.a\n}\n",
        b"${",
        b"%{ for x in [1] }",
        b"%{ endfor }",
        b"[for x in range(3): x]",
        b"{ for k, v in {a = 1}: k => v }",
        b"dynamic \"port\" {\n for_each = [1]\n content {}\n}\n",
        b"count = 3\n",
        b"for_each = toset([\"a\"])\n",
        b"var.",
        b"local.",
        b"each.value",
        b"count.index",
        b"<<EOT\nx\nEOT\n",
        b"format(\"%05d\", 1)",
        b"jsondecode(\"{}\")",
        b"\"\\u0000\"",
        b"\xef\xbb\xbf",
        b"((((",
        b"]]]]",
        b"/*",
        b"*/",
        b"#",
        b"//",
    ];
    fuzz("hcl_loader", corpus, dict, |data| {
        planner::fuzz::hcl_loader(&String::from_utf8_lossy(data))
    });
}

#[test]
fn fuzz_redfish_documents() {
    let mut corpus = files(&repo("planner/tests/fixtures/redfish"), &[".json"]);
    corpus.extend(
        files(
            &repo("planner/tests/fixtures/mockups/dmtf-rackmount1"),
            &[".json"],
        )
        .into_iter()
        .take(40),
    );
    let dict: &[&[u8]] = &[
        b"\"@odata.id\":",
        b"\"Members\":[",
        b"{\"@odata.id\":\"/redfish/v1\"}",
        b"null",
        b"[]",
        b"{}",
        b"1e308",
        b"-1",
        b"\"\\u001b[2J\"",
        b"\"Attributes\":{",
        b"\"Links\":{",
    ];
    fuzz(
        "redfish_documents",
        corpus,
        dict,
        planner::fuzz::redfish_documents,
    );
}

#[test]
fn fuzz_switch_output() {
    let corpus = files(&repo("fuzz/seeds/switch_output"), &[""]);
    let dict: &[&[u8]] = &[
        b"interface GigabitEthernet0/1\n",
        b" switchport access vlan 100\n",
        b"<rpc-error>",
        b"<interface><name>ge-0/0/1</name>",
        b"\"switchports\":{",
        b"vlan 4095\n",
        b"!\n",
    ];
    fuzz("switch_output", corpus, dict, |data| {
        planner::fuzz::switch_output(&String::from_utf8_lossy(data))
    });
}

#[test]
fn fuzz_config_drive() {
    let corpus = files(&repo("fuzz/seeds/config_drive"), &[""]);
    fuzz(
        "config_drive",
        corpus,
        &[b"CD001", b"user-data", b"meta-data"],
        |data| {
            let _ = lab::install::read_seed(data);
        },
    );
}

#[test]
fn fuzz_bmc_list_enroller() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ca.pem"), "-----BEGIN CERTIFICATE-----\n").unwrap();
    let mut corpus = files(&repo("examples/inventory"), &[".csv", ".json"]);
    corpus.extend(files(&repo("fuzz/seeds/bmc_list"), &[""]));
    corpus.push(
        b"name,bmc_url,system_id,username,password,ca_cert,fingerprint,insecure\n\
          r1,https://10.0.0.1,,root,pw,ca.pem,,\nr2,https://10.0.0.2,1,root,env:HOME,,,true\n"
            .to_vec(),
    );
    corpus.push(
        br#"[{"name":"a","bmc_url":"https://h:1","username":"u","password":"p","insecure":true}]"#
            .to_vec(),
    );
    let dict: &[&[u8]] = &[
        b",",
        b"\"",
        b"\n",
        b"#",
        b"true",
        b"maybe",
        b"https://u:p@h",
        b"env:",
        b"[",
        b"{",
    ];
    let csv = dir.path().join("bmcs.csv");
    let json = dir.path().join("bmcs.json");
    fuzz("bmc_list", corpus, dict, |data| {
        for p in [&csv, &json] {
            std::fs::write(p, data).unwrap();
            if let Err(e) = planner::enroll::read_bmc_list(p) {
                let shown = e.to_string();
                assert!(!shown.contains("hunter2"), "{shown}");
            }
        }
    });
}

#[test]
fn fuzz_report_renderers() {
    use planner::report::{printable, Rows};
    let corpus = vec![
        b"r1u01\tOn\tActive\x1b[31m\tDell Inc.\n".to_vec(),
        "caf\u{e9}\t\u{1b}]0;title\u{7}\t".repeat(10).into_bytes(),
        vec![b'M'; 70_000],
    ];
    fuzz(
        "report_renderers",
        corpus,
        &[b"\t", b"\n", b"\x1b[2J", b"\r", "…".as_bytes()],
        |data| {
            let text = String::from_utf8_lossy(data);
            let cells: Vec<Vec<String>> = text
                .split('\n')
                .map(|l| l.split('\t').map(str::to_string).collect())
                .collect();
            let rows = Rows {
                header: vec!["NAME", "POWER", "STATE", "MODEL"],
                cells,
            };
            for out in [rows.render(false), rows.render(true), rows.csv()] {
                assert!(!out.contains('\u{1b}'), "a raw escape reached the output");
            }
            let shown = printable(&text, false);
            assert!(!shown.chars().any(char::is_control));
        },
    );
}

/// The Redfish walker (`inspect`) against an in-process BMC serving a real mockup tree (DMTF's
/// rackmount1) with one document mutated per run: any answer gives an inventory or an error, never
/// a panic, and each run ends within the request timeout's bounds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fuzz_redfish_walker_against_a_mutating_bmc() {
    use planner::bmc::{Endpoint, Limits, TlsTrust};
    use std::collections::BTreeMap;
    use std::sync::{Arc, Mutex};
    use tokio::io::AsyncWriteExt;

    let root = repo("planner/tests/fixtures/mockups/dmtf-rackmount1");
    let mut docs: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut stack = vec![root.clone()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.file_name().is_some_and(|n| n == "index.json") {
                let rel = p.parent().unwrap().strip_prefix(&root).unwrap();
                let path = format!("/redfish/v1/{}", rel.display())
                    .trim_end_matches('/')
                    .to_string();
                docs.insert(path, std::fs::read(&p).unwrap());
            }
        }
    }
    let served: Arc<Mutex<BTreeMap<String, Vec<u8>>>> = Arc::new(Mutex::new(docs.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let table = served.clone();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let table = table.clone();
            tokio::spawn(async move {
                let Some(path) = common::read_request_path(&mut sock).await else {
                    return;
                };
                let body = table.lock().unwrap().get(&path).cloned();
                let resp = match body {
                    Some(b) => {
                        let mut r = format!(
                            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                            b.len()
                        )
                        .into_bytes();
                        r.extend_from_slice(&b);
                        r
                    }
                    None => {
                        b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                            .to_vec()
                    }
                };
                let _ = sock.write_all(&resp).await;
            });
        }
    });
    let corpus: Vec<Vec<u8>> = docs.values().cloned().collect();
    let keys: Vec<String> = docs.keys().cloned().collect();
    let dict: &[&[u8]] = &[
        b"{\"@odata.id\":\"/redfish/v1/Systems\"}",
        b"{\"@odata.id\":\"http://127.0.0.2:9/steal\"}",
        b"\"Members\":[",
        b"null",
        b"\"\\u001b[2J\"",
    ];
    let mut rng = Rng(seed());
    let started = Instant::now();
    let budget = budget();
    let mut runs = 0;
    while started.elapsed() < budget {
        // Restore the tree, then mutate one document of it.
        let mut t = docs.clone();
        let k = &keys[rng.below(keys.len())];
        let mut doc = t[k].clone();
        for _ in 0..1 + rng.below(4) {
            mutate(&mut rng, &mut doc, &corpus, dict);
        }
        t.insert(k.clone(), doc);
        *served.lock().unwrap() = t;
        let ep = Endpoint {
            url: url.clone(),
            username: "root".into(),
            password: "pw".into(),
            tls: TlsTrust::NoExtraRoots,
            limits: Limits {
                request_timeout: Duration::from_secs(2),
                attempts: 1,
                ..Limits::default()
            },
        };
        let t0 = Instant::now();
        let bmc = open_bmc(ep).unwrap();
        let outcome = tokio::spawn(async move {
            let systems = bmc.systems().await?;
            match systems.first() {
                Some(s) => bmc.inspect(s).await.map(|_| ()),
                None => Ok(()),
            }
        })
        .await;
        assert!(
            outcome.is_ok(),
            "the walker panicked on a mutation of {k} (run {runs})"
        );
        assert!(t0.elapsed() < Duration::from_secs(30), "{:?}", t0.elapsed());
        runs += 1;
    }
    eprintln!("redfish_walker: {runs} mutated BMCs inspected in {budget:?}, 0 panics");
    assert!(runs > 0);
}

/// A Redfish client through the one BMC factory.
fn open_bmc(
    ep: planner::bmc::Endpoint,
) -> Result<Box<dyn planner::bmc::Bmc>, planner::bmc::BmcError> {
    planner::bmc::open(ep, planner::bmc::Purpose::Change)
}
