//! How wide a btree index row can get, and so which `INCLUDE` columns a candidate may carry.
//!
//! A btree index row is limited to 2,704 bytes (a third of a page, less overhead, at the default
//! 8 kB block size); a value that stays larger after compression makes the INSERT or UPDATE that
//! writes it fail (`index row size … exceeds btree version 4 maximum 2704`). HypoPG rates an index
//! with and without an INCLUDE column alike, so the proof cannot see that risk: it is decided here,
//! from the columns' types, before candidates are merged and proven.
//!
//! The rule keeps INCLUDE from making an index riskier than its keys already make it. An unbounded
//! key (a btree on `text`) is ordinary and stays. An INCLUDE column is left out when nothing bounds
//! its size (`text`, `json`, `jsonb`, `bytea`, `varchar` without a length, `numeric` without a
//! precision, arrays...), when its type is unknown, or when its largest value would bring the
//! largest possible size of the row's bounded columns (keys and INCLUDE columns kept so far) over
//! [`MAX_BOUNDED_ROW_BYTES`]. Each column left out carries a reason the user sees.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::candidates::{Candidate, IndexMethod};
use crate::pg::catalog::ColumnType;
use crate::units::fmt_count;

/// PostgreSQL's largest btree index row at the default 8 kB block size.
pub const BTREE_MAX_ROW_BYTES: u32 = 2704;

/// The most the bounded columns of a suggested index row (keys and INCLUDE) may take together,
/// counted at their largest: a third of [`BTREE_MAX_ROW_BYTES`], which leaves the rest to an
/// unbounded key's values (stored compressed in the row when large) and keeps a covering index
/// well short of a copy of its table. `varchar(200)` (up to 804 bytes in UTF-8) still fits beside
/// an int key; `varchar(255)` (1,024) does not.
pub const MAX_BOUNDED_ROW_BYTES: u32 = 900;

/// The length header of a variable-length value (`VARHDRSZ`).
const VARHDRSZ: u32 = 4;
/// The most bytes one character takes in any server encoding (UTF-8).
const MAX_BYTES_PER_CHAR: u32 = 4;

/// An INCLUDE column advice left out of a candidate, and why.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub struct OmittedInclude {
    pub column: String,
    pub reason: String,
}

/// The most bytes a value of the column's type can take in an index row; `None` when nothing
/// bounds it.
pub fn max_width(column: &ColumnType) -> Option<u32> {
    if column.attlen > 0 {
        return Some(u32::from(column.attlen.unsigned_abs()));
    }
    if column.attlen != -1 || column.atttypmod < 0 {
        return None;
    }
    let typmod = column.atttypmod.unsigned_abs();
    match column.base.as_str() {
        // n characters: typmod = n + VARHDRSZ.
        "varchar" | "bpchar" if typmod >= VARHDRSZ => {
            Some(VARHDRSZ + MAX_BYTES_PER_CHAR * (typmod - VARHDRSZ))
        }
        // typmod = ((precision << 16) | scale) + VARHDRSZ. Digits are stored four to a 2-byte
        // word (one more word when the decimal point splits them), after the length header and a
        // 4-byte numeric header.
        "numeric" if typmod >= VARHDRSZ => {
            let precision = ((typmod - VARHDRSZ) >> 16) & 0xffff;
            Some(VARHDRSZ + 4 + 2 * (precision.div_ceil(4) + 1))
        }
        // typmod = n bits, stored after the length header and a 4-byte bit count.
        "bit" | "varbit" => Some(VARHDRSZ + 4 + typmod.div_ceil(8)),
        _ => None,
    }
}

/// The candidate with only the INCLUDE columns whose size is bounded and small enough (see the
/// module comment), the others listed in `include_omitted` with their reason. `columns` are the
/// table's columns as [`crate::pg::catalog::column_types`] reads them. Keys are never changed.
pub fn bound_include(mut candidate: Candidate, columns: &[ColumnType]) -> Candidate {
    if candidate.method != IndexMethod::Btree || candidate.include.is_empty() {
        return candidate;
    }
    let find = |name: &str| columns.iter().find(|c| c.name == name);
    // Expression keys and unbounded keys add nothing here: the rule only keeps INCLUDE from
    // making the row riskier than the keys already make it.
    let mut bounded: u32 = candidate
        .columns
        .iter()
        .filter_map(|k| k.name())
        .filter_map(find)
        .filter_map(max_width)
        .sum();
    let mut kept = Vec::new();
    let mut omitted = Vec::new();
    for column in std::mem::take(&mut candidate.include) {
        let reason = match find(&column) {
            None => Some(
                "its type could not be read from the catalog, and INCLUDE takes only columns of bounded size"
                    .to_owned(),
            ),
            Some(ty) => match max_width(ty) {
                None => Some(format!(
                    "{} has no size bound: once the index exists, an insert or update of a value that stays over about {} bytes after compression would fail (btree index rows are limited to {} bytes)",
                    ty.display,
                    fmt_bytes(BTREE_MAX_ROW_BYTES),
                    fmt_bytes(BTREE_MAX_ROW_BYTES),
                )),
                Some(width) if bounded + width > MAX_BOUNDED_ROW_BYTES => Some(format!(
                    "{} takes up to {} bytes, which would bring the index row's bounded columns to {} bytes, over the {} pgdiag allows (a third of btree's {}-byte row limit)",
                    ty.display,
                    fmt_bytes(width),
                    fmt_bytes(bounded + width),
                    fmt_bytes(MAX_BOUNDED_ROW_BYTES),
                    fmt_bytes(BTREE_MAX_ROW_BYTES),
                )),
                Some(width) => {
                    bounded += width;
                    None
                }
            },
        };
        match reason {
            Some(reason) => omitted.push(OmittedInclude { column, reason }),
            None => kept.push(column),
        }
    }
    candidate.include = kept;
    for o in omitted {
        if !candidate
            .include_omitted
            .iter()
            .any(|e| e.column == o.column)
        {
            candidate.include_omitted.push(o);
        }
    }
    forget_covered_omissions(&mut candidate);
    candidate
}

