//! The FileListQuery filter (profile section 7): a format name, else a glob, else a
//! substring of `file_path`.

use globset::{Glob, GlobMatcher};

/// A parsed FileListQuery filter.
#[derive(Debug, Clone)]
pub(crate) enum FileFilter {
    /// No filter, or an empty one: every file.
    All,
    /// A format name, compared case-insensitively with each file's `format`.
    Format(String),
    /// A glob over `file_path`; `*` also crosses `/` (so `*.mp4` matches `a/b.mp4`).
    Glob(GlobMatcher),
    /// A substring of `file_path` (also used for a glob that does not parse).
    Substring(String),
}

impl FileFilter {
    /// Parses `filter`. It is a format name when it equals (case-insensitively) one of
    /// `format_names`: the fixed names `mp4`, `h264`, `binary` plus the formats of the files
    /// served; this is decided once for the whole query, so `mp4` never also matches
    /// `notes/mp4.txt` as a substring.
    pub(crate) fn parse<'a>(
        filter: Option<&str>,
        format_names: impl IntoIterator<Item = &'a str>,
    ) -> FileFilter {
        let Some(filter) = filter.filter(|f| !f.is_empty()) else {
            return FileFilter::All;
        };
        let is_format = ["mp4", "h264", "binary"]
            .into_iter()
            .chain(format_names)
            .any(|name| name.eq_ignore_ascii_case(filter));
        if is_format {
            return FileFilter::Format(filter.to_ascii_lowercase());
        }
        if filter.contains(['*', '?', '[']) {
            if let Ok(glob) = Glob::new(filter) {
                return FileFilter::Glob(glob.compile_matcher());
            }
        }
        FileFilter::Substring(filter.to_string())
    }

    /// Whether a file with this path and format passes the filter.
    pub(crate) fn matches(&self, file_path: &str, format: &str) -> bool {
        match self {
            FileFilter::All => true,
            FileFilter::Format(name) => format.eq_ignore_ascii_case(name),
            FileFilter::Glob(glob) => glob.is_match(file_path),
            FileFilter::Substring(part) => file_path.contains(part.as_str()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_of_filter() {
        let f = FileFilter::parse(Some("MP4"), []);
        assert!(f.matches("a/b.mp4", "mp4") && !f.matches("mp4/x.h264", "h264"));
        let f = FileFilter::parse(Some("*.h264"), []);
        assert!(f.matches("a/b.h264", "h264") && !f.matches("b.mp4", "mp4"));
        let f = FileFilter::parse(Some("vid"), []);
        assert!(f.matches("videos/x.bin", "bin") && !f.matches("x.mp4", "mp4"));
        let f = FileFilter::parse(Some("bin"), ["bin"]);
        assert!(matches!(f, FileFilter::Format(_)));
        assert!(matches!(FileFilter::parse(Some(""), []), FileFilter::All));
        assert!(matches!(FileFilter::parse(None, []), FileFilter::All));
        let f = FileFilter::parse(Some("[draft"), []);
        assert!(f.matches("x[draft].mp4", "mp4"));
    }
}
