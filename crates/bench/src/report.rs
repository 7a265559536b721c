//! The Markdown report: a header saying what was run, then one section per
//! experiment with its tables, its plots and its reading.

use std::fmt::Write;

use crate::options::Settings;

/// A file an experiment's section adds to the output directory (its plots,
/// and for the synthetic experiment its data).
#[derive(Clone, Debug, PartialEq)]
pub struct OutputFile {
    /// The file name, relative to the output directory.
    pub name: String,
    /// The contents.
    pub contents: String,
}

/// One experiment's part of the report.
#[derive(Clone, Debug, PartialEq)]
pub struct Section {
    /// The experiment's name.
    pub experiment: &'static str,
    /// Its Markdown, from its `##` heading on.
    pub markdown: String,
    /// The files it refers to.
    pub files: Vec<OutputFile>,
}

impl Section {
    /// A section of the experiment `name` that starts with its heading,
    /// `title`, and the slide it tests with its `claim`.
    pub fn new(name: &'static str, title: &str, claim: &str) -> Section {
        let markdown = format!("## {title} (`--experiment {name}`)\n\n*Tests:* {claim}\n\n");
        Section {
            experiment: name,
            markdown,
            files: Vec::new(),
        }
    }

    /// Appends a paragraph.
    pub fn paragraph(&mut self, text: &str) {
        self.markdown.push_str(text.trim_end());
        self.markdown.push_str("\n\n");
    }

    /// Appends a table with a caption.
    pub fn table(&mut self, caption: &str, table: &Table) {
        self.paragraph(caption);
        self.markdown.push_str(&table.markdown());
        self.markdown.push('\n');
    }

    /// Adds an SVG plot to the section and the output directory.
    pub fn plot(&mut self, name: &str, alt: &str, svg: String) {
        self.paragraph(&format!("![{alt}]({name})"));
        self.files.push(OutputFile {
            name: name.to_string(),
            contents: svg,
        });
    }

    /// Appends the reading of the results.
    pub fn reading(&mut self, text: &str) {
        self.paragraph(&format!("**Reading.** {}", text.trim()));
    }
}

/// A Markdown table.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column names.
    pub fn new<S: AsRef<str>>(header: &[S]) -> Table {
        Table {
            header: header.iter().map(|h| h.as_ref().to_string()).collect(),
            rows: Vec::new(),
        }
    }

    /// Appends a row.
    ///
    /// # Panics
    /// If it does not have one cell per column.
    pub fn row(&mut self, cells: Vec<String>) {
        assert_eq!(
            cells.len(),
            self.header.len(),
            "Table::row: {} cells for {} columns",
            cells.len(),
            self.header.len()
        );
        self.rows.push(cells);
    }

    /// The table in Markdown, the first column left-aligned and the others
    /// (numbers) right-aligned.
    pub fn markdown(&self) -> String {
        let line = |cells: &[String]| format!("| {} |\n", cells.join(" | "));
        let mut out = line(&self.header);
        let rule: Vec<String> = (0..self.header.len())
            .map(|i| if i == 0 { ":--" } else { "--:" }.to_string())
            .collect();
        out.push_str(&line(&rule));
        for row in &self.rows {
            out.push_str(&line(row));
        }
        out
    }
}

/// A number with three significant digits, in scientific notation outside
/// [10⁻³, 10⁵).
pub fn num(x: f64) -> String {
    if !x.is_finite() {
        return if x.is_nan() {
            "–".into()
        } else {
            format!("{x}")
        };
    }
    if x == 0.0 {
        return "0".into();
    }
    let a = x.abs();
    if (1e-3..1e5).contains(&a) {
        let decimals = (2 - a.log10().floor() as i32).max(0) as usize;
        format!("{x:.decimals$}")
    } else {
        let s = format!("{x:.2e}");
        // 1.00e-8 → 1e-8, 8.80e-5 → 8.8e-5
        match s.split_once('e') {
            Some((m, e)) => {
                let m = m.trim_end_matches('0').trim_end_matches('.');
                format!("{m}e{e}")
            }
            None => s,
        }
    }
}

/// A value of a log-spaced grid (α, ε): `1e-3`, `1`, `1e4`.
pub fn power(x: f64) -> String {
    if x == 1.0 {
        "1".into()
    } else {
        format!("{x:e}")
    }
}

/// A loss, with four decimals.
pub fn loss(x: f64) -> String {
    if x.is_finite() {
        format!("{x:.4}")
    } else {
        "–".into()
    }
}

/// An accuracy as a percentage with two decimals.
pub fn pct(x: f64) -> String {
    if x.is_finite() {
        format!("{:.2} %", 100.0 * x)
    } else {
        "–".into()
    }
}

/// The whole report: what was run, then each section.
pub fn document(settings: &Settings, summary: &str, sections: &[Section]) -> String {
    let mut out = String::from("# Optimizer benchmark\n\n");
    let _ = writeln!(out, "{}\n", summary.trim());
    let seeds: Vec<String> = settings.seeds.iter().map(u64::to_string).collect();
    let model = match &settings.on {
        Some(w) => format!(
            "the workload `{}` ({}; its data, not the above)",
            w.name, w.about
        ),
        None => format!(
            "MLP with hidden layers {:?} (ReLU), softmax cross-entropy",
            settings.hidden
        ),
    };
    let _ = writeln!(
        out,
        "Model, where a section does not name its own (`tune`'s workloads and \
         `speedrun`'s recipes do): {model}, seeds {}. \
         Every run is compared by **examples seen**, so batch sizes are compared fairly; \
         curves are the mean training loss of the batches in each window, tables the \
         test set at checkpoints, averaged over seeds. A cell `m ± h (sd s)` is the mean \
         over seeds, the half-width h of its 95 % Student-t interval and the standard \
         deviation s.\n",
        seeds.join(", ")
    );
    for s in sections {
        out.push_str(&s.markdown);
    }
    out
}
