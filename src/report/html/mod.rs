//! The HTML report: one self-contained page (CSS, script and SVG inline; no network, no external
//! fonts) rendered from the same report types the JSON documents are serialized from. Plans are
//! static SVG and HTML, readable with JavaScript off; the page's small script adds selection (a
//! node's details in a side panel). Every piece of text is escaped for HTML and attributes.

pub mod bench;
pub mod cache_advice;
pub mod check;
pub mod diff;
pub mod explain;
pub mod plan;
pub mod suggest;

use std::fmt;
use std::io::{self, Write};

use crate::diagnose::Severity;

pub use bench::render_bench;
pub use cache_advice::{render_advice_section, render_cache_advice};
pub use check::render_check;
pub use explain::render_explain;
pub use suggest::render_suggest;

const STYLE: &str = include_str!("page.css");
const SCRIPT: &str = include_str!("page.js");

/// Text escaped for HTML content and double- or single-quoted attribute values.
#[derive(Debug, Clone, Copy)]
pub struct Esc<'a>(pub &'a str);

impl fmt::Display for Esc<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0;
        while let Some(at) = rest.find(['&', '<', '>', '"', '\'']) {
            f.write_str(&rest[..at])?;
            f.write_str(match rest.as_bytes()[at] {
                b'&' => "&amp;",
                b'<' => "&lt;",
                b'>' => "&gt;",
                b'"' => "&quot;",
                _ => "&#39;",
            })?;
            rest = &rest[at + 1..];
        }
        f.write_str(rest)
    }
}

/// The CSS class of a severity (`sev-critical`), shared by badges, outlines and list items.
pub fn severity_class(severity: Severity) -> &'static str {
    match severity {
        Severity::Info => "sev-info",
        Severity::Notice => "sev-notice",
        Severity::Warning => "sev-warning",
        Severity::Critical => "sev-critical",
    }
}

/// The page up to the start of `<main>`: title, inline style, header.
pub fn page_start(w: &mut impl Write, title: &str, meta: &str) -> io::Result<()> {
    writeln!(w, "<!DOCTYPE html>")?;
    writeln!(w, "<html lang=\"en\"><head><meta charset=\"utf-8\">")?;
    writeln!(
        w,
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
    )?;
    // Nothing on the page loads from anywhere: say so to the browser too.
    writeln!(
        w,
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">"
    )?;
    writeln!(w, "<title>{}</title>", Esc(title))?;
    writeln!(w, "<style>\n{STYLE}</style></head><body>")?;
    writeln!(
        w,
        "<header class=\"page\"><h1>{}</h1><div class=\"meta\">{}</div></header><main>",
        Esc(title),
        Esc(meta)
    )
}

/// The end of the page: the script, then the closing tags.
pub fn page_end(w: &mut impl Write) -> io::Result<()> {
    writeln!(w, "</main><script>\n{SCRIPT}</script></body></html>")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_every_character_that_ends_text_or_an_attribute() {
        assert_eq!(
            Esc(r#"a < b && c > 'd' "e""#).to_string(),
            "a &lt; b &amp;&amp; c &gt; &#39;d&#39; &quot;e&quot;"
        );
        assert_eq!(Esc("plain ünïcode").to_string(), "plain ünïcode");
        assert_eq!(
            Esc("</script><script>alert(1)</script>").to_string(),
            "&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;"
        );
    }
}
