//! The report page and SVG files, opened in headless Chromium: the screenshots are not blank,
//! the charts are drawn, and the browser logs no console message (the page has no scripts, so
//! any console line is a problem). A control page with a script error proves the check works.
//!
//! Needs Chromium: `apt-get install -y chromium` (Debian), or set `EDGEROUTE_CHROMIUM` to the
//! browser's path. Without it the test fails and says so.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests"
)]

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use edgeroute_sim::charts::{
    ChartData, CostChart, EventTimeline, LatencyPoint, LatencySeries, TierHitRatio, render_html,
    render_svgs, write_html, write_svg_dir,
};

fn chromium() -> PathBuf {
    if let Some(p) = std::env::var_os("EDGEROUTE_CHROMIUM") {
        return PathBuf::from(p);
    }
    for candidate in [
        "/usr/bin/chromium",
        "/usr/bin/chromium-browser",
        "/usr/bin/google-chrome",
    ] {
        if Path::new(candidate).exists() {
            return PathBuf::from(candidate);
        }
    }
    panic!(
        "Chromium not found: the chart test opens the report in headless Chromium. Install it \
         (`apt-get install -y chromium` on Debian) or set EDGEROUTE_CHROMIUM to its path."
    );
}

/// A scratch directory unique to this test process and `name`.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("edgeroute-charts-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Removes a scratch directory unless `EDGEROUTE_KEEP_CHARTS` is set (to look at the output).
fn cleanup(dir: &Path) {
    if std::env::var_os("EDGEROUTE_KEEP_CHARTS").is_none() {
        let _ = std::fs::remove_dir_all(dir);
    } else {
        eprintln!("kept {}", dir.display());
    }
}

struct Shot {
    pixels: Vec<[u8; 3]>,
    width: usize,
    console: Vec<String>,
}

/// Opens `page` in headless Chromium and returns the screenshot and console lines.
fn screenshot(page: &Path, window: (u32, u32), dir: &Path) -> Shot {
    let png_path = dir.join("shot.png");
    let mut child = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", dir.join("profile").display()))
        .arg(format!("--screenshot={}", png_path.display()))
        .arg(format!("--window-size={},{}", window.0, window.1))
        .arg(format!("file://{}", page.display()))
        .stdout(Stdio::null())
        .stderr(File::create(dir.join("stderr.txt")).unwrap())
        .spawn()
        .expect("start chromium");
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "chromium exited with {status}");
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish within 120 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let log = std::fs::read_to_string(dir.join("stderr.txt")).unwrap_or_default();
    let console = log
        .lines()
        .filter(|l| l.contains(":CONSOLE") || l.contains("Uncaught"))
        .map(str::to_owned)
        .collect();

    let decoder = png::Decoder::new(BufReader::new(
        File::open(&png_path).expect("screenshot written"),
    ));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!(info.bit_depth, png::BitDepth::Eight);
    let channels = match info.color_type {
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
        other => panic!("unexpected PNG colour type {other:?}"),
    };
    let pixels = buf[..info.buffer_size()]
        .chunks_exact(channels)
        .map(|p| [p[0], p[1], p[2]])
        .collect();
    Shot {
        pixels,
        width: info.width as usize,
        console,
    }
}

fn non_white(p: &[u8; 3]) -> bool {
    p.iter().any(|c| *c < 235)
}

/// A clearly coloured pixel (the palette), as opposed to text, grid or background greys.
fn saturated(p: &[u8; 3]) -> bool {
    let max = *p.iter().max().unwrap();
    let min = *p.iter().min().unwrap();
    max - min > 60
}

