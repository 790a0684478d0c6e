//! How large a btree index will be once built, estimated from the table's statistics: what
//! selection weighs a suggestion's gain against, and what the report shows (`≈ 54 MiB`) before
//! anything is built. HypoPG's own figure (`hypopg_relation_size`) ignores deduplication, suffix
//! truncation and the leaves' fill factor and was seen 2–11× over the built size.
//!
//! The model follows what a sorted btree build (`CREATE INDEX`) writes, at the default 8 kB block:
//! - a row is an index tuple header (8 bytes), its columns at their `pg_stats.avg_width` each
//!   aligned as its type wants (a varlena under 127 bytes has a 1-byte header and no alignment),
//!   the whole rounded up to 8, plus a 4-byte line pointer;
//! - leaves are filled to 90% (btree's default fillfactor) of the page less its 24-byte header and
//!   16-byte btree special space; internal pages to 70%, one downlink per page below, holding the
//!   key columns only (INCLUDE columns are truncated away from pivots);
//! - since PostgreSQL 13, equal keys are deduplicated into posting lists (each further duplicate
//!   costs a 6-byte heap pointer) unless the index has INCLUDE columns or a key type that cannot
//!   be (`numeric`, `float4`, `float8`, `jsonb`, arrays, composites, ranges); the number of
//!   distinct keys comes from `pg_stats.n_distinct` (for several columns, the share of their
//!   product the rows fill, the columns taken as independent);
//! - a partial index holds the rows its predicate keeps: the caller passes that row estimate.
//!
//! It is an estimate: `size_bytes` after a build (or `--apply`) is the measured size.

use crate::pg::catalog::ColumnStats;

/// PostgreSQL's default block size.
pub const PAGE_BYTES: f64 = 8192.0;
/// Page header (24) and btree special space (16).
const PAGE_OVERHEAD_BYTES: f64 = 40.0;
/// A sorted build fills leaves to btree's default fillfactor.
pub const LEAF_FILL: f64 = 0.90;
/// ... and internal pages to `BTREE_NONLEAF_FILLFACTOR`.
const INTERNAL_FILL: f64 = 0.70;
const INDEX_TUPLE_HEADER: f64 = 8.0;
const LINE_POINTER: f64 = 4.0;
const HEAP_POINTER: f64 = 6.0;
/// A posting list tuple stays under half of btree's largest row (2,704 bytes) when built.
const MAX_POSTING_BYTES: f64 = 1352.0;
const MAXALIGN: f64 = 8.0;

fn align(offset: f64, to: f64) -> f64 {
    (offset / to).ceil() * to
}

/// The alignment a column's values take in an index tuple.
fn alignment(column: &ColumnStats, width: f64) -> f64 {
    if column.typlen == -1 && width < 127.0 {
        // A short varlena: 1-byte header, not aligned.
        return 1.0;
    }
    match column.typalign.as_str() {
        "d" => 8.0,
        "i" => 4.0,
        "s" => 2.0,
        _ => 1.0,
    }
}

/// A column's average stored width: its statistics, else its fixed length; `None` for a
/// variable-length column never analyzed.
fn width(column: &ColumnStats) -> Option<f64> {
    match (column.avg_width, column.typlen) {
        (Some(w), _) if w > 0 => Some(f64::from(w)),
        (_, len) if len > 0 => Some(f64::from(len)),
        _ => None,
    }
}

/// The bytes of the columns' data in a tuple, aligned as they would be.
fn data_bytes(columns: &[&ColumnStats]) -> Option<f64> {
    let mut offset = INDEX_TUPLE_HEADER;
    for column in columns {
        let width = width(column)?;
        // Nulls take no data (a tuple with a null carries a small bitmap instead, ignored here).
        let present = 1.0 - column.null_frac.clamp(0.0, 1.0);
        offset = align(offset, alignment(column, width)) + width * present;
    }
    Some(offset - INDEX_TUPLE_HEADER)
}

/// Whether btree deduplication applies to values of this column's type.
fn deduplicable(column: &ColumnStats) -> bool {
    !matches!(
        column.base.as_str(),
        "numeric" | "float4" | "float8" | "jsonb"
    ) && !matches!(column.typcategory.as_str(), "A" | "C" | "R")
}

/// Distinct values of one column among `rows` rows (`n_distinct` < 0 is a fraction of the rows).
fn distinct(column: &ColumnStats, rows: f64) -> Option<f64> {
    let n = column.n_distinct?;
    Some(if n < 0.0 { -n * rows } else { n }.clamp(1.0, rows.max(1.0)))
}

/// Distinct key combinations among `rows` rows when `combinations` are possible, the columns taken
/// as independent: rows falling at random on the combinations (`n (1 - e^(-rows/n))`).
fn distinct_rows(combinations: f64, rows: f64) -> f64 {
    if combinations <= 0.0 || rows <= 0.0 {
        return 1.0;
    }
    (combinations * (1.0 - (-rows / combinations).exp())).clamp(1.0, rows)
}

