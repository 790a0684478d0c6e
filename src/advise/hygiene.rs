//! Index hygiene, judged from catalog facts alone (read by [`crate::pg::indexes`]): which indexes
//! can go — INVALID leftovers of a failed concurrent build, duplicates of another index, btrees
//! whose keys lead another btree's, and indexes no scan used since the statistics were reset —
//! each with its size, a reason with the numbers, and its `DROP INDEX CONCURRENTLY`.
//!
//! What enforces something is never proposed: an index backing a PRIMARY KEY, UNIQUE or
//! EXCLUSION constraint, one that foreign keys reference, the replica identity, or any unique
//! index (it rejects duplicates whether or not a constraint names it). An index another finding
//! relies on to take over its scans is never proposed as unused.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::pg::indexes::{INDOPTION_DESC, INDOPTION_NULLS_FIRST, IndexFacts, StatisticsWindow};
use crate::pg::quote_qualified;
use crate::units::{fmt_bytes, fmt_count};

/// Statistics younger than this are said to be too short a window to trust "never scanned".
pub const SHORT_WINDOW_SECS: f64 = 7.0 * 86_400.0;

/// What is wrong with an index. Their spellings are the JSON report's and `--only`'s.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum HygieneKind {
    /// `indisvalid = false` and no build working on it: a failed concurrent build's leftover.
    Invalid,
    /// Same table and the same definition as another index.
    Duplicate,
    /// A btree whose keys are a leading prefix of another btree's on the same table.
    Redundant,
    /// No scan since the statistics were reset.
    Unused,
}

impl HygieneKind {
    pub const ALL: [HygieneKind; 4] = [
        HygieneKind::Invalid,
        HygieneKind::Duplicate,
        HygieneKind::Redundant,
        HygieneKind::Unused,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            HygieneKind::Invalid => "invalid",
            HygieneKind::Duplicate => "duplicate",
            HygieneKind::Redundant => "redundant",
            HygieneKind::Unused => "unused",
        }
    }
}

impl fmt::Display for HygieneKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for HygieneKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        HygieneKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s.trim())
            .ok_or_else(|| {
                format!("unknown kind `{s}`: expected unused, duplicate, redundant or invalid")
            })
    }
}

/// One index that can go.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct HygieneFinding {
    pub kind: HygieneKind,
    pub schema: String,
    pub table: String,
    pub index: String,
    /// `pg_get_indexdef`: what the index is, and what to run to build it again.
    pub definition: String,
    pub size_bytes: i64,
    /// Scans counted since the statistics reset.
    pub scans: i64,
    /// For a duplicate or redundant index: the index that stays and serves its scans.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kept: Option<String>,
    /// Why, in words a DBA would accept, with the numbers.
    pub reason: String,
    /// `DROP INDEX CONCURRENTLY "schema"."index";`
    pub drop_sql: String,
}

/// What the statistics cover, as the report states it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StatisticsSummary {
    /// Seconds since the database's statistics were reset; `null` when never reset.
    pub reset_age_secs: Option<f64>,
    /// The same in words: `reset 34 days ago`, `never reset`.
    pub description: String,
    /// Whether the window is short enough that "never scanned" is weak evidence.
    pub short_window: bool,
    /// What the counts cannot see (standbys, `track_counts = off`).
    pub caveats: Vec<String>,
}

/// Every finding, worst kind first, and what the statistics cover.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct HygieneAdvice {
    pub statistics: StatisticsSummary,
    pub findings: Vec<HygieneFinding>,
    /// The indexes looked at.
    pub indexes_examined: usize,
    /// The sum of the findings' sizes.
    pub reclaimable_bytes: i64,
}

/// `3 days`, `5 hours`, `12 minutes`, `40 seconds`.
pub fn fmt_age(secs: f64) -> String {
    let secs = secs.max(0.0);
    let (value, unit) = if secs >= 2.0 * 86_400.0 {
        (secs / 86_400.0, "day")
    } else if secs >= 2.0 * 3_600.0 {
        (secs / 3_600.0, "hour")
    } else if secs >= 2.0 * 60.0 {
        (secs / 60.0, "minute")
    } else {
        (secs, "second")
    };
    let value = value.floor() as i64;
    format!("{value} {unit}{}", if value == 1 { "" } else { "s" })
}

/// `DROP INDEX CONCURRENTLY "schema"."index";`
pub fn drop_sql(schema: &str, index: &str) -> String {
    format!(
        "DROP INDEX CONCURRENTLY {};",
        quote_qualified(Some(schema), index)
    )
}

/// The index stands for something beyond speed: a constraint, foreign keys, the replica
/// identity, or uniqueness itself.
pub fn enforces_something(index: &IndexFacts) -> bool {
    index.is_primary
        || index.is_unique
        || index.is_exclusion
        || index.is_replica_identity
        || !index.constraints.is_empty()
}

