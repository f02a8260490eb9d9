//! A key's client-address allow-list (issue 32): IPv4 and IPv6 addresses and CIDR ranges, each kept as the
//! first and last address of its range in one comparable text form — 32 hex digits of the IPv6 address, IPv4
//! mapped into `::ffff:0:0/96` — so that the key-login statement checks a client against the list with
//! plain text comparisons on either database.

use std::net::{IpAddr, Ipv6Addr};

use ipnet::IpNet;

/// Most entries of one allow-list.
pub const MAX_NETWORKS: usize = 32;

/// One allow-list entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Network {
    /// As shown back: `203.0.113.0/24`, `2001:db8::/32`, `198.51.100.7` (a single address).
    pub text: String,
    /// First address of the range ([`ip_key`] form).
    pub first: String,
    /// Last address of the range.
    pub last: String,
}

/// `ip` in the comparable form: 32 lowercase hex digits of its IPv6 form (IPv4 mapped).
pub fn ip_key(ip: IpAddr) -> String {
    let v6: Ipv6Addr = match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(v6, |v4| v4.to_ipv6_mapped()),
    };
    hex::encode(v6.octets())
}

/// Parses an address or a CIDR range (host bits are cleared: `10.1.2.3/8` is `10.0.0.0/8`).
pub fn parse(text: &str) -> Result<Network, String> {
    let text = text.trim();
    let net: IpNet = match text.parse::<IpNet>() {
        Ok(net) => net.trunc(),
        Err(_) => match text.parse::<IpAddr>() {
            Ok(ip) => IpNet::from(ip),
            Err(_) => return Err(format!("`{text}` is not an IP address or CIDR range")),
        },
    };
    let single = net.prefix_len() == net.max_prefix_len();
    Ok(Network {
        text: if single {
            net.addr().to_string()
        } else {
            net.to_string()
        },
        first: ip_key(net.network()),
        last: ip_key(net.broadcast()),
    })
}

/// Parses a whole allow-list: at most [`MAX_NETWORKS`] entries, duplicates dropped.
pub fn parse_list(items: &[String]) -> Result<Vec<Network>, String> {
    if items.len() > MAX_NETWORKS {
        return Err(format!(
            "at most {MAX_NETWORKS} addresses or ranges per key, got {}",
            items.len()
        ));
    }
    let mut out: Vec<Network> = Vec::new();
    for item in items {
        let n = parse(item)?;
        if !out.iter().any(|o| o.text == n.text) {
            out.push(n);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inside(list: &[Network], ip: &str) -> bool {
        let k = ip_key(ip.parse().unwrap());
        list.iter().any(|n| n.first <= k && k <= n.last)
    }

    #[test]
    fn ranges_compare_as_text() {
        let list = parse_list(&[
            "203.0.113.0/24".into(),
            "2001:db8::/32".into(),
            "198.51.100.7".into(),
            "10.1.2.3/8".into(),
        ])
        .unwrap();
        assert_eq!(list[3].text, "10.0.0.0/8");
        assert_eq!(list[2].text, "198.51.100.7");
        assert!(inside(&list, "203.0.113.200"));
        assert!(!inside(&list, "203.0.114.1"));
        assert!(inside(&list, "2001:db8:ffff::1"));
        assert!(!inside(&list, "2001:db9::1"));
        assert!(inside(&list, "198.51.100.7"));
        assert!(!inside(&list, "198.51.100.8"));
        assert!(
            inside(&list, "::ffff:10.9.9.9"),
            "an IPv4-mapped IPv6 client is its IPv4 address"
        );
        assert!(parse("300.1.1.1").is_err());
        assert!(parse_list(&vec!["1.1.1.1".to_owned(); 33]).is_err());
    }
}
