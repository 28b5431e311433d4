//! The report as a chart (`--svg PATH`): CPU per operation of the client and the peer as
//! multiples of the raw loop's in the same run, one panel per runtime. Plain SVG written
//! here, with no blank line in it, so that it can stand inline in Markdown and rustdoc.

use std::fmt::Write;

use crate::report::{Row, Section};
use crate::stats::median;

/// The chart's width, in pixels.
const WIDTH: f64 = 760.0;
/// Where the bars start: the workload names stand left of it.
const LABEL: f64 = 250.0;
/// One bar's height.
const BAR: f64 = 11.0;
/// One workload's height: its three bars and a gap.
const ROW: f64 = 3.0 * BAR + 10.0;
/// Ratios past this are drawn to the edge, their value written beside.
const SCALE_MAX: f64 = 5.0;

/// The chart of `sections`, titled with `title`.
pub(crate) fn svg(title: &str, sections: &[Section]) -> String {
    let rows: usize = sections.iter().map(|section| section.rows.len()).sum();
    let height = 60.0 + sections.len() as f64 * 40.0 + rows as f64 * ROW + 30.0;
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(out, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        out,
        r#"<text x="10" y="20" font-size="14" font-weight="bold">{}</text>"#,
        escape(title)
    );
    let _ = writeln!(
        out,
        r##"<text x="10" y="40">CPU per operation against the raw loop (1.0) of the same run; lower is better. <tspan fill="#1f77b4">client</tspan>, <tspan fill="#ff7f0e">peer (async-memcached)</tspan>.</text>"##
    );
    let plot = WIDTH - LABEL - 60.0;
    let x = |ratio: f64| LABEL + plot * ratio.min(SCALE_MAX) / SCALE_MAX;
    let mut y = 60.0;
    for section in sections {
        y += 25.0;
        let _ = writeln!(
            out,
            r#"<text x="10" y="{y}" font-weight="bold">{}</text>"#,
            escape(&section.label)
        );
        y += 15.0;
        let top = y;
        for row in &section.rows {
            let Some((client, peer)) = ratios(row) else {
                continue;
            };
            let _ = writeln!(
                out,
                r#"<text x="{}" y="{}" text-anchor="end">{}</text>"#,
                LABEL - 8.0,
                y + BAR + 3.0,
                escape(&row.what())
            );
            let bars = [
                ("#aaaaaa", Some(1.0)),
                ("#1f77b4", Some(client)),
                ("#ff7f0e", peer),
            ];
            for (at, (color, ratio)) in bars.into_iter().enumerate() {
                let Some(ratio) = ratio else {
                    continue;
                };
                let bar_y = y + at as f64 * BAR;
                let _ = writeln!(
                    out,
                    r#"<rect x="{LABEL}" y="{bar_y}" width="{:.1}" height="{}" fill="{color}"/>"#,
                    x(ratio) - LABEL,
                    BAR - 1.0
                );
                let _ = writeln!(
                    out,
                    r#"<text x="{:.1}" y="{:.1}" font-size="10">{ratio:.2}</text>"#,
                    x(ratio) + 4.0,
                    bar_y + BAR - 2.0
                );
            }
            y += ROW;
        }
        // The raw loop's line, and the scale.
        let _ = writeln!(
            out,
            r#"<line x1="{0:.1}" y1="{top}" x2="{0:.1}" y2="{y}" stroke="black" stroke-dasharray="3,3"/>"#,
            x(1.0)
        );
        for tick in 0..=SCALE_MAX as usize {
            let _ = writeln!(
                out,
                r##"<text x="{:.1}" y="{}" font-size="10" fill="#666" text-anchor="middle">{tick}x</text>"##,
                x(tick as f64),
                y + 2.0
            );
        }
        y += 10.0;
    }
    out.push_str("</svg>\n");
    out
}

/// The client's and the peer's CPU per operation against the raw loop's.
fn ratios(row: &Row) -> Option<(f64, Option<f64>)> {
    let raw = median(&row.raw)?.cpu_per_op;
    let client = median(&row.client)?.cpu_per_op;
    if raw <= 0.0 {
        return None;
    }
    let peer = median(&row.peer).map(|peer| peer.cpu_per_op / raw);
    Some((client / raw, peer))
}

/// `text` made safe inside SVG text.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_and_the_svg_has_no_blank_line() {
        assert_eq!(escape("a<b & c>"), "a&lt;b &amp; c&gt;");
        let svg = svg("t", &[]);
        assert!(svg.starts_with("<svg ") && svg.ends_with("</svg>\n"));
        assert!(!svg.contains("\n\n"));
    }
}
