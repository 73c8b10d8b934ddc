//! edgeroute (work in progress).
