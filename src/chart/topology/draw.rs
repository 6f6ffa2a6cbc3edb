//! Drawing a laid-out [`Topology`] with plotters, to PNG bytes or an SVG string, in the charts'
//! embedded font.

use super::layout::{FOOTER_H, NODE_H, NODE_W, Placed};
use super::{NodeKind, Topology, rate_label};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

const INK: RGBColor = RGBColor(40, 40, 40);
const GREY: RGBColor = RGBColor(110, 110, 110);
const CLIENTS: RGBColor = RGBColor(222, 232, 242);
/// The Okabe–Ito vermillion, as in the charts: the bottleneck's border.
const BOTTLENECK: RGBColor = RGBColor(213, 94, 0);

/// Renders the topology as PNG.
pub fn render_png(topology: &Topology, placed: &Placed) -> Result<Vec<u8>, String> {
    let (w, h) = (placed.width, placed.height);
    let mut rgb = vec![0u8; (w * h * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (w, h)).into_drawing_area();
        draw(&root, topology, placed)?;
        root.present().map_err(|e| e.to_string())?;
    }
    crate::chart::render::encode_png(&rgb, w, h)
}

/// Renders the topology as an SVG document.
pub fn render_svg(topology: &Topology, placed: &Placed) -> Result<String, String> {
    let mut svg = String::new();
    {
        let root =
            SVGBackend::with_string(&mut svg, (placed.width, placed.height)).into_drawing_area();
        draw(&root, topology, placed)?;
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(svg)
}

/// The heat colour of a utilisation: pale yellow when idle, through orange, to dark red at and
/// beyond saturation (ColorBrewer's YlOrRd).
pub fn heat(utilisation: f64) -> RGBColor {
    const STOPS: [(f64, (f64, f64, f64)); 5] = [
        (0.0, (255.0, 255.0, 204.0)),
        (0.4, (254.0, 217.0, 118.0)),
        (0.7, (253.0, 141.0, 60.0)),
        (0.9, (227.0, 26.0, 28.0)),
        (1.0, (128.0, 0.0, 38.0)),
    ];
    let u = utilisation.clamp(0.0, 1.0);
    let i = STOPS
        .iter()
        .rposition(|s| s.0 <= u)
        .unwrap_or(0)
        .min(STOPS.len() - 2);
    let (a, b) = (STOPS[i], STOPS[i + 1]);
    let t = ((u - a.0) / (b.0 - a.0)).clamp(0.0, 1.0);
    let mix = |x: f64, y: f64| (x + (y - x) * t).round() as u8;
    RGBColor(mix(a.1.0, b.1.0), mix(a.1.1, b.1.1), mix(a.1.2, b.1.2))
}

/// Dark text on light fills, white on dark ones.
fn text_on(fill: RGBColor) -> RGBColor {
    let luma = 0.299 * f64::from(fill.0) + 0.587 * f64::from(fill.1) + 0.114 * f64::from(fill.2);
    if luma < 120.0 { WHITE } else { INK }
}

fn err<E: std::fmt::Debug>(e: E) -> String {
    format!("{e:?}")
}

fn pt((x, y): (f64, f64)) -> (i32, i32) {
    (x.round() as i32, y.round() as i32)
}

fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    t: &Topology,
    p: &Placed,
) -> Result<(), String> {
    root.fill(&WHITE).map_err(err)?;
    let centred = Pos::new(HPos::Center, VPos::Center);
    root.draw(&Text::new(
        t.title.clone(),
        (40, 22),
        ("sans-serif", 26)
            .into_font()
            .style(FontStyle::Bold)
            .color(&INK),
    ))
    .map_err(err)?;
    root.draw(&Text::new(
        t.subtitle.clone(),
        (40, 58),
        ("sans-serif", 15).into_font().color(&GREY),
    ))
    .map_err(err)?;

    let busiest = t.edges.iter().map(|e| e.calls_per_s).fold(0.0, f64::max);
    // Labels already placed: (centre, half size).
    let mut taken: Vec<Area> = Vec::new();
    for (edge, path) in t.edges.iter().zip(&p.paths) {
        let share = if busiest > 0.0 {
            edge.calls_per_s / busiest
        } else {
            0.0
        };
        let width = (1.5 + 3.5 * share).round() as u32;
        let style = ShapeStyle::from(&GREY).stroke_width(width);
        let points: Vec<(i32, i32)> = path.iter().copied().map(pt).collect();
        let (&end, rest) = points.split_last().expect("a path has two ends");
        // Stop the line at the arrowhead's base.
        let mut line = rest.to_vec();
        line.push((end.0 - 9, end.1));
        let in_process = edge.link.is_none() && t.nodes[edge.from].kind != NodeKind::Clients;
        if in_process {
            root.draw(&plotters::element::DashedPathElement::new(
                line, 7, 5, style,
            ))
            .map_err(err)?;
        } else {
            root.draw(&PathElement::new(line, style)).map_err(err)?;
        }
        root.draw(&Polygon::new(
            vec![end, (end.0 - 12, end.1 - 6), (end.0 - 12, end.1 + 6)],
            GREY.filled(),
        ))
        .map_err(err)?;
        let label = edge_label(edge);
        let font = ("sans-serif", 13).into_font().color(&INK);
        let (tw, th) = root.estimate_text_size(&label, &font).map_err(err)?;
        let (hw, hh) = (f64::from(tw) / 2.0 + 3.0, f64::from(th) / 2.0 + 1.0);
        let (x, y) = pt(free_spot(path, (hw, hh), &taken, p));
        taken.push(((f64::from(x), f64::from(y)), (hw, hh)));
        let (hw, hh) = (hw as i32, hh as i32);
        root.draw(&Rectangle::new(
            [(x - hw, y - hh), (x + hw, y + hh)],
            WHITE.mix(0.85).filled(),
        ))
        .map_err(err)?;
        root.draw(&Text::new(label, (x, y), font.pos(centred)))
            .map_err(err)?;
    }

    for (node, &(cx, cy)) in t.nodes.iter().zip(&p.centres) {
        let fill = match node.utilisation {
            Some(u) if node.kind != NodeKind::Clients => heat(u),
            _ => CLIENTS,
        };
        let ink = text_on(fill);
        let (x0, y0) = pt((cx - NODE_W / 2.0, cy - NODE_H / 2.0));
        let (x1, y1) = pt((cx + NODE_W / 2.0, cy + NODE_H / 2.0));
        root.draw(&Rectangle::new([(x0, y0), (x1, y1)], fill.filled()))
            .map_err(err)?;
        let border = if node.bottleneck {
            BOTTLENECK.stroke_width(4)
        } else {
            INK.stroke_width(1)
        };
        root.draw(&Rectangle::new([(x0, y0), (x1, y1)], border))
            .map_err(err)?;
        let (x, y) = pt((cx, cy));
        let name_font = ("sans-serif", 17)
            .into_font()
            .style(FontStyle::Bold)
            .color(&ink);
        root.draw(&Text::new(
            node.name.clone(),
            (x, y - 21),
            name_font.pos(centred),
        ))
        .map_err(err)?;
        let small = ("sans-serif", 14).into_font().color(&ink);
        root.draw(&Text::new(
            node.detail.clone(),
            (x, y),
            small.clone().pos(centred),
        ))
        .map_err(err)?;
        if let (Some(u), false) = (node.utilisation, node.kind == NodeKind::Clients) {
            let line = format!(
                "utilisation {}{}",
                percent(u),
                if node.bottleneck {
                    " · bottleneck"
                } else {
                    ""
                }
            );
            root.draw(&Text::new(line, (x, y + 20), small.pos(centred)))
                .map_err(err)?;
        }
    }
    legend(root, p)
}

