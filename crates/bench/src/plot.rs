//! SVG line charts with plotters: one or more panels of curves, linear or
//! logarithmic axes.
//!
//! Charts are drawn into a `String`, so that an experiment's section holds
//! its plots like its tables and the output directory is written in one
//! place.

use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::coord::Shift;
use plotters::prelude::*;

/// Ten colours that stay apart from one another (the "tab10" palette).
const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// Width and height of one panel, in pixels.
const PANEL: (u32, u32) = (560, 400);

/// How a series is drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    /// A line through the points.
    Line,
    /// A line with a marker at each point.
    LineMarkers,
    /// Markers only.
    Markers,
}

/// A named series of (x, y) points.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    /// The legend entry.
    pub label: String,
    /// The points, in the order they are joined.
    pub points: Vec<(f64, f64)>,
    /// Index into the palette (taken modulo its length).
    pub color: usize,
    /// How it is drawn.
    pub style: Style,
}

/// How an axis maps values to positions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scale {
    /// Linear.
    Linear,
    /// Logarithmic. Ticks are at powers of 10 when the range spans more than
    /// three decades, else at powers of 2, so that a narrow range (losses
    /// from 0.1 to 2, batch sizes from 16 to 1024) still gets several
    /// labels.
    Log,
}

impl Scale {
    fn is_log(self) -> bool {
        self == Scale::Log
    }

    /// Where `v` lies between `lo` and `hi` on this scale, from 0 to 1.
    fn position(self, v: f64, (lo, hi): (f64, f64)) -> f64 {
        if self.is_log() {
            (v / lo).ln() / (hi / lo).ln()
        } else {
            (v - lo) / (hi - lo)
        }
    }
}

/// The base of the ticks of a log axis over `lo..hi`.
fn log_base((lo, hi): (f64, f64)) -> f64 {
    if hi / lo > 1e3 {
        10.0
    } else {
        2.0
    }
}

/// One chart: axes, labels and series.
#[derive(Clone, Debug, PartialEq)]
pub struct Panel {
    /// The caption above the chart.
    pub title: String,
    /// The x axis label.
    pub x_label: String,
    /// The y axis label.
    pub y_label: String,
    /// The x axis scale.
    pub x_scale: Scale,
    /// The y axis scale.
    pub y_scale: Scale,
    /// The series.
    pub series: Vec<Series>,
}

/// Draws `panels` in a grid of `columns` columns under a common `title`
/// and returns the SVG document.
pub fn svg(title: &str, panels: &[Panel], columns: usize) -> String {
    let columns = columns.clamp(1, panels.len().max(1));
    let rows = panels.len().div_ceil(columns).max(1);
    let size = (PANEL.0 * columns as u32, PANEL.1 * rows as u32 + 40);
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, size).into_drawing_area();
        draw_all(&root, title, panels, rows, columns).expect("drawing into a string cannot fail");
    }
    out
}

type DrawResult<DB> = Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

fn draw_all<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    panels: &[Panel],
    rows: usize,
    columns: usize,
) -> DrawResult<DB> {
    root.fill(&WHITE)?;
    let body = root.titled(title, ("sans-serif", 22))?;
    for (area, panel) in body.split_evenly((rows, columns)).iter().zip(panels) {
        draw_panel(area, panel)?;
    }
    root.present()
}

/// The range of the finite values of `values` that the axis can show (only
/// positive ones on a log axis), widened a little so that no point sits on
/// the frame.
fn bounds(values: impl Iterator<Item = f64>, scale: Scale) -> (f64, f64) {
    let log = scale.is_log();
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values.filter(|v| v.is_finite() && (!log || *v > 0.0)) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if lo > hi {
        return if log { (0.1, 10.0) } else { (0.0, 1.0) };
    }
    if log {
        let (lo, hi) = if lo == hi {
            (lo / 2.0, hi * 2.0)
        } else {
            (lo, hi)
        };
        let pad = (hi / lo).powf(0.03);
        (lo / pad, hi * pad)
    } else {
        let pad = if lo == hi {
            lo.abs().max(1.0) * 0.1
        } else {
            (hi - lo) * 0.03
        };
        (lo - pad, hi + pad)
    }
}

fn draw_panel<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, panel: &Panel) -> DrawResult<DB> {
    let points = || panel.series.iter().flat_map(|s| s.points.iter());
    let xb = bounds(points().map(|p| p.0), panel.x_scale);
    let yb = bounds(points().map(|p| p.1), panel.y_scale);
    let legend = legend_corner(panel, xb, yb);
    let (x, y) = (xb.0..xb.1, yb.0..yb.1);
    let (xs, ys) = (panel.x_scale, panel.y_scale);
    match (xs.is_log(), ys.is_log()) {
        (false, false) => draw_in(area, panel, legend, x, y),
        (true, false) => draw_in(area, panel, legend, x.log_scale().base(log_base(xb)), y),
        (false, true) => draw_in(area, panel, legend, x, y.log_scale().base(log_base(yb))),
        (true, true) => draw_in(
            area,
            panel,
            legend,
            x.log_scale().base(log_base(xb)),
            y.log_scale().base(log_base(yb)),
        ),
    }
}

