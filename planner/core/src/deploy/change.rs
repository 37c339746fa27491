//! What `bmplan plan` and `apply` do for the hosts a configuration names: a pure comparison of each
//! `baremetal_host` block with the host the inventory holds. Terraform keeps its own state and
//! decides through the provider; bmplan has no state, so the inventory is what it compares with.

use sha2::{Digest, Sha256};

use super::{Checksum, Deployment, HostSpec, Wait};
use crate::records::HostRecord;

/// What a host of the configuration needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostChange {
    /// Not in the inventory: allocated (by flavor, or the pinned node), then deployed when it has
    /// an image.
    Create { deploy: bool },
    /// Allocated and never deployed: the image goes on its node.
    Deploy,
    /// Deployed from something else: redeployed in place on the same node.
    Rebuild { changed: Vec<&'static str> },
    /// A deployment that stopped (its process killed, its BMC down): resumed on its node.
    Resume,
    /// Pinned to another node than it runs on: moved there (deployed again on it), and the node
    /// it leaves goes into maintenance, as a failover does.
    Migrate { to: String },
    /// A deployed host's networks or profile changed, nothing that needs a rebuild: its ports
    /// move and its profile is applied (one reset if the profile needs one), without reinstalling.
    Reconfigure {
        networks: Option<Vec<String>>,
        profile: Option<String>,
    },
    /// An active host whose power (read live) is not what the block says: `on` or `off`.
    Power { to: String, is: String },
}

impl HostChange {
    pub fn describe(&self) -> String {
        match self {
            HostChange::Create { deploy: true } => "allocate a node, then deploy the image".into(),
            HostChange::Create { deploy: false } => "allocate a node".into(),
            HostChange::Deploy => "deploy the image on its node".into(),
            HostChange::Rebuild { changed } => format!(
                "rebuild in place ({} changed; the disks are rewritten)",
                changed.join(", ")
            ),
            HostChange::Resume => "resume the deployment that stopped".into(),
            HostChange::Migrate { to } => format!(
                "move to node {to} (deployed there; the node it leaves goes into maintenance)"
            ),
            HostChange::Reconfigure { networks, profile } => {
                let mut what = Vec::new();
                if let Some(n) = networks {
                    what.push(if n.is_empty() {
                        "ports back to the node's own networks".to_string()
                    } else {
                        format!("ports to [{}]", n.join(", "))
                    });
                }
                if let Some(p) = profile {
                    what.push(format!("profile {p}"));
                }
                format!("{} (no reinstall)", what.join(", "))
            }
            HostChange::Power { to, is } => format!("power {to} (it is {is})"),
        }
    }
}

/// The change `spec` asks of `existing` (the inventory's host of that name), if any. Decided by
/// the host's state: only an `allocated` host is deployed, only an `active` one it deployed is
/// rebuilt, and a stopped deployment is resumed; every other state is left alone (see
/// [`not_applied`], which says why).
pub fn change_for(spec: &HostSpec, existing: Option<&HostRecord>) -> Option<HostChange> {
    let Some(h) = existing else {
        return Some(HostChange::Create {
            deploy: spec.image_url.is_some(),
        });
    };
    spec.image_url.as_ref()?;
    h.node.as_ref()?;
    let dep = Deployment::of(h).unwrap_or_default();
    match h.state.as_str() {
        "allocated" => Some(HostChange::Deploy),
        "deploying" | "deploy failed" => Some(HostChange::Resume),
        // Adopted (by the provider or `bmplan nodes adopt`), or never deployed by us: it runs a
        // system of its own, which the configuration's image must not overwrite.
        "active" if dep.adopted || dep.image_url.is_empty() => None,
        "active" => deployed_change(spec, &dep, h.node.as_deref()),
        _ => None,
    }
}

