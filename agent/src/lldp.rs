//! LLDP (IEEE 802.1AB) frames as the switch at the other end of a cable sends them: the chassis
//! ID, port ID, system name and port description TLVs.

use planner_core::deploy::agent::LldpNeighbour;

pub const ETHERTYPE: u16 = 0x88cc;

/// An ID TLV's value as text: a MAC address subtype (4 for the chassis, 3 for the port) as
/// `aa:bb:…`, a network address as text, anything else as its bytes (lossy UTF-8).
fn id_text(v: &[u8], mac_subtype: u8) -> String {
    let Some((&sub, rest)) = v.split_first() else {
        return String::new();
    };
    if sub == mac_subtype && rest.len() == 6 {
        return rest
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(":");
    }
    String::from_utf8_lossy(rest)
        .trim_end_matches('\0')
        .to_string()
}

/// Parses an Ethernet frame carrying an LLDPDU; `None` when it is not one, or lacks the
/// mandatory chassis and port IDs.
pub fn parse(frame: &[u8]) -> Option<LldpNeighbour> {
    if frame.len() < 14 || u16::from_be_bytes([frame[12], frame[13]]) != ETHERTYPE {
        return None;
    }
    let mut at = 14;
    let mut n = LldpNeighbour::default();
    while at + 2 <= frame.len() {
        let head = u16::from_be_bytes([frame[at], frame[at + 1]]);
        let (t, len) = ((head >> 9) as u8, (head & 0x1ff) as usize);
        at += 2;
        if at + len > frame.len() {
            return None;
        }
        let v = &frame[at..at + len];
        match t {
            0 => break,
            1 => n.chassis_id = id_text(v, 4),
            2 => n.port_id = id_text(v, 3),
            4 => n.port_description = Some(String::from_utf8_lossy(v).to_string()),
            5 => n.system_name = Some(String::from_utf8_lossy(v).to_string()),
            _ => {}
        }
        at += len;
    }
    (!n.chassis_id.is_empty() && !n.port_id.is_empty()).then_some(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tlv(t: u8, v: &[u8]) -> Vec<u8> {
        let head = (t as u16) << 9 | v.len() as u16;
        let mut out = head.to_be_bytes().to_vec();
        out.extend_from_slice(v);
        out
    }

    #[test]
    fn an_lldp_frame_gives_the_switch_and_its_port() {
        let mut f = vec![0x01, 0x80, 0xc2, 0, 0, 0x0e, 2, 0, 0, 0, 0, 1, 0x88, 0xcc];
        f.extend(tlv(1, &[4, 0x52, 0x54, 0, 1, 2, 3]));
        f.extend(tlv(2, b"\x05Ethernet1/7"));
        f.extend(tlv(3, &[0, 120]));
        f.extend(tlv(4, b"to web-1"));
        f.extend(tlv(5, b"tor-a"));
        f.extend(tlv(0, &[]));
        let n = parse(&f).unwrap();
        assert_eq!(n.chassis_id, "52:54:00:01:02:03");
        assert_eq!(n.port_id, "Ethernet1/7");
        assert_eq!(n.system_name.as_deref(), Some("tor-a"));
        assert_eq!(n.port_description.as_deref(), Some("to web-1"));
        assert_eq!(n.switch(), "tor-a");
    }

    #[test]
    fn a_frame_lldpd_sent_on_the_rigs_tap_parses() {
        // Captured with tcpdump on the VM rig's tap: lldpd 1.0.16 (Debian 12), `portidsubtype
        // ifname`, system name rig-switch; management addresses and 802.3 TLVs included.
        let hex = "0180c200000efe540023000188cc020704fe5400230001040605766e657430060200080a0a7269672d7377697463680c1e44656269616e20474e552f4c696e75782031322028626f6f6b776f726d290e04009c0004100c05010ae7000102000000020010181102fe8000000000000050d8aafffeb20f880200000002000805766e657430fe0900120f030100000000fe0900120f0100800000360000";
        let frame: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect();
        let n = parse(&frame).unwrap();
        assert_eq!(n.chassis_id, "fe:54:00:23:00:01");
        assert_eq!(n.port_id, "vnet0");
        assert_eq!(n.system_name.as_deref(), Some("rig-switch"));
        assert_eq!(n.port_description.as_deref(), Some("vnet0"));
    }

    #[test]
    fn other_frames_and_truncated_ones_are_not_neighbours() {
        assert!(parse(&[0u8; 20]).is_none());
        let mut f = vec![0u8; 12];
        f.extend([0x88, 0xcc]);
        f.extend(tlv(1, &[7, b'x']));
        f.extend([0x04, 0xff, 1]);
        assert!(parse(&f).is_none(), "a TLV longer than the frame");
        let mut g = vec![0u8; 12];
        g.extend([0x88, 0xcc]);
        g.extend(tlv(1, &[7, b'x']));
        assert!(parse(&g).is_none(), "no port ID");
    }
}