/// The corner of the chart that the fewest points fall into, for the
/// legend.
fn legend_corner(panel: &Panel, xb: (f64, f64), yb: (f64, f64)) -> SeriesLabelPosition {
    let corners = [
        (SeriesLabelPosition::UpperRight, true, true),
        (SeriesLabelPosition::LowerLeft, false, false),
        (SeriesLabelPosition::UpperLeft, false, true),
        (SeriesLabelPosition::LowerRight, true, false),
    ];
    let in_corner = |right: bool, upper: bool, (x, y): (f64, f64)| {
        let px = panel.x_scale.position(x, xb);
        let py = panel.y_scale.position(y, yb);
        let near_x = if right { px > 0.55 } else { px < 0.45 };
        let near_y = if upper { py > 0.55 } else { py < 0.45 };
        near_x && near_y
    };
    let count = |right: bool, upper: bool| {
        panel
            .series
            .iter()
            .flat_map(|s| s.points.iter())
            .filter(|&&p| in_corner(right, upper, p))
            .count()
    };
    corners
        .into_iter()
        .min_by_key(|&(_, right, upper)| count(right, upper))
        .map_or(SeriesLabelPosition::UpperRight, |c| c.0)
}

fn draw_in<DB, X, Y>(
    area: &DrawingArea<DB, Shift>,
    panel: &Panel,
    legend: SeriesLabelPosition,
    x: X,
    y: Y,
) -> DrawResult<DB>
where
    DB: DrawingBackend,
    X: AsRangedCoord<Value = f64>,
    Y: AsRangedCoord<Value = f64>,
    X::CoordDescType: ValueFormatter<f64>,
    Y::CoordDescType: ValueFormatter<f64>,
{
    let mut chart = ChartBuilder::on(area)
        .caption(&panel.title, ("sans-serif", 16))
        .margin(8)
        .margin_right(24)
        .x_label_area_size(36)
        .y_label_area_size(56)
        .build_cartesian_2d(x, y)?;
    chart
        .configure_mesh()
        .x_desc(panel.x_label.as_str())
        .y_desc(panel.y_label.as_str())
        .x_label_formatter(&|v| tick(*v))
        .y_label_formatter(&|v| tick(*v))
        .light_line_style(WHITE.mix(0.0))
        .label_style(("sans-serif", 12))
        .draw()?;
    let visible = |&(x, y): &(f64, f64)| {
        x.is_finite()
            && y.is_finite()
            && (!panel.x_scale.is_log() || x > 0.0)
            && (!panel.y_scale.is_log() || y > 0.0)
    };
    for s in &panel.series {
        let color = PALETTE[s.color % PALETTE.len()];
        let points: Vec<(f64, f64)> = s.points.iter().copied().filter(visible).collect();
        let line = color.stroke_width(2);
        if s.style == Style::LineMarkers {
            chart.draw_series(points.iter().map(|&p| Circle::new(p, 3, color.filled())))?;
        }
        let anno = match s.style {
            Style::Line | Style::LineMarkers => chart.draw_series(LineSeries::new(points, line))?,
            Style::Markers => chart.draw_series(
                points
                    .iter()
                    .map(|&p| Circle::new(p, 2, color.mix(0.5).filled())),
            )?,
        };
        anno.label(s.label.as_str()).legend(move |(x, y)| {
            PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
        });
    }
    if panel.series.iter().any(|s| !s.label.is_empty()) {
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.3))
            .label_font(("sans-serif", 12))
            .position(legend)
            .draw()?;
    }
    Ok(())
}

/// A tick label: the number as written if that is short (0.0625, 1024),
/// else three significant digits.
fn tick(v: f64) -> String {
    let plain = v.to_string();
    if plain.len() <= 6 {
        plain
    } else {
        crate::report::num(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panel_renders_to_svg() {
        let panel = Panel {
            title: "t".into(),
            x_label: "x".into(),
            y_label: "y".into(),
            x_scale: Scale::Log,
            y_scale: Scale::Log,
            series: vec![Series {
                label: "a".into(),
                points: vec![(1.0, 2.0), (10.0, 1.0), (100.0, f64::NAN), (0.0, 1.0)],
                color: 0,
                style: Style::LineMarkers,
            }],
        };
        let svg = svg("title", &[panel.clone(), panel], 2);
        assert!(svg.starts_with("<svg"));
        assert!(svg.contains("title"));
    }

    #[test]
    fn ticks_are_short() {
        assert_eq!(tick(1000.0), "1000");
        assert_eq!(tick(0.0625), "0.0625");
        assert_eq!(tick(1e-6), "1e-6");
        assert_eq!(tick(1e6), "1e6");
        assert_eq!(tick(100000.0), "100000");
        assert_eq!(tick(0.30000000000000004), "0.300");
    }
}
