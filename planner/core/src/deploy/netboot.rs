//! How a node boots the deploy agent: from the BMC's virtual media, or from the network (PXE,
//! chained to iPXE, which fetches a per-node script over HTTP from the deployment endpoint). The
//! rules and the iPXE scripts are here; the engine serves them (`planner::host::media`).
//!
//! ```text
//! DHCP (the site's, or dnsmasq) → PXE ROM: TFTP undionly.kpxe / ipxe.efi      (not iPXE yet)
//!                               → iPXE:    GET {endpoint}/pxe/boot.ipxe       (option 175 seen)
//! boot.ipxe                     → GET {endpoint}/pxe/mac/{MAC with hyphens}
//! per-node script               → kernel + initrd of the deploy agent, bm.url on the command line
//!                                 (or `exit`: nothing is planned for this MAC, the next device boots)
//! ```

use serde::{Deserialize, Serialize};

use crate::hardware::Protocol;

/// How the deploy agent reaches a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BootInterface {
    /// The agent's ISO in the BMC's virtual CD (Redfish `VirtualMedia`).
    VirtualMedia,
    /// Network boot: PXE, then iPXE loads the agent's kernel and initrd over HTTP.
    Pxe,
}

impl BootInterface {
    pub const NAMES: &'static str = "\"virtual_media\" or \"pxe\"";

