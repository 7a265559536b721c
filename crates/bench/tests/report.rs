//! The report's number formats and Markdown tables.

use gradlab_bench::report::{num, pct, power, Table};

#[test]
fn numbers_keep_three_digits() {
    assert_eq!(num(0.1), "0.100");
    assert_eq!(num(123.456), "123");
    assert_eq!(num(8.838834764831845e-5), "8.84e-5");
    assert_eq!(num(1e-8), "1e-8");
    assert_eq!(num(10000.0), "10000");
    assert_eq!(num(1e5), "1e5");
    assert_eq!(num(f64::NAN), "–");
    assert_eq!(pct(0.9713), "97.13 %");
    assert_eq!(power(1e-3), "1e-3");
    assert_eq!(power(1.0), "1");
    assert_eq!(power(1e4), "1e4");
}

#[test]
fn tables_are_markdown() {
    let mut t = Table::new(&["a", "b"]);
    t.row(vec!["x".into(), "1".into()]);
    assert_eq!(t.markdown(), "| a | b |\n| :-- | --: |\n| x | 1 |\n");
}
