//! Property test of DSN parsing (`--dsn`, `DATABASE_URL`): any text, URL-shaped or key=value,
//! gives settings or an error, never a panic. (What errors may show is tested with the
//! connection code; this file only throws text at the parser.)

use pgdiag::pg::ConnectionSettings;
use proptest::prelude::*;

fn no_environment(_: &str) -> Option<String> {
    None
}

/// URL-shaped text: scheme, user info, hosts (lists, brackets, ports), path and query, each part
/// drawn from characters that matter to the parser (`@`, `:`, `/`, `%`, `?`, `=`, `&`, `,`).
fn url() -> impl Strategy<Value = String> {
    (
        prop::sample::select(vec![
            "postgres://",
            "postgresql://",
            "postgres:",
            "http://",
            "",
        ]),
        "[a-z%@:]{0,8}",
        "(:[a-zA-Z0-9%@:/?#]{0,12})?",
        "[a-z0-9.,:\\[\\]%-]{0,20}",
        "(/[a-z0-9%?]{0,8})?",
        "(\\?([a-z_]{1,12}=[a-z0-9/%.-]{0,8}&?){0,4})?",
    )
        .prop_map(|(scheme, user, password, hosts, path, query)| {
            format!("{scheme}{user}{password}@{hosts}{path}{query}")
        })
}

/// key=value text, with quotes and backslashes.
fn key_values() -> impl Strategy<Value = String> {
    prop::collection::vec(
        (
            prop::sample::select(vec![
                "host",
                "port",
                "user",
                "password",
                "dbname",
                "sslmode",
                "sslrootcert",
                "connect_timeout",
                "application_name",
                "options",
                "target_session_attrs",
                "hostaddr",
                "passfile",
                "service",
                "bogus",
            ]),
            "('([^'\\\\]|\\\\.)*'|[a-z0-9/.=%@,-]*)",
        ),
        0..6,
    )
    .prop_map(|pairs| {
        pairs
            .into_iter()
            .map(|(key, value)| format!("{key}={value}"))
            .collect::<Vec<_>>()
            .join(" ")
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, max_shrink_iters: 200, ..ProptestConfig::default() })]

    #[test]
    fn url_dsns_never_panic(dsn in url()) {
        let _ = ConnectionSettings::resolve(Some(&dsn), &no_environment);
    }

    #[test]
    fn key_value_dsns_never_panic(dsn in key_values()) {
        let _ = ConnectionSettings::resolve(Some(&dsn), &no_environment);
    }

    #[test]
    fn any_text_never_panics(dsn in "\\PC*") {
        let _ = ConnectionSettings::resolve(Some(&dsn), &no_environment);
    }
}
