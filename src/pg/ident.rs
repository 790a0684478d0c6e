//! The one identifier quoter: every name pgdiag writes into SQL goes through here.

/// An SQL identifier, always double-quoted (embedded quotes doubled) so that any name —
/// mixed case, keywords, spaces, quotes — round-trips exactly.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::quote_ident;

    #[test]
    fn quotes_and_doubles_embedded_quotes() {
        assert_eq!(quote_ident("reviews"), r#""reviews""#);
        assert_eq!(quote_ident(r#"a"b"#), r#""a""b""#);
        assert_eq!(quote_ident("Mixed Case"), r#""Mixed Case""#);
    }
}
