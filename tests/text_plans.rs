//! `explain --plan` reads psql's text-format EXPLAIN: on every supported major, each query's plan
//! is printed by the real `psql` binary (Debian's 15 client, as people paste it) and fetched as
//! `FORMAT JSON`, and the two trees must agree: node types and names, relations, aliases,
//! indexes, subplans, estimates (costs and rows exactly), loops, and the findings pgdiag draws.

use std::process::Command;

use pgdiag::commands::explain::offline_report;
use pgdiag::diagnose::DiagnoseConfig;
use pgdiag::plan::{Explain, PlanNode, parse_explain};
use pgdiag::report::{Source, SourceKind};

use crate::support::{database_on, pgdiag, temp_file};

/// Small, but large enough for parallel plans (with parallel costs zeroed), sorts that spill at
/// 64kB of work_mem, and partitions.
const SCHEMA: &str = "
    CREATE TABLE customers (id int PRIMARY KEY, name text NOT NULL, country text NOT NULL);
    INSERT INTO customers SELECT g, 'customer ' || g, (ARRAY['FR','DE','US','GB','JP'])[1 + g % 5]
      FROM generate_series(1, 5000) g;
    CREATE TABLE orders (id bigint PRIMARY KEY, customer_id int NOT NULL REFERENCES customers(id),
                         status text NOT NULL, amount numeric(10,2) NOT NULL, note text);
    INSERT INTO orders SELECT g, 1 + (g * 7919) % 5000, (ARRAY['new','paid','shipped','cancelled'])[1 + g % 4],
      (g % 1000) / 3.0, md5(g::text) FROM generate_series(1, 60000) g;
    CREATE INDEX orders_customer_id_idx ON orders (customer_id);
    CREATE TABLE products (id int PRIMARY KEY, name text NOT NULL);
    INSERT INTO products SELECT g, 'product ' || g FROM generate_series(1, 2000) g;
    CREATE TABLE order_lines (order_id bigint NOT NULL, line_no int NOT NULL, product_id int NOT NULL,
                              PRIMARY KEY (order_id, line_no));
    INSERT INTO order_lines SELECT o, l, (o % 50) + 1 FROM generate_series(1, 20000) o, generate_series(1, 3) l;
    CREATE TABLE measurements (id int NOT NULL, day date NOT NULL, value int NOT NULL) PARTITION BY RANGE (day);
    CREATE TABLE measurements_2024 PARTITION OF measurements FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
    CREATE TABLE measurements_2025 PARTITION OF measurements FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
    INSERT INTO measurements SELECT g, date '2024-01-01' + (g % 700), g % 100 FROM generate_series(1, 30000) g;
    CREATE INDEX ON measurements (day);
    ANALYZE;
";

/// Planner settings that make the parallel cases parallel whatever the machine.
const PARALLEL: &str = "SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0; \
    SET min_parallel_table_scan_size = 0; SET max_parallel_workers_per_gather = 2";

/// (name, settings, query)
const CASES: &[(&str, &str, &str)] = &[
    (
        "hash join and aggregate",
        "SET max_parallel_workers_per_gather = 0",
        "SELECT c.country, count(*), sum(o.amount) FROM orders o JOIN customers c ON c.id = o.customer_id \
         WHERE o.status = 'paid' GROUP BY c.country ORDER BY 2 DESC",
    ),
    (
        "sort spilling to disk",
        "SET work_mem = '64kB'; SET max_parallel_workers_per_gather = 0",
        "SELECT * FROM orders WHERE amount > 100 ORDER BY note LIMIT 1000",
    ),
    (
        "parallel aggregate",
        PARALLEL,
        "SELECT status, count(*) FROM orders WHERE note LIKE 'a%' GROUP BY status",
    ),
    (
        "parallel count",
        PARALLEL,
        "SELECT count(*) FROM orders WHERE note LIKE 'b%'",
    ),
    (
        "anti join never executing its inner side",
        "SET max_parallel_workers_per_gather = 0",
        "SELECT c.id FROM customers c WHERE c.country = 'XX' \
         AND NOT EXISTS (SELECT 1 FROM orders o WHERE o.customer_id = c.id)",
    ),
    (
        "correlated subplan and initplan",
        "SET max_parallel_workers_per_gather = 0",
        "SELECT c.id, (SELECT max(amount) FROM orders o2 WHERE o2.customer_id = c.id), c.name \
         FROM customers c WHERE c.id < 50 AND c.country = (SELECT country FROM customers WHERE id = 7)",
    ),
    (
        "materialized CTE and merge join",
        "SET enable_hashjoin = off; SET max_parallel_workers_per_gather = 0",
        "WITH big AS MATERIALIZED (SELECT customer_id, sum(amount) s FROM orders GROUP BY 1) \
         SELECT * FROM big b1 JOIN big b2 ON b2.customer_id = b1.customer_id + 1 WHERE b1.s > 100",
    ),
    (
        "partitioned table",
        "SET max_parallel_workers_per_gather = 0",
        "SELECT m.day, count(*) FROM measurements m WHERE m.value = 42 GROUP BY m.day ORDER BY 2 DESC LIMIT 3",
    ),
    (
        "memoize",
        "SET enable_hashjoin = off; SET enable_mergejoin = off; SET max_parallel_workers_per_gather = 0",
        "SELECT l.order_id, p.name FROM order_lines l JOIN products p ON p.id = l.product_id WHERE l.order_id < 2000",
    ),
    (
        "index only scan backward",
        "SET max_parallel_workers_per_gather = 0",
        "SELECT day FROM measurements WHERE day >= '2025-06-01' ORDER BY day DESC LIMIT 5",
    ),
];

