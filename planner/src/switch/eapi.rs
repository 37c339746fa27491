//! The `arista_eapi` driver: Arista EOS JSON-RPC (`runCmds`) over HTTP(S), with JSON-format reads. A
//! batch is one request, so it runs as one session; a failed command is found from EOS's
//! "CLI command N of M '…' failed" answer.

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use serde_json::{json, Value};
use tokio::sync::Mutex;

use super::{
    ios, pending, validate_all, BatchReport, Change, Port, PortMode, Switch, SwitchEndpoint,
    SwitchError, SwitchState, VlanSet,
};

pub use planner_core::ports::eos_canonical as canonical;

/// Parses EOS's trunk allowed list: `ALL`, `NONE`, or `1-5,10`.
fn allowed(s: &str) -> VlanSet {
    match s {
        "ALL" | "" => VlanSet::All,
        "NONE" => VlanSet::Only(BTreeSet::new()),
        list => {
            let mut set = BTreeSet::new();
            for part in list.split(',') {
                let (a, b) = part.split_once('-').unwrap_or((part, part));
                if let (Ok(a), Ok(b)) = (a.trim().parse::<u16>(), b.trim().parse::<u16>()) {
                    set.extend(a..=b);
                }
            }
            VlanSet::Only(set)
        }
    }
}

