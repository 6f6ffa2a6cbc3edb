//! Drawing a [`Figure`] with plotters, to PNG bytes or an SVG string.

use super::{Dash, Figure, PALETTE, Panel, Series, Style, axis_tick_label, tick_label};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

const GREY: RGBColor = RGBColor(120, 120, 120);

fn colour(s: &Series) -> RGBColor {
    match s.colour {
        Some(i) => {
            let (r, g, b) = PALETTE[i % PALETTE.len()];
            RGBColor(r, g, b)
        }
        None => GREY,
    }
}

/// The style with the image grown to give each of many stacked panels room (260 px per panel
/// at the default size, beyond the first three), so that axis labels never overlap.
fn grown(figure: &Figure, style: &Style) -> Style {
    let per_800 = f64::from(style.height) / 800.0;
    let needed = (140.0 + 260.0 * figure.panels.len() as f64) * per_800;
    Style {
        height: style.height.max(needed.round() as u32).min(8000),
        ..*style
    }
}

/// Renders a PNG image.
pub fn render_png(figure: &Figure, style: &Style) -> Result<Vec<u8>, String> {
    let style = &grown(figure, style);
    let (w, h) = (style.width, style.height);
    let mut rgb = vec![0u8; (w * h * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (w, h)).into_drawing_area();
        draw(&root, figure, style)?;
        root.present().map_err(|e| e.to_string())?;
    }
    encode_png(&rgb, w, h)
}

/// Encodes an RGB buffer of `w` × `h` pixels as PNG.
pub(super) fn encode_png(rgb: &[u8], w: u32, h: u32) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut out, w, h);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        // Charts are mostly flat colour: adaptive filtering and strong compression shrink them
        // several times for a few milliseconds.
        encoder.set_compression(png::Compression::Best);
        encoder.set_adaptive_filter(png::AdaptiveFilterType::Adaptive);
        let mut writer = encoder.write_header().map_err(|e| e.to_string())?;
        writer.write_image_data(rgb).map_err(|e| e.to_string())?;
    }
    Ok(out)
}

/// Renders an SVG document.
pub fn render_svg(figure: &Figure, style: &Style) -> Result<String, String> {
    let style = &grown(figure, style);
    let mut svg = String::new();
    {
        let root =
            SVGBackend::with_string(&mut svg, (style.width, style.height)).into_drawing_area();
        draw(&root, figure, style)?;
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(svg)
}

fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    figure: &Figure,
    style: &Style,
) -> Result<(), String> {
    let scale = (f64::from(style.width) / 1200.0)
        .min(f64::from(style.height) / 800.0)
        .max(0.3);
    let px = |v: f64| (v * scale).round() as i32;
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let title_h = px(if figure.subtitle.is_empty() {
        60.0
    } else {
        90.0
    });
    let (top, body) = root.split_vertically(title_h);
    top.draw(&Text::new(
        figure.title.clone(),
        (px(20.0), px(14.0)),
        ("sans-serif", px(30.0))
            .into_font()
            .style(FontStyle::Bold)
            .color(&BLACK),
    ))
    .map_err(|e| e.to_string())?;
    if !figure.subtitle.is_empty() {
        top.draw(&Text::new(
            figure.subtitle.clone(),
            (px(20.0), px(54.0)),
            ("sans-serif", px(20.0))
                .into_font()
                .color(&RGBColor(70, 70, 70)),
        ))
        .map_err(|e| e.to_string())?;
    }
    let panels = body.split_evenly((figure.panels.len().max(1), 1));
    // Stacked panels share the x axis: give them all the same side areas so the axes line up.
    let any_y2 = figure.panels.iter().any(|p| p.y2_label.is_some());
    for (panel, area) in figure.panels.iter().zip(&panels) {
        draw_panel(area, panel, style, scale, any_y2)?;
    }
    Ok(())
}

/// Maps a value onto the drawn axis (log10 on log axes).
fn axis(v: f64, log: bool) -> Option<f64> {
    if log {
        (v > 0.0).then(|| v.log10())
    } else {
        v.is_finite().then_some(v)
    }
}

fn span(values: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    (lo <= hi).then_some((lo, hi))
}

