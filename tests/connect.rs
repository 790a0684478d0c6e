//! Connecting like every PostgreSQL tool: TLS modes with libpq's meaning, against a real server
//! with a certificate made by the test.

use pgdiag::embedded::EmbeddedPostgres;
use pgdiag::pg::{ConnectionSettings, TlsMode};

use crate::support::{pg, pgdiag};

fn no_env(_: &str) -> Option<String> {
    None
}

async fn ssl_in_use(dsn: &str) -> Result<bool, String> {
    let settings = ConnectionSettings::resolve(Some(dsn), &no_env).map_err(|e| e.to_string())?;
    let client = settings.connect().await.map_err(|e| e.to_string())?;
    let row = client
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await
        .map_err(|e| e.to_string())?;
    Ok(row.get(0))
}

#[tokio::test]
async fn tls_modes_encrypt_and_verify_like_libpq() {
    // A self-signed certificate valid for "localhost" only.
    let server_cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let other_cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let files = tempfile::tempdir().unwrap();
    let cert = files.path().join("server.crt");
    let key = files.path().join("server.key");
    let wrong_root = files.path().join("other.crt");
    std::fs::write(&cert, server_cert.cert.pem()).unwrap();
    std::fs::write(&key, server_cert.signing_key.serialize_pem()).unwrap();
    std::fs::write(&wrong_root, other_cert.cert.pem()).unwrap();
    let server = EmbeddedPostgres::builder()
        .tls(&cert, &key)
        .start()
        .await
        .unwrap();
    let port = server.port();
    let root = cert.display().to_string();
    let url =
        |host: &str, query: &str| format!("postgresql://postgres@{host}:{port}/postgres?{query}");

    assert_eq!(
        ssl_in_use(&url("127.0.0.1", "sslmode=disable")).await,
        Ok(false)
    );
    // prefer (libpq's default): encrypted when the server offers it.
    assert_eq!(
        ssl_in_use(&url("127.0.0.1", "sslmode=prefer")).await,
        Ok(true)
    );
    // require: encrypted, certificate not checked (libpq semantics).
    assert_eq!(
        ssl_in_use(&url("127.0.0.1", "sslmode=require")).await,
        Ok(true)
    );
    // verify-full: chain and host name.
    assert_eq!(
        ssl_in_use(&url(
            "localhost",
            &format!("sslmode=verify-full&sslrootcert={root}")
        ))
        .await,
        Ok(true)
    );
    let err = ssl_in_use(&url(
        "127.0.0.1",
        &format!("sslmode=verify-full&sslrootcert={root}"),
    ))
    .await
    .unwrap_err();
    assert!(
        err.contains("cannot connect") && err.to_lowercase().contains("certificate"),
        "{err}"
    );
    // verify-ca: chain only, so the IP address (not in the certificate) is fine...
    assert_eq!(
        ssl_in_use(&url(
            "127.0.0.1",
            &format!("sslmode=verify-ca&sslrootcert={root}")
        ))
        .await,
        Ok(true)
    );
    // ...but a certificate from another authority is not.
    let err = ssl_in_use(&url(
        "localhost",
        &format!("sslmode=verify-ca&sslrootcert={}", wrong_root.display()),
    ))
    .await
    .unwrap_err();
    assert!(err.to_lowercase().contains("certificate"), "{err}");
    // libpq: require with a root certificate verifies the chain.
    let settings = ConnectionSettings::resolve(
        Some(&url(
            "localhost",
            &format!("sslmode=require&sslrootcert={}", wrong_root.display()),
        )),
        &no_env,
    )
    .unwrap();
    assert_eq!(settings.tls_mode(), TlsMode::Require);
    assert!(settings.connect().await.is_err());

    // The CLI takes the same DSN.
    let run = pgdiag(&[
        "explain",
        "--dsn",
        &format!(
            "host=localhost port={port} user=postgres dbname=postgres sslmode=verify-full sslrootcert='{root}'"
        ),
        "-c",
        "SELECT 1",
    ]);
    assert_eq!(run.code, 0, "{}", run.all_output());
    server.stop().await.unwrap();
}

#[tokio::test]
async fn require_against_a_server_without_tls_fails_clearly() {
    let port = pg().port();
    let err = ssl_in_use(&format!(
        "postgresql://postgres@127.0.0.1:{port}/postgres?sslmode=require"
    ))
    .await
    .unwrap_err();
    assert!(
        err.starts_with(&format!(
            "cannot connect to postgres@127.0.0.1:{port}/postgres"
        )),
        "{err}"
    );
    assert!(
        err.contains("TLS") || err.contains("SSL") || err.contains("tls"),
        "{err}"
    );
    // And prefer falls back to a plain connection.
    assert_eq!(
        ssl_in_use(&format!(
            "postgresql://postgres@127.0.0.1:{port}/postgres?sslmode=prefer"
        ))
        .await,
        Ok(false)
    );
}