/// Drop from `include_omitted` the columns the candidate holds after all, as a key or an INCLUDE
/// column (a merge may bring them).
/// A statement's candidate for one scan without its INCLUDE columns when one the scan needs was
/// left out ([`bound_include`]): INCLUDE pays only for an index-only scan, and without that column
/// every row still visits the table, so the others would only make the index larger. Each dropped
/// column is listed with that reason. Candidates serving several scans keep theirs (another scan
/// may still be index-only).
pub fn drop_useless_include(mut candidate: Candidate) -> Candidate {
    if candidate.include.is_empty()
        || candidate.include_omitted.is_empty()
        || candidate.nodes.len() != 1
    {
        return candidate;
    }
    let missing: Vec<&str> = candidate
        .include_omitted
        .iter()
        .map(|o| o.column.as_str())
        .collect();
    let reason = format!(
        "no index-only scan is possible without {} (left out), so it would only make the index larger",
        missing.join(", ")
    );
    for column in std::mem::take(&mut candidate.include) {
        candidate.include_omitted.push(OmittedInclude {
            column,
            reason: reason.clone(),
        });
    }
    candidate
}

pub(super) fn forget_covered_omissions(candidate: &mut Candidate) {
    let Candidate {
        include,
        include_omitted,
        columns,
        ..
    } = candidate;
    include_omitted.retain(|o| {
        !include.contains(&o.column) && !columns.iter().any(|k| k.name() == Some(&o.column))
    });
}