/// What `psql` prints for `EXPLAIN (options) sql` after `settings`, run as people run it.
fn psql_text(url: &str, settings: &str, options: &str, sql: &str) -> String {
    let explain = if options.is_empty() {
        format!("EXPLAIN {sql}")
    } else {
        format!("EXPLAIN ({options}) {sql}")
    };
    psql(url, settings, &explain).0
}

/// Runs `settings` (one `-c` each) then `sql` through `psql`: (stdout, stderr).
fn psql(url: &str, settings: &str, sql: &str) -> (String, String) {
    let mut command = Command::new("psql");
    command.args([url, "-X", "-v", "ON_ERROR_STOP=1"]);
    for setting in settings.split(';').filter(|s| !s.trim().is_empty()) {
        command.args(["-c", setting]);
    }
    command.args(["-c", sql]);
    for variable in [
        "PGHOST",
        "PGPORT",
        "PGDATABASE",
        "PGUSER",
        "PGSERVICE",
        "PGOPTIONS",
    ] {
        command.env_remove(variable);
    }
    let output = command
        .output()
        .expect("the psql client (Debian's postgresql-client)");
    let stdout = String::from_utf8(output.stdout).unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(output.status.success(), "psql failed: {stderr}{stdout}");
    (stdout, stderr)
}

async fn json_plan(
    client: &tokio_postgres::Client,
    settings: &str,
    options: &str,
    sql: &str,
) -> String {
    client
        .batch_execute(&format!("RESET ALL; {settings}"))
        .await
        .unwrap();
    let sent = if options.is_empty() {
        format!("EXPLAIN (FORMAT JSON) {sql}")
    } else {
        format!("EXPLAIN ({options}, FORMAT JSON) {sql}")
    };
    let row = client.query_one(&sent, &[]).await.unwrap();
    row.get::<_, serde_json::Value>(0).to_string()
}

/// Each node as one line of what both formats must agree on. `exact_run`: the same figures in
/// both (plans without ANALYZE); otherwise loops outside parallel sections.
fn shape(explain: &Explain, analyzed: bool) -> Vec<String> {
    let mut lines = Vec::new();
    let mut pending: Vec<(&PlanNode, usize, bool)> = vec![(&explain.plan, 0, false)];
    while let Some((node, depth, parallel)) = pending.pop() {
        let mut line = format!(
            "{}{} | {:?} {:?} {:?} | rel {:?}.{:?} as {:?} | index {:?} | fn {:?} cte {:?} | \
             join {:?} strategy {:?} partial {:?} direction {:?} | cost {:?}..{:?} rows {:?} width {:?}",
            "  ".repeat(depth),
            node.label(),
            node.node_type,
            node.parent_relationship,
            node.subplan_name,
            node.schema,
            node.relation_name,
            node.alias,
            node.index_name,
            node.function_name,
            node.cte_name,
            node.join_type,
            node.strategy,
            node.partial_mode,
            node.scan_direction,
            node.startup_cost,
            node.total_cost,
            node.plan_rows,
            node.plan_width,
        );
        line.push_str(&format!(
            " | filter {:?} index cond {:?} recheck {:?} hash {:?} merge {:?} join filter {:?} \
             sort {:?} group {:?} workers planned {:?}",
            node.filter,
            node.index_cond,
            node.recheck_cond,
            node.hash_cond,
            node.merge_cond,
            node.join_filter,
            node.sort_key,
            node.group_key,
            node.workers_planned,
        ));
        if analyzed && !parallel {
            line.push_str(&format!(" | loops {:?}", node.actual_loops));
        }
        lines.push(line);
        let parallel = parallel || node.is_gather();
        for child in node.plans.iter().rev() {
            pending.push((child, depth + 1, parallel));
        }
    }
    lines
}

