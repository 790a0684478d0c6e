//! `pgdiag demo` end to end at a small scale: its own PostgreSQL and Redis, every step's claim
//! checked from the JSON document (deserialized into the report structs, not string-matched).
//! Assertions are on counts and on what the plans contain, never on how fast anything was.

use pgdiag::demo::DemoReport;
use pgdiag::diagnose::RuleId;

use crate::support::pgdiag;

/// Whether a plan line (`Seq Scan on public.reviews · Index Scan using ... on public.pricing`)
/// scans `relation` itself.
fn reads(plan: &str, relation: &str) -> bool {
    plan.split(" · ")
        .any(|scan| scan.ends_with(&format!(" on {relation}")))
}

#[test]
fn demo_tells_the_seed_story_with_measured_claims() {
    let run = pgdiag(&["demo", "--scale", "0.02", "--format", "json"]);
    run.assert_no_panic();
    assert_eq!(run.code, 0, "{}", run.all_output());
    let report: DemoReport = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("not a demo report ({e}):\n{}", run.stdout));

    assert_eq!(report.schema_version, 1);
    assert_eq!(report.scale, 0.02);
    assert_eq!(report.servers.postgres, "embedded");
    assert_eq!(report.servers.redis, "embedded");
    assert!(!report.servers.kept);

    // 1. The seed, at the asked scale.
    assert_eq!(report.seed.rows("reviews"), Some(24_000));
    assert_eq!(report.seed.rows("products"), Some(1_000));
    assert_eq!(report.seed.rows("recommendations"), Some(10_000));

    // 2. The product page reads every review; the category listing aggregates them all.
    let diagnosis = |name: &str| {
        report
            .diagnosis
            .iter()
            .find(|d| d.query == name)
            .unwrap_or_else(|| panic!("no diagnosis of {name}"))
    };
    let page = diagnosis("product_page");
    assert!(
        page.has_finding(RuleId::SeqScan, Some("reviews")),
        "{page:#?}"
    );
    assert!(
        page.plan_nodes
            .iter()
            .any(|n| n.contains("Seq Scan") && n.ends_with("recommendations")),
        "{:?}",
        page.plan_nodes
    );
    assert!(
        page.plan_nodes.iter().any(|n| n == "Sort"),
        "{:?}",
        page.plan_nodes
    );
    let listing = diagnosis("category_listing");
    assert!(
        listing.has_finding(RuleId::HeavyAggregate, None),
        "{listing:#?}"
    );
    for d in &report.diagnosis {
        let stakes: Vec<f64> = d.findings.iter().map(|f| f.time_at_stake_ms).collect();
        assert!(
            stakes.windows(2).all(|w| w[0] >= w[1]),
            "{}: findings not ranked by time: {stakes:?}",
            d.query
        );
    }

    // 3. The naive cache: hits served from Redis, the herd, stale prices.
    let naive = &report.naive_cache;
    let names: Vec<&str> = naive.steady.iter().map(|s| s.strategy.as_str()).collect();
    assert_eq!(names, ["none", "cache-aside"]);
    let none = &naive.steady[0];
    let cache_aside = &naive.steady[1];
    assert!(
        none.requests > 0 && none.db_calls == none.requests,
        "{none:?}"
    );
    assert!(cache_aside.counters.hits > 0, "{cache_aside:?}");
    assert!(
        cache_aside.db_calls < cache_aside.requests,
        "{cache_aside:?}"
    );
    assert_eq!(naive.herd_db_calls_per_expiry.len(), 2);
    assert!(
        naive
            .herd_db_calls_per_expiry
            .iter()
            .any(|&calls| calls > 1),
        "cache-aside absorbed the herd: {:?}",
        naive.herd_db_calls_per_expiry
    );
    let staleness = naive.stale_prices.staleness.as_ref().expect("staleness");
    assert!(staleness.writes > 0, "{staleness:?}");
    assert!(
        naive.stale_reads > 0 && naive.staleness_max_ms > 0.0,
        "{naive:?}"
    );

    // 4. pgdiag's own suggestions: the reviews index, the recommendations composite serving
    // ORDER BY score DESC, and the review-stats view, proven, then created.
    let step = &report.suggestions;
    assert_eq!(step.verify, "hypo", "{step:#?}");
    // Suggest's own ids, each once: the suggestions come from the suggest run, not a list of the
    // demo's own.
    let ids: Vec<&str> = step
        .applied
        .iter()
        .map(|s| s.id.as_str())
        .chain(step.rejected.iter().map(|r| r.id.as_str()))
        .collect();
    let unique: std::collections::BTreeSet<&&str> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "{ids:?}");
    assert!(
        ids.iter().all(|id| id
            .strip_prefix('s')
            .is_some_and(|n| n.parse::<u32>().is_ok())),
        "{ids:?}"
    );
    // Applying went through without a failure, and the note says how much it did.
    assert!(
        step.applied.iter().all(|s| s.status == "created"),
        "{step:#?}"
    );
    assert_eq!(
        step.note,
        format!(
            "pgdiag suggest found {n} suggestion(s) (indexes verified with HypoPG, views proven by building them); {n} created",
            n = step.applied.len()
        )
    );
    for rejected in &step.rejected {
        assert!(!rejected.reason.is_empty(), "{rejected:#?}");
        assert!(
            step.suggestion(&rejected.name).is_none(),
            "rejected and applied: {step:#?}"
        );
    }
    let index_on = |table: &str, leading: &[&str]| {
        step.applied
            .iter()
            .find(|s| {
                s.kind == "index"
                    && s.table == table
                    && s.columns.len() >= leading.len()
                    && s.columns.iter().zip(leading).all(|(c, l)| c == l)
            })
            .unwrap_or_else(|| panic!("no index on {table}{leading:?} applied: {step:#?}"))
    };
    let reviews_index = index_on("reviews", &["product_id"]);
    let composite = index_on("recommendations", &["product_id", "score DESC"]);
    let view = step
        .applied
        .iter()
        .find(|s| s.kind == "matview" && s.table == "reviews")
        .unwrap_or_else(|| panic!("no review-stats view applied: {step:#?}"));
    assert_eq!(view.columns, ["product_id"]);
    for s in [reviews_index, composite, view] {
        assert_eq!(s.status, "created", "{s:#?}");
        assert_eq!(s.suggest_status, "kept", "{s:#?}");
        assert!(
            s.ddl.iter().any(|d| d.contains(&s.name)),
            "the DDL does not create {}: {s:#?}",
            s.name
        );
        let proof = s
            .proof
            .as_ref()
            .unwrap_or_else(|| panic!("no proof: {s:#?}"));
        assert!(
            proof.per_query.iter().any(|q| q.used),
            "not used anywhere: {s:#?}"
        );
        // Kept on its proof: at least suggest's 10% minimum improvement.
        assert!(
            proof.improvement_pct.is_some_and(|pct| pct >= 10.0),
            "{s:#?}"
        );
        // Applied for real: built, measured, no failure.
        assert_eq!(s.message, None, "{s:#?}");
        assert!(s.build_ms.is_some_and(|ms| ms > 0.0), "{s:#?}");
        assert!(s.size_bytes.is_some_and(|bytes| bytes > 0), "{s:#?}");
    }
    assert!(reviews_index.ddl[0].starts_with("CREATE INDEX CONCURRENTLY"));
    assert!(reviews_index.serves.iter().any(|q| q == "product_page"));
    assert!(
        composite
            .serves
            .iter()
            .any(|q| q == "recommendations" || q == "product_page")
    );
    assert_eq!(reviews_index.proof.as_ref().unwrap().method, "hypo");
    // The view is proven by building it: same rows as the original queries.
    let view_proof = view.proof.as_ref().unwrap();
    assert_eq!(view_proof.method, "build");
    assert_eq!(view_proof.results_match, Some(true), "{view:#?}");
    assert!(view.ddl[0].starts_with("CREATE MATERIALIZED VIEW"));

    // Every query timed on both sides; the plans after read what was created.
    let timed: Vec<&str> = report
        .before_after
        .iter()
        .map(|t| t.query.as_str())
        .collect();
    assert_eq!(
        timed,
        ["product_page", "category_listing", "recommendations"]
    );
    for t in &report.before_after {
        assert!(
            t.before.execution_ms > 0.0 && t.after.execution_ms > 0.0,
            "{t:?}"
        );
        assert!(t.before.runs >= 3 && t.after.runs == t.before.runs, "{t:?}");
        assert_eq!(t.after_as_written.is_some(), t.after_sql_rewritten, "{t:?}");
    }
    let timing = |name: &str| {
        report
            .before_after
            .iter()
            .find(|t| t.query == name)
            .unwrap()
    };
    let page = timing("product_page");
    assert!(
        page.before.plan.contains("Seq Scan on public.reviews"),
        "{page:#?}"
    );
    assert!(
        !page.after.plan.contains("Seq Scan on public.reviews"),
        "{page:#?}"
    );
    assert!(page.after.plan.contains(&composite.name), "{page:#?}");
    // As written (no view), the product page reads the new reviews index.
    let page_as_written = page
        .after_as_written
        .as_ref()
        .expect("product page as written");
    assert!(
        page_as_written.plan.contains(&reviews_index.name)
            && page_as_written.plan.contains(&composite.name)
            && !page_as_written.plan.contains("Seq Scan on public.reviews"),
        "{page:#?}"
    );
    let listing = timing("category_listing");
    assert!(listing.after_sql_rewritten, "{listing:#?}");
    assert_eq!(
        step.rewritten_sql("category_listing")
            .map(|sql| sql.contains(&view.name)),
        Some(true),
        "{step:#?}"
    );
    assert!(listing.after.plan.contains(&view.name), "{listing:#?}");
    assert!(
        !reads(&listing.after.plan, "public.reviews"),
        "{listing:#?}"
    );
    assert!(
        reads(&listing.before.plan, "public.reviews"),
        "{listing:#?}"
    );
    let recommendations = timing("recommendations");
    assert!(
        recommendations.after.plan.contains(&composite.name),
        "{recommendations:#?}"
    );

    // 5. swr on the recommendations: one database call per expiry, hits and refreshes counted.
    let swr_step = &report.swr_cache;
    let names: Vec<&str> = swr_step
        .steady
        .iter()
        .map(|s| s.strategy.as_str())
        .collect();
    assert_eq!(names, ["none", "swr"]);
    assert_eq!(swr_step.herd_db_calls_per_expiry, [1, 1]);
    let swr = &swr_step.steady[1];
    assert!(swr.counters.hits > 0, "{swr:?}");
    assert!(swr_step.hit_rate > 0.0 && swr_step.hit_rate <= 1.0);
    // Stale serves with the refreshes behind them: the soft TTL is shorter than the run.
    assert!(
        swr.counters.stale_serves > 0 && swr.counters.refreshes > 0,
        "{swr:?}"
    );
    assert!(swr.db_calls < swr.requests, "{swr:?}");

    // 6. The summary names every step, and the next steps every command.
    for step in ["2 explain", "3 cache-aside", "4 suggestions", "5 swr"] {
        assert!(
            report.summary.iter().any(|row| row.step == step),
            "no summary row for {step}"
        );
    }
    // The servers are gone: no command to try on them (`--keep` lists them).
    assert!(!report.servers.kept);
    assert!(report.next_steps.is_empty(), "{:?}", report.next_steps);
}

