//! Policy reloads: on SIGHUP and when the file's modification time or size changes (polled).

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// What identifies a version of the file: modification time and length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
}

fn stamp(path: &Path) -> Option<Stamp> {
    let m = std::fs::metadata(path).ok()?;
    Some(Stamp {
        modified: m.modified().ok(),
        len: m.len(),
    })
}

/// Watches `path`: calls `reload` on SIGHUP and whenever the file's stamp changes (checked every
/// `interval`). `reload` logs its own outcome; a failed reload keeps the old policy serving.
pub(crate) async fn watch(path: PathBuf, interval: Duration, reload: impl Fn(&Path, &str) + Send) {
    let mut last = stamp(&path);
    #[cfg(unix)]
    let mut hup = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        Ok(s) => Some(s),
        Err(e) => {
            eprintln!("edgeroute-gateway: cannot listen for SIGHUP: {e}");
            None
        }
    };
    loop {
        #[cfg(unix)]
        let hup_fired = async {
            match hup.as_mut() {
                Some(s) => s.recv().await.is_some(),
                None => std::future::pending().await,
            }
        };
        #[cfg(not(unix))]
        let hup_fired = std::future::pending::<bool>();
        tokio::select! {
            got = hup_fired => {
                if got {
                    last = stamp(&path);
                    reload(&path, "SIGHUP");
                }
            }
            () = tokio::time::sleep(interval) => {
                let now = stamp(&path);
                if now != last && now.is_some() {
                    last = now;
                    reload(&path, "file changed");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamp_changes_with_content_length() {
        let dir = std::env::temp_dir().join(format!("edgeroute-stamp-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("p.toml");
        std::fs::write(&f, "a").unwrap();
        let a = stamp(&f);
        std::fs::write(&f, "abc").unwrap();
        let b = stamp(&f);
        assert_ne!(a, b);
        assert!(stamp(&dir.join("missing")).is_none());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
