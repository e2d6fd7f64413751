//! `/include` directives: found in the text (outside comments and strings) and resolved the
//! way `a2lfile` resolves them, relative to the including file.
//!
//! A lenient load of a file whose include is missing goes through [`rewrite`]: a missing
//! file's directive is blanked (so line numbers stay) and reported as a warning; when it is
//! an A2ML file (`.aml`), the built-in XCP A2ML takes its place. Includes that exist are
//! rewritten to absolute paths so the text can be parsed on its own.

use std::path::{Path, PathBuf};

use crate::error::Warning;

/// One `/include` directive in a text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Directive {
    /// Byte range of the whole directive (`/include` and its file name).
    pub(crate) span: (usize, usize),
    /// Line (1-based).
    pub(crate) line: usize,
    /// The file name as written, without quotes.
    pub(crate) name: String,
}

/// The `/include` directives of `text`, outside comments and strings.
pub(crate) fn directives(text: &str) -> Vec<Directive> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let (mut i, mut line) = (0, 1);
    while i < b.len() {
        match b[i] {
            b'\n' => {
                line += 1;
                i += 1;
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                let end = text[i + 2..].find("*/").map_or(b.len(), |e| i + 2 + e + 2);
                line += text[i..end].matches('\n').count();
                i = end;
            }
            b'/' if b.get(i + 1) == Some(&b'/') => {
                i = text[i..].find('\n').map_or(b.len(), |e| i + e);
            }
            b'"' => {
                // A string; `\"` and `""` do not end it.
                let mut j = i + 1;
                while j < b.len() {
                    match b[j] {
                        b'\\' => j += 2,
                        b'"' if b.get(j + 1) == Some(&b'"') => j += 2,
                        b'"' => break,
                        _ => j += 1,
                    }
                }
                let end = (j + 1).min(b.len());
                line += text[i..end].matches('\n').count();
                i = end;
            }
            b'/' if text[i..].starts_with("/include")
                && b.get(i + 8)
                    .is_some_and(|c| c.is_ascii_whitespace() || *c == b'"') =>
            {
                let start = i;
                let mut j = i + 8;
                while j < b.len() && b[j].is_ascii_whitespace() {
                    j += 1;
                }
                let (name, end) = if b.get(j) == Some(&b'"') {
                    let close = text[j + 1..].find('"').map_or(b.len(), |e| j + 1 + e);
                    (&text[j + 1..close], (close + 1).min(b.len()))
                } else {
                    let stop = text[j..]
                        .find(|c: char| c.is_ascii_whitespace())
                        .map_or(b.len(), |e| j + e);
                    (&text[j..stop], stop)
                };
                out.push(Directive {
                    span: (start, end),
                    line,
                    name: name.to_owned(),
                });
                line += text[start..end].matches('\n').count();
                i = end;
            }
            _ => i += 1,
        }
    }
    out
}

/// The `/include` directives of an A2L text as `(line, file name)`, outside comments and
/// strings. A served A2L should have none (the FMI layered standard for XCP forbids them):
/// a master that fetched it cannot follow them.
pub fn includes(text: &str) -> Vec<(usize, String)> {
    directives(text)
        .into_iter()
        .map(|d| (d.line, d.name))
        .collect()
}

/// Where `name`, included from `from`, is looked for: an absolute name as it is, a relative
/// one beside the including file.
pub(crate) fn resolve(name: &str, from: &Path) -> PathBuf {
    let p = Path::new(name);
    if p.is_absolute() {
        return p.to_path_buf();
    }
    from.parent().map_or_else(|| p.to_path_buf(), |d| d.join(p))
}

/// The text of `path` with every missing include blanked (one warning each, naming the file
/// and line) and every present one made absolute; `None` when nothing is missing.
pub(crate) fn rewrite(path: &Path, text: &str) -> Option<(String, Vec<Warning>)> {
    let found = directives(text);
    let missing: Vec<&Directive> = found
        .iter()
        .filter(|d| !resolve(&d.name, path).is_file())
        .collect();
    if missing.is_empty() {
        return None;
    }
    let mut out = String::with_capacity(text.len());
    let mut warnings = Vec::new();
    let mut at = 0;
    for d in &found {
        out.push_str(&text[at..d.span.0]);
        let target = resolve(&d.name, path);
        if target.is_file() {
            let abs = std::path::absolute(&target).unwrap_or(target);
            out.push_str(&format!("/include \"{}\"", abs.display()));
        } else {
            // Blank it, keeping the line breaks so later line numbers stay right.
            out.extend(
                text[d.span.0..d.span.1]
                    .chars()
                    .map(|c| if c == '\n' { '\n' } else { ' ' }),
            );
            let is_a2ml = Path::new(&d.name)
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("aml"));
            warnings.push(Warning {
                message: format!(
                    "{}:{}: the included file \"{}\" is not there (looked for {}); {}",
                    path.display(),
                    d.line,
                    d.name,
                    resolve(&d.name, path).display(),
                    if is_a2ml {
                        "the built-in XCP A2ML takes its place"
                    } else {
                        "what it holds is missing from this A2L"
                    }
                ),
            });
        }
        at = d.span.1;
    }
    out.push_str(&text[at..]);
    Some((out, warnings))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directives_outside_comments_and_strings_are_found_with_their_lines() {
        let text = "ASAP2_VERSION 1 71\n/* /include \"no.aml\" */\n// /include x.a2l\n\
                    /begin PROJECT p \"a \\\"/include y\\\" b\"\n  /include \"XCP_104.aml\"\n\
                    /include part.a2l\n/end PROJECT\n";
        let d = directives(text);
        let names: Vec<(&str, usize)> = d.iter().map(|d| (d.name.as_str(), d.line)).collect();
        assert_eq!(names, [("XCP_104.aml", 5), ("part.a2l", 6)]);
        assert_eq!(&text[d[0].span.0..d[0].span.1], "/include \"XCP_104.aml\"");
    }

    #[test]
    fn a_missing_include_is_blanked_and_named_in_a_warning() {
        let dir = std::env::temp_dir().join(format!("xcp-a2l-include-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        std::fs::write(dir.join("there.a2l"), "").expect("write");
        let path = dir.join("main.a2l");
        let text = "A\n/include \"XCP_104.aml\"\nB /include there.a2l\n/include \"gone.a2l\" C\n";
        let (out, warnings) = rewrite(&path, text).expect("two are missing");
        assert_eq!(out.lines().count(), 4, "line numbers kept: {out}");
        assert!(
            !out.contains("XCP_104") && !out.contains("gone.a2l"),
            "{out}"
        );
        assert!(out.contains(&format!("/include \"{}\"", dir.join("there.a2l").display())));
        assert!(out.ends_with(" C\n"), "{out}");
        assert_eq!(warnings.len(), 2);
        assert!(
            warnings[0].message.contains("main.a2l:2:")
                && warnings[0].message.contains("built-in XCP A2ML"),
            "{}",
            warnings[0]
        );
        assert!(
            warnings[1].message.contains("main.a2l:4:")
                && warnings[1].message.contains("missing from this A2L"),
            "{}",
            warnings[1]
        );
        assert!(
            rewrite(&path, "/include there.a2l").is_none(),
            "nothing missing"
        );
    }
}
