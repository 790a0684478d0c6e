//! One view for every statement that aggregates the same table by the same key: the product page's
//! derived table `(SELECT product_id, count(*) AS review_count, avg(rating) AS avg_rating FROM
//! reviews GROUP BY product_id)` and the category listing's `avg(r.rating)` over `JOIN reviews r`
//! both read `reviews` grouped by `product_id`, so they share a view holding the union of their
//! aggregates instead of two views refreshed side by side.
//!
//! Views merge when their base table, WHERE and group keys are the same (compared without table
//! qualifiers, which a one-table view does not need). An aggregate already in the shared view is
//! reused under the shared view's column name; the statement's rewrite is renamed to match, but
//! only where every reference to the view's column is qualified by the view's alias (an
//! unqualified name could belong to another table): otherwise that view stays on its own.

use sqlparser::ast::{Expr, GroupByExpr, SelectItem, SetExpr, Statement, TableFactor};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::keywords::Keyword;
use sqlparser::parser::Parser;
use sqlparser::tokenizer::{Token, Tokenizer};

use super::MatviewSuggestion;
use super::statement::{ident_name, unique_name};
use crate::pg::{quote_ident, quote_qualified};

/// A view's definition, read back from its `CREATE MATERIALIZED VIEW`.
#[derive(Debug, Clone)]
struct Definition {
    schema: Option<String>,
    table: String,
    /// The WHERE and GROUP BY, canonical (no qualifiers, lower-case keywords).
    filter: Option<String>,
    group_by: Vec<String>,
    /// The WHERE and GROUP BY as written (qualifiers removed), for the shared view's SQL.
    filter_sql: Option<String>,
    group_by_sql: Vec<String>,
    /// Every column: name, canonical expression, expression as written (qualifiers removed).
    columns: Vec<Column>,
}

#[derive(Debug, Clone)]
struct Column {
    name: String,
    canonical: String,
    sql: String,
}

impl Definition {
    fn read(view: &MatviewSuggestion) -> Option<Definition> {
        let mut statements = Parser::parse_sql(&PostgreSqlDialect {}, &view.create_sql).ok()?;
        let Statement::CreateView(create) = statements.pop()? else {
            return None;
        };
        let query = create.query;
        if query.with.is_some() || query.order_by.is_some() || query.limit_clause.is_some() {
            return None;
        }
        let SetExpr::Select(select) = query.body.as_ref() else {
            return None;
        };
        let [from] = select.from.as_slice() else {
            return None;
        };
        if !from.joins.is_empty() || select.having.is_some() || select.distinct.is_some() {
            return None;
        }
        let TableFactor::Table { name, alias, .. } = &from.relation else {
            return None;
        };
        let parts: Vec<String> = name
            .0
            .iter()
            .filter_map(|p| p.as_ident().map(ident_name))
            .collect();
        let (schema, table) = match parts.as_slice() {
            [table] => (None, table.clone()),
            [schema, table] => (Some(schema.clone()), table.clone()),
            _ => return None,
        };
        let mut qualifiers = vec![table.clone()];
        if let Some(alias) = alias {
            qualifiers.push(ident_name(&alias.name));
        }
        let GroupByExpr::Expressions(keys, modifiers) = &select.group_by else {
            return None;
        };
        if !modifiers.is_empty() {
            return None;
        }
        let mut columns = Vec::new();
        for item in &select.projection {
            let SelectItem::ExprWithAlias { expr, alias } = item else {
                return None;
            };
            let (canonical, sql) = unqualified(&expr.to_string(), &qualifiers)?;
            columns.push(Column {
                name: ident_name(alias),
                canonical,
                sql,
            });
        }
        let read = |e: &Expr| unqualified(&e.to_string(), &qualifiers);
        let keys = keys.iter().map(read).collect::<Option<Vec<_>>>()?;
        let filter = match &select.selection {
            Some(e) => Some(read(e)?),
            None => None,
        };
        Some(Definition {
            schema,
            table,
            filter: filter.as_ref().map(|(c, _)| c.clone()),
            filter_sql: filter.map(|(_, s)| s),
            group_by: keys.iter().map(|(c, _)| c.clone()).collect(),
            group_by_sql: keys.into_iter().map(|(_, s)| s).collect(),
            columns,
        })
    }

    /// Views another can share: same table, WHERE and group keys.
    fn same_source(&self, other: &Definition) -> bool {
        self.schema == other.schema
            && self.table == other.table
            && self.filter == other.filter
            && self.group_by == other.group_by
    }

