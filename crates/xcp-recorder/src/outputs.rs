//! Names of the files an export writes one per DAQ list.

use std::path::{Path, PathBuf};

use serde_json::Value as Json;

use crate::error::Error;

/// The file for each of the first `count` DAQ lists of `meta`: `<stem>.<list>.<ext>` beside
/// `output`, the list's name made file-safe (`list<N>` for a list without a name).
///
/// # Errors
/// [`Error::Meta`] when two lists would write the same file.
pub(crate) fn list_files(
    meta: &Json,
    output: &Path,
    count: usize,
    ext: &str,
) -> Result<Vec<PathBuf>, Error> {
    let stem = output
        .file_stem()
        .map_or_else(|| "recording".into(), |s| s.to_string_lossy().into_owned());
    let mut paths: Vec<PathBuf> = Vec::with_capacity(count);
    let lists = meta["daq"]["lists"]
        .as_array()
        .map_or(&[][..], Vec::as_slice);
    for i in 0..count {
        let l = lists.get(i).unwrap_or(&Json::Null);
        let name = l["name"].as_str().map_or_else(
            || format!("list{}", l["number"].as_u64().unwrap_or(i as u64)),
            str::to_owned,
        );
        let clean: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let path = output.with_file_name(format!("{stem}.{clean}.{ext}"));
        if paths.contains(&path) {
            return Err(Error::Meta(format!(
                "two DAQ lists would both write {}",
                path.display()
            )));
        }
        paths.push(path);
    }
    Ok(paths)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_get_files_of_their_names_and_clashes_are_refused() {
        let meta = serde_json::json!({"daq": {"lists": [
            {"name": "fast 10ms", "number": 0},
            {"number": 3},
        ]}});
        let paths = list_files(&meta, Path::new("/tmp/run.csv"), 2, "csv").expect("names");
        assert_eq!(
            paths,
            [
                PathBuf::from("/tmp/run.fast_10ms.csv"),
                PathBuf::from("/tmp/run.list3.csv")
            ]
        );
        let clash = serde_json::json!({"daq": {"lists": [{"name": "a b"}, {"name": "a_b"}]}});
        assert!(matches!(
            list_files(&clash, Path::new("x.parquet"), 2, "parquet"),
            Err(Error::Meta(_))
        ));
    }
}
