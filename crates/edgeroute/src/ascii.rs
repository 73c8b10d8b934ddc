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

/// Lowercases the ASCII letters of four packed bytes; other bytes are unchanged.
#[inline]
fn lower4(x: u32) -> u32 {
    let heptets = x & 0x7f7f_7f7f;
    let ge_a = heptets.wrapping_add(0x3f3f_3f3f);
    let gt_z = heptets.wrapping_add(0x2525_2525);
    let upper = ge_a & !gt_z & !x & 0x8080_8080;
    x | (upper >> 2)
}

#[inline]
fn load8(b: &[u8], at: usize) -> u64 {
    b.get(at..at + 8)
        .and_then(|c| <[u8; 8]>::try_from(c).ok())
        .map_or(0, u64::from_le_bytes)
}

#[inline]
fn load4(b: &[u8], at: usize) -> u32 {
    b.get(at..at + 4)
        .and_then(|c| <[u8; 4]>::try_from(c).ok())
        .map_or(0, u32::from_le_bytes)
}

/// Whether `f(input) == other` bytewise, where `f` maps each byte on its own (applied to
/// whole words by `f8` and `f4`). Eight bytes per step, the tail as one last word overlapping
/// the one before it (a 12-byte name is two loads, not eight plus four byte steps).
#[inline(always)]
fn eq_words(
    input: &[u8],
    other: &[u8],
    f8: impl Fn(u64) -> u64,
    f4: impl Fn(u32) -> u32,
    f1: impl Fn(u8) -> u8,
) -> bool {
    let n = input.len();
    if n != other.len() {
        return false;
    }
    if n >= 8 {
        let mut at = 0;
        while at + 8 < n {
            if f8(load8(input, at)) != load8(other, at) {
                return false;
            }
            at += 8;
        }
        return f8(load8(input, n - 8)) == load8(other, n - 8);
    }
    if n >= 4 {
        return f4(load4(input, 0)) == load4(other, 0)
            && f4(load4(input, n - 4)) == load4(other, n - 4);
    }
    input.iter().zip(other).all(|(&x, &y)| f1(x) == y)
}

/// Whether `input` equals `lower` ignoring ASCII case, where `lower` is already lowercase.
#[inline]
pub(crate) fn eq_lowercase(input: &[u8], lower: &[u8]) -> bool {
    eq_words(input, lower, lower8, lower4, |c| c.to_ascii_lowercase())
}

/// Whether two byte strings are equal, compared in whole words like [`eq_lowercase`]: for the
/// short literals of URL patterns this beats a call to `memcmp`.
#[inline]
pub(crate) fn eq_bytes(a: &[u8], b: &[u8]) -> bool {
    eq_words(a, b, |x| x, |x| x, |c| c)
}

/// A case-folded fingerprint of a short name: two words that, for names of one length up to
/// 16 bytes, are equal exactly when the names are equal ignoring ASCII case (longer names need a
/// full comparison after the fingerprints agree).
#[inline]
pub(crate) fn name_key(b: &[u8]) -> (u64, u64) {
    let (x, y) = raw_key(b);
    (lower8(x), if b.len() >= 8 { lower8(y) } else { 0 })
}

/// [`name_key`] without the case folding: equal to it for names that are already lowercase
/// (as HTTP/2 and the `http` crate always give them), so a match on it is a match.
#[inline]
pub(crate) fn raw_key(b: &[u8]) -> (u64, u64) {
    let n = b.len();
    if n >= 8 {
        return (load8(b, 0), load8(b, n - 8));
    }
    if n >= 4 {
        return (
            u64::from(load4(b, 0)) | (u64::from(load4(b, n - 4)) << 32),
            0,
        );
    }
    let packed = b
        .iter()
        .rev()
        .fold(0u64, |acc, &c| (acc << 8) | u64::from(c));
    (packed, 0)
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

    #[test]
    fn name_keys_fold_case_and_tell_names_apart() {
        for name in [
            &b"cf-connecting-ip"[..],
            b"cf-ray",
            b"accept",
            b"x",
            b"via",
            b"cf-ipcountry",
        ] {
            let upper = name.to_ascii_uppercase();
            assert_eq!(name_key(name), name_key(&upper));
        }
        assert_ne!(name_key(b"cf-ray"), name_key(b"accept"));
        assert_ne!(name_key(b"abcdefghij"), name_key(b"abcdefghik"));
        assert_ne!(name_key(b"abcdefghij"), name_key(b"bbcdefghij"));
    }

    proptest! {
        #[test]
        fn name_key_equal_iff_names_equal_ignoring_case(
            a in proptest::collection::vec(any::<u8>(), 1..17),
            at in any::<usize>(),
            flip in any::<u8>(),
        ) {
            let mut b = a.clone();
            let i = at % b.len();
            b[i] ^= flip;
            prop_assert_eq!(name_key(&a) == name_key(&b), a.eq_ignore_ascii_case(&b));
        }

        #[test]
        fn raw_key_of_a_lowercase_name_is_its_name_key(a in proptest::collection::vec(any::<u8>(), 0..40)) {
            let lower = a.to_ascii_lowercase();
            prop_assert_eq!(raw_key(&lower), name_key(&lower));
            prop_assert_eq!(name_key(&a), name_key(&lower));
        }

        #[test]
        fn name_key_of_a_case_flip_is_equal(a in proptest::collection::vec(any::<u8>(), 0..40)) {
            prop_assert_eq!(name_key(&a), name_key(&a.to_ascii_uppercase()));
        }

        #[test]
        fn eq_bytes_agrees_with_slice_eq(
            a in proptest::collection::vec(any::<u8>(), 0..40),
            at in any::<usize>(),
            flip in any::<u8>(),
        ) {
            prop_assert!(eq_bytes(&a, &a.clone()));
            let mut b = a.clone();
            if !b.is_empty() {
                let i = at % b.len();
                b[i] ^= flip;
            }
            prop_assert_eq!(eq_bytes(&a, &b), a == b);
        }

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
