//! A software prefetch: the workspace's one use of `unsafe`.
//!
//! A cache replay spends most of its time waiting for table lines that are not in the CPU's
//! caches. Asking for the line of a request a few requests ahead lets those waits overlap. A
//! plain load cannot do it: it holds back the instructions after it until its line arrives,
//! while a prefetch instruction retires at once and only starts the transfer. Stable Rust
//! offers prefetch only as `core::arch` intrinsics, which need `unsafe` to call. The
//! instruction never faults, reads nothing into the program and writes nothing, whatever the
//! address, so the call is sound for any pointer.

/// Starts loading the cache line holding `ptr` into every cache level, for reading. A hint
/// only: no effect on what any later load returns, and nothing at all on targets other than
/// x86_64.
#[inline(always)]
#[cfg_attr(
    target_arch = "x86_64",
    expect(
        unsafe_code,
        reason = "PREFETCHT0 cannot fault or change memory, for any address; stable Rust has no safe prefetch"
    )
)]
pub(crate) fn prefetch<T>(ptr: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch does not dereference `ptr` in the program's sense: it never faults
    // (an invalid address is ignored), reads no value into the program and writes nothing.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(ptr.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = ptr;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_address_is_allowed_and_nothing_changes() {
        let v = vec![7u64; 64];
        prefetch(v.as_ptr());
        prefetch(v.as_ptr().wrapping_add(1 << 40));
        prefetch(std::ptr::null::<u64>());
        assert!(v.iter().all(|&x| x == 7));
    }
}
