//! What the provider's benches share: a median, and Terraform runs in one directory with one
//! environment.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

pub fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(|a, b| a.partial_cmp(b).unwrap());
    xs[xs.len() / 2]
}

pub struct Run {
    pub dir: PathBuf,
    pub env: Vec<(String, String)>,
    pub terraform: String,
}

impl Run {
    pub fn terraform(&self, args: &[&str]) -> (i32, Duration, String) {
        let started = Instant::now();
        let out = Command::new(&self.terraform)
            .args(args)
            .current_dir(&self.dir)
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .output()
            .expect("terraform runs");
        let took = started.elapsed();
        let text = String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr);
        (out.status.code().unwrap_or(-1), took, text)
    }
}
