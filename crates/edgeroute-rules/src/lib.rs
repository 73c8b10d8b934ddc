//! edgeroute-rules (work in progress).
