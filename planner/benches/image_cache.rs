//! The image cache under a fleet's deployments: N deployments of one image at once against a
//! local origin, counting the origin's fetches, and the deployment endpoint's serving rate to N
//! concurrent readers against reading the same file from the page cache (the baseline).
//! Before the cache, each deployment fetched an image from its origin twice (the engine's
//! verification, then the agent's write), so N deployments made 2N origin fetches.
//!
//!     cargo bench -p planner --bench image_cache -- [--mib 256] [--readers 4] [--runs 5]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use planner::host::cache::ImageCache;
use planner::host::image::Checksum;
use planner::host::MediaServer;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// An origin serving `body` at full speed, counting its GETs.
async fn origin(body: Arc<Vec<u8>>) -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let gets = Arc::new(AtomicUsize::new(0));
    let count = gets.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = listener.accept().await else {
                continue;
            };
            let (body, count) = (body.clone(), count.clone());
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let _ = s.read(&mut buf).await;
                count.fetch_add(1, Ordering::SeqCst);
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = s.write_all(head.as_bytes()).await;
                let _ = s.write_all(&body).await;
            });
        }
    });
    (format!("http://127.0.0.1:{port}/os.raw"), gets)
}

/// Reads `url` whole `readers` times at once; the aggregate rate in MB/s.
async fn serve_rate(url: &str, readers: usize, bytes: u64) -> f64 {
    let client = reqwest::Client::new();
    let t = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..readers {
        let (c, u) = (client.clone(), url.to_string());
        tasks.push(tokio::spawn(async move {
            let mut r = c.get(&u).send().await.unwrap();
            let mut n = 0u64;
            while let Some(chunk) = r.chunk().await.unwrap() {
                n += chunk.len() as u64;
            }
            n
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), bytes);
    }
    (bytes * readers as u64) as f64 / 1e6 / t.elapsed().as_secs_f64()
}

/// Reads the file whole `readers` times at once (threads, 1 MiB reads): the baseline rate.
fn file_rate(path: &std::path::Path, readers: usize, bytes: u64) -> f64 {
    let t = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..readers {
            s.spawn(|| {
                use std::io::Read;
                let mut f = std::fs::File::open(path).unwrap();
                let mut buf = vec![0u8; 1 << 20];
                let mut n = 0u64;
                loop {
                    match f.read(&mut buf).unwrap() {
                        0 => break,
                        k => n += k as u64,
                    }
                }
                assert_eq!(n, bytes);
            });
        }
    });
    (bytes * readers as u64) as f64 / 1e6 / t.elapsed().as_secs_f64()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 4)]
async fn main() {
    let (mut mib, mut readers, mut runs) = (256usize, 4usize, 5usize);
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut num = |what: &str| -> usize {
            it.next()
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("{what} N"))
        };
        match flag.as_str() {
            "--mib" => mib = num("--mib"),
            "--readers" => readers = num("--readers"),
            "--runs" => runs = num("--runs"),
            "--bench" => {}
            other => panic!("unknown argument {other}"),
        }
    }
    let body: Vec<u8> = (0..mib << 20)
        .map(|i| (i as u32).wrapping_mul(2654435761).to_le_bytes()[1])
        .collect();
    let bytes = body.len() as u64;
    let want = Checksum::parse(&format!("sha256:{}", hex::encode(Sha256::digest(&body)))).unwrap();
    let body = Arc::new(body);
    let (url, gets) = origin(body.clone()).await;

    // N deployments at once, each asking the cache: origin fetches per N.
    let mut fetches = Vec::new();
    let mut first = Vec::new();
    for _ in 0..runs {
        let dir = tempfile::tempdir().unwrap();
        let cache = Arc::new(ImageCache::new(dir.path().to_path_buf(), 1 << 40));
        let before = gets.load(Ordering::SeqCst);
        let t = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..readers {
            let (c, u, w) = (cache.clone(), url.clone(), want.clone());
            tasks.push(tokio::spawn(async move {
                c.get(&u, &w, Duration::from_secs(600)).await.unwrap()
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        first.push(bytes as f64 / 1e6 / t.elapsed().as_secs_f64());
        fetches.push(gets.load(Ordering::SeqCst) - before);
    }

    // Serving the cached copy to N readers, against reading the file.
    let dir = tempfile::tempdir().unwrap();
    let cache = ImageCache::new(dir.path().to_path_buf(), 1 << 40);
    let cached = cache
        .get(&url, &want, Duration::from_secs(600))
        .await
        .unwrap();
    let media = MediaServer::start("127.0.0.1:0", None).await.unwrap();
    let served = media
        .publish_file("os.raw", &cached.path, cached.bytes)
        .unwrap();
    let mut rows = Vec::new();
    for n in [1, readers] {
        let http: Vec<f64> = {
            let mut v = Vec::new();
            for _ in 0..runs {
                v.push(serve_rate(&served, n, bytes).await);
            }
            v
        };
        let file: Vec<f64> = (0..runs)
            .map(|_| file_rate(&cached.path, n, bytes))
            .collect();
        rows.push((n, median(http), median(file)));
    }
    let out = serde_json::json!({
        "image_mib": mib,
        "runs": runs,
        "deployments_at_once": readers,
        "origin_fetches_per_deployments": fetches,
        "fetch_and_verify_mb_s_median": median(first),
        "serve": rows.iter().map(|(n, h, f)| serde_json::json!({
            "readers": n, "endpoint_mb_s": h, "file_mb_s": f, "ratio": h / f,
        })).collect::<Vec<_>>(),
    });
    println!("{}", serde_json::to_string_pretty(&out).unwrap());
}