/// What an index backs, in words: `the primary key "orders_pkey"`, `foreign key "x" of "items"`.
pub fn what_it_backs(index: &IndexFacts) -> Vec<String> {
    let mut backs: Vec<String> = index
        .constraints
        .iter()
        .map(|c| match c.kind {
            'p' => format!("the primary key \"{}\"", c.name),
            'u' => format!("the unique constraint \"{}\"", c.name),
            'x' => format!("the exclusion constraint \"{}\"", c.name),
            'f' => format!("the foreign key \"{}\" of {}", c.name, c.table),
            _ => format!("the constraint \"{}\"", c.name),
        })
        .collect();
    if index.is_replica_identity {
        backs.push("the table's replica identity".to_string());
    }
    backs
}

fn droppable(index: &IndexFacts) -> bool {
    !index.is_partition_index && !index.being_built
}

fn usable(index: &IndexFacts) -> bool {
    index.is_valid && index.is_ready && droppable(index)
}

/// The definition that makes two indexes interchangeable; uniqueness is compared apart.
fn same_definition(a: &IndexFacts, b: &IndexFacts) -> bool {
    a.method == b.method
        && a.keys == b.keys
        && a.opclasses == b.opclasses
        && a.collations == b.collations
        && a.options == b.options
        && a.include == b.include
        && a.predicate == b.predicate
}

/// Whether `long` (a btree) serves every scan of `short`: its keys start with `short`'s (same
/// expressions, operator classes, collations, and order either the same or all reversed — a
/// btree is read backwards as well), same predicate, and what `short` carries for index-only
/// scans (its INCLUDE) is in `long` too.
fn covers(long: &IndexFacts, short: &IndexFacts) -> bool {
    let n = short.keys.len();
    // Same keys count only when the other one also carries more INCLUDE columns.
    let longer =
        long.keys.len() > n || (long.keys.len() == n && long.include.len() > short.include.len());
    if long.method != "btree" || short.method != "btree" || !longer || n == 0 {
        return false;
    }
    if long.predicate != short.predicate
        || long.keys[..n] != short.keys[..]
        || long.opclasses.get(..n) != short.opclasses.get(..n)
        || long.collations.get(..n) != short.collations.get(..n)
    {
        return false;
    }
    let (Some(long_options), Some(short_options)) = (long.options.get(..n), short.options.get(..n))
    else {
        return false;
    };
    let flip = INDOPTION_DESC | INDOPTION_NULLS_FIRST;
    let same = long_options == short_options;
    let reversed = long_options
        .iter()
        .zip(short_options)
        .all(|(l, s)| (l ^ s) & flip == flip);
    if !(same || reversed) {
        return false;
    }
    short
        .include
        .iter()
        .all(|c| long.keys.contains(c) || long.include.contains(c))
}

