//! Charts a user puts straight into a design review: PNG (for docs and chat) and SVG (for
//! print), drawn with plotters and a font that ships inside the binary.
//!
//! Charts are built in two steps: from CSV files into a [`Figure`] (plain data: panels, series,
//! bands, guides), then rendered by [`render`]. Keeping the data separate means `meshsim plot`
//! redraws any output folder, and tests check the data a chart shows against the CSV it came from.

pub mod capacity;
pub mod compare;
pub mod measured;
mod render;
pub mod run;
pub mod sweep;
pub mod topology;

pub use render::{render_png, render_svg};

use crate::output::{OutputError, write_atomic};
use std::path::{Path, PathBuf};
use std::sync::Once;

/// The Okabe–Ito palette: distinguishable with every common colour-vision deficiency.
pub const PALETTE: [(u8, u8, u8); 8] = [
    (0, 114, 178),   // blue
    (230, 159, 0),   // orange
    (0, 158, 115),   // bluish green
    (204, 121, 167), // reddish purple
    (86, 180, 233),  // sky blue
    (213, 94, 0),    // vermillion
    (240, 228, 66),  // yellow
    (0, 0, 0),       // black
];

/// How a line is drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dash {
    Solid,
    Dashed,
    Dotted,
    /// No line: each point is a ring drawn over whatever is plotted there (e.g. saturated
    /// sweep points).
    Rings,
}

/// One line, with an optional confidence band.
#[derive(Clone, Debug)]
pub struct Series {
    pub name: String,
    /// Data points, in x order.
    pub points: Vec<(f64, f64)>,
    /// (x, low, high) of the 95% confidence band; empty for none.
    pub band: Vec<(f64, f64, f64)>,
    /// Index into [`PALETTE`]; grey when `None`.
    pub colour: Option<usize>,
    pub dash: Dash,
    /// Whether to mark the data points.
    pub markers: bool,
    /// Plot against the secondary (right-hand) y axis.
    pub secondary: bool,
    /// Bar segments (x, bottom, top), for stacked bars; drawn as filled boxes.
    pub bars: Vec<(f64, f64, f64)>,
}

impl Series {
    /// A solid line in palette colour `colour`.
    pub fn line(name: impl Into<String>, colour: usize, points: Vec<(f64, f64)>) -> Series {
        Series {
            name: name.into(),
            points,
            band: Vec::new(),
            colour: Some(colour),
            dash: Dash::Solid,
            markers: false,
            secondary: false,
            bars: Vec::new(),
        }
    }

    /// Segments of stacked bars in palette colour `colour`: (x, bottom, top).
    pub fn bars(name: impl Into<String>, colour: usize, bars: Vec<(f64, f64, f64)>) -> Series {
        Series {
            bars,
            ..Series::line(name, colour, Vec::new())
        }
    }
}

/// One set of axes.
#[derive(Clone, Debug, Default)]
pub struct Panel {
    pub x_label: String,
    pub y_label: String,
    /// Label of the secondary y axis; series with `secondary` use it.
    pub y2_label: Option<String>,
    pub log_x: bool,
    pub log_y: bool,
    /// Start the y axis at zero (for quantities where zero is meaningful).
    pub y_from_zero: bool,
    /// Fixed y range, e.g. (0, 1) for a CDF.
    pub y_range: Option<(f64, f64)>,
    /// Fixed x range, so that stacked panels share their time axis even where one has no data.
    pub x_range: Option<(f64, f64)>,
    /// Labels for categorical x values (x = 0, 1, 2 … stands for each label).
    pub x_categories: Vec<String>,
    /// Horizontal guide lines with labels, e.g. (0.99, "p99").
    pub guides: Vec<(f64, String)>,
    /// Shaded x ranges with labels (empty labels draw the shade alone), e.g. a fault window.
    pub spans: Vec<(f64, f64, String)>,
    pub series: Vec<Series>,
}

/// A chart: a title over one or more panels stacked vertically.
#[derive(Clone, Debug)]
pub struct Figure {
    /// File name without extension, e.g. `latency`.
    pub name: String,
    pub title: String,
    pub subtitle: String,
    pub panels: Vec<Panel>,
}

/// Image size and axis options from the command line.
#[derive(Clone, Copy, Debug)]
pub struct Style {
    pub width: u32,
    pub height: u32,
    pub log_y: bool,
    pub log_x: bool,
}

impl Default for Style {
    fn default() -> Self {
        Style {
            width: 1200,
            height: 800,
            log_y: false,
            log_x: false,
        }
    }
}

/// Parses `WIDTHxHEIGHT`, e.g. `1600x900`.
pub fn parse_size(s: &str) -> Result<(u32, u32), String> {
    let (w, h) = s
        .split_once(['x', 'X'])
        .ok_or_else(|| format!("`{s}` is not WIDTHxHEIGHT (e.g. 1200x800)"))?;
    let parse = |v: &str| {
        v.trim()
            .parse::<u32>()
            .ok()
            .filter(|n| (200..=8000).contains(n))
    };
    match (parse(w), parse(h)) {
        (Some(w), Some(h)) => Ok((w, h)),
        _ => Err(format!(
            "`{s}`: width and height must be whole numbers from 200 to 8000"
        )),
    }
}

static FONT: Once = Once::new();

/// Registers the embedded DejaVu Sans as the charts' font (once per process).
pub fn register_font() {
    FONT.call_once(|| {
        // The font is a constant part of the binary; failing to parse it is a build defect.
        plotters::style::register_font(
            "sans-serif",
            plotters::style::FontStyle::Normal,
            dejavu::sans::regular(),
        )
        .unwrap_or_else(|_| panic!("the embedded DejaVu Sans font is invalid"));
        plotters::style::register_font(
            "sans-serif",
            plotters::style::FontStyle::Bold,
            dejavu::sans::bold(),
        )
        .unwrap_or_else(|_| panic!("the embedded DejaVu Sans Bold font is invalid"));
    });
}

