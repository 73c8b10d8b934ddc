//! Cloudflare's published edge IP ranges.

use std::sync::LazyLock;

use ipnet::IpNet;

use crate::csv;
use crate::error::{DataError, DataErrorKind};

const FILE: &str = "cloudflare_ips.csv";
const TEXT: &str = include_str!("../data/cloudflare_ips.csv");
const HEADER: &[&str] = &["cidr", "family", "addresses", "in_design_list"];

struct Ranges {
    all: Vec<IpNet>,
    design: Vec<IpNet>,
}

static RANGES: LazyLock<Result<Ranges, DataError>> = LazyLock::new(parse);

/// All of Cloudflare's published edge ranges (15 IPv4 then 7 IPv6), the list a gateway behind
/// Cloudflare should trust for `cf-connecting-ip`.
#[must_use]
pub fn cloudflare_ip_ranges() -> &'static [IpNet] {
    RANGES.as_ref().map_or(&[], |r| r.all.as_slice())
}

/// The 10 IPv4 ranges the original design document listed. It misses 5 IPv4 ranges (most of
/// Cloudflare's addresses) and all of IPv6; kept to show what the full list fixes.
#[must_use]
pub fn cloudflare_design_ranges() -> &'static [IpNet] {
    RANGES.as_ref().map_or(&[], |r| r.design.as_slice())
}

pub(crate) fn check() -> Result<(), DataError> {
    RANGES.as_ref().map(|_| ()).map_err(Clone::clone)
}

fn parse() -> Result<Ranges, DataError> {
    let mut all = Vec::new();
    let mut design = Vec::new();
    for row in csv::records(FILE, TEXT, HEADER)? {
        let text = row.required(0)?;
        let invalid = |column, reason| {
            row.error(DataErrorKind::Invalid {
                column,
                value: text.to_owned(),
                reason,
            })
        };
        let net: IpNet = text.parse().map_err(|_| invalid("cidr", "not a CIDR"))?;
        if net.trunc() != net {
            return Err(invalid("cidr", "host bits are set"));
        }
        let family = match net {
            IpNet::V4(_) => "ipv4",
            IpNet::V6(_) => "ipv6",
        };
        if row.required(1)? != family {
            return Err(invalid("family", "does not match the address"));
        }
        let host_bits = u32::from(net.max_prefix_len() - net.prefix_len());
        let expected = 1u128.checked_shl(host_bits);
        let addresses = row.required(2)?.parse::<u128>().ok();
        if addresses.is_none() || addresses != expected {
            return Err(invalid("addresses", "does not match the prefix length"));
        }
        match row.required(3)? {
            "yes" => design.push(net),
            "no" => {}
            _ => return Err(invalid("in_design_list", "expected `yes` or `no`")),
        }
        if all.contains(&net) {
            return Err(row.error(DataErrorKind::Duplicate {
                key: text.to_owned(),
            }));
        }
        all.push(net);
    }
    Ok(Ranges { all, design })
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use super::*;

    #[test]
    fn parses_every_row() {
        let r = parse().unwrap();
        assert_eq!(r.all.len(), 22);
        assert_eq!(
            r.all.iter().filter(|n| matches!(n, IpNet::V4(_))).count(),
            15
        );
        assert_eq!(
            r.all.iter().filter(|n| matches!(n, IpNet::V6(_))).count(),
            7
        );
        assert_eq!(r.design.len(), 10);
        assert!(r.design.iter().all(|n| matches!(n, IpNet::V4(_))));
    }

    #[test]
    fn full_list_covers_what_the_design_misses() {
        let ip: IpAddr = "104.16.1.1".parse().unwrap();
        assert!(cloudflare_ip_ranges().iter().any(|n| n.contains(&ip)));
        assert!(!cloudflare_design_ranges().iter().any(|n| n.contains(&ip)));
        let v6: IpAddr = "2606:4700::1".parse().unwrap();
        assert!(cloudflare_ip_ranges().iter().any(|n| n.contains(&v6)));
    }
}
