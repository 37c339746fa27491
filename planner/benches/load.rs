//! Loading and validating a large configuration: `load_sources` plus `Desired::from_loaded` on N
//! networks (the shape `bmplan validate` reads), for N and 2N, so the ratio shows how the time grows
//! (2.0 is linear, 4.0 quadratic). The baseline was 4.85 s for 8,000 networks and quadratic
//! growth (every location was found by scanning the file from its start).
//!
//!     cargo bench -p planner --bench load -- [--networks 8000] [--runs 5]

use std::path::{Path, PathBuf};
use std::time::Instant;

fn config(n: usize) -> String {
    let mut s = String::new();
    for i in 0..n {
        s += &format!(
            "resource \"baremetal_network\" \"n{i}\" {{\n  name    = \"n{i}\"\n  vlan_id = {}\n}}\n",
            i % 4094 + 1
        );
    }
    s
}

fn median_secs(n: usize, runs: usize) -> f64 {
    let text = config(n);
    let opts = planner::load::LoadOptions {
        env: Some(Vec::new()),
        ..Default::default()
    };
    let mut times: Vec<f64> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            let loaded = planner::load::load_sources(
                Path::new("/bench"),
                vec![(PathBuf::from("/bench/main.tf"), text.clone())],
                &opts,
            )
            .expect("the generated configuration loads");
            let d = planner::model::Desired::from_loaded(&loaded).expect("and is valid");
            assert_eq!(d.networks.len(), n);
            t.elapsed().as_secs_f64()
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

fn main() {
    let mut networks = 8000;
    let mut runs = 5;
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        match flag.as_str() {
            "--networks" => {
                networks = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("--networks N")
            }
            "--runs" => runs = it.next().and_then(|v| v.parse().ok()).expect("--runs R"),
            "--bench" => {}
            other => panic!("unknown argument {other}"),
        }
    }
    let one = median_secs(networks, runs);
    let two = median_secs(networks * 2, runs);
    println!(
        "load+validate {networks} networks: {one:.3} s; {} networks: {two:.3} s (medians of {runs}); growth ×{:.2} for ×2 input",
        networks * 2,
        two / one
    );
}
