//! Subnets and addresses (IPAM) as plain data: the IPv4 and IPv6 subnets a network carries, checked
//! (a gateway or a range outside its CIDR, overlapping subnets), and the pure choice of a host's
//! next free address. The inventory keeps the allocations and makes them atomic; this module only
//! decides which address is next and whether a pinned one may be taken.

use std::collections::BTreeSet;
use std::fmt;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::load::{scalar_text, text_of};
use crate::rules::AttrError;

/// How hosts on a subnet get their address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AddressMode {
    /// Allocated by the inventory and written to the host's network configuration.
    #[default]
    Static,
    /// The network's own DHCP server answers; nothing is allocated.
    Dhcp,
    /// IPv6 stateless autoconfiguration from the router's advertisements; nothing is allocated.
    Slaac,
}

impl AddressMode {
    pub fn as_str(self) -> &'static str {
        match self {
            AddressMode::Static => "static",
            AddressMode::Dhcp => "dhcp",
            AddressMode::Slaac => "slaac",
        }
    }
}

/// A CIDR: its network address (host bits zero) and prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cidr {
    pub network: IpAddr,
    pub prefix: u8,
}

impl Cidr {
    /// Parses `10.0.0.0/24` or `fd00::/64`. Host bits set are an error (`10.0.0.1/24` is an
    /// address, not a subnet), as is a prefix past the family's width.
    pub fn parse(s: &str) -> Result<Cidr, String> {
        let (a, p) = s
            .split_once('/')
            .ok_or_else(|| format!("{s:?} is not a CIDR (address/prefix, like 10.0.0.0/24)"))?;
        let network: IpAddr = a
            .trim()
            .parse()
            .map_err(|_| format!("{a:?} in {s:?} is not an IP address"))?;
        let prefix: u8 = p
            .trim()
            .parse()
            .map_err(|_| format!("prefix {p:?} in {s:?} is not a number"))?;
        let bits = width(network);
        if prefix > bits {
            return Err(format!(
                "prefix /{prefix} in {s:?} is longer than {bits} bits"
            ));
        }
        let c = Cidr { network, prefix };
        if to_u128(network) & c.host_mask() != 0 {
            return Err(format!(
                "{s:?} has host bits set: the subnet is {}",
                Cidr {
                    network: from_u128(network, to_u128(network) & !c.host_mask()),
                    prefix
                }
            ));
        }
        Ok(c)
    }

    fn host_mask(&self) -> u128 {
        let bits = width(self.network) as u32;
        let host = bits - self.prefix as u32;
        if host == 128 {
            u128::MAX
        } else {
            (1u128 << host) - 1
        }
    }

    pub fn is_v6(&self) -> bool {
        self.network.is_ipv6()
    }

    pub fn contains(&self, a: IpAddr) -> bool {
        a.is_ipv6() == self.is_v6() && to_u128(a) & !self.host_mask() == to_u128(self.network)
    }

    pub fn overlaps(&self, o: &Cidr) -> bool {
        self.is_v6() == o.is_v6() && (self.contains(o.network) || o.contains(self.network))
    }

    fn first(&self) -> u128 {
        to_u128(self.network)
    }

    fn last(&self) -> u128 {
        to_u128(self.network) | self.host_mask()
    }

