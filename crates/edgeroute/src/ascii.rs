//! Fast ASCII case-insensitive comparison against an already-lowercase string, eight bytes at
//! a time (header names and hosts on the hot path).

const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
const HIGH: u64 = 0x8080_8080_8080_8080;

/// Lowercases the ASCII letters of eight packed bytes; other bytes are unchanged.
#[inline]
fn lower8(x: u64) -> u64 {
    let heptets = x & LOW7;
    // High bit of each byte: set when the byte is >= 'A' (0x41), resp. >= '[' (0x5b).
    let ge_a = heptets.wrapping_add(0x3f3f_3f3f_3f3f_3f3f);
    let gt_z = heptets.wrapping_add(0x2525_2525_2525_2525);
    let upper = ge_a & !gt_z & !x & HIGH;
    x | (upper >> 2)
}

/// Whether `input` equals `lower` ignoring ASCII case, where `lower` is already lowercase.
#[inline]
pub(crate) fn eq_lowercase(input: &[u8], lower: &[u8]) -> bool {
    if input.len() != lower.len() {
        return false;
    }
    let mut a = input.chunks_exact(8);
    let mut b = lower.chunks_exact(8);
    for (x, y) in (&mut a).zip(&mut b) {
        let (Ok(x), Ok(y)) = (<[u8; 8]>::try_from(x), <[u8; 8]>::try_from(y)) else {
            return false;
        };
        if lower8(u64::from_le_bytes(x)) != u64::from_le_bytes(y) {
            return false;
        }
    }
    a.remainder()
        .iter()
        .zip(b.remainder())
        .all(|(x, y)| x.to_ascii_lowercase() == *y)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn examples() {
        assert!(eq_lowercase(b"CF-Connecting-IP", b"cf-connecting-ip"));
        assert!(eq_lowercase(b"", b""));
        assert!(!eq_lowercase(b"cf-connecting-iq", b"cf-connecting-ip"));
        assert!(!eq_lowercase(b"cf-connecting-ip ", b"cf-connecting-ip"));
        assert!(!eq_lowercase(b"[", b"{"));
        assert!(!eq_lowercase(b"@@@@@@@@", b"````````"));
        assert!(!eq_lowercase(
            b"\xc1\xc1\xc1\xc1\xc1\xc1\xc1\xc1",
            b"\xe1\xe1\xe1\xe1\xe1\xe1\xe1\xe1"
        ));
    }

    proptest! {
        #[test]
        fn agrees_with_std(a in proptest::collection::vec(any::<u8>(), 0..40), flip in any::<bool>()) {
            let lower = a.to_ascii_lowercase();
            let input = if flip { a.to_ascii_uppercase() } else { a.clone() };
            prop_assert!(eq_lowercase(&input, &lower));
            let mut other = lower.clone();
            if let Some(last) = other.last_mut() {
                *last = last.wrapping_add(1);
                prop_assert_eq!(eq_lowercase(&input, &other), input.eq_ignore_ascii_case(&other));
            }
        }
    }
}