fn padded((lo, hi): (f64, f64), from_zero: bool) -> (f64, f64) {
    let (lo, hi) = if from_zero {
        (lo.min(0.0), hi.max(0.0))
    } else {
        (lo, hi)
    };
    if hi - lo < 1e-12 {
        let d = if lo.abs() > 1e-12 {
            lo.abs() * 0.1
        } else {
            1.0
        };
        return (lo - d, hi + d);
    }
    let pad = (hi - lo) * 0.05;
    (if from_zero && lo >= 0.0 { lo } else { lo - pad }, hi + pad)
}

fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    panel: &Panel,
    style: &Style,
    scale: f64,
    right_axis: bool,
) -> Result<(), String> {
    let px = |v: f64| (v * scale).round() as i32;
    let _ = style;
    let (log_x, log_y) = (panel.log_x && panel.x_categories.is_empty(), panel.log_y);
    let named = panel.series.iter().any(|s| !s.name.is_empty());
    let legend_w = if named { px(270.0) as u32 } else { 0 };
    let (plot_area, legend_area) =
        area.split_horizontally(area.dim_in_pixel().0.saturating_sub(legend_w));

    let primary = panel.series.iter().filter(|s| !s.secondary);
    let xs = panel.series.iter().flat_map(|s| {
        s.points
            .iter()
            .map(|p| p.0)
            .chain(s.band.iter().map(|b| b.0))
            .chain(s.bars.iter().map(|b| b.0))
    });
    let (x0, x1) = if let Some(range) = panel.x_range {
        range
    } else if panel.x_categories.is_empty() {
        padded(
            span(xs.filter_map(|x| axis(x, log_x))).unwrap_or((0.0, 1.0)),
            false,
        )
    } else {
        (-0.5, panel.x_categories.len() as f64 - 0.5)
    };
    let ys = primary.flat_map(|s| {
        s.points
            .iter()
            .map(|p| p.1)
            .chain(s.band.iter().flat_map(|b| [b.1, b.2]))
            .chain(s.bars.iter().flat_map(|b| [b.1, b.2]))
    });
    let (y0, y1) = match panel.y_range {
        Some((lo, hi)) => (lo, hi),
        None => padded(
            span(ys.filter_map(|y| axis(y, log_y))).unwrap_or((0.0, 1.0)),
            panel.y_from_zero && !log_y,
        ),
    };
    let y2_max = panel
        .series
        .iter()
        .filter(|s| s.secondary)
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .fold(0.0, f64::max);
    let y2_1 = if y2_max > 0.0 { y2_max * 1.1 } else { 1.0 };

    // Category labels that would run into their neighbours stand on end.
    let tick_px = 19.0;
    let tick_font = ("sans-serif", px(tick_px)).into_font();
    let widths: Vec<f64> = panel
        .x_categories
        .iter()
        .map(|c| {
            plot_area
                .estimate_text_size(c, &TextStyle::from(tick_font.clone()))
                .map_or(0.0, |(w, _)| f64::from(w))
        })
        .collect();
    // (and a label longer than this loses characters from its middle, so that the plot keeps
    // most of its height and labels that differ only at one end stay apart)
    let max_upright = (0.4 * f64::from(plot_area.dim_in_pixel().1)).min(240.0 * scale);
    let longest = widths.iter().copied().fold(0.0, f64::max).min(max_upright);
    let plot_w = f64::from(plot_area.dim_in_pixel().0) - 142.0 * scale;
    let slot = plot_w / panel.x_categories.len().max(1) as f64;
    let upright = widths
        .windows(2)
        .any(|w| (w[0] + w[1]) / 2.0 > slot - 8.0 * scale);
    let mut chart = ChartBuilder::on(&plot_area)
        .margin(px(12.0))
        .margin_right(px(if right_axis { 12.0 } else { 30.0 }))
        .x_label_area_size(if upright {
            px(64.0).max((longest + 44.0 * scale).round() as i32)
        } else {
            px(64.0)
        })
        .y_label_area_size(px(100.0))
        .right_y_label_area_size(px(if right_axis { 100.0 } else { 0.0 }))
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(|e| e.to_string())?
        .set_secondary_coord(x0..x1, 0.0..y2_1);

    let cats = panel.x_categories.clone();
    let x_fmt = move |v: &f64| -> String {
        if upright {
            return String::new();
        }
        if !cats.is_empty() {
            let i = v.round();
            return if (v - i).abs() < 1e-6 && i >= 0.0 {
                cats.get(i as usize).cloned().unwrap_or_default()
            } else {
                String::new()
            };
        }
        if log_x {
            log_tick_label(*v)
        } else {
            axis_tick_label(*v, x0.abs().max(x1.abs()))
        }
    };
    let y_fmt = move |v: &f64| {
        if log_y {
            log_tick_label(*v)
        } else {
            axis_tick_label(*v, y0.abs().max(y1.abs()))
        }
    };
    let label_font = ("sans-serif", px(24.0)).into_font();
    let mut mesh = chart.configure_mesh();
    mesh.x_desc(panel.x_label.as_str())
        .y_desc(panel.y_label.as_str())
        .axis_desc_style(label_font.clone())
        .label_style(tick_font.clone())
        .x_label_formatter(&x_fmt)
        .y_label_formatter(&y_fmt)
        .bold_line_style(RGBColor(215, 215, 215))
        .light_line_style(RGBColor(242, 242, 242))
        .x_labels(if panel.x_categories.is_empty() {
            10
        } else {
            panel.x_categories.len() + 1
        })
        .y_labels(8);
    mesh.draw().map_err(|e| e.to_string())?;
    if upright {
        // Read bottom to top, each ending under its bar (the mesh would centre it on the axis).
        let style = TextStyle::from(tick_font.clone())
            .transform(FontTransform::Rotate270)
            .pos(Pos::new(HPos::Right, VPos::Center));
        let flat = TextStyle::from(tick_font.clone());
        let fits = |t: &str| {
            plot_area
                .estimate_text_size(t, &flat)
                .is_ok_and(|(w, _)| f64::from(w) <= max_upright)
        };
        let (bx, by) = plot_area.get_base_pixel();
        for (i, name) in panel.x_categories.iter().enumerate() {
            let (x, y) = chart.backend_coord(&(i as f64, y0));
            let chars: Vec<char> = name.chars().collect();
            let mut shown = name.clone();
            let mut keep = chars.len();
            while !fits(&shown) && keep > 2 {
                keep -= 1;
                let head = keep / 3;
                shown = chars[..head]
                    .iter()
                    .chain(['…'].iter())
                    .chain(&chars[chars.len() - (keep - head)..])
                    .collect();
            }
            plot_area
                .draw_text(&shown, &style, (x - bx, y - by + px(10.0)))
                .map_err(|e| e.to_string())?;
        }
    }
    if let Some(label) = &panel.y2_label {
        chart
            .configure_secondary_axes()
            .y_desc(label.as_str())
            .axis_desc_style(label_font)
            .label_style(tick_font)
            .y_label_formatter(&|v: &f64| axis_tick_label(*v, y2_1))
            .y_labels(8)
            .draw()
            .map_err(|e| e.to_string())?;
    }

    let to_xy = |&(x, y): &(f64, f64)| Some((axis(x, log_x)?, axis(y, log_y)?));
    // Shaded windows (faults) under everything, labelled at their top left.
    for (from, to, label) in &panel.spans {
        let (Some(a), Some(b)) = (axis(*from, log_x), axis(*to, log_x)) else {
            continue;
        };
        chart
            .draw_series(std::iter::once(Rectangle::new(
                [(a, y0), (b, y1)],
                RGBColor(213, 94, 0).mix(0.10).filled(),
            )))
            .map_err(|e| e.to_string())?;
        if !label.is_empty() {
            chart
                .draw_series(std::iter::once(Text::new(
                    label.clone(),
                    (a, y1),
                    ("sans-serif", px(17.0))
                        .into_font()
                        .color(&RGBColor(150, 60, 0))
                        .pos(plotters::style::text_anchor::Pos::new(
                            plotters::style::text_anchor::HPos::Left,
                            plotters::style::text_anchor::VPos::Top,
                        )),
                )))
                .map_err(|e| e.to_string())?;
        }
    }
    // On a categorical axis (a sweep over balancers, say) nothing lies between two values: each
    // series is markers with error bars, side by side at each category, and no line joins them.
    // (Rings mark points of other series, and sit on them.)
    let categorical = !panel.x_categories.is_empty();
    let marked: Vec<&Series> = (panel.series.iter())
        .filter(|s| !s.points.is_empty() && s.dash != Dash::Rings)
        .collect();
    let plotted = marked.len();
    let side_by_side = |s: &Series, x: f64, y: f64| {
        if !categorical || plotted < 2 {
            return 0.0;
        }
        let k = if s.dash == Dash::Rings {
            marked.iter().position(|m| m.points.contains(&(x, y)))
        } else {
            marked.iter().position(|m| std::ptr::eq(*m, s))
        };
        k.map_or(0.0, |k| {
            (k as f64 - (plotted - 1) as f64 / 2.0) * (0.5 / plotted as f64)
        })
    };
    if categorical {
        let caps = 0.12 / plotted.max(1) as f64;
        for s in &marked {
            let st = colour(s).mix(0.7).stroke_width(px(2.0).max(1) as u32);
            for &(x, lo, hi) in &s.band {
                let (Some(lo), Some(hi)) = (axis(lo, log_y), axis(hi, log_y)) else {
                    continue;
                };
                let x = x + side_by_side(s, x, f64::NAN);
                for segment in [
                    [(x, lo), (x, hi)],
                    [(x - caps, lo), (x + caps, lo)],
                    [(x - caps, hi), (x + caps, hi)],
                ] {
                    chart
                        .draw_series(std::iter::once(PathElement::new(segment.to_vec(), st)))
                        .map_err(|e| e.to_string())?;
                }
            }
        }
    }
    // Bands first, so the lines stay on top.
    for s in panel
        .series
        .iter()
        .filter(|s| !s.band.is_empty() && !s.secondary && !categorical)
    {
        let upper = s.band.iter().filter_map(|&(x, _, hi)| to_xy(&(x, hi)));
        let lower: Vec<(f64, f64)> = s
            .band
            .iter()
            .filter_map(|&(x, lo, _)| to_xy(&(x, lo)))
            .collect();
        let outline: Vec<(f64, f64)> = upper.chain(lower.into_iter().rev()).collect();
        chart
            .draw_series(std::iter::once(Polygon::new(
                outline,
                colour(s).mix(0.18).filled(),
            )))
            .map_err(|e| e.to_string())?;
    }
    for s in panel.series.iter().filter(|s| !s.bars.is_empty()) {
        let fill = colour(s).filled();
        chart
            .draw_series(s.bars.iter().filter_map(|&(x, lo, hi)| {
                let (lo, hi) = (axis(lo, log_y)?, axis(hi, log_y)?);
                Some(Rectangle::new([(x - 0.3, lo), (x + 0.3, hi)], fill))
            }))
            .map_err(|e| e.to_string())?;
    }
    for (value, label) in &panel.guides {
        let Some(y) = axis(*value, log_y) else {
            continue;
        };
        let line = DashedLineSeries::new(
            vec![(x0, y), (x1, y)],
            px(6.0),
            px(6.0),
            GREY.stroke_width(1),
        );
        chart.draw_series(line).map_err(|e| e.to_string())?;
        chart
            .draw_series(std::iter::once(Text::new(
                label.clone(),
                (x0 + (x1 - x0) * 0.005, y),
                ("sans-serif", px(18.0)).into_font().color(&GREY).pos(
                    plotters::style::text_anchor::Pos::new(
                        plotters::style::text_anchor::HPos::Left,
                        plotters::style::text_anchor::VPos::Bottom,
                    ),
                ),
            )))
            .map_err(|e| e.to_string())?;
    }
    for s in panel.series.iter().filter(|s| !s.points.is_empty()) {
        let shifted = |&(x, y): &(f64, f64)| (x + side_by_side(s, x, y), y);
        let pts: Vec<(f64, f64)> = if s.secondary {
            (s.points.iter().map(shifted))
                .filter_map(|(x, y)| Some((axis(x, log_x)?, y)))
                .collect()
        } else {
            s.points
                .iter()
                .map(shifted)
                .filter_map(|p| to_xy(&p))
                .collect()
        };
        let st = colour(s).stroke_width(px(3.0).max(1) as u32);
        if categorical && s.dash != Dash::Rings {
            let dots = pts.iter().map(|&p| category_marker(p, s, scale));
            if s.secondary {
                chart.draw_secondary_series(dots)
            } else {
                chart.draw_series(dots)
            }
            .map_err(|e| e.to_string())?;
            continue;
        }
        macro_rules! draw_lines {
            ($method:ident) => {
                match s.dash {
                    Dash::Solid => chart.$method(LineSeries::new(pts.clone(), st)).map(|_| ()),
                    Dash::Dashed => chart
                        .$method(DashedLineSeries::new(pts.clone(), px(14.0), px(8.0), st))
                        .map(|_| ()),
                    Dash::Dotted => chart
                        .$method(DashedLineSeries::new(pts.clone(), px(3.0), px(6.0), st))
                        .map(|_| ()),
                    Dash::Rings => chart
                        .$method(pts.iter().map(|&p| Circle::new(p, px(11.0), st)))
                        .map(|_| ()),
                }
                .map_err(|e| e.to_string())?;
                if s.markers {
                    let c = colour(s);
                    chart
                        .$method(pts.iter().map(|&p| Circle::new(p, px(4.0), c.filled())))
                        .map_err(|e| e.to_string())?;
                }
            };
        }
        if s.secondary {
            draw_lines!(draw_secondary_series);
        } else {
            draw_lines!(draw_series);
        }
    }
    if named {
        draw_legend(&legend_area, &panel.series, scale, categorical)?;
    }
    Ok(())
}

