//! Findings: what a check found wrong, with the file, the element and the rule.

use std::fmt;

/// One rule a file breaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The file (`extra/org.fmi-standard.fmi-ls-xcp/fmi-ls-manifest.xml`, `modelDescription.xml`, an A2L).
    pub file: String,
    /// The element (`Interface 1 (vECU1.a2l)`, `Variable XCP.TCP.Port`, `IF_DATA XCP`).
    pub element: String,
    /// What is wrong and which rule says so.
    pub rule: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.element.is_empty() {
            write!(f, "{}: {}", self.file, self.rule)
        } else {
            write!(f, "{}: {}: {}", self.file, self.element, self.rule)
        }
    }
}

/// Collects findings for one file.
pub(crate) struct Findings<'a> {
    pub(crate) file: &'a str,
    pub(crate) out: &'a mut Vec<Finding>,
}

impl Findings<'_> {
    pub(crate) fn add(&mut self, element: impl Into<String>, rule: impl Into<String>) {
        self.out.push(Finding {
            file: self.file.to_owned(),
            element: element.into(),
            rule: rule.into(),
        });
    }
}
