//! Sorted, merged range sets for `in {..}` over integers and IP addresses.

use std::net::IpAddr;

use crate::ast::SetItem;
use crate::scheme::List;

/// Disjoint inclusive ranges, sorted: membership is a binary search.
#[derive(Debug, Clone, Default)]
pub(crate) struct RangeSet<T> {
    ranges: Vec<(T, T)>,
}

/// Types whose ranges can merge when adjacent.
pub(crate) trait Step: Copy + Ord {
    fn succ(self) -> Option<Self>;
}

impl Step for i64 {
    fn succ(self) -> Option<Self> {
        self.checked_add(1)
    }
}
impl Step for u32 {
    fn succ(self) -> Option<Self> {
        self.checked_add(1)
    }
}
impl Step for u128 {
    fn succ(self) -> Option<Self> {
        self.checked_add(1)
    }
}

impl<T: Step> RangeSet<T> {
    pub(crate) fn new(mut ranges: Vec<(T, T)>) -> Self {
        ranges.retain(|(a, b)| a <= b);
        ranges.sort_unstable();
        let mut merged: Vec<(T, T)> = Vec::with_capacity(ranges.len());
        for (a, b) in ranges {
            if let Some(last) = merged.last_mut()
                && last.1.succ().is_none_or(|next| a <= next)
            {
                if b > last.1 {
                    last.1 = b;
                }
                continue;
            }
            merged.push((a, b));
        }
        RangeSet { ranges: merged }
    }

    #[inline]
    pub(crate) fn contains(&self, x: T) -> bool {
        let i = self.ranges.partition_point(|r| r.1 < x);
        self.ranges.get(i).is_some_and(|r| r.0 <= x)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }
}

/// IPv4 and IPv6 ranges.
#[derive(Debug, Clone, Default)]
pub(crate) struct IpSet {
    v4: RangeSet<u32>,
    v6: RangeSet<u128>,
}

impl IpSet {
    pub(crate) fn from_items(items: &[SetItem]) -> Self {
        let mut v4 = Vec::new();
        let mut v6 = Vec::new();
        let mut add = |a: IpAddr, b: IpAddr| match (a, b) {
            (IpAddr::V4(a), IpAddr::V4(b)) => v4.push((u32::from(a), u32::from(b))),
            (IpAddr::V6(a), IpAddr::V6(b)) => v6.push((u128::from(a), u128::from(b))),
            _ => {}
        };
        for item in items {
            match item {
                SetItem::Ip(ip) => add(*ip, *ip),
                SetItem::Cidr(net) => add(net.network(), net.broadcast()),
                SetItem::IpRange(a, b) => add(*a, *b),
                _ => {}
            }
        }
        IpSet {
            v4: RangeSet::new(v4),
            v6: RangeSet::new(v6),
        }
    }

    pub(crate) fn from_list(list: &List) -> Self {
        match list {
            List::Ip(nets) => {
                let items: Vec<SetItem> = nets.iter().map(|n| SetItem::Cidr(*n)).collect();
                Self::from_items(&items)
            }
            _ => IpSet::default(),
        }
    }

    #[inline]
    pub(crate) fn contains(&self, ip: IpAddr) -> bool {
        match ip {
            IpAddr::V4(a) => self.v4.contains(u32::from(a)),
            IpAddr::V6(a) => self.v6.contains(u128::from(a)),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.v4.is_empty() && self.v6.is_empty()
    }
}

pub(crate) fn int_set(items: &[SetItem]) -> RangeSet<i64> {
    RangeSet::new(
        items
            .iter()
            .filter_map(|i| match i {
                SetItem::Int(n) => Some((*n, *n)),
                SetItem::IntRange(a, b) => Some((*a, *b)),
                _ => None,
            })
            .collect(),
    )
}

/// Sorted, deduplicated byte strings: membership is a binary search.
#[derive(Debug, Clone, Default)]
pub(crate) struct BytesSet {
    items: Vec<Vec<u8>>,
}

impl BytesSet {
    pub(crate) fn new(mut items: Vec<Vec<u8>>) -> Self {
        items.sort_unstable();
        items.dedup();
        BytesSet { items }
    }

    #[inline]
    pub(crate) fn contains(&self, x: &[u8]) -> bool {
        self.items.binary_search_by(|e| e.as_slice().cmp(x)).is_ok()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_merge_and_search() {
        let s = RangeSet::new(vec![
            (10i64, 20),
            (21, 30),
            (5, 7),
            (40, 40),
            (i64::MAX - 1, i64::MAX),
        ]);
        assert_eq!(
            s.ranges,
            vec![(5, 7), (10, 30), (40, 40), (i64::MAX - 1, i64::MAX)]
        );
        for (x, want) in [
            (4, false),
            (5, true),
            (8, false),
            (25, true),
            (31, false),
            (40, true),
            (i64::MAX, true),
        ] {
            assert_eq!(s.contains(x), want, "{x}");
        }
    }

    #[test]
    fn ip_sets_keep_families_apart() {
        let items = vec![
            SetItem::Cidr("10.0.0.0/8".parse().unwrap()),
            SetItem::Cidr("2001:db8::/32".parse().unwrap()),
        ];
        let s = IpSet::from_items(&items);
        assert!(s.contains("10.1.2.3".parse().unwrap()));
        assert!(!s.contains("11.0.0.0".parse().unwrap()));
        assert!(s.contains("2001:db8::1".parse().unwrap()));
        assert!(!s.contains("::ffff:10.0.0.1".parse().unwrap()));
    }
}