/// The change `spec` asks of a host deployed from `dep` on node `on`: moved when it is pinned to
/// another node; otherwise rebuilt in place when what it was deployed from changed (image,
/// checksum, user data, SSH keys, wait strategy); otherwise reconfigured when its networks or
/// profile changed. Without an image in `spec` only a move is asked. Both front ends decide with
/// it: `bmplan` against the inventory's record ([`change_for`]), the provider against Terraform's
/// prior state ([`Deployment::from_attrs`]).
pub fn deployed_change(spec: &HostSpec, dep: &Deployment, on: Option<&str>) -> Option<HostChange> {
    if let (Some(want), Some(on)) = (&spec.node, on) {
        if want != on {
            return Some(HostChange::Migrate { to: want.clone() });
        }
    }
    let url = spec.image_url.as_ref()?;
    rebuild(spec, url, dep).or_else(|| reconfigure(spec, dep))
}

/// Whether an active host's power, as read from its BMC (`live`: `On`, `Off`, …), is what `spec`
/// asks. Adopted hosts too: their power is managed like any other's. `None` when the block says
/// nothing of power, the host is not active, or its power is what it should be.
pub fn power_change(
    spec: &HostSpec,
    existing: Option<&HostRecord>,
    live: &str,
) -> Option<HostChange> {
    let want = spec.power.as_deref()?;
    let h = existing?;
    // A transition under way counts as where it goes.
    let is = match live.to_ascii_lowercase().as_str() {
        "poweringon" => "on".to_string(),
        "poweringoff" => "off".to_string(),
        other => other.to_string(),
    };
    if h.state != "active" || h.node.is_none() || is == want || !matches!(is.as_str(), "on" | "off")
    {
        return None;
    }
    Some(HostChange::Power {
        to: want.to_string(),
        is,
    })
}

/// Networks or a profile that changed on a deployed host (a profile only when the block names
/// one: without it, the host keeps what it has).
fn reconfigure(spec: &HostSpec, dep: &Deployment) -> Option<HostChange> {
    let networks = (spec.networks != dep.networks).then(|| spec.networks.clone());
    let profile = spec
        .profile
        .clone()
        .filter(|p| dep.profile.as_ref() != Some(p));
    (networks.is_some() || profile.is_some())
        .then_some(HostChange::Reconfigure { networks, profile })
}

fn rebuild(spec: &HostSpec, url: &str, dep: &Deployment) -> Option<HostChange> {
    let same_sum = match (
        spec.image_checksum.as_deref().map(Checksum::parse),
        Checksum::parse(&dep.image_checksum),
    ) {
        (Some(Ok(a)), Ok(b)) => a == b,
        _ => false,
    };
    let wait = spec
        .wait
        .as_deref()
        .map(Wait::parse)
        .and_then(Result::ok)
        .unwrap_or_default();
    let user_data = spec
        .user_data
        .as_ref()
        .map(|u| hex::encode(Sha256::digest(u.expose().as_bytes())));
    let mut changed = Vec::new();
    // Compared as shown: new credentials for the same image are no reason to reinstall.
    // A golden image is its bits: another URL (or name) for the same checksum is not a rebuild.
    if spec.image.is_none() && super::image::shown(url) != dep.image_url {
        changed.push("image_url");
    }
    if !same_sum {
        changed.push("image_checksum");
    }
    if user_data != dep.user_data_sha256 {
        changed.push("user_data");
    }
    if spec.ssh_keys != dep.ssh_keys {
        changed.push("ssh_keys");
    }
    if wait != dep.wait {
        changed.push("wait");
    }
    // A format given that is not the one deployed; unset, the format was told from the image.
    if spec
        .image_format
        .as_deref()
        .is_some_and(|f| Some(f) != dep.image_format.as_deref())
    {
        changed.push("image_format");
    }
    // Another root disk: the image goes there.
    if spec.root_device != dep.root_device {
        changed.push("root_device");
    }
    // A rendered hostname reaches the system only through its config drive.
    if spec.hostname.is_some() && spec.hostname != dep.hostname {
        changed.push("hostname");
    }
    // A pinned address reaches the system only through its config drive.
    if spec.addresses != dep.addresses {
        changed.push("address");
    }
    (!changed.is_empty()).then_some(HostChange::Rebuild { changed })
}