    /// Whether a host may hold the address: not IPv4's network or broadcast address (except in a
    /// /31 or /32), not IPv6's subnet-router anycast address (the all-zero host part).
    fn assignable(&self, a: u128) -> bool {
        if self.is_v6() {
            a != self.first() || self.prefix >= 127
        } else {
            self.prefix >= 31 || (a != self.first() && a != self.last())
        }
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

fn width(a: IpAddr) -> u8 {
    if a.is_ipv6() {
        128
    } else {
        32
    }
}

fn to_u128(a: IpAddr) -> u128 {
    match a {
        IpAddr::V4(v) => u32::from(v) as u128,
        IpAddr::V6(v) => u128::from(v),
    }
}

fn from_u128(family: IpAddr, n: u128) -> IpAddr {
    match family {
        IpAddr::V4(_) => IpAddr::V4((n as u32).into()),
        IpAddr::V6(_) => IpAddr::V6(n.into()),
    }
}

/// One subnet of a network, as written in its `subnet` block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subnet {
    /// The CIDR as written, checked; its canonical text keys the allocations.
    pub cidr: String,
    #[serde(default)]
    pub gateway: Option<IpAddr>,
    #[serde(default)]
    pub dns_servers: Vec<IpAddr>,
    /// Allocation ranges, inclusive; empty: the whole subnet.
    #[serde(default)]
    pub ranges: Vec<(IpAddr, IpAddr)>,
    /// Addresses never allocated (besides the gateway).
    #[serde(default)]
    pub reserved: Vec<IpAddr>,
    #[serde(default)]
    pub mode: AddressMode,
}

/// How many addresses [`Subnet::free`] counts at most: a /64 has more than any inventory holds.
const COUNT_CAP: u128 = 1 << 32;

impl Subnet {
    pub fn parsed(&self) -> Cidr {
        // Checked when the subnet was read; a stored one that no longer parses matches nothing.
        Cidr::parse(&self.cidr).unwrap_or(Cidr {
            network: IpAddr::V4(0.into()),
            prefix: 32,
        })
    }

    pub fn is_v6(&self) -> bool {
        self.parsed().is_v6()
    }

    /// Whether the inventory allocates addresses on it.
    pub fn allocates(&self) -> bool {
        self.mode == AddressMode::Static
    }

    /// Why `a` cannot be pinned on this subnet, if it cannot: outside the CIDR, the network or
    /// broadcast address, the gateway, or reserved. (Taken by another host is the inventory's call.)
    pub fn refuses(&self, a: IpAddr) -> Option<String> {
        let c = self.parsed();
        if !c.contains(a) {
            return Some(format!("{a} is not in subnet {c}"));
        }
        if !c.assignable(to_u128(a)) {
            return Some(format!("{a} is the subnet's own address, not a host's"));
        }
        if self.gateway == Some(a) {
            return Some(format!("{a} is the gateway of {c}"));
        }
        if self.reserved.contains(&a) {
            return Some(format!("{a} is reserved on {c}"));
        }
        None
    }

    /// The spans allocation draws from, in order: the ranges, else the whole subnet.
    fn spans(&self) -> Vec<(u128, u128)> {
        let c = self.parsed();
        if self.ranges.is_empty() {
            vec![(c.first(), c.last())]
        } else {
            self.ranges
                .iter()
                .map(|(a, b)| (to_u128(*a), to_u128(*b)))
                .collect()
        }
    }

    /// The lowest address allocation may take that is not in `used`; `None`: the subnet is full.
    /// Walks past used addresses only, so it is bounded by `used`'s size, not the subnet's.
    pub fn next_free(&self, used: &BTreeSet<IpAddr>) -> Option<IpAddr> {
        let c = self.parsed();
        for (lo, hi) in self.spans() {
            let mut a = lo;
            loop {
                let ip = from_u128(c.network, a);
                if c.assignable(a) && self.refuses(ip).is_none() && !used.contains(&ip) {
                    return Some(ip);
                }
                if a >= hi {
                    break;
                }
                a += 1;
            }
        }
        None
    }

    /// How many more addresses allocation can give (capped at 2³² for huge IPv6 subnets).
    pub fn free(&self, used: &BTreeSet<IpAddr>) -> u128 {
        let c = self.parsed();
        let mut n: u128 = 0;
        for (lo, hi) in self.spans() {
            n = n.saturating_add((hi - lo).saturating_add(1));
        }
        let not_host = [c.first(), c.last()]
            .into_iter()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .filter(|a| !c.assignable(*a) && self.in_spans(*a))
            .count() as u128;
        let blocked: BTreeSet<IpAddr> = self
            .gateway
            .iter()
            .chain(&self.reserved)
            .chain(used)
            .copied()
            .filter(|a| c.contains(*a) && c.assignable(to_u128(*a)) && self.in_spans(to_u128(*a)))
            .collect();
        n.saturating_sub(not_host)
            .saturating_sub(blocked.len() as u128)
            .min(COUNT_CAP)
    }