#[test]
fn demo_text_output_walks_through_six_steps() {
    let run = pgdiag(&["demo", "--scale", "0.01", "--bench-duration", "300ms"]);
    run.assert_no_panic();
    assert_eq!(run.code, 0, "{}", run.all_output());
    for heading in [
        "== 1.", "== 2.", "== 3.", "== 4.", "== 5.", "== 6.", "== 7.",
    ] {
        assert!(
            run.stdout.contains(heading),
            "{heading} missing:\n{}",
            run.stdout
        );
    }
    assert!(run.stdout.contains("seq-scan"), "{}", run.stdout);
    // Step 4 shows the DDL it ran and each query before → after. (At this scale the tables are
    // small enough that the planner wants only the view; the JSON test checks the indexes. The
    // listing's aggregate is a finding by its share of a few milliseconds, which a busy machine
    // can tip either way, so whether the listing is also shown rewritten is left to that test.)
    let step4 = &run.stdout[run.stdout.find("== 4.").unwrap()..run.stdout.find("== 5.").unwrap()];
    for shown in [
        "CREATE MATERIALIZED VIEW",
        "proof (build)",
        "product_page, as written",
        "product_page, rewritten to the view",
        "category_listing",
        "recommendations",
    ] {
        assert!(step4.contains(shown), "{shown} missing:\n{step4}");
    }
    assert!(run.stdout.contains("Where to go next"), "{}", run.stdout);
}

