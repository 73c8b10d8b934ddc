//! Criterion benches for edgeroute live in `benches/`; this library is empty.