/// What the configuration asks of a host that `bmplan apply` leaves alone, one line each.
pub fn not_applied(spec: &HostSpec, existing: Option<&HostRecord>) -> Vec<String> {
    let mut out: Vec<String> = spec
        .not_applied
        .iter()
        .map(|k| format!("`{k}` is acted on by Terraform or `bmplan hosts`, not by bmplan apply"))
        .collect();
    let Some(h) = existing else {
        return out;
    };
    let dep = Deployment::of(h).unwrap_or_default();
    if spec.image_url.is_some() {
        match h.state.as_str() {
            _ if h.node.is_none() => {
                out.push("has no node: nothing to deploy onto".to_string())
            }
            "allocated" | "deploying" | "deploy failed" => {}
            "active" if dep.adopted || dep.image_url.is_empty() => out.push(
                "runs a system it was not deployed with (adopted): the configuration's image is not put on it"
                    .to_string(),
            ),
            "active" => {}
            other => out.push(format!("is {other}: bmplan apply does nothing with it")),
        }
    }
    // Without an image the block asks no deployment of bmplan: a deployed host's networks or
    // profile written there are not changed (Terraform changes them in place).
    if spec.image_url.is_none() && !dep.image_url.is_empty() {
        if spec.networks != dep.networks {
            out.push(format!(
                "networks [{}] → [{}]: a block without image_url asks nothing of a deployed host in bmplan",
                dep.networks.join(", "),
                spec.networks.join(", ")
            ));
        }
        if spec.profile.is_some() && spec.profile != dep.profile {
            out.push(format!(
                "profile {} → {}: a block without image_url asks nothing of a deployed host in bmplan",
                dep.profile.as_deref().unwrap_or("(none)"),
                spec.profile.as_deref().unwrap_or("(none)")
            ));
        }
    }
    // A host bmplan would act on (active, deployed by us) moves or is reconfigured; any other
    // host pinned elsewhere is only named.
    let acted_on = h.state == "active" && !dep.adopted && !dep.image_url.is_empty();
    if let (Some(want), Some(on)) = (&spec.node, &h.node) {
        if want != on && !(acted_on && spec.image_url.is_some()) {
            out.push(format!(
                "pinned to {want} but runs on {on}: `bmplan hosts migrate --to {want}` moves it"
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hardware::Secret;
    use serde_json::json;

    const SUM: &str = "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";

    fn spec() -> HostSpec {
        HostSpec {
            name: "web-1".into(),
            flavor: Some("any".into()),
            image_url: Some("http://127.0.0.1/a.iso".into()),
            image_checksum: Some(SUM.into()),
            ssh_keys: vec!["ssh-ed25519 AAAA".into()],
            ..HostSpec::default()
        }
    }

    fn record(state: &str, deployment: serde_json::Value) -> HostRecord {
        HostRecord {
            id: 1,
            name: "web-1".into(),
            project: "blue".into(),
            flavor: Some("any".into()),
            node: Some("r1u01".into()),
            state: state.into(),
            node_state: None,
            power: None,
            arch: None,
            created_by: "ops".into(),
            created_at: 0,
            deployment: Some(deployment),
            addresses: Default::default(),
        }
    }

    fn deployed() -> serde_json::Value {
        json!({"image_url": "http://127.0.0.1/a.iso", "image_checksum": SUM,
               "ssh_keys": ["ssh-ed25519 AAAA"], "wait": "power_off", "generation": 1})
    }

    #[test]
    fn each_host_state_gets_the_change_it_needs() {
        assert_eq!(
            change_for(&spec(), None),
            Some(HostChange::Create { deploy: true })
        );
        assert_eq!(
            change_for(&spec(), Some(&record("active", deployed()))),
            None
        );
        let mut other = spec();
        other.image_url = Some("http://127.0.0.1/b.iso".into());
        other.user_data = Some(Secret::new("#cloud-config\n"));
        assert_eq!(
            change_for(&other, Some(&record("active", deployed()))),
            Some(HostChange::Rebuild {
                changed: vec!["image_url", "user_data"]
            })
        );
        assert_eq!(
            change_for(&spec(), Some(&record("deploying", deployed()))),
            Some(HostChange::Resume)
        );
        assert_eq!(
            change_for(&spec(), Some(&record("allocated", json!({})))),
            Some(HostChange::Deploy)
        );
        assert_eq!(
            change_for(&spec(), Some(&record("active", json!({"adopted": true})))),
            None,
            "an adopted host keeps what it runs"
        );
        // `bmplan nodes adopt` leaves no deployment at all: still not overwritten.
        let mut adopted = record("active", json!({}));
        adopted.deployment = None;
        assert_eq!(change_for(&spec(), Some(&adopted)), None);
        assert!(not_applied(&spec(), Some(&adopted))[0].contains("adopted"));
        // A host the lifecycle holds elsewhere (cleaning failed, migrating…) is left alone, and said so.
        let failed = record("clean failed", deployed());
        assert_eq!(change_for(&spec(), Some(&failed)), None);
        assert_eq!(
            not_applied(&spec(), Some(&failed)),
            vec!["is clean failed: bmplan apply does nothing with it".to_string()]
        );
    }

    #[test]
    fn another_root_disk_or_a_format_given_anew_rebuilds_and_a_detected_format_does_not() {
        let mut dep = deployed();
        dep["image_format"] = json!("iso");
        let rec = record("active", dep);
        assert_eq!(
            change_for(&spec(), Some(&rec)),
            None,
            "unset: the format was told"
        );
        let mut s = spec();
        s.image_format = Some("iso".into());
        assert_eq!(change_for(&s, Some(&rec)), None);
        s.image_format = Some("raw".into());
        s.root_device.serial = Some("S2".into());
        assert_eq!(
            change_for(&s, Some(&rec)),
            Some(HostChange::Rebuild {
                changed: vec!["image_format", "root_device"]
            })
        );
    }

    #[test]
    fn terraform_state_and_inventory_record_give_the_same_change() {
        // The provider's prior state of the same deployment, in the shared schema's names.
        let state = json!({"name": "web-1", "node": "r1u01", "image_url": "http://127.0.0.1/a.iso",
            "image_checksum": SUM, "ssh_keys": ["ssh-ed25519 AAAA"], "generation": 1});
        let from_state = Deployment::from_attrs(state.as_object().unwrap());
        let from_record = Deployment::of(&record("active", deployed())).unwrap();
        assert_eq!(from_state.image_url, from_record.image_url);
        assert_eq!(from_state.generation, 1);
        let mut other = spec();
        other.user_data = Some(Secret::new("#cloud-config\n"));
        other.networks = vec!["prod".into()];
        for dep in [&from_state, &from_record] {
            assert_eq!(deployed_change(&spec(), dep, Some("r1u01")), None);
            assert_eq!(
                deployed_change(&other, dep, Some("r1u01")),
                Some(HostChange::Rebuild {
                    changed: vec!["user_data"]
                })
            );
        }
        // Only the networks: reconfigured in place, no reinstall.
        let mut moved = spec();
        moved.networks = vec!["prod".into()];
        assert_eq!(
            deployed_change(&moved, &from_state, Some("r1u01")),
            Some(HostChange::Reconfigure {
                networks: Some(vec!["prod".into()]),
                profile: None
            })
        );
        // Pinned elsewhere: a move, before anything else.
        let mut pinned = other.clone();
        pinned.node = Some("r1u02".into());
        assert_eq!(
            deployed_change(&pinned, &from_state, Some("r1u01")),
            Some(HostChange::Migrate { to: "r1u02".into() })
        );
        // New credentials for the same image are no reason to reinstall, in either front end.
        let mut creds = spec();
        creds.image_url = Some("http://u:new@127.0.0.1/a.iso".into());
        let old = json!({"image_url": "http://u:old@127.0.0.1/a.iso", "image_checksum": SUM,
            "ssh_keys": ["ssh-ed25519 AAAA"]});
        assert_eq!(
            deployed_change(
                &creds,
                &Deployment::from_attrs(old.as_object().unwrap()),
                None
            ),
            None
        );
        // A state written before the digest: its user data is compared by digest too.
        let legacy = json!({"image_url": "http://127.0.0.1/a.iso", "image_checksum": SUM,
            "ssh_keys": ["ssh-ed25519 AAAA"], "user_data": "#cloud-config\n"});
        assert_eq!(
            deployed_change(
                &other,
                &Deployment::from_attrs(legacy.as_object().unwrap()),
                None
            ),
            Some(HostChange::Reconfigure {
                networks: Some(vec!["prod".into()]),
                profile: None
            })
        );
    }

    #[test]
    fn a_block_that_no_deployment_can_take_is_named_at_its_attribute() {
        let judge = |set: &[&str], adopt: bool, creating: bool| {
            crate::deploy::block_problems(|k| set.contains(&k), adopt, creating)
                .into_iter()
                .map(|p| (p.attribute, p.title))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            judge(&["flavor", "image_url", "image_checksum"], false, true),
            vec![]
        );
        assert_eq!(
            judge(&["flavor", "image_url"], false, true),
            vec![("image_checksum", "Checksum required")]
        );
        assert_eq!(
            judge(&["flavor", "ssh_keys", "user_data_wo"], false, true),
            vec![
                ("user_data_wo", "Needs an image"),
                ("ssh_keys", "Needs an image")
            ]
        );
        assert_eq!(
            judge(&["image_url", "image_checksum"], true, true),
            vec![
                ("adopt", "Adopt or deploy"),
                ("adopt", "Adopt needs a node"),
                ("flavor", "Flavor or node")
            ]
        );
        // An update is not asked for a flavor again.
        assert_eq!(judge(&[], false, false), vec![]);
    }

    #[test]
    fn what_bmplan_leaves_alone_is_said() {
        let mut s = spec();
        s.not_applied = vec!["power"];
        s.node = Some("r1u02".into());
        // Active and deployed by us: the move is acted on, only `power` is named.
        let notes = not_applied(&s, Some(&record("active", deployed())));
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert!(notes[0].starts_with("`power`"));
        // Still deploying: the pin elsewhere is named, with the command that moves it.
        let notes = not_applied(&s, Some(&record("deploying", deployed())));
        assert!(
            notes[1].contains("bmplan hosts migrate --to r1u02"),
            "{notes:?}"
        );
    }

    #[test]
    fn a_deployed_host_moves_when_pinned_elsewhere_and_is_reconfigured_without_a_rebuild() {
        let active = record("active", deployed());
        let mut s = spec();
        s.node = Some("r1u02".into());
        assert_eq!(
            change_for(&s, Some(&active)),
            Some(HostChange::Migrate { to: "r1u02".into() })
        );
        // Pinned where it runs: nothing.
        s.node = Some("r1u01".into());
        assert_eq!(change_for(&s, Some(&active)), None);
        // Networks and a profile: moved and applied in place.
        s.networks = vec!["web".into()];
        s.profile = Some("webserver".into());
        let c = change_for(&s, Some(&active)).unwrap();
        assert_eq!(
            c,
            HostChange::Reconfigure {
                networks: Some(vec!["web".into()]),
                profile: Some("webserver".into())
            }
        );
        assert_eq!(
            c.describe(),
            "ports to [web], profile webserver (no reinstall)"
        );
        // With an image change as well, the rebuild carries them (it deploys with both).
        s.image_url = Some("http://127.0.0.1/b.iso".into());
        assert!(matches!(
            change_for(&s, Some(&active)),
            Some(HostChange::Rebuild { .. })
        ));
        // No profile named: the host keeps its own, nothing to do for it.
        let mut s = spec();
        s.profile = None;
        let mut with_profile = deployed();
        with_profile["profile"] = json!("webserver");
        assert_eq!(change_for(&s, Some(&record("active", with_profile))), None);
    }

    #[test]
    fn power_is_changed_on_an_active_host_only_when_it_differs_from_the_block() {
        let mut s = spec();
        s.power = Some("off".into());
        let active = record("active", deployed());
        assert_eq!(
            power_change(&s, Some(&active), "On"),
            Some(HostChange::Power {
                to: "off".into(),
                is: "on".into()
            })
        );
        assert_eq!(power_change(&s, Some(&active), "Off"), None);
        // A transition under way counts as where it goes.
        assert_eq!(power_change(&s, Some(&active), "PoweringOff"), None);
        // Not active, or nothing said: nothing to do.
        assert_eq!(
            power_change(&s, Some(&record("deploying", deployed())), "On"),
            None
        );
        s.power = None;
        assert_eq!(power_change(&s, Some(&active), "On"), None);
    }
}