#[test]
fn demo_rejects_a_bad_scale_without_starting_anything() {
    for bad in ["--scale=0", "--scale=-1", "--scale=lots"] {
        let run = pgdiag(&["demo", bad]);
        run.assert_no_panic();
        assert_eq!(run.code, 2, "{bad}: {}", run.all_output());
        assert!(run.stderr.contains("scale"), "{}", run.stderr);
    }
}

/// Whether something accepts TCP connections on this loopback port.
fn listening(port: u16) -> bool {
    std::net::TcpStream::connect_timeout(
        &(std::net::Ipv4Addr::LOCALHOST, port).into(),
        std::time::Duration::from_secs(1),
    )
    .is_ok()
}

fn port_of(url: &str) -> u16 {
    url::Url::parse(url)
        .ok()
        .and_then(|u| u.port())
        .unwrap_or_else(|| panic!("no port in {url}"))
}

#[test]
fn demo_keep_leaves_both_servers_running_with_working_stop_commands() {
    let run = pgdiag(&[
        "demo",
        "--scale",
        "0.005",
        "--bench-duration",
        "200ms",
        "--keep",
        "--format",
        "json",
    ]);
    run.assert_no_panic();
    assert_eq!(run.code, 0, "{}", run.all_output());
    let report: DemoReport = serde_json::from_str(&run.stdout).expect("demo report");
    assert!(report.servers.kept);
    let pg_port = port_of(&report.servers.postgres_url);
    let redis_port = port_of(&report.servers.redis_url);
    assert!(listening(pg_port), "PostgreSQL is not running");
    assert!(listening(redis_port), "Redis is not running");

    // The next steps name every command, and files that exist; they work from a directory
    // without pgdiag's source checkout.
    for command in ["explain", "suggest", "check", "bench"] {
        assert!(
            report
                .next_steps
                .iter()
                .any(|n| n.command.contains(&format!("pgdiag {command} "))),
            "no next step with {command}"
        );
    }
    let elsewhere = tempfile::tempdir().unwrap();
    for step in &report.next_steps {
        for word in step.command.split(' ').filter(|w| w.starts_with('/')) {
            assert!(
                std::path::Path::new(word).exists(),
                "{word} in {}",
                step.command
            );
        }
        if step.command.starts_with("pgdiag explain ")
            || step.command.starts_with("pgdiag suggest ")
        {
            let mut cmd = crate::support::pgdiag_command();
            cmd.args(step.command.split(' ').skip(1))
                .current_dir(elsewhere.path());
            let next = crate::support::run_with(cmd, None);
            assert_eq!(next.code, 0, "{}: {}", step.command, next.all_output());
        }
    }

    // The printed commands stop them and remove their dirs.
    let stops: Vec<&str> = run
        .stderr
        .lines()
        .filter_map(|l| l.trim().strip_prefix("stop it: "))
        .collect();
    assert_eq!(stops.len(), 2, "{}", run.stderr);
    for stop in stops {
        let status = std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(stop)
            .stdout(std::process::Stdio::null())
            .status()
            .expect("run the stop command");
        assert!(status.success(), "{stop}");
    }
    assert!(!listening(pg_port), "PostgreSQL still running");
    assert!(!listening(redis_port), "Redis still running");
}