    fn create_sql(&self, qualified_name: &str) -> String {
        let columns: Vec<String> = self
            .columns
            .iter()
            .map(|c| format!("{} AS {}", c.sql, quote_ident(&c.name)))
            .collect();
        format!(
            "CREATE MATERIALIZED VIEW IF NOT EXISTS {qualified_name} AS SELECT {} FROM {}{} GROUP BY {}",
            columns.join(", "),
            quote_qualified(self.schema.as_deref(), &self.table),
            self.filter_sql
                .as_ref()
                .map(|f| format!(" WHERE {f}"))
                .unwrap_or_default(),
            self.group_by_sql.join(", ")
        )
    }
}

/// `text` without the `qualifier.` prefixes of `qualifiers`: (canonical form, SQL as written).
fn unqualified(text: &str, qualifiers: &[String]) -> Option<(String, String)> {
    let tokens = Tokenizer::new(&PostgreSqlDialect {}, text)
        .tokenize()
        .ok()?;
    let mut kept: Vec<&Token> = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        let qualifier = matches!(&tokens[i], Token::Word(w) if qualifiers.contains(&word_name(w)))
            && tokens.get(i + 1) == Some(&Token::Period)
            && !matches!(kept.last(), Some(Token::Period));
        if qualifier {
            i += 2;
            continue;
        }
        kept.push(&tokens[i]);
        i += 1;
    }
    let sql: String = kept.iter().map(|t| t.to_string()).collect();
    let canonical: String = kept
        .iter()
        .filter(|t| !matches!(t, Token::Whitespace(_)))
        .map(|t| match t {
            Token::Word(w) => word_name(w),
            other => other.to_string(),
        })
        .collect::<Vec<_>>()
        .join(" ");
    Some((canonical, sql))
}

fn word_name(word: &sqlparser::tokenizer::Word) -> String {
    if word.quote_style.is_some() {
        word.value.clone()
    } else {
        word.value.to_lowercase()
    }
}

/// Merge views over the same table, WHERE and group keys into one (the first one's name), in
/// place: afterwards they have the same name and definition, and each statement's rewrite reads
/// the shared view's columns. Views that cannot be merged safely are left as they were.
pub fn share_views(views: &mut [MatviewSuggestion]) {
    let definitions: Vec<Option<Definition>> = views.iter().map(Definition::read).collect();
    let mut merged = vec![false; views.len()];
    // The shared view takes its column names from a view whose statement exposes them (a derived
    // table's `rs.review_count` in the select list): those cannot be renamed, while the reads of
    // an aggregate over a join (`max("r"."n")`) can. So such views lead.
    let mut order: Vec<usize> = (0..views.len()).collect();
    order.sort_by_key(|&i| renamable(&views[i]));
    for first in order {
        if merged[first] {
            continue;
        }
        let Some(mut shared) = definitions[first].clone() else {
            continue;
        };
        let mut members = vec![first];
        let mut renames: Vec<(usize, Vec<(String, String)>)> = Vec::new();
        for other in (0..views.len()).filter(|&o| o != first) {
            let Some(definition) = &definitions[other] else {
                continue;
            };
            if merged[other]
                || !shared.same_source(definition)
                || views[other].key_columns != views[first].key_columns
            {
                continue;
            }
            let mut candidate = shared.clone();
            let mut renamed = Vec::new();
            for column in &definition.columns {
                match candidate
                    .columns
                    .iter()
                    .find(|c| c.canonical == column.canonical)
                {
                    Some(existing) if existing.name == column.name => {}
                    Some(existing) => renamed.push((column.name.clone(), existing.name.clone())),
                    None => {
                        let taken: Vec<String> =
                            candidate.columns.iter().map(|c| c.name.clone()).collect();
                        let name = unique_name(column.name.clone(), &taken);
                        if name != column.name {
                            renamed.push((column.name.clone(), name.clone()));
                        }
                        candidate.columns.push(Column {
                            name,
                            ..column.clone()
                        });
                    }
                }
            }
            let rewritable = renamed.is_empty()
                || views[other].rewritten.as_deref().is_some_and(|sql| {
                    rename_columns(sql, &views[other].qualified_name(), &renamed).is_some()
                });
            if !rewritable {
                continue;
            }
            shared = candidate;
            members.push(other);
            renames.push((other, renamed));
        }
        if members.len() == 1 {
            continue;
        }
        let name = views[first].name.clone();
        for &member in &members {
            merged[member] = true;
            views[member].rename(&name);
        }
        let create_sql = shared.create_sql(&views[first].qualified_name());
        for &member in &members {
            views[member].create_sql = create_sql.clone();
        }
        for (member, renamed) in renames {
            if renamed.is_empty() {
                continue;
            }
            let view = views[member].qualified_name();
            if let Some(sql) = views[member].rewritten.as_deref()
                && let Some(new) = rename_columns(sql, &view, &renamed)
            {
                views[member].rewritten = Some(new);
            }
        }
    }
}