/// `2,704`: byte counts as the messages print them.
fn fmt_bytes(n: u32) -> String {
    fmt_count(f64::from(n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn include_without_a_needed_column_is_dropped_for_one_scan_only() {
        let mut candidate = Candidate::btree(None, "items", vec![IndexColumn::asc("owner_id")]);
        candidate.include = vec!["qty".into()];
        candidate.include_omitted = vec![OmittedInclude {
            column: "sku".into(),
            reason: "text has no size bound".into(),
        }];
        candidate.nodes = vec![2, 5];
        let kept = drop_useless_include(candidate.clone());
        assert_eq!(
            kept.include,
            ["qty"],
            "two scans: another may be index-only"
        );
        candidate.nodes = vec![2];
        let dropped = drop_useless_include(candidate);
        assert!(dropped.include.is_empty());
        assert_eq!(dropped.include_omitted[1].column, "qty");
        assert!(
            dropped.include_omitted[1]
                .reason
                .starts_with("no index-only scan is possible without sku"),
            "{:?}",
            dropped.include_omitted
        );
    }
    use crate::advise::candidates::IndexColumn;

    fn ty(name: &str, display: &str, base: &str, attlen: i16, atttypmod: i32) -> ColumnType {
        ColumnType {
            name: name.into(),
            display: display.into(),
            base: base.into(),
            attlen,
            atttypmod,
        }
    }

    fn table() -> Vec<ColumnType> {
        vec![
            ty("owner_id", "integer", "int4", 4, -1),
            ty("id", "bigint", "int8", 8, -1),
            ty(
                "created_at",
                "timestamp with time zone",
                "timestamptz",
                8,
                -1,
            ),
            ty("token", "uuid", "uuid", 16, -1),
            ty("done", "boolean", "bool", 1, -1),
            ty("score", "double precision", "float8", 8, -1),
            ty("day", "date", "date", 4, -1),
            ty("code", "character varying(40)", "varchar", -1, 44),
            ty("flag", "character(1)", "bpchar", -1, 5),
            ty("price", "numeric(12,2)", "numeric", -1, (12 << 16 | 2) + 4),
            ty("mask", "bit varying(64)", "varbit", -1, 64),
            ty("title", "character varying(200)", "varchar", -1, 204),
            ty("summary", "character varying(255)", "varchar", -1, 259),
            ty("note", "text", "text", -1, -1),
            ty("meta", "jsonb", "jsonb", -1, -1),
            ty("doc", "json", "json", -1, -1),
            ty("blob", "bytea", "bytea", -1, -1),
            ty("label", "character varying", "varchar", -1, -1),
            ty("amount", "numeric", "numeric", -1, -1),
            ty("tags", "text[]", "_text", -1, -1),
            ty("body", "text", "text", -1, -1),
        ]
    }

    fn candidate(keys: &[&str], include: &[&str]) -> Candidate {
        let mut c = Candidate::btree(
            Some("public".into()),
            "items",
            keys.iter().map(|k| IndexColumn::asc(*k)).collect(),
        );
        c.include = include.iter().map(|s| (*s).to_owned()).collect();
        c
    }

    fn omitted(c: &Candidate) -> Vec<&str> {
        c.include_omitted
            .iter()
            .map(|o| o.column.as_str())
            .collect()
    }

    #[test]
    fn widths_by_type_class() {
        let t = table();
        let width = |name: &str| max_width(t.iter().find(|c| c.name == name).unwrap());
        assert_eq!(width("owner_id"), Some(4));
        assert_eq!(width("id"), Some(8));
        assert_eq!(width("token"), Some(16));
        assert_eq!(width("done"), Some(1));
        assert_eq!(width("code"), Some(4 + 4 * 40));
        assert_eq!(width("flag"), Some(8));
        assert_eq!(width("price"), Some(8 + 2 * 4));
        assert_eq!(width("mask"), Some(16));
        for unbounded in ["note", "meta", "doc", "blob", "label", "amount", "tags"] {
            assert_eq!(width(unbounded), None, "{unbounded}");
        }
    }

    #[test]
    fn fixed_width_and_short_bounded_columns_stay() {
        let include = [
            "id",
            "created_at",
            "token",
            "done",
            "score",
            "day",
            "code",
            "flag",
            "price",
            "mask",
        ];
        let c = bound_include(candidate(&["owner_id"], &include), &table());
        assert_eq!(c.include, include);
        assert!(c.include_omitted.is_empty(), "{:?}", c.include_omitted);
    }

    #[test]
    fn unbounded_columns_are_left_out_with_their_type() {
        let include = [
            "id", "note", "meta", "doc", "blob", "label", "amount", "tags",
        ];
        let c = bound_include(candidate(&["owner_id"], &include), &table());
        assert_eq!(c.include, ["id"]);
        assert_eq!(
            omitted(&c),
            ["note", "meta", "doc", "blob", "label", "amount", "tags"]
        );
        let note = &c.include_omitted[0].reason;
        assert!(note.starts_with("text has no size bound"), "{note}");
        assert!(note.contains("2,704 bytes"), "{note}");
        assert!(c.include_omitted[1].reason.starts_with("jsonb "));
        assert!(c.include_omitted[5].reason.starts_with("numeric "));
        assert!(c.ddl("i").ends_with(r#"("owner_id") INCLUDE ("id")"#));
        assert!(c.index_name().contains("_incl_id"));
    }

    #[test]
    fn a_bounded_column_over_the_budget_is_left_out() {
        let c = bound_include(
            candidate(&["owner_id"], &["title", "summary", "id"]),
            &table(),
        );
        // 4 (key) + 804 (title) fits; summary's 1,024 would not; id's 8 still does.
        assert_eq!(c.include, ["title", "id"]);
        assert_eq!(omitted(&c), ["summary"]);
        let reason = &c.include_omitted[0].reason;
        assert!(
            reason.starts_with("character varying(255) takes up to 1,024 bytes"),
            "{reason}"
        );
        assert!(reason.contains("1,832 bytes, over the 900"), "{reason}");
    }

    #[test]
    fn unbounded_keys_stay_and_do_not_count() {
        let c = bound_include(candidate(&["body"], &["id", "title"]), &table());
        assert_eq!(c.columns.len(), 1);
        assert_eq!(c.include, ["id", "title"]);
        assert!(c.include_omitted.is_empty());
    }

    #[test]
    fn unknown_columns_are_left_out_and_trimming_is_idempotent() {
        let c = bound_include(candidate(&["owner_id"], &["id", "gone", "note"]), &table());
        assert_eq!(c.include, ["id"]);
        assert_eq!(omitted(&c), ["gone", "note"]);
        assert!(c.include_omitted[0].reason.contains("could not be read"));
        let again = bound_include(c.clone(), &table());
        assert_eq!(again, c);
    }

    #[test]
    fn bytes_are_grouped() {
        assert_eq!(fmt_bytes(900), "900");
        assert_eq!(fmt_bytes(2704), "2,704");
    }
}
