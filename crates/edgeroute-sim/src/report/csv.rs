//! `--csv-dir DIR`: the time series as CSV files.
//!
//! - `timeseries.csv`: `t_s,requests,failed,mitigated,origin_requests,hit_edge,hit_upper,
//!   hit_regional,hit_database,p50_<C>,p95_<C>...` for each continent `C`;
//! - `regions.csv`: `t_s,region,requests`;
//! - `events.csv`: the failover timeline, one row per event.

use std::io::Write;
use std::path::Path;

use super::Report;

fn opt(v: Option<f64>) -> String {
    v.map_or_else(String::new, |x| x.to_string())
}

impl Report {
    /// Writes the CSV files into `dir` (created if needed).
    ///
    /// # Errors
    /// Any I/O error, with the file it happened on.
    pub fn write_csv(&self, dir: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        let with_path = |p: &Path, e: std::io::Error| {
            std::io::Error::new(e.kind(), format!("{}: {e}", p.display()))
        };
        let path = dir.join("timeseries.csv");
        let mut f =
            std::io::BufWriter::new(std::fs::File::create(&path).map_err(|e| with_path(&path, e))?);
        let continents: Vec<String> = self
            .series
            .first()
            .map(|p| p.latency_ms.keys().cloned().collect())
            .unwrap_or_default();
        let mut header = "t_s,requests,failed,mitigated,origin_requests,hit_edge,hit_upper,hit_regional,hit_database".to_owned();
        for c in &continents {
            header.push_str(&format!(",p50_{c},p95_{c}"));
        }
        writeln!(f, "{header}")?;
        for p in &self.series {
            let mut line = format!(
                "{},{},{},{},{}",
                p.t_s, p.requests, p.failed, p.mitigated, p.origin_requests
            );
            for tier in ["edge", "upper", "regional", "database"] {
                line.push(',');
                line.push_str(&opt(p.hit_ratio.get(tier).copied().flatten()));
            }
            for c in &continents {
                let (a, b) = p.latency_ms.get(c).copied().unwrap_or((None, None));
                line.push_str(&format!(",{},{}", opt(a), opt(b)));
            }
            writeln!(f, "{line}")?;
        }
        f.flush()?;
        let path = dir.join("regions.csv");
        let mut f =
            std::io::BufWriter::new(std::fs::File::create(&path).map_err(|e| with_path(&path, e))?);
        writeln!(f, "t_s,region,requests")?;
        for p in &self.series {
            for (r, n) in &p.regions {
                writeln!(f, "{},{r},{n}", p.t_s)?;
            }
        }
        f.flush()?;
        let path = dir.join("events.csv");
        let mut f =
            std::io::BufWriter::new(std::fs::File::create(&path).map_err(|e| with_path(&path, e))?);
        writeln!(
            f,
            "kind,name,target,start_s,detected_s,rerouted_s,recovered_s,failed_requests,rerouted_requests,p95_before_ms,p95_during_ms,p95_after_ms"
        )?;
        for e in &self.events {
            writeln!(
                f,
                "{},{},{},{},{},{},{},{},{},{},{},{}",
                e.kind,
                e.name.replace(',', ";"),
                e.target.clone().unwrap_or_default(),
                e.start_s,
                opt(e.detected_s),
                opt(e.rerouted_s),
                opt(e.recovered_s),
                e.failed_requests,
                e.rerouted_requests,
                opt(e.latency_ms.before.p95),
                opt(e.latency_ms.during.p95),
                opt(e.latency_ms.after.p95)
            )?;
        }
        f.flush()
    }
}