/// The findings' rules, nodes and relations. For two executions (`analyzed`) the thresholds on
/// a share of the execution time are zero: they judge the clock, which moves between the runs,
/// while every other figure a rule reads must be read the same from both formats.
fn findings(explain: &Explain, analyzed: bool) -> Vec<String> {
    let mut config = DiagnoseConfig::default();
    if analyzed {
        let thresholds = &mut config.thresholds;
        thresholds.min_share = 0.0;
        thresholds.jit_min_share = 0.0;
        thresholds.heavy_aggregate_min_share = 0.0;
    }
    let report = offline_report(
        Source {
            kind: SourceKind::PlanFile,
            path: None,
        },
        std::slice::from_ref(explain),
        &config,
    );
    let mut rules: Vec<String> = report.statements[0]
        .findings
        .iter()
        // Planning time against execution time moves with a loaded machine's catalog cache.
        .filter(|f| f.rule != "planning-time")
        .map(|f| {
            format!(
                "{} on #{} {:?} {:?}",
                f.rule, f.node_id, f.relation, f.suggested_index
            )
        })
        .collect();
    rules.sort();
    rules
}

fn only(text: &str, what: &str) -> Explain {
    let mut explains = parse_explain(text).unwrap_or_else(|e| panic!("{what}: {e}\n{text}"));
    assert_eq!(explains.len(), 1, "{what}: {text}");
    explains.remove(0)
}