/// Builds the switch state from `show vlan`, `show interfaces switchport` and `show interfaces` (JSON).
pub fn parse_state(vlans: &Value, switchports: &Value, interfaces: &Value) -> SwitchState {
    let vlans: BTreeMap<u16, String> = vlans
        .get("vlans")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(id, v)| {
                    Some((
                        id.parse().ok()?,
                        v.get("name")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_string(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default();
    let mut ports = BTreeMap::new();
    for (name, sp) in switchports
        .get("switchports")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        let info = sp.get("switchportInfo").cloned().unwrap_or(Value::Null);
        let iface = interfaces
            .pointer(&format!("/interfaces/{name}"))
            .cloned()
            .unwrap_or(Value::Null);
        let description = iface
            .get("description")
            .and_then(Value::as_str)
            .filter(|d| !d.is_empty())
            .map(String::from);
        ports.insert(
            name.clone(),
            Port {
                name: name.clone(),
                mode: if info.get("mode").and_then(Value::as_str) == Some("trunk") {
                    PortMode::Trunk
                } else {
                    PortMode::Access
                },
                access_vlan: info
                    .get("accessVlanId")
                    .and_then(Value::as_u64)
                    .unwrap_or(1) as u16,
                trunk_allowed: allowed(
                    info.get("trunkAllowedVlans")
                        .and_then(Value::as_str)
                        .unwrap_or("ALL"),
                ),
                native_vlan: info
                    .get("trunkingNativeVlanId")
                    .and_then(Value::as_u64)
                    .unwrap_or(1) as u16,
                description,
                admin_up: iface.get("interfaceStatus").and_then(Value::as_str) != Some("disabled"),
                channel_group: None,
                mtu: iface.get("mtu").and_then(Value::as_u64).map(|m| m as u32),
            },
        );
    }
    SwitchState { vlans, ports }
}

/// The EOS configuration commands for one change: IOS's command set, with EOS interface names.
pub fn commands(change: &Change) -> Vec<String> {
    ios::commands(change)
        .into_iter()
        .map(|c| match c.strip_prefix("interface ") {
            Some(name) => format!(
                "interface {}",
                canonical(&name.replace("Port-channel", "Po"))
            ),
            None => c,
        })
        .collect()
}

pub struct EapiSwitch {
    ep: SwitchEndpoint,
    url: String,
    http: reqwest::Client,
    lock: Mutex<()>,
}

impl EapiSwitch {
    /// `address` is `host:port` (plain HTTP) or a full `https://host/command-api` URL.
    /// Made by [`super::open`], the one place a switch driver is made.
    pub(crate) fn new(ep: SwitchEndpoint) -> Result<EapiSwitch, SwitchError> {
        let url = if ep.address.starts_with("http://") || ep.address.starts_with("https://") {
            ep.address.clone()
        } else {
            format!("http://{}/command-api", ep.address)
        };
        let http = reqwest::Client::builder()
            .timeout(ep.timeout)
            .tls_built_in_root_certs(false)
            .build()
            .map_err(|e| SwitchError::Connect {
                switch: ep.address.clone(),
                detail: e.to_string(),
            })?;
        Ok(EapiSwitch {
            ep,
            url,
            http,
            lock: Mutex::new(()),
        })
    }

    /// Runs commands in one request; on failure returns the index of the failed command and its errors.
    async fn run(
        &self,
        cmds: &[String],
    ) -> Result<Result<Vec<Value>, (usize, String)>, SwitchError> {
        let switch = self.ep.address.clone();
        let body = json!({"jsonrpc": "2.0", "method": "runCmds", "params": {"version": 1, "cmds": cmds, "format": "json"}, "id": "bmplan"});
        let resp = self
            .http
            .post(&self.url)
            .basic_auth(&self.ep.username, Some(self.ep.password.expose()))
            .json(&body)
            .send()
            .await
            .map_err(|e| SwitchError::Connect {
                switch: switch.clone(),
                detail: e.to_string(),
            })?;
        if resp.status() == reqwest::StatusCode::UNAUTHORIZED {
            return Err(SwitchError::Login {
                switch,
                username: self.ep.username.clone(),
            });
        }
        let status = resp.status();
        let doc: Value = resp.json().await.map_err(|e| SwitchError::Parse {
            switch: switch.clone(),
            what: format!("the eAPI answer (HTTP {status})"),
            detail: e.to_string(),
        })?;
        if let Some(err) = doc.get("error") {
            let message = err
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            let data = err
                .get("data")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            // The failed command is the one whose result carries "errors" (EOS also says its number).
            let index = data
                .iter()
                .position(|d| d.get("errors").is_some())
                .unwrap_or(data.len().saturating_sub(1));
            let errors: Vec<String> = data
                .get(index)
                .and_then(|d| d.get("errors"))
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(String::from)
                        .collect()
                })
                .unwrap_or_default();
            let detail = if errors.is_empty() {
                message
            } else {
                format!("{} ({message})", errors.join("; "))
            };
            return Ok(Err((index, detail)));
        }
        Ok(Ok(doc
            .get("result")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()))
    }

    async fn read_state(&self) -> Result<SwitchState, SwitchError> {
        let cmds = ["show vlan", "show interfaces switchport", "show interfaces"].map(String::from);
        match self.run(&cmds).await? {
            Ok(r) if r.len() == 3 => Ok(parse_state(&r[0], &r[1], &r[2])),
            Ok(r) => Err(SwitchError::Parse {
                switch: self.ep.address.clone(),
                what: "the read".into(),
                detail: format!("{} results for 3 commands", r.len()),
            }),
            Err((i, detail)) => Err(SwitchError::Rejected {
                switch: self.ep.address.clone(),
                port: None,
                command: cmds[i.min(2)].clone(),
                output: detail,
            }),
        }
    }
}

#[async_trait]
impl Switch for EapiSwitch {
    fn address(&self) -> &str {
        &self.ep.address
    }

    async fn read(&self) -> Result<SwitchState, SwitchError> {
        let _guard = self.lock.lock().await;
        self.read_state().await
    }

    async fn apply(&self, changes: &[Change]) -> Result<BatchReport, SwitchError> {
        validate_all(changes, &self.ep.address)?;
        let _guard = self.lock.lock().await;
        let current = self.read_state().await?;
        let todo = pending(&current, changes, canonical);
        let mut report = BatchReport {
            applied: Vec::new(),
            commands: Vec::new(),
            saved: false,
        };
        if todo.is_empty() {
            return Ok(report);
        }
        // Which change each command belongs to, to name the port when one fails.
        let mut cmds = vec!["enable".to_string(), "configure".to_string()];
        let mut owner = vec![None, None];
        for (i, change) in todo.iter().enumerate() {
            for c in commands(change) {
                cmds.push(c);
                owner.push(Some(i));
            }
        }
        cmds.extend(["end".to_string(), "write memory".to_string()]);
        owner.extend([None, None]);
        match self.run(&cmds).await? {
            Ok(_) => {
                report.applied = todo;
                report.commands = cmds[2..].to_vec();
                report.saved = true;
                Ok(report)
            }
            Err((i, detail)) => Err(SwitchError::Rejected {
                switch: self.ep.address.clone(),
                port: owner
                    .get(i)
                    .copied()
                    .flatten()
                    .and_then(|o| todo[o].port().map(canonical)),
                command: cmds.get(i).cloned().unwrap_or_default(),
                output: detail,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eos_names_and_trunk_lists_parse() {
        assert_eq!(canonical("Et1"), "Ethernet1");
        assert_eq!(canonical("po3"), "Port-Channel3");
        assert_eq!(allowed("1-3,10"), VlanSet::Only([1, 2, 3, 10].into()));
        assert_eq!(allowed("ALL"), VlanSet::All);
    }

    #[test]
    fn commands_use_eos_interface_names() {
        let c = commands(&Change::Access {
            port: "Et4".into(),
            vlan: 100,
        });
        assert_eq!(c[0], "interface Ethernet4");
    }
}
