//! SVG line charts with plotters: one or more panels of curves, linear or
//! logarithmic axes.
//!
//! Charts are drawn into a `String`, so that an experiment's section holds
//! its plots like its tables and the output directory is written in one
//! place.

use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::coord::Shift;
use plotters::element::DashedPathElement;
use plotters::prelude::*;

/// Ten colours that stay apart from one another (the "tab10" palette).
const PALETTE: [u32; 10] = [
    0x1f77b4, 0xff7f0e, 0x2ca02c, 0xd62728, 0x9467bd, 0x8c564b, 0xe377c2, 0x7f7f7f, 0xbcbd22,
    0x17becf,
];

/// Colour `i` of the palette (taken modulo its length).
fn color(i: usize) -> RGBColor {
    let c = PALETTE[i % PALETTE.len()];
    RGBColor((c >> 16) as u8, (c >> 8) as u8, c as u8)
}

/// Width and height of one panel's chart, in pixels.
const PANEL: (u32, u32) = (720, 520);
/// Width of the legend column to the right of each chart (legends never
/// cover a curve): the sample, then about 8 px per character of the longest
/// label.
fn legend_width(panels: &[Panel]) -> u32 {
    let chars = panels
        .iter()
        .flat_map(|p| &p.series)
        .map(|s| s.label.chars().count() + if s.diverged() { 12 } else { 0 })
        .max()
        .unwrap_or(0);
    (84 + 8 * chars as u32).clamp(160, 420)
}
/// Height of the figure's title band.
const TITLE_HEIGHT: u32 = 56;
/// Where the legend's first row sits, and the height of each row.
const LEGEND_TOP: u32 = 72;
const LEGEND_ROW: u32 = 30;

/// Height of one row of panels: the chart's, or taller when a legend has
/// more rows than fit beside it (every label stays on the figure; the chart
/// stretches with it).
fn panel_height(panels: &[Panel]) -> u32 {
    let rows = panels.iter().map(|p| p.series.len()).max().unwrap_or(0) as u32;
    PANEL.1.max(LEGEND_TOP + LEGEND_ROW * rows)
}

/// Font sizes as plotters takes them; its SVG text comes out at about 0.8
/// of these pixels, so the smallest, 16, is 13 px.
const TITLE_FONT: u32 = 30;
const CAPTION_FONT: u32 = 22;
const AXIS_FONT: u32 = 18;
const TEXT_FONT: u32 = 16;

/// Stroke width of the lines, in pixels.
const LINE_WIDTH: u32 = 3;

/// How the line of the i-th series of a panel is drawn, cycling: solid, then
/// dashes of decreasing length. Two series that coincide (the published and
/// the min(N, t) averages, Adam at every loss scale) still show both colours.
const DASHES: [Option<(u32, u32)>; 4] = [None, Some((14, 7)), Some((6, 6)), Some((2, 5))];

/// The dash of the i-th series: the cycle shifts by one each time the
/// palette comes round, so no two of the first 40 series share both colour
/// and dash (a figure of every optimizer has 27).
fn dash_index(i: usize) -> usize {
    (i + i / PALETTE.len()) % DASHES.len()
}

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
///
/// A point with y = +∞ (−∞) marks a run that diverged at that x: it is drawn
/// as a cross on the top (bottom) edge of the chart, is never joined to the
/// line, and does not stretch the axis; the legend says "× diverged".
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

impl Series {
    /// A series of `points` labelled `label`, in palette colour `color`,
    /// drawn in `style`.
    pub fn new(
        label: impl Into<String>,
        points: Vec<(f64, f64)>,
        color: usize,
        style: Style,
    ) -> Series {
        let label = label.into();
        Series {
            label,
            points,
            color,
            style,
        }
    }