/// Judge every index. `window` says what the scan counts cover.
pub fn judge(indexes: &[IndexFacts], window: &StatisticsWindow) -> HygieneAdvice {
    let statistics = summarize(window);
    let mut findings: Vec<HygieneFinding> = Vec::new();
    // Indexes proposed for dropping, and those another finding relies on.
    let mut dropped: BTreeSet<i64> = BTreeSet::new();
    let mut relied_on: BTreeSet<i64> = BTreeSet::new();

    for index in indexes {
        if !index.is_valid && droppable(index) && index.constraints.is_empty() {
            findings.push(invalid(index));
            dropped.insert(index.oid);
        }
    }

    // Duplicates: groups of the same definition on the same table.
    let mut groups: BTreeMap<(&str, &str), Vec<&IndexFacts>> = BTreeMap::new();
    for index in indexes.iter().filter(|i| usable(i)) {
        groups
            .entry((&index.schema, &index.table))
            .or_default()
            .push(index);
    }
    for table_indexes in groups.values() {
        let mut seen: BTreeSet<i64> = BTreeSet::new();
        for (i, first) in table_indexes.iter().enumerate() {
            if seen.contains(&first.oid) {
                continue;
            }
            let mut group: Vec<&IndexFacts> = vec![first];
            for other in &table_indexes[i + 1..] {
                if !seen.contains(&other.oid) && same_definition(first, other) {
                    group.push(other);
                }
            }
            if group.len() < 2 {
                continue;
            }
            seen.extend(group.iter().map(|g| g.oid));
            // Among equals the one the planner has been using stays: its scan count goes on
            // telling the truth about the pair, where a kept twin with none would look unused
            // once the other is gone.
            group.sort_by_key(|g| {
                (
                    g.constraints.is_empty(),
                    !g.is_replica_identity,
                    !g.is_unique,
                    std::cmp::Reverse(g.scans),
                    g.oid,
                )
            });
            let keeper = group[0];
            for extra in &group[1..] {
                // A unique index is a duplicate only of one enforcing the very same uniqueness.
                let loses_uniqueness = extra.is_unique
                    && !(keeper.is_unique && keeper.nulls_not_distinct == extra.nulls_not_distinct);
                if loses_uniqueness
                    || !extra.constraints.is_empty()
                    || extra.is_replica_identity
                    || extra.is_exclusion
                {
                    continue;
                }
                findings.push(duplicate(extra, keeper));
                dropped.insert(extra.oid);
                relied_on.insert(keeper.oid);
            }
        }
    }

    // Prefix-redundant btrees, the longest first, each covered by one that stays.
    let mut covered_by: BTreeMap<i64, &IndexFacts> = BTreeMap::new();
    let mut by_length: Vec<&IndexFacts> = indexes.iter().filter(|i| usable(i)).collect();
    by_length.sort_by_key(|i| (std::cmp::Reverse(i.keys.len()), i.oid));
    for short in &by_length {
        if dropped.contains(&short.oid) || enforces_something(short) {
            continue;
        }
        let coverer = by_length
            .iter()
            .filter(|long| {
                long.schema == short.schema
                    && long.table == short.table
                    && !dropped.contains(&long.oid)
                    && covers(long, short)
            })
            .min_by_key(|long| (long.size_bytes, long.oid));
        if let Some(long) = coverer {
            findings.push(redundant(short, long));
            dropped.insert(short.oid);
            relied_on.insert(long.oid);
            covered_by.insert(short.oid, long);
        }
    }
    // A duplicate whose kept twin turned out redundant is served by what covers that twin.
    for finding in &mut findings {
        if finding.kind != HygieneKind::Duplicate {
            continue;
        }
        let twin = indexes
            .iter()
            .find(|i| Some(&i.name) == finding.kept.as_ref() && i.schema == finding.schema);
        let extra = indexes
            .iter()
            .find(|i| i.name == finding.index && i.schema == finding.schema);
        if let (Some(twin), Some(extra)) = (twin, extra)
            && let Some(long) = covered_by.get(&twin.oid)
        {
            *finding = redundant(extra, long);
        }
    }

    if window.track_counts {
        for index in indexes.iter().filter(|i| usable(i)) {
            if index.scans > 0
                || dropped.contains(&index.oid)
                || relied_on.contains(&index.oid)
                || enforces_something(index)
            {
                continue;
            }
            findings.push(unused(index, window, &statistics));
            dropped.insert(index.oid);
        }
    }

    findings.sort_by(|a, b| {
        (a.kind, &a.schema, &a.table, &a.index).cmp(&(b.kind, &b.schema, &b.table, &b.index))
    });
    HygieneAdvice {
        reclaimable_bytes: findings.iter().map(|f| f.size_bytes).sum(),
        statistics,
        findings,
        indexes_examined: indexes.len(),
    }
}

fn summarize(window: &StatisticsWindow) -> StatisticsSummary {
    let description = match window.reset_age_secs {
        Some(age) => format!("reset {} ago", fmt_age(age)),
        None => "never reset (they count since the database was created, or since the last crash or immediate shutdown, which clears them)".to_string(),
    };
    let mut caveats = Vec::new();
    if !window.track_counts {
        caveats.push(
            "track_counts is off: no scan is counted, so unused indexes cannot be told".to_string(),
        );
    }
    if window.standbys > 0 {
        caveats.push(format!(
            "{} standby server{} stream{} from this one: scans there are not counted here; check them before dropping an unused index",
            window.standbys,
            if window.standbys == 1 { "" } else { "s" },
            if window.standbys == 1 { "s" } else { "" },
        ));
    }
    if window.in_recovery {
        caveats.push(
            "this server is a standby: only its own scans are counted; check the primary and the other standbys before dropping an unused index (and run the drop on the primary)".to_string(),
        );
    }
    StatisticsSummary {
        reset_age_secs: window.reset_age_secs,
        short_window: window
            .reset_age_secs
            .is_some_and(|age| age < SHORT_WINDOW_SECS),
        description,
        caveats,
    }
}

fn base(index: &IndexFacts, kind: HygieneKind, reason: String) -> HygieneFinding {
    HygieneFinding {
        kind,
        schema: index.schema.clone(),
        table: index.table.clone(),
        index: index.name.clone(),
        definition: index.definition.clone(),
        size_bytes: index.size_bytes,
        scans: index.scans,
        kept: None,
        reason,
        drop_sql: drop_sql(&index.schema, &index.name),
    }
}

/// `CREATE INDEX CONCURRENTLY ...` from `pg_get_indexdef`'s `CREATE [UNIQUE] INDEX ...`.
fn concurrently(definition: &str) -> String {
    definition.replacen(" INDEX ", " INDEX CONCURRENTLY ", 1)
}

