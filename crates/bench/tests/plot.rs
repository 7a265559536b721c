//! The SVG charts: divergence marks, legends beside the charts, figures
//! that grow with their legends.

use gradlab_bench::plot::{dots, svg, Dot, Panel, Scale, Series, Style};

/// The size of one panel's chart and the height of the title band, in
/// pixels, as plot.rs draws them.
const PANEL: (u32, u32) = (720, 520);
const TITLE_HEIGHT: u32 = 56;
/// The width of the legend column beside a chart with short labels.
const NARROWEST_LEGEND: u32 = 160;

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
    let width = PANEL.0 + NARROWEST_LEGEND;
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

/// A ranked dot plot: every label once, in the figure's order, two panels
/// to a row, the figure as tall as its longest panel needs.
#[test]
fn dot_plots_label_every_row_in_order() {
    let rows = |names: &[&str]| -> Vec<Dot> {
        names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.to_string(), 1.0 - 0.1 * i as f64, (0.5, 1.0)))
            .collect()
    };
    let panels = [
        ("a".to_string(), rows(&["first", "second", "third"])),
        ("b".to_string(), rows(&["fourth"])),
        ("c".to_string(), rows(&["fifth", "sixth"])),
    ];
    let svg = dots("title", "score", &panels);
    let size = |key: &str| -> u32 {
        let rest = svg.split(&format!("{key}=\"")).nth(1).unwrap();
        rest[..rest.find('"').unwrap()].parse().unwrap()
    };
    // Two columns, two rows of panels, each 130 + 28 px per row of dots.
    assert_eq!(
        (size("width"), size("height")),
        (2 * PANEL.0, TITLE_HEIGHT + 2 * (130 + 28 * 3))
    );
    let at = |label: &str| {
        let found: Vec<usize> = svg
            .match_indices(&format!(">\n{label}\n</text>"))
            .map(|(i, _)| i)
            .collect();
        assert_eq!(found.len(), 1, "{label} drawn once");
        found[0]
    };
    // Within a panel, the ranked order top to bottom is the order drawn.
    let (first, second, third) = (at("first"), at("second"), at("third"));
    let y = |i: usize| -> f64 {
        let tag = &svg[svg[..i].rfind('<').unwrap()..i];
        let rest = tag.split(" y=\"").nth(1).unwrap();
        rest[..rest.find('"').unwrap()].parse().unwrap()
    };
    assert!(y(first) < y(second) && y(second) < y(third));
    for label in ["fourth", "fifth", "sixth"] {
        at(label);
    }
}
