//! Flavors: hardware classes that hosts ask for. Matching and best-fit ordering are pure functions the
//! inventory's scheduler and the `baremetal_flavor` resource share.

use std::cmp::Ordering;
use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

/// What a flavor asks of a node. Numbers are minimums; strings must match exactly (case-insensitive)
/// when set; every listed trait must be present on the node.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Flavor {
    pub name: String,
    #[serde(default)]
    pub cpus: u64,
    #[serde(default)]
    pub memory_gib: u64,
    #[serde(default)]
    pub disk_gib: u64,
    /// `x86_64` or `aarch64`; `None` accepts any.
    #[serde(default)]
    pub arch: Option<String>,
    #[serde(default)]
    pub vendor: Option<String>,
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub traits: BTreeSet<String>,
    #[serde(default)]
    pub description: Option<String>,
    /// Minimum GPUs (Redfish processors of type `GPU`), of `gpu_model` when set.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub gpus: u64,
    /// A GPU model the node's GPUs must name (case-insensitive substring: `A100`, `MI250X`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu_model: Option<String>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// The facts about a node that scheduling looks at.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct NodeSpecs {
    pub name: String,
    pub cpus: u64,
    pub memory_gib: u64,
    pub disk_gib: u64,
    pub arch: Option<String>,
    pub vendor: Option<String>,
    pub model: Option<String>,
    pub traits: BTreeSet<String>,
    /// Accelerators the node's inspection found.
    #[serde(default)]
    pub accelerators: Vec<crate::hardware::Accelerator>,
}

impl NodeSpecs {
    /// The node's GPUs, of `model` when given (a case-insensitive substring of the GPU's model).
    pub fn gpus(&self, model: Option<&str>) -> u64 {
        let want = model.map(str::to_ascii_lowercase);
        self.accelerators
            .iter()
            .filter(|a| a.kind == "gpu")
            .filter(|a| match &want {
                None => true,
                Some(w) => a
                    .model
                    .as_deref()
                    .is_some_and(|m| m.to_ascii_lowercase().contains(w.as_str())),
            })
            .map(|a| a.count)
            .sum()
    }
}

fn same(want: &Option<String>, have: &Option<String>) -> bool {
    match (want, have) {
        (None, _) => true,
        (Some(w), Some(h)) => w.eq_ignore_ascii_case(h),
        (Some(_), None) => false,
    }
}

/// The vendor as flavors name it: "Dell Inc." and "DELL" are both `dell`.
pub fn vendor_key(manufacturer: &str) -> String {
    let m = manufacturer.to_ascii_lowercase();
    for (needle, key) in [
        ("dell", "dell"),
        ("hpe", "hpe"),
        ("hewlett", "hpe"),
        ("lenovo", "lenovo"),
        ("supermicro", "supermicro"),
        ("super micro", "supermicro"),
        ("ampere", "ampere"),
    ] {
        if m.contains(needle) {
            return key.to_string();
        }
    }
    m.split_whitespace().next().unwrap_or_default().to_string()
}

impl Flavor {
    /// Why `node` does not satisfy this flavor, or an empty list when it does.
    pub fn mismatches(&self, node: &NodeSpecs) -> Vec<String> {
        let mut why = Vec::new();
        if node.cpus < self.cpus {
            why.push(format!("{} CPUs < {}", node.cpus, self.cpus));
        }
        if node.memory_gib < self.memory_gib {
            why.push(format!(
                "{} GiB memory < {}",
                node.memory_gib, self.memory_gib
            ));
        }
        if node.disk_gib < self.disk_gib {
            why.push(format!("{} GiB disk < {}", node.disk_gib, self.disk_gib));
        }
        if !same(&self.arch, &node.arch) {
            why.push(format!(
                "architecture {} is not {}",
                node.arch.as_deref().unwrap_or("unknown"),
                self.arch.as_deref().unwrap_or_default()
            ));
        }
        let vendor = node.vendor.as_deref().map(vendor_key);
        let want_vendor = self.vendor.as_deref().map(vendor_key);
        if !same(&want_vendor, &vendor) {
            why.push(format!(
                "vendor {} is not {}",
                node.vendor.as_deref().unwrap_or("unknown"),
                self.vendor.as_deref().unwrap_or_default()
            ));
        }
        if !same(&self.model, &node.model) {
            why.push(format!(
                "model {} is not {}",
                node.model.as_deref().unwrap_or("unknown"),
                self.model.as_deref().unwrap_or_default()
            ));
        }
        if self.gpus > 0 || self.gpu_model.is_some() {
            let have = node.gpus(self.gpu_model.as_deref());
            let want = self.gpus.max(1);
            if have < want {
                why.push(match &self.gpu_model {
                    Some(m) => format!("{have} {m} GPUs < {want}"),
                    None => format!("{have} GPUs < {want}"),
                });
            }
        }
        let missing: Vec<&str> = self
            .traits
            .iter()
            .filter(|t| !node.traits.contains(*t))
            .map(String::as_str)
            .collect();
        if !missing.is_empty() {
            why.push(format!("missing traits {}", missing.join(", ")));
        }
        why
    }

    pub fn matches(&self, node: &NodeSpecs) -> bool {
        self.mismatches(node).is_empty()
    }

    /// Best fit: the node with the least spare capacity first (GPUs, then CPUs, memory and disk),
    /// then by name, so a choice among equals is deterministic: a host that asks for no GPU does
    /// not take a GPU server while a plain one fits.
    pub fn best_fit_order(&self, a: &NodeSpecs, b: &NodeSpecs) -> Ordering {
        let spare_gpus = |n: &NodeSpecs| n.gpus(None) - self.gpus.min(n.gpus(None));
        spare_gpus(a)
            .cmp(&spare_gpus(b))
            .then((a.cpus - self.cpus.min(a.cpus)).cmp(&(b.cpus - self.cpus.min(b.cpus))))
            .then((a.memory_gib).cmp(&b.memory_gib))
            .then((a.disk_gib).cmp(&b.disk_gib))
            .then(a.traits.len().cmp(&b.traits.len()))
            .then_with(|| a.name.cmp(&b.name))
    }