/// `name_ccnew`, `name_ccnew1`, `name_ccold2`: what REINDEX CONCURRENTLY names its copies.
fn reindex_copy(name: &str) -> Option<&'static str> {
    let trimmed = name.trim_end_matches(|c: char| c.is_ascii_digit());
    if trimmed.ends_with("_ccnew") {
        Some("new")
    } else if trimmed.ends_with("_ccold") {
        Some("old")
    } else {
        None
    }
}

fn invalid(index: &IndexFacts) -> HygieneFinding {
    let cost = if index.is_ready {
        "yet every insert and non-HOT update of the table still writes it"
    } else {
        "it is not even maintained"
    };
    let reason = match reindex_copy(&index.name) {
        Some("new") => format!(
            "INVALID: the new copy a failed REINDEX CONCURRENTLY left ({}); the index it was rebuilding is still in place. The planner never uses it, {cost}: drop it, then run the REINDEX again if it is still wanted",
            fmt_bytes(index.size_bytes)
        ),
        Some(_) => format!(
            "INVALID: the old copy a REINDEX CONCURRENTLY that failed at its end left ({}); the rebuilt index is in place. The planner never uses it, {cost}: drop it",
            fmt_bytes(index.size_bytes)
        ),
        None => format!(
            "INVALID: a failed CREATE INDEX CONCURRENTLY (or a DROP INDEX CONCURRENTLY that gave up) left it ({}; no build is working on it now). The planner never uses it, {cost}: drop it, and if the index is wanted build it again with {}",
            fmt_bytes(index.size_bytes),
            concurrently(&index.definition)
        ),
    };
    base(index, HygieneKind::Invalid, reason)
}

fn duplicate(extra: &IndexFacts, keeper: &IndexFacts) -> HygieneFinding {
    let why_kept = {
        let backs = what_it_backs(keeper);
        if !backs.is_empty() {
            format!("it backs {}", backs.join(", "))
        } else if keeper.is_unique && !extra.is_unique {
            "it is unique, so it also serves every scan this one does".to_string()
        } else if keeper.scans > extra.scans {
            format!(
                "the planner has been using it: {} scan{}",
                fmt_count(keeper.scans as f64),
                if keeper.scans == 1 { "" } else { "s" }
            )
        } else {
            "it is the older of the two".to_string()
        }
    };
    let reason = format!(
        "same definition as \"{}\" on the same table (method, keys, operator classes, collations, order, INCLUDE and predicate): every write maintains both and the planner needs one; \"{}\" is kept ({why_kept}). This one has {} scan{} since the statistics reset, which the kept one will serve; dropping it frees {}",
        keeper.name,
        keeper.name,
        fmt_count(extra.scans as f64),
        if extra.scans == 1 { "" } else { "s" },
        fmt_bytes(extra.size_bytes),
    );
    let mut finding = base(extra, HygieneKind::Duplicate, reason);
    finding.kept = Some(keeper.name.clone());
    finding
}

fn redundant(short: &IndexFacts, long: &IndexFacts) -> HygieneFinding {
    let include = if short.include.is_empty() {
        String::new()
    } else {
        format!(
            " and it holds this one's INCLUDE columns ({})",
            short.include.join(", ")
        )
    };
    let larger = if short.size_bytes > 0 && long.size_bytes > short.size_bytes {
        format!(
            "; a scan there reads a larger index ({} against {})",
            fmt_bytes(long.size_bytes),
            fmt_bytes(short.size_bytes)
        )
    } else {
        String::new()
    };
    let relation = if long.keys.len() == short.keys.len() {
        format!(
            "it has the same keys ({}) as \"{}\", which also INCLUDEs {},",
            short.keys.join(", "),
            long.name,
            long.include.join(", ")
        )
    } else {
        format!(
            "its keys ({}) lead \"{}\" ({})",
            short.keys.join(", "),
            long.name,
            long.keys.join(", ")
        )
    };
    let reason = format!(
        "{relation} with the same operator classes, collations, order and predicate{include}, so \"{}\" serves every scan of this one ({} since the statistics reset){larger}. It is not unique, so it enforces nothing the longer one does not; dropping it frees {} and a write to maintain",
        long.name,
        fmt_count(short.scans as f64),
        fmt_bytes(short.size_bytes),
    );
    let mut finding = base(short, HygieneKind::Redundant, reason);
    finding.kept = Some(long.name.clone());
    finding
}