    /// Whether a point marks a divergence.
    fn diverged(&self) -> bool {
        self.points.iter().any(|p| p.1.is_infinite())
    }
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

impl Panel {
    /// A chart captioned `title` of `series`, each axis given by its label
    /// and scale.
    pub fn new(
        title: impl Into<String>,
        (x_label, x_scale): (&str, Scale),
        (y_label, y_scale): (&str, Scale),
        series: Vec<Series>,
    ) -> Panel {
        Panel {
            title: title.into(),
            x_label: x_label.into(),
            y_label: y_label.into(),
            x_scale,
            y_scale,
            series,
        }
    }
}

/// Draws `panels` in a grid of `columns` columns under a common `title`
/// and returns the SVG document.
pub fn svg(title: &str, panels: &[Panel], columns: usize) -> String {
    let columns = columns.clamp(1, panels.len().max(1));
    let rows = panels.len().div_ceil(columns).max(1);
    let size = (
        (PANEL.0 + legend_width(panels)) * columns as u32,
        panel_height(panels) * rows as u32 + TITLE_HEIGHT,
    );
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
    let body = root.titled(title, ("sans-serif", TITLE_FONT))?;
    for (area, panel) in body.split_evenly((rows, columns)).iter().zip(panels) {
        let (chart, legend) = area.split_horizontally(PANEL.0);
        draw_panel(&chart, panel)?;
        draw_legend(&legend, panel)?;
    }
    root.present()
}

/// The range of the finite values of `values` that the axis can show (only
/// positive ones on a log axis), widened so that no point sits on the
/// frame.
fn bounds(values: impl Iterator<Item = f64>, scale: Scale) -> (f64, f64) {
    let log = scale.is_log();
    let shown = values.filter(|v| v.is_finite() && (!log || *v > 0.0));
    let (lo, hi) = shown.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    if lo > hi {
        return if log { (0.1, 10.0) } else { (0.0, 1.0) };
    }
    if log {
        let (lo, hi) = if lo == hi {
            (lo / 2.0, hi * 2.0)
        } else {
            (lo, hi)
        };
        let pad = (hi / lo).powf(0.06);
        (lo / pad, hi * pad)
    } else {
        let pad = if lo == hi {
            lo.abs().max(1.0) * 0.1
        } else {
            (hi - lo) * 0.06
        };
        (lo - pad, hi + pad)
    }
}

fn draw_panel<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, panel: &Panel) -> DrawResult<DB> {
    let points = || panel.series.iter().flat_map(|s| s.points.iter());
    let xb = bounds(points().map(|p| p.0), panel.x_scale);
    let yb = bounds(points().map(|p| p.1), panel.y_scale);
    let (x, y) = (xb.0..xb.1, yb.0..yb.1);
    match (panel.x_scale.is_log(), panel.y_scale.is_log()) {
        (false, false) => draw_in(area, panel, yb, x, y),
        (true, false) => draw_in(area, panel, yb, x.log_scale().base(log_base(xb)), y),
        (false, true) => draw_in(area, panel, yb, x, y.log_scale().base(log_base(yb))),
        (true, true) => draw_in(
            area,
            panel,
            yb,
            x.log_scale().base(log_base(xb)),
            y.log_scale().base(log_base(yb)),
        ),
    }
}

/// The stroke of a series' line.
fn line_style(s: &Series) -> ShapeStyle {
    color(s.color).stroke_width(LINE_WIDTH)
}

