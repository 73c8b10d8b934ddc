//! Points on the Earth, great-circle distance and the fibre floor.

/// Mean Earth radius in km (IUGG mean radius R1).
pub const EARTH_RADIUS_KM: f64 = 6371.0088;

/// Distance light covers in optical fibre per millisecond, one way (about 2/3 of c).
pub const FIBRE_KM_PER_MS: f64 = 200.0;

/// A point given by latitude and longitude in decimal degrees (WGS 84).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct LatLon {
    /// Latitude in degrees, -90 (south) to 90 (north).
    pub lat: f64,
    /// Longitude in degrees, -180 (west) to 180 (east).
    pub lon: f64,
}

impl LatLon {
    /// A point from latitude and longitude in degrees.
    #[must_use]
    pub const fn new(lat: f64, lon: f64) -> Self {
        Self { lat, lon }
    }

    /// Whether both coordinates are finite and in range (latitude within ±90, longitude within
    /// ±180).
    #[must_use]
    pub fn is_valid(self) -> bool {
        self.lat.is_finite()
            && self.lon.is_finite()
            && (-90.0..=90.0).contains(&self.lat)
            && (-180.0..=180.0).contains(&self.lon)
    }

    /// The point as a unit vector `[x, y, z]` from the Earth's centre. Comparing dot products of
    /// unit vectors finds the nearest of many points without a trigonometric call per candidate.
    #[must_use]
    pub fn unit_vector(self) -> [f64; 3] {
        let (lat, lon) = (self.lat.to_radians(), self.lon.to_radians());
        [lat.cos() * lon.cos(), lat.cos() * lon.sin(), lat.sin()]
    }
}

/// Great-circle distance in km between two points (haversine formula, mean Earth radius
/// [`EARTH_RADIUS_KM`]). Symmetric, zero for equal points, at most half the Earth's
/// circumference (about 20,015 km).
#[must_use]
pub fn great_circle_km(a: LatLon, b: LatLon) -> f64 {
    let (phi1, phi2) = (a.lat.to_radians(), b.lat.to_radians());
    let half_dphi = (phi2 - phi1) / 2.0;
    let half_dlambda = (b.lon - a.lon).to_radians() / 2.0;
    let h = half_dphi.sin().powi(2) + phi1.cos() * phi2.cos() * half_dlambda.sin().powi(2);
    // Rounding can push h a hair outside [0, 1] for antipodal points.
    2.0 * EARTH_RADIUS_KM * h.clamp(0.0, 1.0).sqrt().asin()
}

/// Great-circle distance in km between two unit vectors (see [`LatLon::unit_vector`]).
#[must_use]
pub fn unit_vector_distance_km(a: [f64; 3], b: [f64; 3]) -> f64 {
    let [ax, ay, az] = a;
    let [bx, by, bz] = b;
    // The chord length is numerically better than acos(dot) for near points.
    let chord = ((ax - bx).powi(2) + (ay - by).powi(2) + (az - bz).powi(2)).sqrt();
    2.0 * EARTH_RADIUS_KM * (chord / 2.0).clamp(0.0, 1.0).asin()
}

/// Round-trip time in ms over `km` of fibre at [`FIBRE_KM_PER_MS`]: `2 * km / 200`, that is
/// 1 ms per 100 km. No request between two points can be faster than this over their
/// great-circle distance.
#[must_use]
pub fn fibre_rtt_ms(km: f64) -> f64 {
    2.0 * km / FIBRE_KM_PER_MS
}

#[cfg(test)]
mod tests {
    use super::*;

    const LONDON: LatLon = LatLon::new(51.5085, -0.1257);
    const NEW_YORK: LatLon = LatLon::new(40.7128, -74.0060);

    #[test]
    fn london_new_york_is_about_5570_km() {
        let d = great_circle_km(LONDON, NEW_YORK);
        assert!((d - 5570.0).abs() < 10.0, "{d}");
        assert!((great_circle_km(NEW_YORK, LONDON) - d).abs() < 1e-9);
    }

    #[test]
    fn zero_and_antipodes() {
        assert_eq!(great_circle_km(LONDON, LONDON), 0.0);
        let anti = LatLon::new(-LONDON.lat, LONDON.lon + 180.0 - 360.0);
        let d = great_circle_km(LONDON, anti);
        let half = std::f64::consts::PI * EARTH_RADIUS_KM;
        assert!((d - half).abs() < 1e-6, "{d} vs {half}");
    }

    #[test]
    fn unit_vector_distance_matches_haversine() {
        let d1 = great_circle_km(LONDON, NEW_YORK);
        let d2 = unit_vector_distance_km(LONDON.unit_vector(), NEW_YORK.unit_vector());
        assert!((d1 - d2).abs() < 1e-6, "{d1} vs {d2}");
    }

    #[test]
    fn fibre_floor_is_one_ms_per_100_km() {
        assert_eq!(fibre_rtt_ms(100.0), 1.0);
        assert_eq!(fibre_rtt_ms(5570.0), 55.7);
    }

    #[test]
    fn validity() {
        assert!(LONDON.is_valid());
        assert!(!LatLon::new(91.0, 0.0).is_valid());
        assert!(!LatLon::new(0.0, f64::NAN).is_valid());
    }
}
