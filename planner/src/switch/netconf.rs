//! The `juniper_netconf` driver: NETCONF 1.0 over the SSH `netconf` subsystem, on the candidate
//! configuration. A batch locks the candidate, sends one `edit-config` per change (so a refused change
//! is named), commits once, and unlocks; any error discards the candidate, so nothing half-applied is
//! committed. Two dialects: generic Junos (`port-mode`) and QFX/ELS (`interface-mode`).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use russh::client::Msg;
use russh::{Channel, ChannelMsg};
use tokio::sync::Mutex;

use super::ssh::{connect, AcceptHostKey};
use super::{
    pending, validate_all, BatchReport, BondMode, Change, Port, PortMode, Switch, SwitchEndpoint,
    SwitchError, SwitchState, VlanSet,
};

const EOM: &str = "]]>]]>";

/// Which spelling of the port mode the device uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// `port-mode`, native VLAN under `ethernet-switching` (EX and the generic Junos model).
    Generic,
    /// `interface-mode`, native VLAN on the interface (QFX / ELS).
    Qfx,
}

impl Dialect {
    fn mode_tag(self) -> &'static str {
        match self {
            Dialect::Generic => "port-mode",
            Dialect::Qfx => "interface-mode",
        }
    }
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn members(vlans: &BTreeSet<u16>) -> String {
    vlans
        .iter()
        .map(|v| format!("<members>{v}</members>"))
        .collect()
}

fn unit(dialect: Dialect, port: &str, inner: &str, native: Option<u16>) -> String {
    let native_in_family = match (dialect, native) {
        (Dialect::Generic, Some(n)) => format!("<native-vlan-id>{n}</native-vlan-id>"),
        _ => String::new(),
    };
    let native_on_interface = match (dialect, native) {
        (Dialect::Qfx, Some(n)) => format!("<native-vlan-id>{n}</native-vlan-id>"),
        _ => String::new(),
    };
    format!(
        "<interfaces><interface><name>{}</name>{native_on_interface}<unit><name>0</name><family><ethernet-switching>{inner}{native_in_family}</ethernet-switching></family></unit></interface></interfaces>",
        esc(port)
    )
}

/// The `<configuration>` edits for one change, in order. `vlan_names` resolves ids for deletions.
pub fn edits(change: &Change, dialect: Dialect, vlan_names: &BTreeMap<u16, String>) -> Vec<String> {
    let mode = dialect.mode_tag();
    match change {
        Change::CreateVlan { id, name } => vec![format!("<vlans><vlan><name>{}</name><vlan-id>{id}</vlan-id></vlan></vlans>", esc(name))],
        Change::DeleteVlan { id } => {
            let name = vlan_names.get(id).cloned().unwrap_or_else(|| format!("vlan{id}"));
            vec![format!("<vlans><vlan operation=\"delete\"><name>{}</name></vlan></vlans>", esc(&name))]
        }
        Change::Access { port, vlan } => vec![
            unit(dialect, port, &format!("<{mode}>access</{mode}><vlan operation=\"delete\"/>"), None),
            unit(dialect, port, &format!("<vlan><members>{vlan}</members></vlan>"), None),
        ],
        Change::Trunk { port, allowed, native } => {
            let list = match allowed {
                VlanSet::All => "<members>1-4094</members>".to_string(),
                VlanSet::Only(s) => members(s),
            };
            vec![
                unit(dialect, port, &format!("<{mode}>trunk</{mode}><vlan operation=\"delete\"/>"), None),
                unit(dialect, port, &format!("<vlan>{list}</vlan>"), Some(*native)),
            ]
        }
        Change::AddTrunkVlans { port, vlans } => vec![unit(dialect, port, &format!("<vlan>{}</vlan>", members(vlans)), None)],
        Change::RemoveTrunkVlans { port, vlans } => {
            let list: String = vlans.iter().map(|v| format!("<members operation=\"delete\">{v}</members>")).collect();
            vec![unit(dialect, port, &format!("<vlan>{list}</vlan>"), None)]
        }
        Change::Description { port, text: Some(t) } => {
            vec![format!("<interfaces><interface><name>{}</name><description>{}</description></interface></interfaces>", esc(port), esc(t))]
        }
        Change::Description { port, text: None } => {
            vec![format!("<interfaces><interface><name>{}</name><description operation=\"delete\"/></interface></interfaces>", esc(port))]
        }
        Change::Admin { port, up: false } => vec![format!("<interfaces><interface><name>{}</name><disable/></interface></interfaces>", esc(port))],
        Change::Admin { port, up: true } => {
            vec![format!("<interfaces><interface><name>{}</name><disable operation=\"delete\"/></interface></interfaces>", esc(port))]
        }
        Change::CreatePortChannel { id, members, mode } => {
            let lacp = match mode {
                BondMode::Lacp => "<lacp><active/></lacp>",
                BondMode::Static => "",
            };
            let mut e = vec![format!("<interfaces><interface><name>ae{id}</name><aggregated-ether-options>{lacp}</aggregated-ether-options></interface></interfaces>")];
            for m in members {
                e.push(format!(
                    "<interfaces><interface><name>{}</name><ether-options><ieee-802.3ad><bundle>ae{id}</bundle></ieee-802.3ad></ether-options></interface></interfaces>",
                    esc(m)
                ));
            }
            e
        }
        Change::DeletePortChannel { id } => vec![format!("<interfaces><interface operation=\"delete\"><name>ae{id}</name></interface></interfaces>")],
    }
}