/// A label's place: its centre and half its width and height.
type Area = ((f64, f64), (f64, f64));

/// Where an arrow's label goes: on its last segment (or else its first), at the first of a few
/// spots along it that overlaps no label placed before and no box; the middle if none is free.
fn free_spot(path: &[(f64, f64)], (hw, hh): (f64, f64), taken: &[Area], p: &Placed) -> (f64, f64) {
    let overlaps = |(x, y): (f64, f64), (w, h): (f64, f64), (cx, cy): (f64, f64)| {
        (x - cx).abs() < w + hw && (y - cy).abs() < h + hh
    };
    let segments = [
        (path[path.len() - 2], path[path.len() - 1]),
        (path[0], path[1]),
    ];
    let mut first = None;
    for (a, b) in segments {
        for t in [0.5, 0.35, 0.65, 0.22, 0.78] {
            let at = (a.0 + (b.0 - a.0) * t, a.1 + (b.1 - a.1) * t - 9.0);
            first.get_or_insert(at);
            let clear = taken.iter().all(|&(c, size)| !overlaps(at, size, c))
                && p.centres
                    .iter()
                    .all(|&c| !overlaps(at, (NODE_W / 2.0, NODE_H / 2.0), c));
            if clear {
                return at;
            }
        }
    }
    first.expect("a path has a segment")
}

