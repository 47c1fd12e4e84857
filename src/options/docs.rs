//! The option tables of the crate docs (src/lib.rs) and of README.md say what
//! the declaration says, row for row: keys, aliases, values, defaults and
//! meaning. And each declared default is what [`Options::default`] holds.

use super::*;

const README: &str = include_str!("../../README.md");
const LIB_RS: &str = include_str!("../lib.rs");
const HEADER_ROW: &str = "| key (aliases) | values | default | meaning |";

/// The docs row of one option, as both tables must spell it.
fn row(s: &Spec) -> String {
    let mut key = format!("`{}`", s.name);
    if !s.aliases.is_empty() {
        let aliases: Vec<String> = s.aliases.iter().map(|a| format!("`{a}`")).collect();
        key = format!("{key} ({})", aliases.join(", "));
    }
    format!("| {key} | {} | {} | {} |", s.values, s.default, s.meaning)
}

/// The rows of the option table in `markdown` (the lines after its header and
/// its `|---|` line, up to the first line that is not a table row).
fn table_in(markdown: &str) -> Vec<String> {
    let mut lines = markdown.lines().map(str::trim_end);
    let found = lines.by_ref().any(|l| l == HEADER_ROW);
    assert!(found, "no option table (`{HEADER_ROW}`)");
    lines
        .skip(1)
        .take_while(|l| l.starts_with('|'))
        .map(str::to_owned)
        .collect()
}

fn assert_table_matches(name: &str, rows: Vec<String>) {
    let want: Vec<String> = SPECS.iter().map(|s| row(s)).collect();
    let wrong: Vec<String> = want
        .iter()
        .zip(rows.iter().chain(std::iter::repeat(&String::new())))
        .filter(|(w, r)| w != r)
        .map(|(w, r)| format!("  has:    {r}\n  wanted: {w}"))
        .collect();
    assert!(
        wrong.is_empty() && rows.len() == want.len(),
        "{name}'s option table differs from the declaration in src/options/table.rs \
         ({} rows, {} declared):\n{}\nThe whole table, as declared:\n{HEADER_ROW}\n|---|---|---|---|\n{}",
        rows.len(),
        want.len(),
        wrong.join("\n"),
        want.join("\n")
    );
}

#[test]
fn readme_option_table_is_the_declaration() {
    assert_table_matches("README.md", table_in(README));
}

#[test]
fn crate_docs_option_table_is_the_declaration() {
    let docs: String = LIB_RS
        .lines()
        .filter_map(|l| l.strip_prefix("//!"))
        .map(|l| l.strip_prefix(' ').unwrap_or(l))
        .collect::<Vec<_>>()
        .join("\n");
    assert_table_matches("src/lib.rs", table_in(&docs));
}

/// How a docs table shows a default value.
fn shown(v: &OptionValue) -> String {
    match v {
        OptionValue::Unset => "none".into(),
        OptionValue::List(l) if l.is_empty() => "none".into(),
        OptionValue::Bool(b) => format!("`{b}`"),
        OptionValue::Number(n) => format!("`{n}`"),
        OptionValue::Text(t) => format!("`{t}`"),
        other => format!("{other:?}"),
    }
}

#[test]
fn declared_defaults_are_the_defaults() {
    let o = Options::default();
    let value_of = |name: &str| {
        let s = SPECS.iter().find(|s| s.name == name).unwrap();
        (s.get)(&o)
    };
    for s in SPECS {
        let have = shown(&(s.get)(&o));
        // `= `other`` means "the value of that other option"
        if let Some(other) = s
            .default
            .strip_prefix("= `")
            .and_then(|r| r.strip_suffix('`'))
        {
            assert_eq!((s.get)(&o), value_of(other), "{}: {}", s.name, s.default);
            continue;
        }
        // `0` = off: the value, then what it means
        let declared = s.default.split(" = ").next().unwrap_or_default();
        assert_eq!(
            declared, have,
            "{}: declared default {} but Options::default() has {have}",
            s.name, s.default
        );
    }
}