fn child<'a, 'i>(n: roxmltree::Node<'a, 'i>, name: &str) -> Option<roxmltree::Node<'a, 'i>> {
    n.children().find(|c| c.tag_name().name() == name)
}

fn text(n: Option<roxmltree::Node<'_, '_>>) -> Option<String> {
    n.and_then(|n| n.text()).map(|t| t.trim().to_string())
}

/// Parses `get-config` output (the `<configuration>` element anywhere inside).
pub fn parse_config(xml: &str) -> Result<SwitchState, roxmltree::Error> {
    let doc = roxmltree::Document::parse(xml)?;
    let mut state = SwitchState::default();
    let Some(cfg) = doc
        .descendants()
        .find(|n| n.tag_name().name() == "configuration")
    else {
        return Ok(state);
    };
    if let Some(vlans) = child(cfg, "vlans") {
        for v in vlans.children().filter(|n| n.tag_name().name() == "vlan") {
            if let (Some(name), Some(id)) = (
                text(child(v, "name")),
                text(child(v, "vlan-id")).and_then(|i| i.parse().ok()),
            ) {
                state.vlans.insert(id, name);
            }
        }
    }
    let parse_members = |n: roxmltree::Node<'_, '_>| -> BTreeSet<u16> {
        let mut set = BTreeSet::new();
        for m in n.children().filter(|c| c.tag_name().name() == "members") {
            let t = m.text().unwrap_or("").trim().to_string();
            let (a, b) = t.split_once('-').unwrap_or((&t, &t));
            if let (Ok(a), Ok(b)) = (a.parse::<u16>(), b.parse::<u16>()) {
                set.extend(a..=b);
            }
        }
        set
    };
    if let Some(ifaces) = child(cfg, "interfaces") {
        for i in ifaces
            .children()
            .filter(|n| n.tag_name().name() == "interface")
        {
            let Some(name) = text(child(i, "name")) else {
                continue;
            };
            let es = child(i, "unit")
                .and_then(|u| child(u, "family"))
                .and_then(|f| child(f, "ethernet-switching"));
            let mode = es.and_then(|e| {
                text(child(e, "port-mode")).or_else(|| text(child(e, "interface-mode")))
            });
            let vlan_set = es
                .and_then(|e| child(e, "vlan"))
                .map(parse_members)
                .unwrap_or_default();
            let native = es
                .and_then(|e| text(child(e, "native-vlan-id")))
                .or_else(|| text(child(i, "native-vlan-id")))
                .and_then(|n| n.parse().ok())
                .unwrap_or(1);
            let trunk = mode.as_deref() == Some("trunk");
            let bundle = child(i, "ether-options")
                .and_then(|e| child(e, "ieee-802.3ad"))
                .and_then(|a| text(child(a, "bundle")))
                .and_then(|b| b.trim_start_matches("ae").parse().ok());
            state.ports.insert(
                name.clone(),
                Port {
                    name,
                    mode: if trunk {
                        PortMode::Trunk
                    } else {
                        PortMode::Access
                    },
                    access_vlan: if trunk {
                        1
                    } else {
                        vlan_set.iter().next().copied().unwrap_or(1)
                    },
                    trunk_allowed: if trunk && !vlan_set.is_empty() {
                        VlanSet::Only(vlan_set)
                    } else {
                        VlanSet::All
                    },
                    native_vlan: native,
                    description: text(child(i, "description")),
                    admin_up: child(i, "disable").is_none(),
                    channel_group: bundle.map(|n| (n, BondMode::Lacp)),
                    mtu: text(child(i, "mtu")).and_then(|m| m.parse().ok()),
                },
            );
        }
    }
    Ok(state)
}

