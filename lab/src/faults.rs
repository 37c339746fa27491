//! Run-wide fault injection and latency: what fraction of BMC requests fail, and how.
//!
//! Faults are drawn per request from a seeded source, so a run can be replayed, and every injected
//! fault is counted so that tests can check that the configured rate really happened.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::RwLock;

use serde::{Deserialize, Serialize};

use crate::rng::SharedRng;

/// Run-wide fault settings. Rates are fractions of requests in `[0, 1]`; their sum must be ≤ 1.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FaultConfig {
    /// Latency added to every BMC request.
    pub latency_ms: u64,
    /// Fraction answered `503 Service Unavailable` with a Redfish error body.
    pub error_rate: f64,
    /// Fraction that never get an answer: the connection is held for `hang_ms`, then closed.
    pub timeout_rate: f64,
    /// Fraction whose connection is closed without any answer.
    pub reset_rate: f64,
    /// How long a "timed out" request is held before its connection is closed.
    pub hang_ms: u64,
}

impl FaultConfig {
    /// Splits a total fault rate evenly over the named kinds (`5xx`, `timeout`, `reset`).
    pub fn from_rate(latency_ms: u64, rate: f64, kinds: &[FaultKind], hang_ms: u64) -> FaultConfig {
        let share = if kinds.is_empty() {
            0.0
        } else {
            rate / kinds.len() as f64
        };
        let has = |k| if kinds.contains(&k) { share } else { 0.0 };
        FaultConfig {
            latency_ms,
            error_rate: has(FaultKind::ServerError),
            timeout_rate: has(FaultKind::Timeout),
            reset_rate: has(FaultKind::Reset),
            hang_ms,
        }
    }

    pub fn validate(&self) -> Result<(), String> {
        for (name, r) in [
            ("error_rate", self.error_rate),
            ("timeout_rate", self.timeout_rate),
            ("reset_rate", self.reset_rate),
        ] {
            if !(0.0..=1.0).contains(&r) {
                return Err(format!("{name} must be between 0 and 1, got {r}"));
            }
        }
        let total = self.error_rate + self.timeout_rate + self.reset_rate;
        if total > 1.0 + 1e-9 {
            return Err(format!("the fault rates add up to {total}, more than 1"));
        }
        Ok(())
    }
}

/// The kinds of injected failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    ServerError,
    Timeout,
    Reset,
}

impl std::str::FromStr for FaultKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "5xx" | "error" => Ok(FaultKind::ServerError),
            "timeout" => Ok(FaultKind::Timeout),
            "reset" => Ok(FaultKind::Reset),
            other => Err(format!(
                "unknown fault kind {other:?} (expected 5xx, timeout or reset)"
            )),
        }
    }
}

/// The shared injector: current settings, the random source and the counters.
#[derive(Debug)]
pub struct Injector {
    config: RwLock<FaultConfig>,
    rng: SharedRng,
    pub requests: AtomicU64,
    pub errors: AtomicU64,
    pub timeouts: AtomicU64,
    pub resets: AtomicU64,
}

impl Injector {
    pub fn new(config: FaultConfig, seed: u64) -> Injector {
        Injector {
            config: RwLock::new(config),
            rng: SharedRng::new(seed ^ 0xFA17),
            requests: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            timeouts: AtomicU64::new(0),
            resets: AtomicU64::new(0),
        }
    }

    pub fn config(&self) -> FaultConfig {
        self.config
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn set(&self, config: FaultConfig) {
        *self.config.write().unwrap_or_else(|p| p.into_inner()) = config;
    }

    /// Draws the fate of one request and counts it.
    pub fn draw(&self, cfg: &FaultConfig) -> Option<FaultKind> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        if cfg.error_rate + cfg.timeout_rate + cfg.reset_rate <= 0.0 {
            return None;
        }
        let r = self.rng.unit();
        let kind = if r < cfg.error_rate {
            FaultKind::ServerError
        } else if r < cfg.error_rate + cfg.timeout_rate {
            FaultKind::Timeout
        } else if r < cfg.error_rate + cfg.timeout_rate + cfg.reset_rate {
            FaultKind::Reset
        } else {
            return None;
        };
        let counter = match kind {
            FaultKind::ServerError => &self.errors,
            FaultKind::Timeout => &self.timeouts,
            FaultKind::Reset => &self.resets,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        Some(kind)
    }

    pub fn counters(&self) -> serde_json::Value {
        serde_json::json!({
            "requests": self.requests.load(Ordering::Relaxed),
            "errors": self.errors.load(Ordering::Relaxed),
            "timeouts": self.timeouts.load(Ordering::Relaxed),
            "resets": self.resets.load(Ordering::Relaxed),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_rate_splits_evenly_over_kinds() {
        let c = FaultConfig::from_rate(0, 0.3, &[FaultKind::ServerError, FaultKind::Reset], 1000);
        assert!((c.error_rate - 0.15).abs() < 1e-9);
        assert!((c.reset_rate - 0.15).abs() < 1e-9);
        assert_eq!(c.timeout_rate, 0.0);
    }

    #[test]
    fn rates_over_one_are_rejected() {
        let c = FaultConfig {
            error_rate: 0.7,
            reset_rate: 0.5,
            ..Default::default()
        };
        assert!(c.validate().is_err());
    }

    #[test]
    fn draws_follow_the_configured_rate() {
        let cfg = FaultConfig {
            error_rate: 0.2,
            ..Default::default()
        };
        let inj = Injector::new(cfg.clone(), 9);
        let hits = (0..20_000).filter(|_| inj.draw(&cfg).is_some()).count();
        assert!((3_600..4_400).contains(&hits), "{hits}");
        assert_eq!(inj.errors.load(Ordering::Relaxed) as usize, hits);
    }
}
