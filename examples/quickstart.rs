//! The quick start until `pgdiag demo` lands: start a throwaway PostgreSQL, load a small version of
//! the seed scenario (reviews without an index on product_id), and run `pgdiag explain` on the
//! product-page query. Run it with `scripts/demo`.

use std::io::{self, IsTerminal};

use clap::Parser;
use pgdiag::cli::{Cli, Command};
use pgdiag::embedded::EmbeddedPostgres;
use pgdiag::report::TextStyle;

const SCHEMA: &str = "
    CREATE TABLE products (id int PRIMARY KEY, name text NOT NULL, category_id int NOT NULL);
    CREATE TABLE reviews (id bigint PRIMARY KEY, product_id int NOT NULL, rating int NOT NULL,
                          body text NOT NULL, created_at timestamptz NOT NULL);
    SELECT setseed(0.42);
    INSERT INTO products SELECT g, 'product ' || g, g % 40 FROM generate_series(1, 20000) g;
    INSERT INTO reviews
      SELECT g, 1 + (random() * 19999)::int, 1 + (random() * 4)::int,
             repeat('nice ', 8), now() - g * interval '1 minute'
      FROM generate_series(1, 300000) g;
    ANALYZE;
";

const PRODUCT_PAGE: &str = "
    SELECT p.id, p.name, count(r.id) AS review_count, avg(r.rating) AS avg_rating
    FROM products p
    LEFT JOIN reviews r ON r.product_id = p.id
    WHERE p.id = $1
    GROUP BY p.id, p.name";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    eprintln!("starting a throwaway PostgreSQL...");
    let pg = EmbeddedPostgres::builder().start().await?;
    let client = pg.connect("postgres").await?;
    eprintln!("loading 20,000 products and 300,000 reviews (no index on reviews.product_id)...");
    client.batch_execute(SCHEMA).await?;
    drop(client);

    let url = pg.url("postgres");
    let cli = Cli::parse_from([
        "pgdiag",
        "explain",
        "--dsn",
        &url,
        "--param",
        "42",
        "-c",
        PRODUCT_PAGE,
    ]);
    let Command::Explain(args) = cli.command else {
        unreachable!("parsed an explain command line")
    };
    let style = TextStyle {
        color: io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
        width: None,
        verbose: false,
    };
    eprintln!("$ pgdiag explain --dsn {url} --param 42 -c \"<product page query>\"\n");
    let outcome =
        pgdiag::commands::explain::run(&args, &mut io::stdout(), &mut io::stderr(), style).await?;
    println!(
        "\nThe sequential scan on reviews is where the time goes: it reads every review to keep a"
    );
    println!(
        "dozen. An index on reviews(product_id) fixes that for free — explain before you cache."
    );
    pg.stop().await?;
    std::process::exit(outcome.exit_code().into());
}