/// The text of every `<rpc-error>`'s `<error-message>` in a reply (empty when the RPC succeeded).
pub fn rpc_errors(xml: &str) -> Vec<String> {
    let Ok(doc) = roxmltree::Document::parse(xml) else {
        return vec![format!(
            "unparseable reply: {}",
            xml.chars().take(200).collect::<String>()
        )];
    };
    doc.descendants()
        .filter(|n| n.tag_name().name() == "rpc-error")
        .map(|e| {
            let field = |name: &str| {
                e.descendants()
                    .find(|n| n.tag_name().name() == name)
                    .and_then(|n| n.text())
                    .map(|t| t.trim().to_string())
            };
            let severity = field("error-severity").unwrap_or_else(|| "error".into());
            let msg = field("error-message")
                .or_else(|| field("error-tag"))
                .unwrap_or_else(|| "unspecified error".into());
            let path = field("bad-element")
                .map(|b| format!(" (element {b})"))
                .unwrap_or_default();
            format!("{severity}: {msg}{path}")
        })
        .filter(|m| !m.starts_with("warning"))
        .collect()
}

struct Session {
    _ssh: russh::client::Handle<AcceptHostKey>,
    channel: Channel<Msg>,
    switch: String,
    timeout: std::time::Duration,
    next_id: AtomicU64,
}

impl Session {
    async fn open(ep: &SwitchEndpoint) -> Result<Session, SwitchError> {
        let switch = ep.address.clone();
        let (ssh, channel) = connect(ep).await?;
        channel
            .request_subsystem(true, "netconf")
            .await
            .map_err(|e| SwitchError::Connect {
                switch: switch.clone(),
                detail: format!("no netconf subsystem: {e}"),
            })?;
        let mut s = Session {
            _ssh: ssh,
            channel,
            switch,
            timeout: ep.timeout,
            next_id: AtomicU64::new(1),
        };
        s.read_message("hello").await?;
        let hello = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><hello xmlns=\"urn:ietf:params:xml:ns:netconf:base:1.0\"><capabilities><capability>urn:ietf:params:netconf:base:1.0</capability></capabilities></hello>";
        s.send(hello, "hello").await?;
        Ok(s)
    }

    async fn send(&self, xml: &str, what: &str) -> Result<(), SwitchError> {
        self.channel
            .data_bytes(format!("{xml}{EOM}\n").into_bytes())
            .await
            .map_err(|_| SwitchError::Dropped {
                switch: self.switch.clone(),
                command: what.into(),
            })
    }

    async fn read_message(&mut self, what: &str) -> Result<String, SwitchError> {
        let mut buf = String::new();
        loop {
            let msg = tokio::time::timeout(self.timeout, self.channel.wait())
                .await
                .map_err(|_| SwitchError::Timeout {
                    switch: self.switch.clone(),
                    command: what.into(),
                    after: self.timeout,
                })?;
            match msg {
                Some(ChannelMsg::Data { data }) => {
                    buf.push_str(&String::from_utf8_lossy(&data));
                    if let Some(end) = buf.find(EOM) {
                        return Ok(buf[..end].trim().to_string());
                    }
                }
                Some(ChannelMsg::Eof | ChannelMsg::Close) | None => {
                    return Err(SwitchError::Dropped {
                        switch: self.switch.clone(),
                        command: what.into(),
                    })
                }
                Some(_) => {}
            }
        }
    }