/// The estimated size in bytes of a btree index over `keys` (then `include`) of a table,
/// holding `rows` rows (the table's `reltuples`, times the predicate's selectivity for a partial
/// index). `deduplication`: the server has it (PostgreSQL 13+). Columns are taken as independent:
/// correlated keys (a pair that repeats, as TPC-H's `(l_suppkey, l_partkey)`) deduplicate more than
/// estimated. `None` when a column's width is
/// unknown (an expression key, a variable-length column never analyzed).
pub fn estimate_btree_bytes(
    rows: f64,
    keys: &[&ColumnStats],
    include: &[&ColumnStats],
    deduplication: bool,
) -> Option<i64> {
    if keys.is_empty() {
        return None;
    }
    let rows = rows.max(0.0);
    let key_bytes = data_bytes(keys)?;
    let all: Vec<&ColumnStats> = keys.iter().chain(include).copied().collect();
    let row_bytes = data_bytes(&all)?;
    let leaf_space = (PAGE_BYTES - PAGE_OVERHEAD_BYTES) * LEAF_FILL;
    let plain_tuple = align(INDEX_TUPLE_HEADER + row_bytes, MAXALIGN) + LINE_POINTER;

    let groups = if deduplication && include.is_empty() && keys.iter().all(|k| deduplicable(k)) {
        keys.iter()
            .map(|k| distinct(k, rows))
            .try_fold(1.0_f64, |product, d| Some(product * d?))
            .map(|combinations| {
                // One column: its statistics count its distinct values. Several: their product is
                // what is possible, of which the rows fill a share.
                if keys.len() == 1 {
                    combinations.min(rows)
                } else {
                    distinct_rows(combinations, rows)
                }
            })
    } else {
        None
    };
    let base = align(INDEX_TUPLE_HEADER + key_bytes, MAXALIGN);
    let leaf_bytes = match groups {
        Some(groups) if groups >= 1.0 && rows / groups >= 2.0 => {
            let per_group = rows / groups;
            let per_posting = ((MAX_POSTING_BYTES - base) / HEAP_POINTER).floor().max(2.0);
            let postings = (per_group / per_posting).ceil();
            let group_bytes = postings * (base + LINE_POINTER)
                + align(per_group * HEAP_POINTER, MAXALIGN)
                + (postings - 1.0) * MAXALIGN / 2.0;
            groups * group_bytes
        }
        // Between one and two rows a key on average: the duplicates pair up, each pair one tuple
        // with a two-entry posting list instead of two tuples.
        Some(groups) if groups >= 1.0 && rows > groups => {
            let pairs = rows - groups;
            (rows - 2.0 * pairs) * plain_tuple
                + pairs * (align(base + 2.0 * HEAP_POINTER, MAXALIGN) + LINE_POINTER)
        }
        _ => rows * plain_tuple,
    };
    let leaves = (leaf_bytes / leaf_space).ceil().max(1.0);

    // Internal levels: one pivot (keys only) per page below, until one root page.
    let pivot = align(INDEX_TUPLE_HEADER + key_bytes, MAXALIGN) + LINE_POINTER;
    let per_internal = ((PAGE_BYTES - PAGE_OVERHEAD_BYTES) * INTERNAL_FILL / pivot)
        .floor()
        .max(2.0);
    let mut pages = leaves;
    let mut level = leaves;
    while level > 1.0 {
        level = (level / per_internal).ceil();
        pages += level;
    }
    // The metapage.
    pages += 1.0;
    Some((pages * PAGE_BYTES) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn column(
        name: &str,
        base: &str,
        typlen: i16,
        typalign: &str,
        avg: i32,
        nd: f64,
    ) -> ColumnStats {
        ColumnStats {
            name: name.into(),
            base: base.into(),
            typlen,
            typalign: typalign.into(),
            typcategory: "N".into(),
            avg_width: Some(avg),
            n_distinct: Some(nd),
            null_frac: 0.0,
        }
    }

    fn mib(bytes: i64) -> f64 {
        bytes as f64 / 1024.0 / 1024.0
    }

    #[test]
    fn a_unique_int_key_takes_sixteen_bytes_a_row_at_ninety_percent() {
        let id = column("id", "int4", 4, "i", 4, -1.0);
        let bytes = estimate_btree_bytes(1_000_000.0, &[&id], &[], true).unwrap();
        // 1M × 20 bytes / (8152 × 0.9) = 2,726 leaves, plus ~10 internal pages and the metapage:
        // PostgreSQL builds 22 MB for this (2,745 pages).
        assert!((mib(bytes) - 21.4).abs() < 0.5, "{}", mib(bytes));
    }

    #[test]
    fn duplicates_are_deduplicated_unless_include_or_a_type_forbids_it() {
        let day = column("day", "date", 4, "i", 4, 2400.0);
        let deduplicated = estimate_btree_bytes(300_000.0, &[&day], &[], true).unwrap();
        let without = estimate_btree_bytes(300_000.0, &[&day], &[], false).unwrap();
        assert!(deduplicated * 2 < without, "{deduplicated} vs {without}");
        let key = column("k", "int8", 8, "d", 8, 10.0);
        let with_include = estimate_btree_bytes(300_000.0, &[&day], &[&key], true).unwrap();
        assert!(with_include > without, "{with_include} vs {without}");
        let price = column("price", "numeric", -1, "i", 7, 2400.0);
        let numeric = estimate_btree_bytes(300_000.0, &[&price], &[], true).unwrap();
        let numeric_no_dedup = estimate_btree_bytes(300_000.0, &[&price], &[], false).unwrap();
        assert_eq!(numeric, numeric_no_dedup);
    }

    #[test]
    fn an_unknown_width_gives_no_estimate_and_fewer_rows_a_smaller_one() {
        let mut note = column("note", "text", -1, "i", 0, -1.0);
        note.avg_width = None;
        assert_eq!(estimate_btree_bytes(1000.0, &[&note], &[], true), None);
        let id = column("id", "int4", 4, "i", 4, -1.0);
        let all = estimate_btree_bytes(1_000_000.0, &[&id], &[], true).unwrap();
        let partial = estimate_btree_bytes(10_000.0, &[&id], &[], true).unwrap();
        assert!(partial * 50 < all, "{partial} vs {all}");
        assert_eq!(estimate_btree_bytes(0.0, &[&id], &[], true), Some(16384));
    }
}