/// A tick on a log axis drawn at log10 position `v`: the value to 2 significant digits (the
/// ticks fall at even steps of the logarithm, so 3.981 reads as 4).
fn log_tick_label(v: f64) -> String {
    let x = 10f64.powf(v);
    let rounded: f64 = format!("{x:.1e}").parse().unwrap_or(x);
    tick_label(rounded)
}

/// The marker of a series' value at a category: a dot, a ring or a small dot as its line would
/// be solid, dashed or dotted along a numeric axis (the legend shows the same).
fn category_marker<C>(at: C, s: &Series, scale: f64) -> Circle<C, i32> {
    let px = |v: f64| (v * scale).round() as i32;
    let c = colour(s);
    match s.dash {
        Dash::Dashed => Circle::new(at, px(6.0), c.stroke_width(px(2.5).max(1) as u32)),
        Dash::Dotted => Circle::new(at, px(3.5), c.filled()),
        Dash::Solid | Dash::Rings => Circle::new(at, px(6.0), c.filled()),
    }
}

/// The legend, beside the plot so that it never covers data; `categorical`: for a panel of
/// markers at categories, whose legend shows the markers.
fn draw_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    series: &[Series],
    scale: f64,
    categorical: bool,
) -> Result<(), String> {
    let px = |v: f64| (v * scale).round() as i32;
    // Entries 30 px apart while they fit in the panel's height; closer (down to 16 px, the text
    // smaller) when there are many; beyond that the last line says how many are left out.
    let named: Vec<&Series> = series.iter().filter(|s| !s.name.is_empty()).collect();
    let room = f64::from(area.dim_in_pixel().1) / scale - 24.0;
    let step = (room / named.len().max(1) as f64).clamp(16.0, 30.0);
    let fits = ((room / step) as usize).max(1);
    let shown = if named.len() > fits {
        fits - 1
    } else {
        named.len()
    };
    let font = ("sans-serif", px((step * 0.63).min(19.0)))
        .into_font()
        .color(&BLACK);
    let mut y = px(24.0);
    if shown < named.len() {
        let more = format!("… and {} more", named.len() - shown);
        let at = (px(52.0), px(24.0 + step * shown as f64));
        area.draw(&Text::new(more, at, font.clone()))
            .map_err(|e| e.to_string())?;
    }
    for s in named.into_iter().take(shown) {
        let thick = if s.bars.is_empty() { 3.0 } else { 14.0 };
        let st = colour(s).stroke_width(px(thick).max(1) as u32);
        let (a, b) = ((px(4.0), y), (px(44.0), y));
        match s.dash {
            _ if categorical && s.dash != Dash::Rings && s.bars.is_empty() => {
                area.draw(&category_marker((px(24.0), y), s, scale))
            }
            Dash::Solid => area.draw(&PathElement::new(vec![a, b], st)),
            Dash::Dashed => area.draw(&plotters::element::DashedPathElement::new(
                vec![a, b],
                px(10.0),
                px(5.0),
                st,
            )),
            Dash::Dotted => area.draw(&plotters::element::DashedPathElement::new(
                vec![a, b],
                px(3.0),
                px(5.0),
                st,
            )),
            Dash::Rings => area.draw(&Circle::new((px(24.0), y), px(9.0), st)),
        }
        .map_err(|e| e.to_string())?;
        let name: String = if s.name.chars().count() > 24 {
            s.name.chars().take(23).chain(['…']).collect()
        } else {
            s.name.clone()
        };
        area.draw(&Text::new(
            name,
            (px(52.0), y),
            font.clone().pos(plotters::style::text_anchor::Pos::new(
                plotters::style::text_anchor::HPos::Left,
                plotters::style::text_anchor::VPos::Center,
            )),
        ))
        .map_err(|e| e.to_string())?;
        y += px(step);
    }
    Ok(())
}