    /// The matching nodes of `candidates`, best fit first.
    pub fn rank<'a>(&self, candidates: &'a [NodeSpecs]) -> Vec<&'a NodeSpecs> {
        let mut v: Vec<&NodeSpecs> = candidates.iter().filter(|n| self.matches(n)).collect();
        v.sort_by(|a, b| self.best_fit_order(a, b));
        v
    }

    /// Checks the flavor's own values: a name, and an architecture the inventory knows.
    pub fn validate(&self) -> Result<(), crate::rules::Invalid> {
        if self.name.trim().is_empty() {
            return Err(crate::rules::Invalid("a flavor needs a name".into()));
        }
        if let Some(a) = &self.arch {
            if !matches!(a.as_str(), "x86_64" | "aarch64") {
                return Err(crate::rules::Invalid(format!(
                    "flavor {}: architecture {a:?} is not one of x86_64, aarch64",
                    self.name
                )));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, cpus: u64, mem: u64, arch: &str, traits: &[&str]) -> NodeSpecs {
        NodeSpecs {
            name: name.into(),
            cpus,
            memory_gib: mem,
            disk_gib: 960,
            arch: Some(arch.into()),
            vendor: Some("Dell Inc.".into()),
            model: Some("PowerEdge R650".into()),
            traits: traits.iter().map(|t| t.to_string()).collect(),
            accelerators: Vec::new(),
        }
    }

    fn gpu(model: &str, count: u64) -> crate::hardware::Accelerator {
        crate::hardware::Accelerator {
            kind: "gpu".into(),
            model: Some(model.into()),
            manufacturer: None,
            count,
        }
    }

    #[test]
    fn gpu_flavors_count_gpus_of_the_model_and_plain_flavors_spare_gpu_nodes() {
        let mut big = node("gpu-1", 64, 512, "x86_64", &["CUSTOM_NVME"]);
        big.accelerators = vec![gpu("NVIDIA A100-SXM4-80GB", 8)];
        let mut small = node("gpu-2", 64, 512, "x86_64", &["CUSTOM_NVME"]);
        small.accelerators = vec![gpu("NVIDIA A40", 2)];
        let plain = node("cpu-1", 64, 512, "x86_64", &["CUSTOM_NVME"]);
        let want = Flavor {
            gpus: 4,
            gpu_model: Some("a100".into()),
            ..flavor()
        };
        assert!(want.matches(&big));
        assert_eq!(want.mismatches(&small), ["0 a100 GPUs < 4"]);
        assert_eq!(want.mismatches(&plain), ["0 a100 GPUs < 4"]);
        let any = Flavor {
            gpus: 2,
            ..flavor()
        };
        let all = [big, small, plain];
        let ranked: Vec<&str> = any.rank(&all).iter().map(|n| n.name.as_str()).collect();
        assert_eq!(ranked, ["gpu-2", "gpu-1"]);
        // A flavor without GPUs takes the plain server first.
        let ranked: Vec<&str> = flavor()
            .rank(&all)
            .iter()
            .map(|n| n.name.as_str())
            .collect();
        assert_eq!(ranked, ["cpu-1", "gpu-2", "gpu-1"]);
    }

    fn flavor() -> Flavor {
        Flavor {
            name: "compute".into(),
            cpus: 32,
            memory_gib: 256,
            arch: Some("x86_64".into()),
            vendor: Some("dell".into()),
            traits: ["CUSTOM_NVME".to_string()].into(),
            ..Flavor::default()
        }
    }

    #[test]
    fn a_flavor_matches_on_every_rule_and_says_why_not() {
        let f = flavor();
        assert!(f.matches(&node("a", 32, 256, "x86_64", &["CUSTOM_NVME"])));
        let why = f.mismatches(&node("b", 16, 128, "aarch64", &[]));
        assert_eq!(
            why,
            vec![
                "16 CPUs < 32",
                "128 GiB memory < 256",
                "architecture aarch64 is not x86_64",
                "missing traits CUSTOM_NVME"
            ]
        );
        let mut hpe = node("c", 64, 512, "x86_64", &["CUSTOM_NVME"]);
        hpe.vendor = Some("HPE".into());
        assert_eq!(f.mismatches(&hpe), vec!["vendor HPE is not dell"]);
    }

    #[test]
    fn best_fit_picks_the_smallest_matching_node_then_the_name() {
        let f = flavor();
        let nodes = vec![
            node("r1u04", 64, 512, "x86_64", &["CUSTOM_NVME"]),
            node("r1u02", 32, 256, "x86_64", &["CUSTOM_NVME"]),
            node("r1u01", 32, 256, "x86_64", &["CUSTOM_NVME"]),
            node("r1u03", 8, 256, "x86_64", &["CUSTOM_NVME"]),
        ];
        let ranked: Vec<&str> = f.rank(&nodes).iter().map(|n| n.name.as_str()).collect();
        assert_eq!(ranked, vec!["r1u01", "r1u02", "r1u04"]);
    }

    #[test]
    fn vendor_names_are_normalised() {
        assert_eq!(vendor_key("Dell Inc."), "dell");
        assert_eq!(vendor_key("Hewlett Packard Enterprise"), "hpe");
        assert_eq!(vendor_key("Supermicro"), "supermicro");
        assert_eq!(vendor_key("Contoso Ltd"), "contoso");
    }
}