fn draw_in<DB, X, Y>(
    area: &DrawingArea<DB, Shift>,
    panel: &Panel,
    yb: (f64, f64),
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
        .caption(&panel.title, ("sans-serif", CAPTION_FONT))
        .margin(12)
        .margin_right(28)
        .x_label_area_size(56)
        .y_label_area_size(84)
        .build_cartesian_2d(x, y)?;
    chart
        .configure_mesh()
        .x_desc(panel.x_label.as_str())
        .y_desc(panel.y_label.as_str())
        .x_label_formatter(&|v| tick(*v))
        .y_label_formatter(&|v| tick(*v))
        .light_line_style(WHITE.mix(0.0))
        .axis_desc_style(("sans-serif", AXIS_FONT))
        .label_style(("sans-serif", TEXT_FONT))
        .draw()?;
    let visible = |&(x, y): &(f64, f64)| {
        x.is_finite()
            && y.is_finite()
            && (!panel.x_scale.is_log() || x > 0.0)
            && (!panel.y_scale.is_log() || y > 0.0)
    };
    // Solid lines first, then ever shorter dashes on top: where series
    // coincide, each shows through the gaps of those drawn over it.
    let mut order: Vec<usize> = (0..panel.series.len()).collect();
    order.sort_by_key(|&i| dash_index(i));
    for i in order {
        let s = &panel.series[i];
        let color = color(s.color);
        // The line is broken where a divergence mark interrupts it.
        let segments = s
            .points
            .split(|p| p.1.is_infinite())
            .map(|seg| seg.iter().copied().filter(visible).collect::<Vec<_>>());
        for seg in segments {
            match s.style {
                Style::Line | Style::LineMarkers => match DASHES[dash_index(i)] {
                    None => chart.draw_series(LineSeries::new(seg.clone(), line_style(s)))?,
                    Some((dash, gap)) => chart.draw_series(DashedLineSeries::new(
                        seg.clone(),
                        dash,
                        gap,
                        line_style(s),
                    ))?,
                },
                Style::Markers => chart.draw_series(
                    seg.iter()
                        .map(|&p| Circle::new(p, 3, color.mix(0.5).filled())),
                )?,
            };
            if s.style == Style::LineMarkers {
                chart.draw_series(seg.iter().map(|&p| Circle::new(p, 5, color.filled())))?;
            }
        }
        // Divergence marks just inside the top or bottom edge.
        let inset = |edge: f64, towards: f64| match panel.y_scale {
            Scale::Log => edge * (towards / edge).powf(0.03),
            Scale::Linear => edge + (towards - edge) * 0.03,
        };
        let marks = s.points.iter().filter(|p| p.1.is_infinite()).map(|p| {
            let y = if p.1 > 0.0 {
                inset(yb.1, yb.0)
            } else {
                inset(yb.0, yb.1)
            };
            Cross::new((p.0, y), 8, color.stroke_width(LINE_WIDTH))
        });
        chart.draw_series(marks)?;
    }
    Ok(())
}

/// The legend of `panel`, one row per series: a sample of its line (dash,
/// marker) and its label.
fn draw_legend<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, panel: &Panel) -> DrawResult<DB> {
    let font = ("sans-serif", TEXT_FONT).into_font().color(&BLACK);
    for (i, s) in panel.series.iter().enumerate() {
        let color = color(s.color);
        let y = (LEGEND_TOP + LEGEND_ROW * i as u32) as i32;
        let sample = [(8, y), (52, y)];
        match (s.style, DASHES[dash_index(i)]) {
            (Style::Markers, _) => {
                area.draw(&Circle::new((30, y), 4, color.mix(0.5).filled()))?;
            }
            (_, None) => area.draw(&PathElement::new(sample, line_style(s)))?,
            (_, Some((dash, gap))) => {
                area.draw(&DashedPathElement::new(sample, dash, gap, line_style(s)))?
            }
        }
        if s.style == Style::LineMarkers {
            area.draw(&Circle::new((30, y), 5, color.filled()))?;
        }
        let mut label = s.label.clone();
        if s.diverged() {
            label.push_str("  × diverged");
        }
        area.draw(&Text::new(label, (62, y - 9), font.clone()))?;
    }
    Ok(())
}

/// A tick label: the number as written if short (0.0625, 1024), else three
/// significant digits without trailing zeros ("0.3" beside "1", not "0.300").
fn tick(v: f64) -> String {
    let (plain, short) = (v.to_string(), crate::report::num(v));
    match (
        plain.len() <= 6,
        short.contains('.') && !short.contains('e'),
    ) {
        (true, _) => plain,
        (false, true) => short.trim_end_matches('0').trim_end_matches('.').into(),
        (false, false) => short,
    }
}