    fn in_spans(&self, a: u128) -> bool {
        self.spans().iter().any(|(lo, hi)| (*lo..=*hi).contains(&a))
    }
}

/// A network's `subnet` blocks as written; errors at `subnet.N.attribute`.
pub fn subnets_from_attrs(attrs: &Map<String, Value>) -> (Vec<Subnet>, Vec<AttrError>) {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    let blocks: Vec<&Map<String, Value>> = attrs
        .get("subnet")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_object).collect())
        .unwrap_or_default();
    for (k, b) in blocks.into_iter().enumerate() {
        let at = |a: &str| format!("subnet.{k}.{a}");
        let cidr_text = text_of(b, "cidr").unwrap_or_default();
        let cidr = match Cidr::parse(&cidr_text) {
            Ok(c) => c,
            Err(e) => {
                errors.push((at("cidr"), e));
                continue;
            }
        };
        // The block is kept only if it added no error.
        let before = errors.len();
        let addr = |attr: &str, s: &str, errors: &mut Vec<AttrError>| -> Option<IpAddr> {
            match s.trim().parse::<IpAddr>() {
                Ok(a) => Some(a),
                Err(_) => {
                    errors.push((at(attr), format!("{s:?} is not an IP address")));
                    None
                }
            }
        };
        let inside = |attr: &str, a: IpAddr, errors: &mut Vec<AttrError>| {
            if !cidr.contains(a) {
                errors.push((at(attr), format!("{a} is outside the subnet {cidr}")));
            }
        };
        let gateway = text_of(b, "gateway").and_then(|g| addr("gateway", &g, &mut errors));
        if let Some(g) = gateway {
            inside("gateway", g, &mut errors);
        }
        let list = |k: &str| -> Vec<String> {
            b.get(k)
                .and_then(Value::as_array)
                .map(|a| a.iter().map(scalar_text).collect())
                .unwrap_or_default()
        };
        let dns_servers: Vec<IpAddr> = list("dns_servers")
            .iter()
            .filter_map(|s| addr("dns_servers", s, &mut errors))
            .collect();
        let mut ranges = Vec::new();
        for r in list("ranges") {
            let Some((a, z)) = r.split_once('-') else {
                errors.push((
                    at("ranges"),
                    format!("range {r:?} is not FIRST-LAST (like 10.0.0.10-10.0.0.99)"),
                ));
                continue;
            };
            let (Some(a), Some(z)) = (
                addr("ranges", a, &mut errors),
                addr("ranges", z, &mut errors),
            ) else {
                continue;
            };
            let n = errors.len();
            inside("ranges", a, &mut errors);
            if errors.len() == n {
                inside("ranges", z, &mut errors);
            }
            if to_u128(a) > to_u128(z) {
                errors.push((at("ranges"), format!("range {r:?} ends before it starts")));
            }
            ranges.push((a, z));
        }
        let reserved: Vec<IpAddr> = list("reserved")
            .iter()
            .filter_map(|s| addr("reserved", s, &mut errors))
            .collect();
        for a in &reserved {
            inside("reserved", *a, &mut errors);
        }
        let mode = match text_of(b, "mode").as_deref() {
            None | Some("static") => AddressMode::Static,
            Some("dhcp") => AddressMode::Dhcp,
            Some("slaac") if cidr.is_v6() => AddressMode::Slaac,
            Some("slaac") => {
                errors.push((at("mode"), format!("slaac is IPv6's; {cidr} is IPv4")));
                continue;
            }
            Some(m) => {
                errors.push((
                    at("mode"),
                    format!("mode {m:?} is not one of static, dhcp, slaac"),
                ));
                continue;
            }
        };
        if errors.len() == before {
            out.push(Subnet {
                cidr: cidr.to_string(),
                gateway,
                dns_servers,
                ranges,
                reserved,
                mode,
            });
        }
    }
    // Subnets of one network may not overlap each other.
    for (i, s) in out.iter().enumerate() {
        if let Some(o) = out[..i].iter().find(|o| o.parsed().overlaps(&s.parsed())) {
            errors.push((
                format!("subnet.{i}.cidr"),
                format!("{} overlaps {} of the same network", s.cidr, o.cidr),
            ));
        }
    }
    (out, errors)
}