fn unused(
    index: &IndexFacts,
    window: &StatisticsWindow,
    statistics: &StatisticsSummary,
) -> HygieneFinding {
    // Created after the reset: its own age is the window its zero covers.
    let created_after_reset = index
        .created_age_secs
        .is_some_and(|created| window.reset_age_secs.is_none_or(|reset| created < reset));
    let (since, window_secs) = match (created_after_reset, index.created_age_secs) {
        (true, Some(created)) => (
            format!("since it was created {} ago", fmt_age(created)),
            Some(created),
        ),
        _ => match window.reset_age_secs {
            Some(age) => (
                format!("since the statistics were reset {} ago", fmt_age(age)),
                Some(age),
            ),
            None => (
                "since the statistics began (never reset: since the database was created or the last crash or immediate shutdown)".to_string(),
                None,
            ),
        },
    };
    let writes = index.table_inserts + index.table_non_hot_updates;
    let counted = |n: i64, what: &str| {
        format!(
            "{} {what}{}",
            fmt_count(n as f64),
            if n == 1 { "" } else { "s" }
        )
    };
    let mut writes_said = Vec::new();
    if index.table_inserts > 0 {
        writes_said.push(counted(index.table_inserts, "insert"));
    }
    if index.table_non_hot_updates > 0 {
        writes_said.push(counted(index.table_non_hot_updates, "non-HOT update"));
    }
    let cost = if writes > 0 {
        format!(
            "; meanwhile {} of {} each also wrote this index",
            writes_said.join(" and "),
            index.table,
        )
    } else {
        String::new()
    };
    let mut reason = format!(
        "no scan {since}{cost}; it takes {} (the table {})",
        fmt_bytes(index.size_bytes),
        fmt_bytes(index.table_size_bytes),
    );
    if window_secs.is_some_and(|secs| secs < SHORT_WINDOW_SECS) {
        reason.push_str(
            ". That window is short: an index used only by weekly or month-end work may not have been scanned yet; wait before dropping",
        );
    }
    for caveat in &statistics.caveats {
        reason.push_str(". ");
        reason.push_str(caveat);
    }
    base(index, HygieneKind::Unused, reason)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pg::indexes::BackedConstraint;

    fn index(oid: i64, name: &str, keys: &[&str]) -> IndexFacts {
        IndexFacts {
            oid,
            schema: "public".into(),
            table: "orders".into(),
            name: name.into(),
            method: "btree".into(),
            definition: format!(
                "CREATE INDEX {name} ON public.orders USING btree ({})",
                keys.join(", ")
            ),
            keys: keys.iter().map(|k| k.to_string()).collect(),
            opclasses: keys.iter().map(|_| 3124).collect(),
            collations: keys.iter().map(|_| 0).collect(),
            options: keys.iter().map(|_| 0).collect(),
            include: vec![],
            predicate: None,
            is_unique: false,
            nulls_not_distinct: false,
            is_primary: false,
            is_exclusion: false,
            is_replica_identity: false,
            is_valid: true,
            is_ready: true,
            is_partition_index: false,
            being_built: false,
            constraints: vec![],
            size_bytes: 8192 * 10,
            scans: 5,
            last_scan_age_secs: None,
            created_age_secs: None,
            table_size_bytes: 8192 * 100,
            table_inserts: 1000,
            table_non_hot_updates: 20,
            table_deletes: 3,
        }
    }

    fn window(reset_days: Option<f64>) -> StatisticsWindow {
        StatisticsWindow {
            reset_age_secs: reset_days.map(|d| d * 86_400.0),
            track_counts: true,
            track_commit_timestamp: false,
            standbys: 0,
            in_recovery: false,
        }
    }

    fn constraint(kind: char, name: &str) -> BackedConstraint {
        BackedConstraint {
            kind,
            name: name.into(),
            table: "orders".into(),
        }
    }

    fn kinds(advice: &HygieneAdvice) -> Vec<(HygieneKind, &str, Option<&str>)> {
        advice
            .findings
            .iter()
            .map(|f| (f.kind, f.index.as_str(), f.kept.as_deref()))
            .collect()
    }

    #[test]
    fn unused_index_names_the_window_and_the_writes_it_costs() {
        let mut idle = index(2, "orders_note_idx", &["note"]);
        idle.scans = 0;
        let advice = judge(
            &[index(1, "orders_customer_idx", &["customer_id"]), idle],
            &window(Some(30.0)),
        );
        assert_eq!(
            kinds(&advice),
            [(HygieneKind::Unused, "orders_note_idx", None)]
        );
        let finding = &advice.findings[0];
        assert_eq!(
            finding.reason,
            "no scan since the statistics were reset 30 days ago; meanwhile 1,000 inserts and 20 non-HOT updates of orders each also wrote this index; it takes 80.0 kB (the table 800.0 kB)"
        );
        assert_eq!(
            finding.drop_sql,
            r#"DROP INDEX CONCURRENTLY "public"."orders_note_idx";"#
        );
        assert_eq!(advice.reclaimable_bytes, 8192 * 10);
        assert_eq!(advice.statistics.description, "reset 30 days ago");
        assert!(!advice.statistics.short_window);
    }

    #[test]
    fn a_recent_reset_or_none_is_said() {
        let mut idle = index(2, "idle", &["note"]);
        idle.scans = 0;
        let advice = judge(std::slice::from_ref(&idle), &window(Some(0.5)));
        assert!(advice.statistics.short_window);
        assert!(
            advice.findings[0]
                .reason
                .contains("reset 12 hours ago; meanwhile"),
            "{}",
            advice.findings[0].reason
        );
        assert!(
            advice.findings[0]
                .reason
                .ends_with("That window is short: an index used only by weekly or month-end work may not have been scanned yet; wait before dropping"),
        );
        let never = judge(std::slice::from_ref(&idle), &window(None));
        assert!(never.statistics.description.starts_with("never reset"));
        assert!(
            never.findings[0]
                .reason
                .starts_with("no scan since the statistics began (never reset")
        );
    }

    #[test]
    fn an_index_created_after_the_reset_is_judged_over_its_own_age() {
        let mut idle = index(2, "idle", &["note"]);
        idle.scans = 0;
        idle.created_age_secs = Some(3.0 * 3_600.0);
        let advice = judge(&[idle], &window(Some(60.0)));
        assert!(
            advice.findings[0]
                .reason
                .starts_with("no scan since it was created 3 hours ago"),
            "{}",
            advice.findings[0].reason
        );
        assert!(advice.findings[0].reason.contains("wait before dropping"));
    }

    #[test]
    fn what_enforces_something_is_never_proposed_as_unused() {
        let mut pk = index(1, "orders_pkey", &["id"]);
        pk.is_primary = true;
        pk.is_unique = true;
        pk.constraints = vec![constraint('p', "orders_pkey")];
        let mut uq = index(2, "orders_code_key", &["code"]);
        uq.is_unique = true;
        uq.constraints = vec![constraint('u', "orders_code_key")];
        let mut ex = index(3, "orders_during_excl", &["during"]);
        ex.method = "gist".into();
        ex.is_exclusion = true;
        ex.constraints = vec![constraint('x', "orders_during_excl")];
        let mut ri = index(4, "orders_ri", &["ref"]);
        ri.is_replica_identity = true;
        let mut plain_unique = index(5, "orders_ext_uq", &["ext"]);
        plain_unique.is_unique = true;
        let mut all = vec![pk, uq, ex, ri, plain_unique];
        for i in &mut all {
            i.scans = 0;
        }
        let advice = judge(&all, &window(Some(30.0)));
        assert_eq!(kinds(&advice), []);
        assert_eq!(advice.indexes_examined, 5);
    }

    #[test]
    fn without_track_counts_nothing_is_called_unused() {
        let mut idle = index(2, "idle", &["note"]);
        idle.scans = 0;
        let mut w = window(Some(30.0));
        w.track_counts = false;
        let advice = judge(&[idle], &w);
        assert_eq!(kinds(&advice), []);
        assert_eq!(
            advice.statistics.caveats,
            ["track_counts is off: no scan is counted, so unused indexes cannot be told"]
        );
    }

    #[test]
    fn standbys_are_a_caveat_of_every_unused_finding() {
        let mut idle = index(2, "idle", &["note"]);
        idle.scans = 0;
        let mut w = window(Some(30.0));
        w.standbys = 2;
        let advice = judge(&[idle], &w);
        assert!(advice.findings[0].reason.ends_with(
            "2 standby servers stream from this one: scans there are not counted here; check them before dropping an unused index"
        ));
    }

    #[test]
    fn duplicates_keep_the_constraint_then_the_older() {
        let a = index(10, "b_dup", &["customer_id"]);
        let b = index(11, "a_dup", &["customer_id"]);
        let advice = judge(&[a.clone(), b.clone()], &window(Some(30.0)));
        assert_eq!(
            kinds(&advice),
            [(HygieneKind::Duplicate, "a_dup", Some("b_dup"))]
        );
        assert!(
            advice.findings[0]
                .reason
                .contains("\"b_dup\" is kept (it is the older of the two)")
        );

        let mut uq = index(12, "orders_customer_key", &["customer_id"]);
        uq.is_unique = true;
        uq.constraints = vec![constraint('u', "orders_customer_key")];
        let advice = judge(&[a, b, uq], &window(Some(30.0)));
        assert_eq!(
            kinds(&advice),
            [
                (HygieneKind::Duplicate, "a_dup", Some("orders_customer_key")),
                (HygieneKind::Duplicate, "b_dup", Some("orders_customer_key")),
            ]
        );
        assert!(
            advice.findings[0]
                .reason
                .contains("is kept (it backs the unique constraint \"orders_customer_key\")")
        );
    }

    #[test]
    fn between_equals_the_scanned_one_stays() {
        let mut older = index(10, "older", &["customer_id"]);
        older.scans = 0;
        let mut used = index(11, "used", &["customer_id"]);
        used.scans = 42;
        let advice = judge(&[older, used], &window(Some(30.0)));
        assert_eq!(
            kinds(&advice),
            [(HygieneKind::Duplicate, "older", Some("used"))]
        );
        assert!(
            advice.findings[0]
                .reason
                .contains("\"used\" is kept (the planner has been using it: 42 scans)"),
            "{}",
            advice.findings[0].reason
        );
    }

    #[test]
    fn different_definitions_are_not_duplicates() {
        let a = index(1, "a", &["customer_id"]);
        let mut desc = index(2, "b", &["customer_id"]);
        desc.options = vec![INDOPTION_DESC];
        let mut partial = index(3, "c", &["customer_id"]);
        partial.predicate = Some("(status = 'open'::text)".into());
        let mut collated = index(4, "d", &["customer_id"]);
        collated.collations = vec![950];
        let mut hash = index(5, "e", &["customer_id"]);
        hash.method = "hash".into();
        let mut including = index(6, "f", &["customer_id"]);
        including.include = vec!["total".into()];
        let advice = judge(
            &[a, desc, partial, collated, hash, including],
            &window(Some(30.0)),
        );
        // No duplicate; the one with INCLUDE does cover the plain one, though.
        assert_eq!(kinds(&advice), [(HygieneKind::Redundant, "a", Some("f"))]);
    }

    #[test]
    fn two_unique_constraints_on_the_same_keys_are_left_alone() {
        let mut pk = index(1, "orders_pkey", &["id"]);
        pk.is_unique = true;
        pk.is_primary = true;
        pk.constraints = vec![constraint('p', "orders_pkey")];
        let mut uq = index(2, "orders_id_key", &["id"]);
        uq.is_unique = true;
        uq.constraints = vec![constraint('u', "orders_id_key")];
        let mut plain_uq = index(3, "orders_id_uq", &["id"]);
        plain_uq.is_unique = true;
        plain_uq.nulls_not_distinct = true;
        let advice = judge(&[pk.clone(), uq, plain_uq], &window(Some(30.0)));
        // The second constraint cannot be dropped without its constraint, and a unique index
        // that treats NULLs differently enforces something else: both stay.
        assert_eq!(kinds(&advice), []);
        let mut same_uq = index(4, "orders_id_uq2", &["id"]);
        same_uq.is_unique = true;
        let advice = judge(&[pk, same_uq], &window(Some(30.0)));
        assert_eq!(
            kinds(&advice),
            [(HygieneKind::Duplicate, "orders_id_uq2", Some("orders_pkey"))]
        );
    }

    #[test]
    fn a_leading_prefix_is_redundant_and_names_its_coverer() {
        let short = index(1, "orders_customer_idx", &["customer_id"]);
        let mut long = index(
            2,
            "orders_customer_created_idx",
            &["customer_id", "created_at"],
        );
        long.size_bytes = 8192 * 30;
        let advice = judge(&[short.clone(), long.clone()], &window(Some(30.0)));
        assert_eq!(
            kinds(&advice),
            [(
                HygieneKind::Redundant,
                "orders_customer_idx",
                Some("orders_customer_created_idx")
            )]
        );
        assert_eq!(
            advice.findings[0].reason,
            "its keys (customer_id) lead \"orders_customer_created_idx\" (customer_id, created_at) with the same operator classes, collations, order and predicate, so \"orders_customer_created_idx\" serves every scan of this one (5 since the statistics reset); a scan there reads a larger index (240.0 kB against 80.0 kB). It is not unique, so it enforces nothing the longer one does not; dropping it frees 80.0 kB and a write to maintain"
        );

        // Read backwards: (customer_id DESC), NULLS FIRST by default, is served by
        // (customer_id ASC NULLS LAST, ...).
        let mut reversed = short.clone();
        reversed.options = vec![INDOPTION_DESC | INDOPTION_NULLS_FIRST];
        assert_eq!(
            kinds(&judge(&[reversed, long.clone()], &window(Some(30.0)))),
            [(
                HygieneKind::Redundant,
                "orders_customer_idx",
                Some("orders_customer_created_idx")
            )]
        );
        // DESC NULLS LAST is not the reverse of ASC NULLS LAST.
        let mut half = short.clone();
        half.options = vec![INDOPTION_DESC];
        assert_eq!(kinds(&judge(&[half, long], &window(Some(30.0)))), []);
    }

    #[test]
    fn what_a_prefix_is_not() {
        let long = index(2, "long", &["customer_id", "created_at"]);
        let mut unique = index(1, "short_unique", &["customer_id"]);
        unique.is_unique = true;
        let mut partial = index(3, "short_partial", &["customer_id"]);
        partial.predicate = Some("(status = 'open'::text)".into());
        let mut other_opclass = index(4, "short_pattern", &["customer_id"]);
        other_opclass.opclasses = vec![10_049];
        let mut including = index(5, "short_including", &["customer_id"]);
        including.include = vec!["total".into()];
        let not_leading = index(6, "short_created", &["created_at"]);
        let advice = judge(
            &[
                long.clone(),
                unique,
                partial,
                other_opclass,
                including.clone(),
                not_leading,
            ],
            &window(Some(30.0)),
        );
        assert_eq!(kinds(&advice), []);

        // INCLUDE held by the longer one's keys: covered.
        let mut holds = long.clone();
        holds.keys = vec!["customer_id".into(), "total".into()];
        assert_eq!(
            kinds(&judge(&[holds, including], &window(Some(30.0)))),
            [(HygieneKind::Redundant, "short_including", Some("long"))]
        );
    }

    #[test]
    fn a_chain_of_prefixes_keeps_the_longest_and_the_covering_index_is_not_unused() {
        let mut a = index(1, "a", &["x"]);
        a.scans = 100;
        let mut b = index(2, "ab", &["x", "y"]);
        b.scans = 0;
        let mut c = index(3, "abc", &["x", "y", "z"]);
        c.scans = 0;
        let advice = judge(&[a, b, c], &window(Some(30.0)));
        assert_eq!(
            kinds(&advice),
            [
                (HygieneKind::Redundant, "a", Some("abc")),
                (HygieneKind::Redundant, "ab", Some("abc")),
            ]
        );
    }

    #[test]
    fn a_duplicate_of_a_redundant_index_is_served_by_the_longer_one() {
        let a = index(1, "c_idx", &["customer_id"]);
        let b = index(2, "c_idx2", &["customer_id"]);
        let long = index(3, "c_created_idx", &["customer_id", "created_at"]);
        let advice = judge(&[a, b, long], &window(Some(30.0)));
        assert_eq!(
            kinds(&advice),
            [
                (HygieneKind::Redundant, "c_idx", Some("c_created_idx")),
                (HygieneKind::Redundant, "c_idx2", Some("c_created_idx")),
            ]
        );
    }

    #[test]
    fn the_same_keys_with_more_include_cover() {
        let short = index(1, "c_idx", &["customer_id"]);
        let mut covering = index(2, "c_total_idx", &["customer_id"]);
        covering.include = vec!["total".into()];
        let advice = judge(&[short, covering], &window(Some(30.0)));
        assert_eq!(
            kinds(&advice),
            [(HygieneKind::Redundant, "c_idx", Some("c_total_idx"))]
        );
        assert!(advice.findings[0].reason.starts_with(
            "it has the same keys (customer_id) as \"c_total_idx\", which also INCLUDEs total, with the same"
        ));
    }

    #[test]
    fn invalid_leftovers_are_found_unless_a_build_is_working_on_them() {
        let mut failed = index(1, "orders_code_idx", &["code"]);
        failed.is_valid = false;
        failed.definition =
            "CREATE UNIQUE INDEX orders_code_idx ON public.orders USING btree (code)".into();
        let mut building = index(2, "orders_new_idx", &["created_at"]);
        building.is_valid = false;
        building.being_built = true;
        let mut ccnew = index(3, "orders_total_idx_ccnew", &["total"]);
        ccnew.is_valid = false;
        let advice = judge(&[failed, building, ccnew], &window(Some(30.0)));
        assert_eq!(
            kinds(&advice),
            [
                (HygieneKind::Invalid, "orders_code_idx", None),
                (HygieneKind::Invalid, "orders_total_idx_ccnew", None),
            ]
        );
        assert_eq!(
            advice.findings[0].reason,
            "INVALID: a failed CREATE INDEX CONCURRENTLY (or a DROP INDEX CONCURRENTLY that gave up) left it (80.0 kB; no build is working on it now). The planner never uses it, yet every insert and non-HOT update of the table still writes it: drop it, and if the index is wanted build it again with CREATE UNIQUE INDEX CONCURRENTLY orders_code_idx ON public.orders USING btree (code)"
        );
        assert!(
            advice.findings[1]
                .reason
                .starts_with("INVALID: the new copy a failed REINDEX CONCURRENTLY left")
        );
    }

    #[test]
    fn partition_indexes_are_left_alone() {
        let mut attached = index(1, "orders_2024_note_idx", &["note"]);
        attached.scans = 0;
        attached.is_partition_index = true;
        let advice = judge(&[attached], &window(Some(30.0)));
        assert_eq!(kinds(&advice), []);
    }

    #[test]
    fn names_in_the_drop_are_quoted() {
        assert_eq!(
            drop_sql("My Schema", r#"odd"idx"#),
            r#"DROP INDEX CONCURRENTLY "My Schema"."odd""idx";"#
        );
    }

    #[test]
    fn kinds_parse_and_ages_read() {
        assert_eq!("redundant".parse(), Ok(HygieneKind::Redundant));
        assert!("unusd".parse::<HygieneKind>().is_err());
        assert_eq!(fmt_age(90.0), "90 seconds");
        assert_eq!(fmt_age(3.0 * 86_400.0 + 5.0), "3 days");
        assert_eq!(fmt_age(86_400.0), "24 hours");
        assert_eq!(fmt_age(130.0), "2 minutes");
    }
}