/// One row of a [`dots`] chart: a label, its value, and an interval.
pub type Dot = (String, f64, (f64, f64));

/// Ranked dot plots, one per `(caption, rows)`, two to a row of the
/// figure: a row per label, top first, its value a dot and its interval a
/// line through it — thirty values compared at a glance, where thirty
/// lines would tangle.
pub fn dots(title: &str, x_label: &str, panels: &[(String, Vec<Dot>)]) -> String {
    let rows = panels.iter().map(|p| p.1.len()).max().unwrap_or(0) as u32;
    let grid = (panels.len().div_ceil(2).max(1), panels.len().clamp(1, 2));
    let size = (
        PANEL.0 * grid.1 as u32,
        TITLE_HEIGHT + (130 + 28 * rows) * grid.0 as u32,
    );
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, size).into_drawing_area();
        draw_dots(&root, title, x_label, panels, grid).expect("drawing into a string cannot fail");
    }
    out
}

fn draw_dots<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    x_label: &str,
    panels: &[(String, Vec<Dot>)],
    grid: (usize, usize),
) -> DrawResult<DB> {
    root.fill(&WHITE)?;
    let body = root.titled(title, ("sans-serif", TITLE_FONT))?;
    for (area, (caption, rows)) in body.split_evenly(grid).iter().zip(panels) {
        let n = rows.len();
        let xs = rows.iter().flat_map(|r| [r.1, r.2 .0, r.2 .1]);
        let (lo, hi) = bounds(xs, Scale::Linear);
        // Row k of `rows` at the top: segment n − 1 − k.
        let at = |k: usize| SegmentValue::CenterOf(n - 1 - k);
        let mut chart = ChartBuilder::on(area)
            .caption(caption.as_str(), ("sans-serif", CAPTION_FONT))
            .margin(12)
            .margin_right(28)
            .x_label_area_size(56)
            .y_label_area_size(200)
            .build_cartesian_2d(lo..hi, (0..n).into_segmented())?;
        chart
            .configure_mesh()
            .x_desc(x_label)
            // Six ticks: ten six-digit counts run together in a panel.
            .x_labels(6)
            .x_label_formatter(&|v| tick(*v))
            .y_labels(n.max(1))
            .y_label_formatter(&|v| match v {
                SegmentValue::CenterOf(i) if *i < n => rows[n - 1 - i].0.clone(),
                _ => String::new(),
            })
            .light_line_style(WHITE.mix(0.0))
            .axis_desc_style(("sans-serif", AXIS_FONT))
            .label_style(("sans-serif", TEXT_FONT))
            .draw()?;
        for (k, (_, value, (from, to))) in rows.iter().enumerate() {
            let style = color(0).stroke_width(LINE_WIDTH);
            chart.draw_series(LineSeries::new([(*from, at(k)), (*to, at(k))], style))?;
            chart.draw_series([Circle::new((*value, at(k)), 6, color(0).filled())])?;
        }
    }
    root.present()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_forty_series_differ_in_colour_or_dash() {
        let looks: std::collections::HashSet<_> = (0..40)
            .map(|i| (i % PALETTE.len(), dash_index(i)))
            .collect();
        assert_eq!(looks.len(), 40);
    }

    #[test]
    fn ticks_are_short() {
        assert_eq!(tick(1000.0), "1000");
        assert_eq!(tick(0.0625), "0.0625");
        assert_eq!(tick(1e-6), "1e-6");
        assert_eq!(tick(1e6), "1e6");
        assert_eq!(tick(100000.0), "100000");
        assert_eq!(tick(0.30000000000000004), "0.3");
        assert_eq!(tick(2.0000000000000004), "2");
    }
}
