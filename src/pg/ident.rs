//! The one identifier quoter: every name pgdiag writes into SQL goes through here.

/// An SQL identifier, always double-quoted (embedded quotes doubled) so that any name —
/// mixed case, keywords, spaces, quotes — round-trips exactly.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A possibly schema-qualified name, `"schema"."name"` or `"name"`, each part quoted by
/// [`quote_ident`]. The parts are taken as they are: a dot inside one stays inside its quotes, so
/// callers must keep schema and name apart (never join them and split on `.` again).
pub fn quote_qualified(schema: Option<&str>, name: &str) -> String {
    match schema {
        Some(schema) => format!("{}.{}", quote_ident(schema), quote_ident(name)),
        None => quote_ident(name),
    }
}

#[cfg(test)]
mod tests {
    use super::{quote_ident, quote_qualified};

    #[test]
    fn quotes_and_doubles_embedded_quotes() {
        assert_eq!(quote_ident("reviews"), r#""reviews""#);
        assert_eq!(quote_ident(r#"a"b"#), r#""a""b""#);
        assert_eq!(quote_ident("Mixed Case"), r#""Mixed Case""#);
    }

    #[test]
    fn qualified_names_keep_dots_and_quotes_inside_their_part() {
        assert_eq!(quote_qualified(None, "reviews"), r#""reviews""#);
        assert_eq!(
            quote_qualified(Some("public"), "reviews"),
            r#""public"."reviews""#
        );
        assert_eq!(
            quote_qualified(Some(r#"my "app".v2"#), r#"odd.name "x""#),
            r#""my ""app"".v2"."odd.name ""x""""#
        );
    }
}