#[test]
fn demo_interrupted_removes_its_servers() {
    use std::io::{BufRead, BufReader};

    let mut cmd = crate::support::pgdiag_command();
    cmd.args(["demo", "--scale", "0.005", "--bench-duration", "60s"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().expect("spawn pgdiag demo");
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let mut ports = Vec::new();
    // The header names both servers; it reaches us with step 1, before the minute-long benches.
    for line in lines.by_ref() {
        let line = line.expect("read demo output");
        if let Some(rest) = line.strip_prefix("PostgreSQL ") {
            for word in rest.split_whitespace() {
                if word.starts_with("postgresql://") || word.starts_with("redis://") {
                    ports.push(port_of(word));
                }
            }
        }
        if line.starts_with("== 1.") {
            break;
        }
    }
    assert_eq!(ports.len(), 2, "no server URLs in the header");
    assert!(ports.iter().all(|&p| listening(p)));

    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .expect("send SIGINT");
    drop(lines);
    let output = child.wait_with_output().expect("wait for pgdiag demo");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    for port in ports {
        assert!(!listening(port), "port {port} still served after Ctrl-C");
    }
}

#[tokio::test]
async fn demo_on_given_servers_loads_an_empty_database_and_refuses_a_used_one() {
    let (url, _client) = crate::support::database("demo_external", "").await;
    let redis = pgdiag::embedded::EmbeddedRedis::shared()
        .expect("embedded Redis")
        .url();
    let args = [
        "demo",
        "--scale",
        "0.005",
        "--bench-duration",
        "200ms",
        "--format",
        "json",
        "--dsn",
        url.as_str(),
        "--redis-url",
        redis.as_str(),
    ];
    let run = pgdiag(&args);
    run.assert_no_panic();
    assert_eq!(run.code, 0, "{}", run.all_output());
    let report: DemoReport = serde_json::from_str(&run.stdout).expect("demo report");
    assert_eq!(report.servers.postgres, "external");
    assert_eq!(report.servers.redis, "external");
    assert_eq!(report.seed.rows("reviews"), Some(6_000));

    // The seed's tables are there now: a second run must not drop them.
    let again = pgdiag(&args);
    again.assert_no_panic();
    assert_eq!(again.code, 2, "{}", again.all_output());
    assert!(again.stderr.contains("already has"), "{}", again.stderr);
}

/// The demo ends with cache-advice's verdict on its three queries, made by the model on the run's
/// own figures: each query's time before step 4, the suggestions applied to it as the fix, the
/// price updates of step 3 as the pricing table's writes.
#[test]
fn demo_ends_with_a_cache_verdict_per_query_from_its_measurements() {
    use pgdiag::cache::advice::Verdict;
    let run = pgdiag(&[
        "demo",
        "--scale",
        "0.01",
        "--bench-duration",
        "300ms",
        "--format",
        "json",
    ]);
    run.assert_no_panic();
    assert_eq!(run.code, 0, "{}", run.all_output());
    let report: DemoReport = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("not a demo report ({e}):\n{}", run.stdout));
    let step = &report.cache_advice;
    let names: Vec<&str> = step
        .statements
        .iter()
        .map(|s| s.source.as_deref().unwrap_or(""))
        .collect();
    assert_eq!(
        names,
        ["product_page", "recommendations", "category_listing"]
    );
    let rates: Vec<&str> = step.call_rates.iter().map(|r| r.query.as_str()).collect();
    assert_eq!(rates, names);
    // The product page is the hot path.
    assert!(step.call_rates[0].calls_per_hour >= step.call_rates[2].calls_per_hour);
    assert!(
        step.call_rates[0].why.contains("hot"),
        "{:?}",
        step.call_rates
    );

    // The price updates step 3 made are the pricing table's writes.
    let pricing = &step.table_writes[0];
    assert_eq!(pricing.table, "pricing");
    let writes = report
        .naive_cache
        .stale_prices
        .staleness
        .as_ref()
        .unwrap()
        .writes;
    assert!(writes > 0 && pricing.writes_per_hour > 0.0, "{pricing:?}");
    let page = &step.statements[0];
    let read = page
        .tables
        .iter()
        .find(|t| t.table.ends_with("pricing"))
        .unwrap_or_else(|| panic!("the page reads pricing: {page:#?}"));
    assert_eq!(read.writes_per_hour, pricing.writes_per_hour);
    // Its key: `p.id = $1`, the product.
    assert_eq!(page.key.parts[0].column.as_deref(), Some("products.id"));

    let applied: Vec<&str> = report
        .suggestions
        .applied
        .iter()
        .map(|s| s.id.as_str())
        .collect();
    for s in &step.statements {
        let name = s.source.as_deref().unwrap();
        let timed = report
            .before_after
            .iter()
            .find(|b| b.query == name)
            .unwrap_or_else(|| panic!("{name} not timed"));
        // Measured, not stated: the time before step 4.
        assert_eq!(s.mean_ms, timed.before.execution_ms, "{name}");
        assert_eq!(s.db_ms_per_hour, s.calls_per_hour * s.mean_ms);
        // One verdict each, with its reason.
        match &s.advice {
            Verdict::FixInDatabase {
                suggestions,
                expected_ms,
                reason,
            } => {
                assert!(!suggestions.is_empty(), "{name}");
                for id in suggestions {
                    assert!(applied.contains(&id.as_str()), "{id} not applied");
                }
                assert_eq!(*expected_ms, timed.after.execution_ms, "{name}");
                assert!(reason.contains(" ms"), "{name}: {reason}");
            }
            Verdict::DontCache { detail, .. } => assert!(!detail.is_empty(), "{name}"),
            Verdict::Cache(plan) => {
                assert!(!plan.reasons.is_empty(), "{name}");
                assert!(plan.hard_ttl_s > 0.0 && plan.expected_hit_rate > 0.0);
            }
        }
    }
    let row = report
        .summary
        .iter()
        .find(|r| r.step.starts_with("6"))
        .unwrap_or_else(|| panic!("no summary row for step 6: {:?}", report.summary));
    assert!(row.measured.contains("product_page: "), "{row:?}");
}