    /// Sends one RPC and returns the reply, or the reply's errors.
    async fn rpc(
        &mut self,
        body: &str,
        what: &str,
    ) -> Result<Result<String, Vec<String>>, SwitchError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let xml = format!("<rpc message-id=\"{id}\" xmlns=\"urn:ietf:params:xml:ns:netconf:base:1.0\">{body}</rpc>");
        self.send(&xml, what).await?;
        let reply = self.read_message(what).await?;
        let errors = rpc_errors(&reply);
        Ok(if errors.is_empty() {
            Ok(reply)
        } else {
            Err(errors)
        })
    }

    async fn close(mut self) {
        let _ = self.rpc("<close-session/>", "close-session").await;
    }
}

pub struct NetconfSwitch {
    ep: SwitchEndpoint,
    dialect: Dialect,
    lock: Mutex<()>,
}

impl NetconfSwitch {
    /// Made by [`super::open`], the one place a switch driver is made.
    pub(crate) fn new(ep: SwitchEndpoint, dialect: Dialect) -> NetconfSwitch {
        NetconfSwitch {
            ep,
            dialect,
            lock: Mutex::new(()),
        }
    }

    fn rejected(&self, what: &str, port: Option<&str>, errors: Vec<String>) -> SwitchError {
        SwitchError::Rejected {
            switch: self.ep.address.clone(),
            port: port.map(String::from),
            command: what.into(),
            output: errors.join("; "),
        }
    }

    async fn read_with(&self, s: &mut Session) -> Result<SwitchState, SwitchError> {
        let get = "<get-config><source><running/></source></get-config>";
        match s.rpc(get, "get-config").await? {
            Ok(reply) => parse_config(&reply).map_err(|e| SwitchError::Parse {
                switch: self.ep.address.clone(),
                what: "get-config".into(),
                detail: e.to_string(),
            }),
            Err(e) => Err(self.rejected("get-config", None, e)),
        }
    }

    /// Locks the candidate. A lock held by another (possibly dead) session is reported with its
    /// holder, so an operator can clear it (`request system logout session N` or `clear-lock`).
    async fn lock(&self, s: &mut Session) -> Result<(), SwitchError> {
        match s.rpc("<lock><target><candidate/></target></lock>", "lock candidate").await? {
            Ok(_) => Ok(()),
            Err(e) => Err(self.rejected(
                "lock candidate",
                None,
                e.into_iter().map(|m| format!("{m}: the candidate configuration is locked by another session; if that session is gone, clear the stale lock on the switch and retry")).collect(),
            )),
        }
    }
}

#[async_trait]
impl Switch for NetconfSwitch {
    fn address(&self) -> &str {
        &self.ep.address
    }

    async fn read(&self) -> Result<SwitchState, SwitchError> {
        let _guard = self.lock.lock().await;
        let mut s = Session::open(&self.ep).await?;
        let st = self.read_with(&mut s).await;
        s.close().await;
        st
    }