/// The first overlap between a network's subnets and other networks' (`(index, message)`), for an
/// error at `subnet.N.cidr`: two networks with one address space would hand out one address twice.
pub fn overlap_with<'a>(
    subnets: &[Subnet],
    others: impl IntoIterator<Item = (&'a str, &'a [Subnet])> + Clone,
) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (i, s) in subnets.iter().enumerate() {
        let c = s.parsed();
        for (name, theirs) in others.clone() {
            if let Some(o) = theirs.iter().find(|o| o.parsed().overlaps(&c)) {
                out.push((
                    i,
                    format!("{} overlaps {} of network {name:?}", s.cidr, o.cidr),
                ));
                break;
            }
        }
    }
    out
}

/// An address the inventory gave a host on one subnet of a network.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Allocation {
    pub network: String,
    /// The subnet's CIDR.
    pub subnet: String,
    pub address: IpAddr,
}

impl Allocation {
    /// `10.0.0.5/24`, as network configurations write it.
    pub fn with_prefix(&self) -> String {
        match Cidr::parse(&self.subnet) {
            Ok(c) => format!("{}/{}", self.address, c.prefix),
            Err(_) => self.address.to_string(),
        }
    }
}

/// Who holds an address, as told to `asking` (a project): another project's host is not named
/// (its name is that project's business).
pub fn holder(asking: &str, project: &str, host: &str) -> String {
    if asking == project {
        format!("host {project}/{host}")
    } else {
        "a host of another project".to_string()
    }
}

/// An address a host asks for on a network (its `address` block).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddressPin {
    pub network: String,
    pub address: IpAddr,
}

/// A host's `address` blocks; errors at `address.N.attribute`.
pub fn pins_from_attrs(attrs: &Map<String, Value>) -> (Vec<AddressPin>, Vec<AttrError>) {
    let mut out: Vec<AddressPin> = Vec::new();
    let mut errors = Vec::new();
    let blocks: Vec<&Map<String, Value>> = attrs
        .get("address")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_object).collect())
        .unwrap_or_default();
    for (k, b) in blocks.into_iter().enumerate() {
        let network = text_of(b, "network").unwrap_or_default();
        let text = text_of(b, "address").unwrap_or_default();
        match text.trim().parse::<IpAddr>() {
            Ok(address) => {
                if out
                    .iter()
                    .any(|p| p.network == network && p.address.is_ipv6() == address.is_ipv6())
                {
                    errors.push((
                        format!("address.{k}.address"),
                        format!(
                            "network {network:?} already has a pinned IPv{} address",
                            if address.is_ipv6() { 6 } else { 4 }
                        ),
                    ));
                } else {
                    out.push(AddressPin { network, address });
                }
            }
            Err(_) => errors.push((
                format!("address.{k}.address"),
                format!("{text:?} is not an IP address"),
            )),
        }
    }
    (out, errors)
}