async fn text_and_json_agree(major: u32) {
    let (url, client) = database_on(major, &format!("v{major}_textplan"), SCHEMA).await;
    client.batch_execute("VACUUM").await.unwrap();
    // What the cases covered, from the text plans: every kind of node the brief names.
    let mut seen = Vec::new();
    for (name, settings, sql) in CASES {
        let what = format!("PostgreSQL {major}, {name}");
        // Estimates: every figure the same.
        let text = psql_text(&url, settings, "", sql);
        let json = json_plan(&client, settings, "", sql).await;
        let (from_text, from_json) = (only(&text, &what), only(&json, &what));
        assert_eq!(
            shape(&from_text, false),
            shape(&from_json, false),
            "{what}: EXPLAIN\n{text}"
        );
        assert_eq!(
            findings(&from_text, false),
            findings(&from_json, false),
            "{what}: EXPLAIN\n{text}"
        );

        // EXPLAIN (ANALYZE, BUFFERS): two executions, the same plan.
        let options = "ANALYZE, BUFFERS";
        let text = psql_text(&url, settings, options, sql);
        let json = json_plan(&client, settings, options, sql).await;
        let (from_text, from_json) = (only(&text, &what), only(&json, &what));
        assert_eq!(
            shape(&from_text, true),
            shape(&from_json, true),
            "{what}: EXPLAIN ({options})\n{text}"
        );
        assert!(from_text.execution_time_ms.is_some(), "{what}\n{text}");
        assert!(from_text.planning_time_ms.is_some(), "{what}\n{text}");
        assert!(
            !from_text.plan.buffers.is_zero(),
            "{what}: buffers read\n{text}"
        );
        assert_eq!(
            findings(&from_text, true),
            findings(&from_json, true),
            "{what}: EXPLAIN ({options})\n{text}"
        );
        for node in from_text.plan.preorder() {
            seen.push(node.label());
            seen.extend(
                node.subplan_name
                    .iter()
                    .map(|n| n.split(' ').next().unwrap().to_owned()),
            );
            seen.extend(node.join_type.iter().map(|j| format!("{j} join")));
            seen.extend(node.scan_direction.iter().cloned());
            if node.actual_loops == Some(0.0) {
                seen.push("never executed".to_owned());
            }
            if node.sort_space_type.as_deref() == Some("Disk") {
                seen.push("sort on disk".to_owned());
            }
        }
    }
    for wanted in [
        "Hash Join",
        "HashAggregate",
        "Sort",
        "Gather",
        "Partial HashAggregate",
        "Parallel Seq Scan",
        "SubPlan",
        "InitPlan",
        "CTE",
        "CTE Scan",
        "Merge Join",
        "Append",
        "Memoize",
        "Nested Loop",
        "Index Only Scan",
        "Backward",
        "Anti join",
        "Bitmap Heap Scan",
        "Bitmap Index Scan",
        "never executed",
        "sort on disk",
    ] {
        assert!(
            seen.iter().any(|s| s == wanted),
            "PostgreSQL {major}: no {wanted} in {seen:?}"
        );
    }

    // VERBOSE, SETTINGS, WAL: output lists, schemas, settings.
    let (name, settings, sql) = CASES[5];
    let options = "ANALYZE, BUFFERS, VERBOSE, SETTINGS, WAL";
    let text = psql_text(&url, settings, options, sql);
    let json = json_plan(&client, settings, options, sql).await;
    let what = format!("PostgreSQL {major}, {name}, {options}");
    let (from_text, from_json) = (only(&text, &what), only(&json, &what));
    assert_eq!(
        shape(&from_text, true),
        shape(&from_json, true),
        "{what}\n{text}"
    );
    let outputs = |e: &Explain| -> Vec<Option<Vec<String>>> {
        e.plan.preorder().iter().map(|n| n.output.clone()).collect()
    };
    assert_eq!(outputs(&from_text), outputs(&from_json), "{what}\n{text}");
    assert_eq!(from_text.settings, from_json.settings, "{what}\n{text}");

    // TIMING OFF and COSTS OFF: rows and loops without times or costs.
    let (name, settings, sql) = CASES[0];
    let options = "ANALYZE, TIMING OFF, COSTS OFF";
    let text = psql_text(&url, settings, options, sql);
    let what = format!("PostgreSQL {major}, {name}, {options}");
    let from_text = only(&text, &what);
    for node in from_text.plan.preorder() {
        assert!(
            node.total_cost.is_none() && node.actual_total_time.is_none(),
            "{what}\n{text}"
        );
        assert!(
            node.actual_loops.is_some() && node.actual_rows.is_some(),
            "{what}\n{text}"
        );
    }

    // auto_explain's entries, text and JSON, as psql shows them at `log_level = notice` (the
    // plans of two executions: the same tree).
    let (name, settings, sql) = CASES[0];
    let auto_explain = |format: &str| {
        let setup = format!(
            "LOAD 'auto_explain'; SET auto_explain.log_min_duration = 0; \
             SET auto_explain.log_analyze = on; SET auto_explain.log_buffers = on; \
             SET auto_explain.log_level = notice; SET auto_explain.log_format = {format}; {settings}"
        );
        psql(&url, &setup, sql).1
    };
    let what = format!("PostgreSQL {major}, {name}, auto_explain");
    let (text, json) = (auto_explain("text"), auto_explain("json"));
    let (from_text, from_json) = (only(&text, &what), only(&json, &what));
    assert_eq!(
        shape(&from_text, true),
        shape(&from_json, true),
        "{what}\n{text}"
    );
    assert_eq!(from_text.query_text.as_deref(), Some(sql), "{what}\n{text}");
    assert!(from_text.execution_time_ms.is_some(), "{what}\n{text}");
    assert_eq!(
        findings(&from_text, true),
        findings(&from_json, true),
        "{what}\n{text}"
    );

    // The command itself, on psql's output as saved to a file.
    let text = psql_text(&url, CASES[0].1, "ANALYZE, BUFFERS", CASES[0].2);
    let (_dir, path) = temp_file("plan.txt", text.as_bytes());
    let run = pgdiag(&[
        "explain",
        "--format",
        "json",
        "--plan",
        path.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 0, "PostgreSQL {major}: {}", run.all_output());
    let report: pgdiag::report::ExplainReport = serde_json::from_str(&run.stdout).unwrap();
    assert!(report.statements[0].analyzed, "{}", run.stdout);
}

/// Each major's test, in a module named after it (`text_plans::pg16::text_and_json_agree`).
macro_rules! majors {
    ($($module:ident => $major:literal),* $(,)?) => {$(
        mod $module {
            #[tokio::test]
            async fn text_and_json_agree() {
                super::text_and_json_agree($major).await;
            }
        }
    )*};
}

majors!(pg14 => 14, pg15 => 15, pg16 => 16, pg17 => 17, pg18 => 18);