/// Whether every column `view`'s rewrite reads could take another name.
fn renamable(view: &MatviewSuggestion) -> bool {
    let Some(definition) = Definition::read(view) else {
        return false;
    };
    let every: Vec<(String, String)> = definition
        .columns
        .iter()
        .filter(|c| !view.key_columns.contains(&c.name))
        .map(|c| (c.name.clone(), format!("{}_renamed", c.name)))
        .collect();
    view.rewritten
        .as_deref()
        .is_some_and(|sql| rename_columns(sql, &view.qualified_name(), &every).is_some())
}

/// `sql` (a statement reading `view` under an alias) with the view's columns renamed, or `None`
/// when a column to rename also appears unqualified (it could be another table's).
fn rename_columns(sql: &str, view: &str, renamed: &[(String, String)]) -> Option<String> {
    let alias = view_alias(sql, view)?;
    let tokens = Tokenizer::new(&PostgreSqlDialect {}, sql).tokenize().ok()?;
    let mut out = String::with_capacity(sql.len());
    let mut out_tokens = tokens.clone();
    // Positions of the tokens that are not whitespace, to look behind a word.
    let solid: Vec<usize> = (0..tokens.len())
        .filter(|&i| !matches!(tokens[i], Token::Whitespace(_)))
        .collect();
    for (k, &i) in solid.iter().enumerate() {
        let before = |n: usize| k.checked_sub(n).map(|j| &tokens[solid[j]]);
        if let Token::Word(w) = &tokens[i]
            && let Some((_, new)) = renamed.iter().find(|(old, _)| *old == word_name(w))
        {
            // `AS n` names an output column, not the view's.
            let output_alias =
                matches!(before(1), Some(Token::Word(a)) if a.keyword == Keyword::AS);
            // Only inside a call (`max("r"."n")`): a bare `rs.n` in a select list names the
            // statement's output column, which a rename would change.
            let qualified = before(1) == Some(&Token::Period)
                && matches!(before(2), Some(Token::Word(q)) if word_name(q) == alias)
                && before(3) == Some(&Token::LParen);
            if qualified && !new.contains('"') {
                out_tokens[i] = Token::make_word(new, Some('"'));
            } else if qualified || !output_alias {
                return None;
            }
        }
    }
    for token in &out_tokens {
        out.push_str(&token.to_string());
    }
    Some(out)
}

