//! edgeroute-tower (work in progress).
