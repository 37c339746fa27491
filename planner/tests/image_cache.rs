//! The engine's image cache and the deployment endpoint that serves it: one origin fetch for
//! concurrent deployments of one image, verification before anything is kept, eviction under
//! the size limit, and HTTP range requests from concurrent readers.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use planner::host::cache::ImageCache;
use planner::host::image::{Checksum, ImageError};
use planner::host::MediaServer;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// An origin that serves `body` on any path, slowly (so concurrent fetches overlap), and counts
/// the GETs it answered.
async fn origin(body: Vec<u8>) -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let gets = Arc::new(AtomicUsize::new(0));
    let count = gets.clone();
    let body = Arc::new(body);
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
                let header = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = s.write_all(header.as_bytes()).await;
                for chunk in body.chunks(64 * 1024) {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    if s.write_all(chunk).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (format!("http://127.0.0.1:{}/os.raw", addr.port()), gets)
}

fn image(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

fn checksum(b: &[u8]) -> Checksum {
    Checksum::parse(&format!("sha256:{}", hex::encode(Sha256::digest(b)))).unwrap()
}

fn files(dir: &std::path::Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|r| {
            r.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| !n.ends_with(".lock"))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_deployments_of_one_image_at_once_fetch_it_from_the_origin_once() {
    let dir = tempfile::tempdir().unwrap();
    let body = image(1 << 20, 7);
    let (url, gets) = origin(body.clone()).await;
    let cache = ImageCache::new(dir.path().to_path_buf(), 1 << 30);
    let want = checksum(&body);
    let t = Duration::from_secs(60);
    let (a, b) = tokio::join!(cache.get(&url, &want, t), cache.get(&url, &want, t));
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(gets.load(Ordering::SeqCst), 1, "one fetch from the origin");
    assert_eq!(
        [a.fetched, b.fetched].iter().filter(|f| **f).count(),
        1,
        "one of them fetched, the other was served from the cache"
    );
    assert_eq!(a.path, b.path);
    assert_eq!(std::fs::read(&a.path).unwrap(), body);
    assert_eq!(a.bytes, body.len() as u64);
    // A third, later: still one fetch.
    let c = cache.get(&url, &want, t).await.unwrap();
    assert!(!c.fetched);
    assert_eq!(gets.load(Ordering::SeqCst), 1);
    // A kept copy damaged on disk is found out and fetched again.
    std::fs::write(&a.path, b"damaged").unwrap();
    let d = cache.get(&url, &want, t).await.unwrap();
    assert!(d.fetched, "fetched again");
    assert_eq!(gets.load(Ordering::SeqCst), 2);
    assert_eq!(std::fs::read(&d.path).unwrap(), body);
    // Another process's cache over the same directory finds it too.
    let other = ImageCache::new(dir.path().to_path_buf(), 1 << 30);
    assert!(!other.get(&url, &want, t).await.unwrap().fetched);
    assert_eq!(gets.load(Ordering::SeqCst), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_image_that_does_not_match_its_checksum_or_outgrows_the_limit_leaves_nothing_in_the_cache(
) {
    let dir = tempfile::tempdir().unwrap();
    let body = image(300_000, 1);
    let (url, gets) = origin(body.clone()).await;
    let cache = ImageCache::new(dir.path().to_path_buf(), 1 << 30);
    let wrong = checksum(b"something else");
    let e = cache
        .get(&url, &wrong, Duration::from_secs(30))
        .await
        .unwrap_err();
    assert!(
        matches!(e, ImageError::Mismatch { bytes: 300_000, .. }),
        "{e}"
    );
    assert_eq!(files(dir.path()), Vec::<String>::new(), "nothing kept");
    // Asked again, it is fetched again (a failure is not cached).
    let _ = cache.get(&url, &wrong, Duration::from_secs(30)).await;
    assert_eq!(gets.load(Ordering::SeqCst), 2);
    let small = ImageCache::new(dir.path().to_path_buf(), 100_000);
    let e = small
        .get(&url, &checksum(&body), Duration::from_secs(30))
        .await
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("larger than the image cache's limit"),
        "{e}"
    );
    assert_eq!(files(dir.path()), Vec::<String>::new(), "nothing kept");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_least_recently_used_image_is_evicted_past_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let t = Duration::from_secs(30);
    // Three images of 200 kB under a limit of 450 kB: two fit.
    let cache = ImageCache::new(dir.path().to_path_buf(), 450_000);
    let bodies: Vec<Vec<u8>> = (0..3).map(|i| image(200_000, i)).collect();
    let mut urls = Vec::new();
    for b in &bodies {
        urls.push(origin(b.clone()).await);
    }
    let sums: Vec<Checksum> = bodies.iter().map(|b| checksum(b)).collect();
    cache.get(&urls[0].0, &sums[0], t).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    cache.get(&urls[1].0, &sums[1], t).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    // Image 0 used again: image 1 is now the least recently used.
    assert!(!cache.get(&urls[0].0, &sums[0], t).await.unwrap().fetched);
    tokio::time::sleep(Duration::from_millis(50)).await;
    cache.get(&urls[2].0, &sums[2], t).await.unwrap();
    let kept = files(dir.path());
    let name = |c: &Checksum| format!("sha256-{}", c.hex);
    assert_eq!(kept.len(), 2, "{kept:?}");
    assert!(kept.contains(&name(&sums[0])), "{kept:?}");
    assert!(kept.contains(&name(&sums[2])), "{kept:?}");
    assert!(!kept.contains(&name(&sums[1])), "{kept:?}");
    // Asked for again, the evicted one is fetched again.
    assert!(cache.get(&urls[1].0, &sums[1], t).await.unwrap().fetched);
    assert_eq!(urls[1].1.load(Ordering::SeqCst), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_deployment_endpoint_serves_a_cached_file_whole_and_by_ranges_to_concurrent_readers() {
    let dir = tempfile::tempdir().unwrap();
    let body = image(1_000_000, 3);
    let path = dir.path().join("img");
    std::fs::write(&path, &body).unwrap();
    let media = MediaServer::start("127.0.0.1:0", None).await.unwrap();
    let url = media
        .publish_file("os.raw", &path, body.len() as u64)
        .unwrap();
    let client = reqwest::Client::new();
    let get = |range: Option<&'static str>| {
        let (client, url) = (client.clone(), url.clone());
        async move {
            let mut r = client.get(&url);
            if let Some(v) = range {
                r = r.header("Range", v);
            }
            let resp = r.send().await.unwrap();
            let status = resp.status().as_u16();
            let cr = resp
                .headers()
                .get("content-range")
                .map(|v| v.to_str().unwrap().to_string());
            (status, cr, resp.bytes().await.unwrap().to_vec())
        }
    };
    let (whole, mid, tail, from, past) = tokio::join!(
        get(None),
        get(Some("bytes=100-199")),
        get(Some("bytes=-10")),
        get(Some("bytes=999990-")),
        get(Some("bytes=1000000-")),
    );
    assert_eq!(whole.0, 200);
    assert_eq!(whole.2, body);
    assert_eq!(mid.0, 206);
    assert_eq!(mid.1.as_deref(), Some("bytes 100-199/1000000"));
    assert_eq!(mid.2, &body[100..200]);
    assert_eq!(tail.0, 206);
    assert_eq!(tail.2, &body[999_990..]);
    assert_eq!(from.2, &body[999_990..]);
    assert_eq!(past.0, 416);
    assert_eq!(past.1.as_deref(), Some("bytes */1000000"));
    let head = client.head(&url).send().await.unwrap();
    assert_eq!(
        head.headers()["content-length"].to_str().unwrap(),
        "1000000"
    );
    assert_eq!(head.headers()["accept-ranges"].to_str().unwrap(), "bytes");
    // Only a GET takes a range: a HEAD with one is answered for the whole.
    let head = client
        .head(&url)
        .header("Range", "bytes=0-9")
        .send()
        .await
        .unwrap();
    assert_eq!(head.status().as_u16(), 200);
    // Evicted from the cache while published (unlinked): still served whole, from the file the
    // endpoint holds open.
    std::fs::remove_file(&path).unwrap();
    let after = get(None).await;
    assert_eq!((after.0, after.2.len()), (200, body.len()));
    assert_eq!(
        get(Some("bytes=500000-500009")).await.2,
        &body[500_000..500_010]
    );
    // Withdrawn: gone.
    media.withdraw(&url);
    assert_eq!(get(None).await.0, 404);
}

/// A capture's upload: the endpoint takes one upload per capture asked, writes it where the
/// engine said while hashing it, refuses what passes the limit (nothing kept), and a file:// URL
/// in the image store is then read like an origin (and no other local file is).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_capture_upload_is_hashed_into_the_store_once_and_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let media = MediaServer::start("127.0.0.1:0", None).await.unwrap();
    let session = media.agent_session();
    let url = format!("{}/capture", session.url);
    let client = reqwest::Client::new();
    // Not asked: refused.
    let r = client.post(&url).body("x").send().await.unwrap();
    assert_eq!(r.status(), 409);
    let body = image(3 << 20, 7);
    let part = dir.path().join("store/.capture.part");
    session.lock().upload = Some(planner::host::media::UploadTo {
        part: part.clone(),
        limit: 4 << 20,
    });
    let r = client.post(&url).body(body.clone()).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let answer: serde_json::Value = r.json().await.unwrap();
    let want = hex::encode(Sha256::digest(&body));
    assert_eq!(answer["sha256"], want.as_str());
    assert_eq!(answer["bytes"], body.len() as u64);
    assert_eq!(std::fs::read(&part).unwrap(), body);
    let got = session.lock().uploaded.clone().unwrap().unwrap();
    assert_eq!(
        (got.sha256.as_str(), got.bytes),
        (want.as_str(), body.len() as u64)
    );
    // A second upload for the same capture: refused.
    let r = client.post(&url).body("again").send().await.unwrap();
    assert_eq!(r.status(), 409);
    // Over the limit: refused, nothing kept.
    let part2 = dir.path().join("store/.capture2.part");
    session.lock().upload = Some(planner::host::media::UploadTo {
        part: part2.clone(),
        limit: 1 << 20,
    });
    let r = client.post(&url).body(body.clone()).send().await.unwrap();
    assert_eq!(r.status(), 413);
    assert!(!part2.exists());
    assert!(matches!(session.lock().uploaded.clone(), Some(Err(e)) if e.contains("limit")));
}
