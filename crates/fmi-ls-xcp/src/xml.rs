//! Walking the elements of an XML file whose meaning is in its attributes (the manifest,
//! modelDescription.xml): each start or empty element with its ancestors and attributes.

use quick_xml::events::Event;

use crate::Error;

/// An element as the walk meets it.
pub(crate) struct Element<'a> {
    /// The names of its ancestors, outermost first.
    pub(crate) path: &'a [String],
    /// Its name.
    pub(crate) name: &'a str,
    /// Its attributes, unescaped.
    pub(crate) attrs: Vec<(String, String)>,
}

impl Element<'_> {
    /// The attribute `key` (a prefixed one, `fmi-ls:fmi-ls-name`, also by its local name).
    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == key || k.rsplit(':').next() == Some(key))
            .map(|(_, v)| v.as_str())
    }

    /// The parent's name.
    pub(crate) fn parent(&self) -> Option<&str> {
        self.path.last().map(String::as_str)
    }
}

/// The 1-based line of byte `pos`.
fn line_of(text: &str, pos: u64) -> usize {
    let pos = usize::try_from(pos).unwrap_or(usize::MAX).min(text.len());
    text.as_bytes()[..pos]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

/// Calls `f` for every start and empty element of `text`, in document order; an error `f`
/// returns, and XML that does not parse or ends inside an element, become [`Error::Xml`]
/// with the line.
pub(crate) fn walk(
    text: &str,
    file: &str,
    mut f: impl FnMut(&Element<'_>) -> Result<(), String>,
) -> Result<(), Error> {
    let mut reader = quick_xml::Reader::from_str(text);
    let mut path: Vec<String> = Vec::new();
    loop {
        let pos = reader.buffer_position();
        let err = |reason: String| Error::Xml {
            file: file.to_owned(),
            line: line_of(text, pos),
            reason,
        };
        let (e, empty) = match reader.read_event() {
            Ok(Event::Start(e)) => (e, false),
            Ok(Event::Empty(e)) => (e, true),
            Ok(Event::End(_)) => {
                path.pop();
                continue;
            }
            Ok(Event::Eof) if !path.is_empty() => {
                return Err(err("the document ends inside an element".to_owned()));
            }
            Ok(Event::Eof) => return Ok(()),
            Ok(_) => continue,
            Err(e) => return Err(err(e.to_string())),
        };
        let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
        let attrs = e
            .attributes()
            .map(|a| {
                let a = a.map_err(|x| x.to_string())?;
                let value = a.unescape_value().map_err(|x| x.to_string())?.into_owned();
                Ok((String::from_utf8_lossy(a.key.as_ref()).into_owned(), value))
            })
            .collect::<Result<Vec<_>, String>>()
            .map_err(err)?;
        f(&Element {
            path: &path,
            name: &name,
            attrs,
        })
        .map_err(err)?;
        if !empty {
            path.push(name);
        }
    }
}
