//! edgeroute-geo (work in progress).