    async fn apply(&self, changes: &[Change]) -> Result<BatchReport, SwitchError> {
        validate_all(changes, &self.ep.address)?;
        let _guard = self.lock.lock().await;
        let mut s = Session::open(&self.ep).await?;
        let current = self.read_with(&mut s).await?;
        let todo = pending(&current, changes, |p: &str| p.trim().to_string());
        let mut report = BatchReport {
            applied: Vec::new(),
            commands: Vec::new(),
            saved: false,
        };
        if todo.is_empty() {
            s.close().await;
            return Ok(report);
        }
        self.lock(&mut s).await?;
        let mut failure = None;
        'changes: for change in &todo {
            for edit in edits(change, self.dialect, &current.vlans) {
                let rpc = format!("<edit-config><target><candidate/></target><config><configuration>{edit}</configuration></config></edit-config>");
                report.commands.push(edit.clone());
                if let Err(e) = s.rpc(&rpc, "edit-config").await? {
                    failure =
                        Some(self.rejected(&format!("edit-config {change:?}"), change.port(), e));
                    break 'changes;
                }
            }
            report.applied.push(change.clone());
        }
        if failure.is_none() {
            if let Err(e) = s.rpc("<commit/>", "commit").await? {
                failure = Some(self.rejected("commit", todo.iter().find_map(Change::port), e));
            }
        }
        if let Some(err) = failure {
            // Nothing of a failed batch is committed: discard the candidate, then release the lock.
            let _ = s.rpc("<discard-changes/>", "discard-changes").await;
            let _ = s
                .rpc("<unlock><target><candidate/></target></unlock>", "unlock")
                .await;
            s.close().await;
            return Err(err);
        }
        report.saved = true;
        let _ = s
            .rpc("<unlock><target><candidate/></target></unlock>", "unlock")
            .await;
        s.close().await;
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn get_config_parses_vlans_access_trunk_native_and_bundles() {
        let xml = r#"<rpc-reply><data><configuration><interfaces>
          <interface><name>ge-0/0/1</name><description>r1u01</description><unit><name>0</name><family><ethernet-switching>
            <port-mode>access</port-mode><vlan><members>100</members></vlan></ethernet-switching></family></unit></interface>
          <interface><name>ge-0/0/2</name><disable/><unit><name>0</name><family><ethernet-switching>
            <port-mode>trunk</port-mode><vlan><members>100</members><members>200-201</members></vlan><native-vlan-id>100</native-vlan-id>
          </ethernet-switching></family></unit></interface>
          <interface><name>ge-0/0/3</name><ether-options><ieee-802.3ad><bundle>ae1</bundle></ieee-802.3ad></ether-options></interface>
        </interfaces><vlans><vlan><name>prov</name><vlan-id>100</vlan-id></vlan></vlans></configuration></data></rpc-reply>"#;
        let st = parse_config(xml).unwrap();
        assert_eq!(st.vlans.get(&100).map(String::as_str), Some("prov"));
        let p1 = &st.ports["ge-0/0/1"];
        assert_eq!(
            (p1.mode, p1.access_vlan, p1.description.as_deref()),
            (PortMode::Access, 100, Some("r1u01"))
        );
        let p2 = &st.ports["ge-0/0/2"];
        assert_eq!(p2.trunk_allowed, VlanSet::Only([100, 200, 201].into()));
        assert_eq!((p2.native_vlan, p2.admin_up), (100, false));
        assert_eq!(
            st.ports["ge-0/0/3"].channel_group,
            Some((1, BondMode::Lacp))
        );
    }

    #[test]
    fn rpc_errors_are_collected_and_warnings_ignored() {
        let xml = r#"<rpc-reply><rpc-error><error-severity>warning</error-severity><error-message>meh</error-message></rpc-error>
          <rpc-error><error-severity>error</error-severity><error-message>No vlan matches vlan tag 300 for interface ge-0/0/3.0</error-message></rpc-error></rpc-reply>"#;
        assert_eq!(
            rpc_errors(xml),
            ["error: No vlan matches vlan tag 300 for interface ge-0/0/3.0"]
        );
        assert!(rpc_errors("<rpc-reply><ok/></rpc-reply>").is_empty());
    }

    #[test]
    fn qfx_uses_interface_mode_and_native_on_the_interface() {
        let e = edits(
            &Change::Trunk {
                port: "xe-0/0/1".into(),
                allowed: VlanSet::Only([10].into()),
                native: 10,
            },
            Dialect::Qfx,
            &BTreeMap::new(),
        );
        assert!(e[0].contains("<interface-mode>trunk</interface-mode>"));
        assert!(e[1].contains("<name>xe-0/0/1</name><native-vlan-id>10</native-vlan-id><unit>"));
        let g = edits(
            &Change::Access {
                port: "ge-0/0/1".into(),
                vlan: 5,
            },
            Dialect::Generic,
            &BTreeMap::new(),
        );
        assert!(g[0].contains("<port-mode>access</port-mode>"));
    }
}
