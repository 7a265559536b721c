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
    let (xs, ys) = (panel.x_scale, panel.y_scale);
    match (xs.is_log(), ys.is_log()) {
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
    PALETTE[s.color % PALETTE.len()].stroke_width(LINE_WIDTH)
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
        let color = PALETTE[s.color % PALETTE.len()];
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
        let color = PALETTE[s.color % PALETTE.len()];
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

    fn font_sizes(svg: &str) -> Vec<f64> {
        svg.split("font-size=\"")
            .skip(1)
            .map(|rest| rest.split('"').next().unwrap().parse().unwrap())
            .collect()
    }

    /// The x positions of the text elements whose content is `label`.
    fn text_x(svg: &str, label: &str) -> Vec<f64> {
        svg.split("<text")
            .filter(|t| t.contains(label))
            .map(|t| {
                let x = t.split("x=\"").nth(1).unwrap();
                x.split('"').next().unwrap().parse().unwrap()
            })
            .collect()
    }

    #[test]
    fn divergence_is_a_mark_that_does_not_stretch_the_axis() {
        let series = |label: &str, points: Vec<(f64, f64)>, color| Series {
            label: label.into(),
            points,
            color,
            style: Style::Line,
        };
        let panel = Panel {
            title: "t".into(),
            x_label: "x".into(),
            y_label: "y".into(),
            x_scale: Scale::Linear,
            y_scale: Scale::Log,
            series: vec![
                series("calm", vec![(10.0, 1.0), (20.0, 0.5), (30.0, 0.25)], 0),
                series(
                    "wild",
                    vec![(10.0, 1.0), (20.0, 2.0), (25.0, f64::INFINITY)],
                    1,
                ),
            ],
        };
        let svg = svg("title", &[panel], 1);
        assert!(svg.contains("wild  × diverged") && !svg.contains("calm  ×"));
        // The y axis covers 0.25–2 (ticks at powers of 2), not infinity.
        for tick in ["0.25", "0.5", "1", "2"] {
            assert_eq!(text_x(&svg, &format!(">\n{tick}\n<")).len(), 1, "{tick}");
        }
        assert!(!svg.contains(">\n4\n<") && !svg.contains("inf"));
    }

    #[test]
    fn legends_sit_beside_the_chart_and_text_is_readable() {
        let panel = Panel {
            title: "t".into(),
            x_label: "x".into(),
            y_label: "y".into(),
            x_scale: Scale::Linear,
            y_scale: Scale::Linear,
            series: (0..6)
                .map(|i| Series {
                    label: format!("series {i}"),
                    points: vec![(0.0, i as f64), (1.0, 5.0 - i as f64)],
                    color: i,
                    style: Style::LineMarkers,
                })
                .collect(),
        };
        let svg = svg("title", &[panel.clone(), panel], 2);
        let xs = text_x(&svg, "series 3");
        assert_eq!(xs.len(), 2);
        let width = PANEL.0 + legend_width(&[]);
        assert!(
            xs[0] > f64::from(PANEL.0) && xs[0] < f64::from(width),
            "{xs:?}"
        );
        let sizes = font_sizes(&svg);
        assert!(sizes.iter().all(|&s| s >= 12.0), "{sizes:?}");
    }

    #[test]
    fn a_long_legend_makes_the_figure_taller_and_every_label_stays_on_it() {
        let panel = |n: usize| Panel {
            title: "t".into(),
            x_label: "x".into(),
            y_label: "y".into(),
            x_scale: Scale::Linear,
            y_scale: Scale::Linear,
            series: (0..n)
                .map(|i| Series {
                    label: format!("optimizer {i}"),
                    points: vec![(0.0, i as f64), (1.0, 1.0)],
                    color: i,
                    style: Style::Line,
                })
                .collect(),
        };
        let height = |svg: &str| -> f64 {
            let h = svg.split("height=\"").nth(1).unwrap();
            h[..h.find('"').unwrap()].parse().unwrap()
        };
        // A short legend leaves the figure at the chart's height.
        let short = svg("title", &[panel(6)], 1);
        assert_eq!(height(&short), f64::from(PANEL.1 + TITLE_HEIGHT));
        let long = svg("title", &[panel(27), panel(27)], 2);
        let h = height(&long);
        assert!(h > f64::from(PANEL.1 + TITLE_HEIGHT), "{h}");
        let last = long.split("optimizer 26").next().unwrap();
        let y: f64 = last
            .rsplit(" y=\"")
            .next()
            .unwrap()
            .split('"')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!(
            y > f64::from(PANEL.1) && y < h,
            "label at y = {y}, figure {h} high"
        );
    }

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
        assert_eq!(tick(0.30000000000000004), "0.300");
    }
}