/// The alias `view` is read under in `sql` (its name when it has none).
fn view_alias(sql: &str, view: &str) -> Option<String> {
    let tokens: Vec<Token> = Tokenizer::new(&PostgreSqlDialect {}, sql)
        .tokenize()
        .ok()?
        .into_iter()
        .filter(|t| !matches!(t, Token::Whitespace(_)))
        .collect();
    let view_tokens: Vec<Token> = Tokenizer::new(&PostgreSqlDialect {}, view)
        .tokenize()
        .ok()?
        .into_iter()
        .filter(|t| !matches!(t, Token::Whitespace(_)))
        .collect();
    let start = tokens
        .windows(view_tokens.len())
        .position(|w| w == view_tokens.as_slice())?;
    let after = &tokens[start + view_tokens.len()..];
    let name = |t: &Token| match t {
        Token::Word(w) if w.quote_style.is_some() || w.keyword == Keyword::NoKeyword => {
            Some(word_name(w))
        }
        _ => None,
    };
    match after {
        [Token::Word(w), next, ..] if w.keyword == Keyword::AS => name(next),
        [first, ..] if name(first).is_some() => name(first),
        _ => match view_tokens.last() {
            Some(Token::Word(w)) => Some(word_name(w)),
            _ => None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(create_sql: &str, rewritten: &str) -> MatviewSuggestion {
        MatviewSuggestion {
            schema: Some("public".into()),
            name: "reviews_by_product_id_stats".into(),
            base_table: "reviews".into(),
            key_columns: vec!["product_id".into()],
            create_sql: create_sql.into(),
            unique_index_sql: String::new(),
            refresh_sql: String::new(),
            rewritten: Some(rewritten.into()),
            reason: String::new(),
            node_id: 0,
        }
    }

    const DERIVED: &str = r#"CREATE MATERIALIZED VIEW IF NOT EXISTS "public"."reviews_by_product_id_stats" AS SELECT product_id AS "product_id", count(*) AS "review_count", avg(rating) AS "avg_rating" FROM "public"."reviews" GROUP BY product_id"#;
    const JOINED: &str = r#"CREATE MATERIALIZED VIEW IF NOT EXISTS "public"."reviews_by_product_id_stats" AS SELECT "r"."product_id" AS "product_id", count(*) AS "n", avg(r.rating) AS "avg_rating", max(r.rating) AS "max_rating" FROM "public"."reviews" AS "r" GROUP BY "r"."product_id""#;

    #[test]
    fn views_over_the_same_table_and_key_become_one_with_every_aggregate() {
        let mut views = [
            view(
                DERIVED,
                r#"SELECT p.id, rs.review_count FROM products p LEFT JOIN "public"."reviews_by_product_id_stats" AS "rs" ON rs.product_id = p.id"#,
            ),
            view(
                JOINED,
                r#"SELECT p.id, coalesce(max("r"."n"), 0) * count(*) AS n, max("r"."avg_rating"), max("r"."max_rating") FROM products p JOIN "public"."reviews_by_product_id_stats" AS "r" ON r.product_id = p.id GROUP BY p.id"#,
            ),
        ];
        share_views(&mut views);
        assert_eq!(views[0].create_sql, views[1].create_sql);
        assert_eq!(views[0].name, views[1].name);
        assert_eq!(
            views[0].create_sql,
            r#"CREATE MATERIALIZED VIEW IF NOT EXISTS "public"."reviews_by_product_id_stats" AS SELECT product_id AS "product_id", count(*) AS "review_count", avg(rating) AS "avg_rating", max(rating) AS "max_rating" FROM "public"."reviews" GROUP BY product_id"#
        );
        // count(*) is the shared view's review_count: the second rewrite reads it under that name.
        assert_eq!(
            views[1].rewritten.as_deref(),
            Some(
                r#"SELECT p.id, coalesce(max("r"."review_count"), 0) * count(*) AS n, max("r"."avg_rating"), max("r"."max_rating") FROM products p JOIN "public"."reviews_by_product_id_stats" AS "r" ON r.product_id = p.id GROUP BY p.id"#
            )
        );
    }

    #[test]
    fn the_view_whose_statement_exposes_its_column_names_leads() {
        // The listing as written comes first, and its count(r.id) is named like the page's
        // count(*): the page's rewrite shows `rs.review_count` as an output column, so the page's
        // names stay and the listing reads its count under another name.
        let joined = JOINED.replace(r#"count(*) AS "n""#, r#"count(r.id) AS "review_count""#);
        let mut views = [
            view(
                &joined,
                r#"SELECT p.id, coalesce(max("r"."review_count"), 0) * count(*) AS review_count FROM products p JOIN "public"."reviews_by_product_id_stats" AS "r" ON r.product_id = p.id GROUP BY p.id"#,
            ),
            view(
                DERIVED,
                r#"SELECT p.id, rs.review_count FROM products p LEFT JOIN "public"."reviews_by_product_id_stats" AS "rs" ON rs.product_id = p.id"#,
            ),
        ];
        share_views(&mut views);
        assert_eq!(views[0].create_sql, views[1].create_sql);
        assert!(
            views[0]
                .create_sql
                .contains(r#"count(*) AS "review_count", avg(rating) AS "avg_rating", count(id) AS "review_count_2""#),
            "{}",
            views[0].create_sql
        );
        assert!(
            views[1]
                .rewritten
                .as_deref()
                .unwrap()
                .contains("rs.review_count FROM"),
            "{:?}",
            views[1].rewritten
        );
        assert!(
            views[0]
                .rewritten
                .as_deref()
                .unwrap()
                .contains(r#"coalesce(max("r"."review_count_2"), 0) * count(*) AS review_count"#),
            "{:?}",
            views[0].rewritten
        );
    }

    #[test]
    fn an_unqualified_reference_to_a_renamed_column_keeps_views_apart() {
        let mut views = [
            view(DERIVED, "SELECT 1"),
            view(
                JOINED,
                r#"SELECT n FROM products p JOIN "public"."reviews_by_product_id_stats" AS "r" ON r.product_id = p.id"#,
            ),
        ];
        let before = views.clone();
        share_views(&mut views);
        assert_eq!(views, before);
    }

    #[test]
    fn different_keys_or_filters_are_not_merged() {
        let other_key = DERIVED.replace("GROUP BY product_id", "GROUP BY user_id");
        let mut views = [view(DERIVED, "SELECT 1"), view(&other_key, "SELECT 2")];
        let before = views.clone();
        share_views(&mut views);
        assert_eq!(views, before);
    }
}