    pub fn parse(s: &str) -> Result<BootInterface, String> {
        match s {
            "virtual_media" => Ok(BootInterface::VirtualMedia),
            "pxe" => Ok(BootInterface::Pxe),
            other => Err(format!(
                "boot_interface {other:?} is not one of {}",
                Self::NAMES
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            BootInterface::VirtualMedia => "virtual_media",
            BootInterface::Pxe => "pxe",
        }
    }

    /// What a node boots by when its configuration does not say: virtual media where the BMC
    /// has it (Redfish), the network where it has none (IPMI).
    pub fn default_for(protocol: Protocol) -> BootInterface {
        match protocol {
            Protocol::Redfish => BootInterface::VirtualMedia,
            Protocol::Ipmi => BootInterface::Pxe,
        }
    }

    /// The interface a node boots by: the configured one, else [`Self::default_for`] its BMC;
    /// an error naming the node when its BMC cannot boot that way (virtual media over IPMI).
    pub fn for_node(
        node: &str,
        bmc_url: &str,
        configured: Option<&str>,
    ) -> Result<BootInterface, String> {
        let protocol = Protocol::of(bmc_url);
        let chosen = match configured {
            Some(c) => BootInterface::parse(c).map_err(|e| format!("node {node}: {e}"))?,
            None => BootInterface::default_for(protocol),
        };
        if chosen == BootInterface::VirtualMedia && protocol == Protocol::Ipmi {
            return Err(format!(
                "node {node} is managed over IPMI ({}), which has no virtual media: set its boot_interface to \"pxe\"",
                crate::text::redacted(bmc_url)
            ));
        }
        Ok(chosen)
    }
}

/// A node's boot settings, as configured: how the agent reaches it, and the MAC it network-boots
/// from. Unset fields take their defaults when a host is deployed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeBoot {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface: Option<BootInterface>,
    /// Normalised by [`normalize_mac`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pxe_mac: Option<String>,
}

impl NodeBoot {
    /// From a node's `boot_interface` and `pxe_mac` attributes and its BMC URL; each error names
    /// its attribute.
    pub fn from_attrs(
        node: &str,
        bmc_url: &str,
        interface: Option<&str>,
        pxe_mac: Option<&str>,
    ) -> Result<NodeBoot, Vec<(&'static str, String)>> {
        let mut errors = Vec::new();
        let interface = match interface {
            Some(i) => match BootInterface::for_node(node, bmc_url, Some(i)) {
                Ok(b) => Some(b),
                Err(e) => {
                    errors.push(("boot_interface", e));
                    None
                }
            },
            None => None,
        };
        let pxe_mac = match pxe_mac.map(normalize_mac).transpose() {
            Ok(m) => m,
            Err(e) => {
                errors.push(("pxe_mac", e));
                None
            }
        };
        if errors.is_empty() {
            Ok(NodeBoot { interface, pxe_mac })
        } else {
            Err(errors)
        }
    }
}

/// A MAC address as the engine keeps it: six lowercase hex pairs joined by `:`. Accepts `:` or
/// `-` separators (iPXE's `hexhyp` form) in any case.
pub fn normalize_mac(text: &str) -> Result<String, String> {
    let parts: Vec<&str> = text.trim().split([':', '-']).collect();
    let ok = parts.len() == 6
        && parts
            .iter()
            .all(|p| p.len() == 2 && p.chars().all(|c| c.is_ascii_hexdigit()));
    if !ok {
        return Err(format!(
            "{text:?} is not a MAC address (six hex pairs: 52:54:00:12:34:56)"
        ));
    }
    Ok(parts.join(":").to_ascii_lowercase())
}

/// The script every iPXE client is pointed to by DHCP: it asks for the script of the MAC it
/// booted from (`netX` is the interface iPXE opened last).
pub fn entry_script(base: &str) -> String {
    format!(
        "#!ipxe\n\
         # The deployment endpoint's entry script: the per-node script is asked for by MAC.\n\
         chain --autofree {base}/pxe/mac/${{netX/mac:hexhyp}} || goto none\n\
         :none\n\
         echo bmplan: no network boot script for ${{netX/mac}}; booting the next device\n\
         exit 1\n"
    )
}

/// The script for a MAC with nothing planned: iPXE gives up network boot, and the firmware goes
/// on to its next boot device (the node's disk).
pub fn nothing_planned_script(mac: &str) -> String {
    format!(
        "#!ipxe\n\
         echo bmplan: no deployment step is waiting for {mac}; booting the next device\n\
         exit 1\n"
    )
}

/// The per-node script: the deploy agent's kernel and initrd, and its command line.
pub fn agent_script(kernel_url: &str, initrd_url: &str, cmdline: &str) -> String {
    format!(
        "#!ipxe\n\
         echo bmplan: loading the deploy agent\n\
         kernel --name vmlinuz {kernel_url} initrd=initrd.img {cmdline}\n\
         initrd --name initrd.img {initrd_url}\n\
         boot\n"
    )
}

/// The deploy agent's kernel command line for a session at `agent_url`: the serial console the
/// agent's ISO uses too, a reboot 10 s after a panic, and the session's URL.
pub fn agent_cmdline(agent_url: &str) -> String {
    format!("console=tty0 console=ttyS0,115200 panic=10 bm.url={agent_url}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_interface_defaults_by_protocol_and_ipmi_has_no_virtual_media() {
        assert_eq!(
            BootInterface::for_node("n1", "https://10.0.0.1", None),
            Ok(BootInterface::VirtualMedia)
        );
        assert_eq!(
            BootInterface::for_node("n1", "ipmi://10.0.0.1:623", None),
            Ok(BootInterface::Pxe)
        );
        assert_eq!(
            BootInterface::for_node("n1", "https://10.0.0.1", Some("pxe")),
            Ok(BootInterface::Pxe)
        );
        let e =
            BootInterface::for_node("n1", "ipmi://10.0.0.1", Some("virtual_media")).unwrap_err();
        assert!(
            e.contains("node n1") && e.contains("no virtual media"),
            "{e}"
        );
        let e = BootInterface::for_node("n1", "https://h", Some("usb")).unwrap_err();
        assert!(e.contains("\"usb\"") && e.contains("\"pxe\""), "{e}");
    }

    #[test]
    fn macs_normalise_from_either_separator_and_bad_ones_are_refused() {
        assert_eq!(
            normalize_mac("52-54-00-AB-00-01").unwrap(),
            "52:54:00:ab:00:01"
        );
        assert_eq!(
            normalize_mac(" 52:54:00:ab:00:01 ").unwrap(),
            "52:54:00:ab:00:01"
        );
        for bad in [
            "",
            "52:54:00:ab:00",
            "52:54:00:ab:00:0g",
            "525400ab0001",
            "52:54:00:ab:00:001",
        ] {
            assert!(normalize_mac(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn scripts_are_ipxe_and_carry_the_session() {
        let e = entry_script("http://10.0.0.1:8081");
        assert!(e.starts_with("#!ipxe\n"));
        assert!(e.contains("chain --autofree http://10.0.0.1:8081/pxe/mac/${netX/mac:hexhyp}"));
        let a = agent_script(
            "http://e/pxe/t/vmlinuz",
            "http://e/pxe/t/initrd.img",
            &agent_cmdline("http://e/agent/s"),
        );
        assert!(a.starts_with("#!ipxe\n"));
        assert!(a.contains(
            "kernel --name vmlinuz http://e/pxe/t/vmlinuz initrd=initrd.img console=tty0 console=ttyS0,115200 panic=10 bm.url=http://e/agent/s\n"
        ));
        assert!(a.contains("initrd --name initrd.img http://e/pxe/t/initrd.img\nboot\n"));
        assert!(nothing_planned_script("52:54:00:00:00:01").contains("exit 1"));
    }
}
