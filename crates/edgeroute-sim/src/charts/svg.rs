//! A tiny SVG writer: escaping, shapes, text, axes with "nice" ticks, legends.

use std::fmt::Write as _;

/// The Okabe-Ito palette: distinguishable with the common colour-vision deficiencies.
pub(crate) const PALETTE: [&str; 8] = [
    "#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#8C6D00", "#000000",
];

/// Colour number `i` of the palette, cycling.
pub(crate) fn color(i: usize) -> &'static str {
    PALETTE.get(i % PALETTE.len()).copied().unwrap_or("#000000")
}

/// Escapes text for XML/HTML content and attribute values.
#[must_use]
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // Control characters are not allowed in XML 1.0; drop them.
            c if c.is_control() && c != '\n' && c != '\t' => {}
            c => out.push(c),
        }
    }
    out
}

/// A coordinate or value with at most two decimals, no trailing zeros, never `-0` or `NaN`.
pub(crate) fn num(v: f64) -> String {
    if !v.is_finite() {
        return "0".into();
    }
    let r = (v * 100.0).round() / 100.0;
    let r = if r == 0.0 { 0.0 } else { r };
    let s = format!("{r:.2}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    s.to_owned()
}

/// A 1-2-5 step that cuts `range` into about `target` parts.
fn nice_step(range: f64, target: usize) -> f64 {
    #[expect(clippy::cast_precision_loss, reason = "small tick counts")]
    let raw = range / target.max(1) as f64;
    let magnitude = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * magnitude)
}

/// Tick values covering `[lo, hi]` at a 1-2-5 step, about `target` of them.
pub(crate) fn nice_ticks(lo: f64, hi: f64, target: usize) -> Vec<f64> {
    let (lo, hi) = if lo.is_finite() && hi.is_finite() && hi > lo {
        (lo, hi)
    } else {
        (0.0, 1.0)
    };
    let step = nice_step(hi - lo, target);
    let mut ticks = Vec::new();
    let mut v = (lo / step).floor() * step;
    // INVARIANT: step > 0, so this ends; the cap guards against pathological float input.
    while v <= hi + step * 1e-9 && ticks.len() < 100 {
        if v >= lo - step * 1e-9 {
            ticks.push(if v.abs() < step * 1e-9 { 0.0 } else { v });
        }
        v += step;
    }
    ticks
}

/// The smallest multiple of a "nice" step at or above `v` (for an axis that starts at zero).
pub(crate) fn nice_max(v: f64) -> f64 {
    if !(v.is_finite() && v > 0.0) {
        return 1.0;
    }
    let step = nice_step(v, 5);
    (v / step - 1e-9).ceil().max(1.0) * step
}

/// A linear map from data to pixels.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Scale {
    d0: f64,
    d1: f64,
    p0: f64,
    p1: f64,
}

impl Scale {
    pub(crate) fn new(d0: f64, d1: f64, p0: f64, p1: f64) -> Self {
        let d1 = if (d1 - d0).abs() > f64::EPSILON {
            d1
        } else {
            d0 + 1.0
        };
        Scale { d0, d1, p0, p1 }
    }

    pub(crate) fn at(&self, v: f64) -> f64 {
        let v = if v.is_finite() { v } else { self.d0 };
        self.p0 + (v - self.d0) / (self.d1 - self.d0) * (self.p1 - self.p0)
    }
}

/// An SVG document being written.
pub(crate) struct Svg {
    out: String,
}

impl Svg {
    /// A `width` x `height` document with an accessible title.
    pub(crate) fn new(width: u32, height: u32, title: &str, description: &str) -> Self {
        let mut out = String::new();
        let _ = write!(
            out,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {width} {height}\" \
             width=\"{width}\" height=\"{height}\" role=\"img\" \
             font-family=\"system-ui, -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif\" \
             font-size=\"12\"><title>{}</title><desc>{}</desc>\
             <rect x=\"0\" y=\"0\" width=\"{width}\" height=\"{height}\" fill=\"#ffffff\"/>",
            escape(title),
            escape(description)
        );
        Svg { out }
    }

    /// Text at `(x, y)`; `anchor` is `start`, `middle` or `end`.
    pub(crate) fn text(&mut self, x: f64, y: f64, anchor: &str, extra: &str, content: &str) {
        let _ = write!(
            self.out,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"{anchor}\"{}{extra}>{}</text>",
            num(x),
            num(y),
            if extra.is_empty() { "" } else { " " },
            escape(content)
        );
    }

    pub(crate) fn line(&mut self, x1: f64, y1: f64, x2: f64, y2: f64, stroke: &str, extra: &str) {
        let _ = write!(
            self.out,
            "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"{stroke}\"{}{extra}/>",
            num(x1),
            num(y1),
            num(x2),
            num(y2),
            if extra.is_empty() { "" } else { " " },
        );
    }

    /// A rectangle with an optional tooltip.
    #[expect(clippy::too_many_arguments, reason = "geometry, paint and a tooltip")]
    pub(crate) fn rect(
        &mut self,
        x: f64,
        y: f64,
        w: f64,
        h: f64,
        fill: &str,
        extra: &str,
        tooltip: Option<&str>,
    ) {
        let _ = write!(
            self.out,
            "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{fill}\"{}{extra}",
            num(x),
            num(y),
            num(w.max(0.0)),
            num(h.max(0.0)),
            if extra.is_empty() { "" } else { " " },
        );
        match tooltip {
            Some(t) => {
                let _ = write!(self.out, "><title>{}</title></rect>", escape(t));
            }
            None => self.out.push_str("/>"),
        }
    }

