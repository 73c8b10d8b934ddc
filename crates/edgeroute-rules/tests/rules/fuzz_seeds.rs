//! fuzz_seeds