/// A share as a percentage: one decimal below 10%, none above.
pub fn percent(share: f64) -> String {
    let p = 100.0 * share;
    if p < 9.95 {
        format!("{p:.1}%")
    } else {
        format!("{p:.0}%")
    }
}

/// The label of an arrow: its calls per second (marked `async` when not waited for), the share
/// that failed, and its stages.
pub fn edge_label(edge: &super::Edge) -> String {
    let mut label = String::new();
    if !edge.stages.is_empty() {
        let stages: Vec<String> = edge.stages.iter().map(usize::to_string).collect();
        label.push_str(&format!("stage {} · ", stages.join(",")));
    }
    label.push_str(&rate_label(edge.calls_per_s));
    if edge.fire_and_forget {
        label.push_str(" · async");
    }
    if let Some(e) = edge.error_share.filter(|&e| e >= 0.0005) {
        label.push_str(&format!(" · {:.1}% failed", 100.0 * e));
    }
    label
}

/// The heat scale and what the lines mean, along the bottom.
fn legend<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, p: &Placed) -> Result<(), String> {
    let y = (f64::from(p.height) - FOOTER_H + 18.0).round() as i32;
    let font = ("sans-serif", 14).into_font().color(&INK);
    root.draw(&Text::new("utilisation", (40, y - 2), font.clone()))
        .map_err(err)?;
    let (x0, bar_w, bar_h) = (130, 220, 14);
    for i in 0..bar_w {
        let c = heat(f64::from(i) / f64::from(bar_w - 1));
        root.draw(&Rectangle::new(
            [(x0 + i, y), (x0 + i + 1, y + bar_h)],
            c.filled(),
        ))
        .map_err(err)?;
    }
    root.draw(&Rectangle::new(
        [(x0, y), (x0 + bar_w, y + bar_h)],
        INK.stroke_width(1),
    ))
    .map_err(err)?;
    for (share, text) in [(0.0, "0%"), (0.5, "50%"), (1.0, "≥100%")] {
        let x = x0 + (share * f64::from(bar_w)).round() as i32;
        root.draw(&Text::new(
            text,
            (x, y + bar_h + 12),
            font.clone().pos(Pos::new(HPos::Center, VPos::Center)),
        ))
        .map_err(err)?;
    }
    root.draw(&Text::new(
        "arrows: calls/s (thicker = more); solid = over a network link, dashed = in-process; orange border = bottleneck",
        (x0 + bar_w + 30, y - 2),
        font,
    ))
    .map_err(err)?;
    Ok(())
}