/// Draws `figure` as `DIR/<name>.png` and `DIR/<name>.svg`; returns both paths.
pub fn write_figure(
    dir: &Path,
    figure: &Figure,
    style: &Style,
) -> Result<Vec<PathBuf>, OutputError> {
    register_font();
    let png = dir.join(format!("{}.png", figure.name));
    let svg = dir.join(format!("{}.svg", figure.name));
    let draw_err = |path: &Path, e: String| OutputError::Io {
        path: path.to_path_buf(),
        source: std::io::Error::other(e),
    };
    let png_bytes = render_png(figure, style).map_err(|e| draw_err(&png, e))?;
    write_atomic(&png, &png_bytes)?;
    let svg_text = render_svg(figure, style).map_err(|e| draw_err(&svg, e))?;
    write_atomic(&svg, svg_text.as_bytes())?;
    Ok(vec![png, svg])
}

/// A tick label: at most 4 significant digits, no trailing zeros, thousands as `k`/`M` when long.
pub fn tick_label(v: f64) -> String {
    axis_tick_label(v, v.abs())
}

/// A tick label on an axis whose largest magnitude is `top`: every tick of the axis in the same
/// unit, chosen by `top` (`5k, 10k, 15k`, where labelling each tick alone gave `5000, 10k,
/// 15k`); at most 4 significant digits, no trailing zeros.
pub fn axis_tick_label(v: f64, top: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return "0".into();
    }
    let (scale, unit) = if top >= 1e6 {
        (1e6, "M")
    } else if top >= 1e4 {
        (1e3, "k")
    } else {
        (1.0, "")
    };
    let v = v / scale;
    let decimals = (3 - v.abs().log10().floor() as i32).clamp(0, 9) as usize;
    format!("{}{unit}", trim(&format!("{v:.decimals$}")))
}

fn trim(s: &str) -> String {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s.to_string()
    }
}

/// A CSV file read as text: a header and rows.
pub struct Table {
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

impl Table {
    /// Reads a CSV file.
    pub fn read(path: &Path) -> Result<Table, String> {
        Table::read_keeping(path, None, |_| true)
    }

    /// Reads the rows of a CSV file whose value in `column` passes `keep` (every row when the
    /// file has no such column, or `column` is `None`): a chart of a few of a large file's rows
    /// need not hold them all (a long run of a model of thousands of routes writes millions of
    /// rows of `latency_cdf.csv`).
    pub fn read_keeping(
        path: &Path,
        column: Option<&str>,
        mut keep: impl FnMut(&str) -> bool,
    ) -> Result<Table, String> {
        let mut r = csv::Reader::from_path(path)
            .map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
        let header: Vec<String> = r
            .headers()
            .map_err(|e| format!("`{}`: {e}", path.display()))?
            .iter()
            .map(String::from)
            .collect();
        let at = column.and_then(|c| header.iter().position(|h| h == c));
        let mut rows = Vec::new();
        for rec in r.records() {
            let rec = rec.map_err(|e| format!("`{}`: {e}", path.display()))?;
            if at.and_then(|i| rec.get(i)).is_none_or(&mut keep) {
                rows.push(rec.iter().map(String::from).collect());
            }
        }
        Ok(Table { header, rows })
    }

    /// The index of column `name`.
    pub fn col(&self, name: &str) -> Result<usize, String> {
        self.header
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| format!("no column `{name}` (columns: {})", self.header.join(", ")))
    }

    /// Cell `(row, col)` as a number (NaN when empty or not a number).
    pub fn num(&self, row: usize, col: usize) -> f64 {
        self.rows[row]
            .get(col)
            .and_then(|v| v.parse().ok())
            .unwrap_or(f64::NAN)
    }
}

/// The model's name for chart titles: from `run.json` or `sweep.json` in `dir`, else the folder.
pub fn model_name(dir: &Path) -> String {
    for file in ["run.json", "sweep.json"] {
        if let Ok(bytes) = std::fs::read(dir.join(file))
            && let Ok(v) = serde_json::from_slice::<serde_json::Value>(&bytes)
            && let Some(name) = v["model"].as_str()
        {
            return name.to_string();
        }
    }
    if let Ok(text) = std::fs::read_to_string(dir.join("model.toml"))
        && let Ok(t) = text.parse::<toml::Table>()
        && let Some(name) = t.get("name").and_then(|n| n.as_str())
    {
        return name.to_string();
    }
    dir.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tick_labels_are_short() {
        assert_eq!(tick_label(0.1 + 0.2), "0.3");
        assert_eq!(tick_label(1234.5678), "1235");
        assert_eq!(tick_label(12_345.0), "12.35k");
        assert_eq!(tick_label(2.5e6), "2.5M");
        assert_eq!(tick_label(0.000_123_456), "0.0001235");
        assert_eq!(tick_label(-40.0), "-40");
        // One unit along an axis: its largest tick decides it.
        let axis: Vec<String> = [0.0, 5000.0, 10_000.0, 15_000.0]
            .iter()
            .map(|&v| axis_tick_label(v, 15_000.0))
            .collect();
        assert_eq!(axis, ["0", "5k", "10k", "15k"]);
        assert_eq!(axis_tick_label(500_000.0, 2e6), "0.5M");
        assert_eq!(axis_tick_label(5000.0, 8000.0), "5000");
    }

    #[test]
    fn sizes_parse_with_limits() {
        assert_eq!(parse_size("1600x900"), Ok((1600, 900)));
        assert!(parse_size("1600").is_err());
        assert!(parse_size("10x10").is_err());
    }
}
