//! edgeroute-sim (work in progress).