/// Why a host's pins do not fit its networks' subnets, by pin index.
pub fn pin_problems(
    pins: &[AddressPin],
    subnets_of: impl Fn(&str) -> Option<Vec<Subnet>>,
) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (k, p) in pins.iter().enumerate() {
        let Some(subnets) = subnets_of(&p.network) else {
            out.push((k, format!("no network named {:?}", p.network)));
            continue;
        };
        match subnets.iter().find(|s| s.parsed().contains(p.address)) {
            None => out.push((
                k,
                format!(
                    "{} is in no subnet of network {:?}{}",
                    p.address,
                    p.network,
                    if subnets.is_empty() {
                        " (it has none)".to_string()
                    } else {
                        format!(
                            " ({})",
                            subnets
                                .iter()
                                .map(|s| s.cidr.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        )
                    }
                ),
            )),
            Some(s) if !s.allocates() => out.push((
                k,
                format!(
                    "subnet {} of network {:?} is {}: its addresses are not pinned",
                    s.cidr,
                    p.network,
                    s.mode.as_str()
                ),
            )),
            Some(s) => {
                if let Some(why) = s.refuses(p.address) {
                    out.push((k, why));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn subnet(v: Value) -> (Vec<Subnet>, Vec<AttrError>) {
        subnets_from_attrs(json!({ "subnet": v }).as_object().unwrap())
    }

    #[test]
    fn a_cidr_with_host_bits_or_a_long_prefix_is_refused_with_the_subnet_meant() {
        assert_eq!(
            Cidr::parse("10.0.0.1/24").unwrap_err(),
            "\"10.0.0.1/24\" has host bits set: the subnet is 10.0.0.0/24"
        );
        assert!(Cidr::parse("10.0.0.0/33")
            .unwrap_err()
            .contains("longer than 32"));
        assert!(Cidr::parse("fd00::/64").unwrap().is_v6());
        assert!(Cidr::parse("10.0.0.0").is_err());
    }

    #[test]
    fn a_gateway_range_or_reserved_address_outside_the_cidr_is_an_error_at_its_attribute() {
        let (ok, errs) = subnet(json!([{
            "cidr": "10.1.0.0/24", "gateway": "10.2.0.1",
            "ranges": ["10.1.0.10-10.1.1.5", "10.1.0.50-10.1.0.40"], "reserved": ["10.9.0.1"],
            "dns_servers": ["nope"]
        }]));
        assert!(ok.is_empty());
        let at: Vec<&str> = errs.iter().map(|e| e.0.as_str()).collect();
        assert_eq!(
            at,
            [
                "subnet.0.gateway",
                "subnet.0.dns_servers",
                "subnet.0.ranges",
                "subnet.0.ranges",
                "subnet.0.reserved"
            ]
        );
        assert_eq!(errs[0].1, "10.2.0.1 is outside the subnet 10.1.0.0/24");
        assert_eq!(
            errs[3].1,
            "range \"10.1.0.50-10.1.0.40\" ends before it starts"
        );
    }

    #[test]
    fn overlapping_subnets_are_errors_within_a_network_and_across_networks() {
        let (s, errs) = subnet(
            json!([{"cidr": "10.1.0.0/16"}, {"cidr": "10.1.2.0/24"}, {"cidr": "fd00::/64"}]),
        );
        assert_eq!(s.len(), 3);
        assert_eq!(
            errs,
            [(
                "subnet.1.cidr".to_string(),
                "10.1.2.0/24 overlaps 10.1.0.0/16 of the same network".to_string()
            )]
        );
        let other = subnet(json!([{"cidr": "fd00::/48"}])).0;
        let found = overlap_with(&s[2..], [("storage", other.as_slice())]);
        assert_eq!(
            found,
            [(
                0,
                "fd00::/64 overlaps fd00::/48 of network \"storage\"".to_string()
            )]
        );
        // IPv4 and IPv6 never overlap.
        assert!(overlap_with(&s[..1], [("storage", other.as_slice())]).is_empty());
    }

    #[test]
    fn allocation_skips_the_network_address_gateway_reserved_and_used_and_counts_what_is_left() {
        let s = &subnet(
            json!([{"cidr": "10.0.0.0/29", "gateway": "10.0.0.1", "reserved": ["10.0.0.3"]}]),
        )
        .0[0];
        let mut used = BTreeSet::new();
        // .0 network, .1 gateway, .3 reserved, .7 broadcast: .2 .4 .5 .6 are left.
        assert_eq!(s.free(&used), 4);
        let mut got = Vec::new();
        while let Some(a) = s.next_free(&used) {
            used.insert(a);
            got.push(a.to_string());
        }
        assert_eq!(got, ["10.0.0.2", "10.0.0.4", "10.0.0.5", "10.0.0.6"]);
        assert_eq!(s.free(&used), 0);
        // A /26 without a gateway holds 62 hosts.
        let s26 = &subnet(json!([{"cidr": "10.0.1.0/26"}])).0[0];
        assert_eq!(s26.free(&BTreeSet::new()), 62);
    }

    #[test]
    fn ranges_bound_allocation_and_ipv6_skips_only_the_anycast_address() {
        let s = &subnet(json!([{"cidr": "10.0.0.0/24", "ranges": ["10.0.0.200-10.0.0.201"]}])).0[0];
        let used: BTreeSet<IpAddr> = ["10.0.0.200".parse().unwrap()].into();
        assert_eq!(s.next_free(&used).unwrap().to_string(), "10.0.0.201");
        assert_eq!(s.free(&used), 1);
        let v6 = &subnet(json!([{"cidr": "fd00:1::/64", "gateway": "fd00:1::1"}])).0[0];
        assert_eq!(
            v6.next_free(&BTreeSet::new()).unwrap().to_string(),
            "fd00:1::2"
        );
        assert_eq!(v6.free(&BTreeSet::new()), COUNT_CAP);
    }

    #[test]
    fn slaac_is_ipv6_only_and_an_unknown_mode_is_an_error() {
        let (_, errs) = subnet(
            json!([{"cidr": "10.0.0.0/24", "mode": "slaac"}, {"cidr": "10.1.0.0/24", "mode": "dhcp6"}]),
        );
        assert_eq!(
            errs[0],
            (
                "subnet.0.mode".into(),
                "slaac is IPv6's; 10.0.0.0/24 is IPv4".into()
            )
        );
        assert_eq!(errs[1].0, "subnet.1.mode");
        let (s, errs) = subnet(json!([{"cidr": "fd00::/64", "mode": "slaac"}]));
        assert!(errs.is_empty());
        assert!(!s[0].allocates());
    }

    #[test]
    fn the_widest_subnets_and_hostile_text_give_errors_or_counts_never_a_panic() {
        // ::/0 spans all 2^128 addresses: counted (capped), not overflowed.
        let all = &subnet(json!([{"cidr": "::/0"}])).0[0];
        assert_eq!(all.free(&BTreeSet::new()), COUNT_CAP);
        assert_eq!(all.next_free(&BTreeSet::new()).unwrap().to_string(), "::1");
        let v4 = &subnet(json!([{"cidr": "0.0.0.0/0"}])).0[0];
        assert_eq!(
            v4.free(&BTreeSet::new()),
            (1u128 << 32) - 2,
            "less its network and broadcast"
        );
        for bad in [
            "",
            "/",
            "10.0.0.0/999999999999999999999",
            "\u{1b}[2J/24",
            &"9".repeat(100_000),
        ] {
            assert!(Cidr::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn another_projects_host_is_not_named_as_a_holder() {
        assert_eq!(holder("blue", "blue", "web-1"), "host blue/web-1");
        assert_eq!(holder("blue", "red", "db-1"), "a host of another project");
    }

    #[test]
    fn a_pin_must_be_in_a_static_subnet_and_not_its_gateway() {
        let s = subnet(json!([{"cidr": "10.0.0.0/24", "gateway": "10.0.0.1"}, {"cidr": "fd00::/64", "mode": "slaac"}])).0;
        let (pins, errs) = pins_from_attrs(
            json!({"address": [
                {"network": "prod", "address": "10.0.0.1"},
                {"network": "prod", "address": "fd00::9"},
                {"network": "nope", "address": "10.0.0.9"},
                {"network": "prod", "address": "10.0.0.x"}
            ]})
            .as_object()
            .unwrap(),
        );
        assert_eq!(
            errs,
            [(
                "address.3.address".to_string(),
                "\"10.0.0.x\" is not an IP address".to_string()
            )]
        );
        let probs = pin_problems(&pins, |n| (n == "prod").then(|| s.clone()));
        assert_eq!(
            probs,
            [
                (0, "10.0.0.1 is the gateway of 10.0.0.0/24".to_string()),
                (
                    1,
                    "subnet fd00::/64 of network \"prod\" is slaac: its addresses are not pinned"
                        .to_string()
                ),
                (2, "no network named \"nope\"".to_string()),
            ]
        );
    }
}