fn fixture() -> ChartData {
    let continents = [
        ("NA", 80.0, 35.0),
        ("EU", 100.0, 42.0),
        ("AS", 150.0, 70.0),
        ("SA", 180.0, 90.0),
        ("OC", 150.0, 60.0),
        ("AF", 200.0, 120.0),
    ];
    let latency = continents
        .iter()
        .map(|(name, target, base)| LatencySeries {
            name: (*name).to_owned(),
            target_ms: Some(*target),
            points: (0..96)
                .map(|i| {
                    let t = f64::from(i) * 900.0;
                    let daily = (t / 86_400.0 * std::f64::consts::TAU).sin() * 8.0;
                    let outage = if (36_000.0..37_800.0).contains(&t) && *name == "NA" {
                        60.0
                    } else {
                        0.0
                    };
                    LatencyPoint {
                        t_s: t,
                        p50_ms: base + daily + outage,
                        p95_ms: base * 2.1 + daily + outage * 1.5,
                    }
                })
                .collect(),
        })
        .collect();
    ChartData {
        title: "aybiza-global <fixture> & \"friends\"".into(),
        subtitle: "seed 42 · 24 h simulated · 86.4 M requests".into(),
        duration_s: 86_400.0,
        latency,
        hit_ratio: vec![
            TierHitRatio {
                tier: "edge".into(),
                hit_ratio: 0.86,
            },
            TierHitRatio {
                tier: "upper".into(),
                hit_ratio: 0.41,
            },
            TierHitRatio {
                tier: "regional".into(),
                hit_ratio: 0.63,
            },
            TierHitRatio {
                tier: "database".into(),
                hit_ratio: 0.72,
            },
        ],
        events: vec![
            EventTimeline {
                kind: "region_outage".into(),
                target: "us-east-1".into(),
                start_s: 36_000.0,
                detected_s: Some(36_090.0),
                rerouted_s: Some(36_120.0),
                recovered_s: Some(37_800.0),
            },
            EventTimeline {
                kind: "deploy".into(),
                target: "api canary 10%".into(),
                start_s: 50_400.0,
                detected_s: Some(50_700.0),
                rerouted_s: Some(50_730.0),
                recovered_s: Some(50_900.0),
            },
            EventTimeline {
                kind: "attack".into(),
                target: "api.aybiza.com".into(),
                start_s: 72_000.0,
                detected_s: Some(72_005.0),
                rerouted_s: None,
                recovered_s: None,
            },
        ],
        cost: Some(CostChart {
            hybrid: [
                ("edge_plan", 200.0),
                ("edge_addons", 20.0),
                ("origin_egress", 940.0),
                ("compute", 2_100.0),
                ("load_balancer", 80.0),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect(),
            cloud_only: [
                ("cdn_bandwidth", 9_800.0),
                ("cdn_requests", 2_600.0),
                ("dns", 120.0),
                ("ddos_protection", 3_800.0),
                ("compute", 2_100.0),
                ("load_balancer", 80.0),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect(),
        }),
    }
}

#[test]
fn report_page_renders_in_chromium() {
    let dir = scratch("page");
    let data = fixture();
    let page = dir.join("report.html");
    write_html(&page, &data).unwrap();
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(!html.contains("<script"), "the page must not need scripts");
    assert!(
        !html.contains("https://"),
        "the page must not load external assets"
    );

    let shot = screenshot(&page, (1200, 2400), &dir);
    assert!(
        shot.console.is_empty(),
        "console messages: {:#?}",
        shot.console
    );
    let total = shot.pixels.len();
    let ink = shot.pixels.iter().filter(|p| non_white(p)).count();
    let colour = shot.pixels.iter().filter(|p| saturated(p)).count();
    assert!(
        ink * 100 > total * 3,
        "page looks blank: {ink} of {total} pixels are not white"
    );
    assert!(
        colour > 20_000,
        "charts look missing: only {colour} coloured pixels"
    );
    // The palette's blue (latency series, bars) is on the page.
    let blue = shot
        .pixels
        .iter()
        .filter(|p| p[0] < 40 && (95..135).contains(&p[1]) && (150..200).contains(&p[2]))
        .count();
    assert!(blue > 1_000, "no palette blue drawn ({blue} pixels)");
    cleanup(&dir);
}

#[test]
fn svg_files_render_as_images() {
    let dir = scratch("svg");
    let data = fixture();
    let paths = write_svg_dir(&dir.join("svg"), &data).unwrap();
    assert_eq!(paths.len(), 4);
    // Each standalone SVG is loaded as an image into its own 450 px band: a malformed file would
    // show as a broken image, with no colour.
    let band = 450;
    let mut gallery = String::from(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><style>body{margin:0;background:#fff}img{display:block;width:900px;height:440px;margin-bottom:10px;object-fit:contain;object-position:left top}</style></head><body>",
    );
    for p in &paths {
        gallery.push_str(&format!(
            "<img src=\"svg/{}\" alt=\"\">",
            p.file_name().unwrap().to_string_lossy()
        ));
    }
    gallery.push_str("</body></html>");
    let page = dir.join("gallery.html");
    std::fs::write(&page, gallery).unwrap();

    let shot = screenshot(&page, (1000, 4 * band), &dir);
    assert!(
        shot.console.is_empty(),
        "console messages: {:#?}",
        shot.console
    );
    for (i, p) in paths.iter().enumerate() {
        let rows = shot
            .pixels
            .chunks(shot.width)
            .skip(i * band as usize)
            .take(band as usize);
        let colour: usize = rows
            .map(|r| r.iter().filter(|px| saturated(px)).count())
            .sum();
        assert!(
            colour > 500,
            "{} drew only {colour} coloured pixels",
            p.display()
        );
    }
    // The files are the same documents the page inlines.
    let html = render_html(&data);
    for file in render_svgs(&data) {
        assert!(
            html.contains(&file.svg),
            "{} differs from the inline copy",
            file.name
        );
    }
    cleanup(&dir);
}

#[test]
fn console_check_catches_script_errors() {
    // The control: a page with a script error must be caught, or the checks above prove nothing.
    let dir = scratch("control");
    let page = dir.join("broken.html");
    std::fs::write(
        &page,
        "<!DOCTYPE html><html><body><p>x</p><script>notDefined();</script></body></html>",
    )
    .unwrap();
    let shot = screenshot(&page, (400, 300), &dir);
    assert!(
        shot.console.iter().any(|l| l.contains("Uncaught")),
        "the console check missed a script error: {:#?}",
        shot.console
    );
    cleanup(&dir);
}