    pub(crate) fn polyline(&mut self, points: &[(f64, f64)], stroke: &str, extra: &str) {
        if points.is_empty() {
            return;
        }
        let pts: Vec<String> = points
            .iter()
            .map(|(x, y)| format!("{},{}", num(*x), num(*y)))
            .collect();
        let _ = write!(
            self.out,
            "<polyline points=\"{}\" fill=\"none\" stroke=\"{stroke}\" stroke-width=\"2\" \
             stroke-linejoin=\"round\"{}{extra}/>",
            pts.join(" "),
            if extra.is_empty() { "" } else { " " },
        );
    }

    pub(crate) fn circle(&mut self, cx: f64, cy: f64, r: f64, fill: &str, tooltip: &str) {
        let _ = write!(
            self.out,
            "<circle cx=\"{}\" cy=\"{}\" r=\"{}\" fill=\"{fill}\" stroke=\"#ffffff\" \
             stroke-width=\"1\"><title>{}</title></circle>",
            num(cx),
            num(cy),
            num(r),
            escape(tooltip)
        );
    }

    /// Closes the document.
    pub(crate) fn finish(mut self) -> String {
        self.out.push_str("</svg>\n");
        self.out
    }
}

/// A plot area inside a document: margins and axis helpers.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Frame {
    pub(crate) left: f64,
    pub(crate) top: f64,
    pub(crate) right: f64,
    pub(crate) bottom: f64,
}

impl Frame {
    /// A horizontal axis along the bottom with ticks and gridlines.
    pub(crate) fn x_axis(
        &self,
        svg: &mut Svg,
        scale: Scale,
        ticks: &[f64],
        label: &dyn Fn(f64) -> String,
        title: &str,
    ) {
        svg.line(
            self.left,
            self.bottom,
            self.right,
            self.bottom,
            "#333333",
            "",
        );
        for t in ticks {
            let x = scale.at(*t);
            svg.line(x, self.top, x, self.bottom, "#e5e5e5", "");
            svg.line(x, self.bottom, x, self.bottom + 5.0, "#333333", "");
            svg.text(
                x,
                self.bottom + 18.0,
                "middle",
                "fill=\"#333333\"",
                &label(*t),
            );
        }
        svg.text(
            (self.left + self.right) / 2.0,
            self.bottom + 36.0,
            "middle",
            "fill=\"#333333\"",
            title,
        );
    }

    /// A vertical axis along the left with ticks and gridlines.
    pub(crate) fn y_axis(
        &self,
        svg: &mut Svg,
        scale: Scale,
        ticks: &[f64],
        label: &dyn Fn(f64) -> String,
        title: &str,
    ) {
        svg.line(self.left, self.top, self.left, self.bottom, "#333333", "");
        for t in ticks {
            let y = scale.at(*t);
            svg.line(self.left, y, self.right, y, "#e5e5e5", "");
            svg.line(self.left - 5.0, y, self.left, y, "#333333", "");
            svg.text(
                self.left - 8.0,
                y + 4.0,
                "end",
                "fill=\"#333333\"",
                &label(*t),
            );
        }
        let cx = self.left - 46.0;
        let cy = (self.top + self.bottom) / 2.0;
        svg.text(
            cx,
            cy,
            "middle",
            &format!(
                "fill=\"#333333\" transform=\"rotate(-90 {} {})\"",
                num(cx),
                num(cy)
            ),
            title,
        );
    }
}

/// A legend: coloured swatches and labels in a column starting at `(x, y)`.
pub(crate) fn legend(svg: &mut Svg, x: f64, y: f64, entries: &[(String, &str, bool)]) {
    for (i, (label, colour, dashed)) in entries.iter().enumerate() {
        #[expect(clippy::cast_precision_loss, reason = "a handful of legend rows")]
        let row = y + i as f64 * 18.0;
        let dash = if *dashed {
            "stroke-dasharray=\"5 3\" stroke-width=\"2\""
        } else {
            "stroke-width=\"3\""
        };
        svg.line(x, row, x + 22.0, row, colour, dash);
        svg.text(x + 28.0, row + 4.0, "start", "fill=\"#222222\"", label);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(escape("a<b>&\"c'"), "a&lt;b&gt;&amp;&quot;c&#39;");
        assert_eq!(escape("x\u{0}y"), "xy");
    }

    #[test]
    fn numbers_are_short_and_stable() {
        assert_eq!(num(1.0), "1");
        assert_eq!(num(1.256), "1.26");
        assert_eq!(num(-0.001), "0");
        assert_eq!(num(f64::NAN), "0");
    }

    #[test]
    fn ticks_are_nice() {
        assert_eq!(
            nice_ticks(0.0, 100.0, 5),
            vec![0.0, 20.0, 40.0, 60.0, 80.0, 100.0]
        );
        assert_eq!(nice_ticks(0.0, 24.0, 6), vec![0.0, 5.0, 10.0, 15.0, 20.0]);
        assert_eq!(nice_ticks(0.0, 1.0, 4), vec![0.0, 0.25, 0.5, 0.75, 1.0]);
        assert!(!nice_ticks(f64::NAN, 3.0, 5).is_empty());
        assert!((nice_max(87.0) - 100.0).abs() < 1e-9);
        assert!((nice_max(0.0) - 1.0).abs() < 1e-9);
    }

    #[test]
    fn scale_maps_and_survives_degenerate_domains() {
        let s = Scale::new(0.0, 10.0, 100.0, 200.0);
        assert!((s.at(5.0) - 150.0).abs() < 1e-9);
        let d = Scale::new(3.0, 3.0, 0.0, 10.0);
        assert!(d.at(3.0).is_finite());
    }
}
