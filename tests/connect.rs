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

/// `pgdiag explain -c 'SELECT 1'` with these arguments and environment variables, HOME a temp dir.
fn explain_with(args: &[&str], env: &[(&str, &str)]) -> crate::support::Run {
    let mut cmd = crate::support::pgdiag_command();
    cmd.arg("explain").args(args).args(["-c", "SELECT 1"]);
    for (k, v) in env {
        cmd.env(k, v);
    }
    crate::support::run_with(cmd, None)
}

#[test]
fn a_service_file_names_the_server_and_an_unknown_service_is_libpqs_error() {
    let port = pg().port();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("services.conf");
    std::fs::write(
        &file,
        format!(
            "# test services\n[other]\nhost=nowhere.invalid\n\n[local]\n  host=127.0.0.1\nport={port}\nuser=postgres\ndbname=postgres\n"
        ),
    )
    .unwrap();
    let file = file.display().to_string();
    let home = dir.path().display().to_string();
    let run = explain_with(
        &[],
        &[
            ("PGSERVICEFILE", &file),
            ("PGSERVICE", "local"),
            ("HOME", &home),
        ],
    );
    assert_eq!(run.code, 0, "{}", run.all_output());
    let run = explain_with(
        &["--dsn", "service=local application_name=svc-test"],
        &[("PGSERVICEFILE", &file), ("HOME", &home)],
    );
    assert_eq!(run.code, 0, "{}", run.all_output());
    // ~/.pg_service.conf without PGSERVICEFILE.
    std::fs::copy(&file, dir.path().join(".pg_service.conf")).unwrap();
    let run = explain_with(&["--dsn", "service=local"], &[("HOME", &home)]);
    assert_eq!(run.code, 0, "{}", run.all_output());
    let run = explain_with(
        &["--dsn", "service=nope"],
        &[
            ("PGSERVICEFILE", &file),
            ("PGSYSCONFDIR", &home),
            ("HOME", &home),
        ],
    );
    assert_eq!(run.code, 2);
    assert_eq!(
        run.stderr.trim_end(),
        "pgdiag: error: definition of service \"nope\" not found"
    );
}

#[tokio::test]
async fn pgpass_with_group_access_is_ignored_with_libpqs_warning_and_flags_outrank_the_dsn() {
    use std::os::unix::fs::PermissionsExt;
    let (url, client) = crate::support::database("pgpass", "").await;
    let db = url.rsplit('/').next().unwrap().to_owned();
    let port = pg().port().to_string();
    client
        .batch_execute("DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'pgpass_user') THEN CREATE ROLE pgpass_user LOGIN PASSWORD 'Pgpass-Pa55'; END IF; END $$")
        .await
        .unwrap();
    let home = tempfile::tempdir().unwrap();
    let pgpass = home.path().join(".pgpass");
    std::fs::write(&pgpass, "127.0.0.1:*:*:pgpass_user:Pgpass-Pa55\n").unwrap();
    std::fs::set_permissions(&pgpass, std::fs::Permissions::from_mode(0o644)).unwrap();
    let home_str = home.path().display().to_string();
    // -h -p -U -d outrank the DSN's host, port, user and database.
    let flags = [
        "--dsn",
        "postgresql://nobody@192.0.2.1:1/nodb",
        "-h",
        "127.0.0.1",
        "-p",
        &port,
        "-U",
        "pgpass_user",
        "-d",
        &db,
        "-w",
    ];
    let run = explain_with(&flags, &[("HOME", &home_str)]);
    assert_eq!(run.code, 2, "{}", run.all_output());
    assert!(
        run.stderr.contains(&format!(
            "WARNING: password file \"{}\" has group or world access; permissions should be u=rw (0600) or less",
            pgpass.display()
        )),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains(&format!(
            "cannot connect to pgpass_user@127.0.0.1:{port}/{db} (from --dsn): the server asks for a password for user \"pgpass_user\" and none was given"
        )),
        "{}",
        run.stderr
    );
    assert!(!run.all_output().contains("Pgpass-Pa55"));
    std::fs::set_permissions(&pgpass, std::fs::Permissions::from_mode(0o600)).unwrap();
    let run = explain_with(&flags, &[("HOME", &home_str)]);
    assert_eq!(run.code, 0, "{}", run.all_output());
    assert!(!run.stderr.contains("WARNING"), "{}", run.stderr);
    // passfile= in the connection string, and PGPASSFILE.
    let elsewhere = home.path().join("elsewhere");
    std::fs::rename(&pgpass, &elsewhere).unwrap();
    let dsn = format!(
        "host=127.0.0.1 port={port} user=pgpass_user dbname={db} passfile='{}'",
        elsewhere.display()
    );
    let run = explain_with(&["--dsn", &dsn, "-w"], &[("HOME", &home_str)]);
    assert_eq!(run.code, 0, "{}", run.all_output());
    let elsewhere_str = elsewhere.display().to_string();
    let run = explain_with(
        &[
            "-h",
            "127.0.0.1",
            "-p",
            &port,
            "-U",
            "pgpass_user",
            "-d",
            &db,
        ],
        &[("HOME", &home_str), ("PGPASSFILE", &elsewhere_str)],
    );
    assert_eq!(run.code, 0, "{}", run.all_output());
}

#[tokio::test]
async fn connection_errors_are_one_line_with_psqls_hints() {
    let port = pg().port();
    // Nothing listening.
    let run = explain_with(&["--dsn", "postgresql://app@127.0.0.1:1/shop"], &[]);
    assert_eq!(run.code, 2);
    assert_eq!(
        run.stderr.trim_end(),
        "pgdiag: error: cannot connect to app@127.0.0.1:1/shop (from --dsn): connection refused — is the server running on host \"127.0.0.1\" and accepting TCP/IP connections on port 1?"
    );
    // A socket directory without a server (the test environment's PGHOST).
    let run = explain_with(&["-U", "app", "-d", "shop"], &[]);
    assert_eq!(
        run.stderr.trim_end(),
        "pgdiag: error: cannot connect to app@/nonexistent-pgdiag-test-socket-dir:5432/shop (from -h/-p/-U/-d): socket \"/nonexistent-pgdiag-test-socket-dir/.s.PGSQL.5432\" does not exist — is the server running locally and accepting connections on that socket?"
    );
    // Something that is not PostgreSQL.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let other = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        for stream in listener.incoming().take(2) {
            let mut stream = stream.unwrap();
            let mut buf = [0u8; 64];
            let _ = stream.read(&mut buf);
            let _ = stream.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
        }
    });
    let run = explain_with(
        &["--dsn", &format!("postgresql://app@127.0.0.1:{other}/shop")],
        &[],
    );
    assert_eq!(
        run.stderr.trim_end(),
        format!(
            "pgdiag: error: cannot connect to app@127.0.0.1:{other}/shop (from --dsn): the server at 127.0.0.1:{other} does not speak the PostgreSQL protocol — is that the right host and port?"
        )
    );
    // A database that does not exist, from DATABASE_URL.
    let run = explain_with(
        &[],
        &[(
            "DATABASE_URL",
            &format!("postgresql://postgres@127.0.0.1:{port}/no_such_db"),
        )],
    );
    // (The test environment's PGHOST is outranked, and a note says so first.)
    assert_eq!(
        run.stderr.lines().last().unwrap_or_default(),
        format!(
            "pgdiag: error: cannot connect to postgres@127.0.0.1:{port}/no_such_db (from DATABASE_URL): database \"no_such_db\" does not exist (SQLSTATE 3D000)"
        )
    );
    // Unknown and unsupported key words, by name.
    let run = explain_with(
        &["--dsn", &format!("host=127.0.0.1 port={port} foo=1")],
        &[],
    );
    assert_eq!(
        run.stderr.trim_end(),
        "pgdiag: error: invalid connection option \"foo\" in the connection string from --dsn"
    );
    let run = explain_with(
        &[
            "--dsn",
            &format!("postgresql://postgres@127.0.0.1:{port}/postgres?gssencmode=require"),
        ],
        &[],
    );
    assert!(
        run.stderr
            .contains("GSSAPI encryption is not supported by pgdiag"),
        "{}",
        run.stderr
    );
    // DATABASE_URL outranking PGHOST is said once.
    let run = explain_with(
        &[],
        &[
            (
                "DATABASE_URL",
                &format!("postgresql://postgres@127.0.0.1:{port}/postgres"),
            ),
            ("PGHOST", "elsewhere.invalid"),
        ],
    );
    assert_eq!(run.code, 0, "{}", run.all_output());
    assert_eq!(
        run.stderr
            .matches("note: connecting with DATABASE_URL's settings, which outrank PGHOST")
            .count(),
        1,
        "{}",
        run.stderr
    );
}

#[tokio::test]
async fn client_certificates_and_the_system_trust_store() {
    use std::os::unix::fs::PermissionsExt;
    let files = tempfile::tempdir().unwrap();
    let path = |name: &str| files.path().join(name);
    // The server's certificate, for "localhost".
    let server_cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    std::fs::write(path("server.crt"), server_cert.cert.pem()).unwrap();
    std::fs::write(path("server.key"), server_cert.signing_key.serialize_pem()).unwrap();
    // A client certificate for role certuser (CN = role), self-signed and trusted by the server.
    let mut params = rcgen::CertificateParams::new(vec!["certuser".to_string()]).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "certuser");
    let client_key = rcgen::KeyPair::generate().unwrap();
    let client_cert = params.self_signed(&client_key).unwrap();
    std::fs::write(path("client.crt"), client_cert.pem()).unwrap();
    std::fs::write(path("client.key"), client_key.serialize_pem()).unwrap();
    std::fs::set_permissions(path("client.key"), std::fs::Permissions::from_mode(0o600)).unwrap();

    let server = EmbeddedPostgres::builder()
        .tls(path("server.crt"), path("server.key"))
        .setting("ssl_ca_file", path("client.crt").display().to_string())
        .start()
        .await
        .unwrap();
    let port = server.port();
    let admin = server.connect("postgres").await.unwrap();
    admin
        .batch_execute("CREATE ROLE certuser LOGIN")
        .await
        .unwrap();
    let hba = server.data_dir().join("pg_hba.conf");
    let rules = std::fs::read_to_string(&hba).unwrap();
    std::fs::write(
        &hba,
        format!(
            "hostssl all certuser 127.0.0.1/32 cert\nhost all certuser 127.0.0.1/32 reject\n{rules}"
        ),
    )
    .unwrap();
    admin
        .batch_execute("SELECT pg_reload_conf()")
        .await
        .unwrap();

    let home = tempfile::tempdir().unwrap();
    let env_home = home.path().display().to_string();
    let env = move |name: &str| (name == "HOME").then(|| env_home.clone());
    let base = format!("host=127.0.0.1 port={port} user=certuser dbname=postgres sslmode=require");
    let connects = |dsn: String| {
        let env = env.clone();
        async move {
            let settings =
                ConnectionSettings::resolve(Some(&dsn), &env).map_err(|e| e.to_string())?;
            let client = settings.connect().await.map_err(|e| e.to_string())?;
            let row = client
                .query_one("SELECT current_user::text", &[])
                .await
                .map_err(|e| e.to_string())?;
            Ok::<String, String>(row.get(0))
        }
    };
    // Without a certificate the server refuses certuser.
    let err = connects(base.clone()).await.unwrap_err();
    assert!(err.contains("certuser"), "{err}");
    // sslcert and sslkey.
    let with_cert = format!(
        "{base} sslcert='{}' sslkey='{}'",
        path("client.crt").display(),
        path("client.key").display()
    );
    assert_eq!(
        connects(with_cert.clone()).await,
        Ok("certuser".to_string())
    );
    // ~/.postgresql/postgresql.crt and .key, used when present.
    let dot = home.path().join(".postgresql");
    std::fs::create_dir_all(&dot).unwrap();
    std::fs::copy(path("client.crt"), dot.join("postgresql.crt")).unwrap();
    std::fs::copy(path("client.key"), dot.join("postgresql.key")).unwrap();
    assert_eq!(connects(base.clone()).await, Ok("certuser".to_string()));
    // libpq's rule on the key's permissions.
    std::fs::set_permissions(path("client.key"), std::fs::Permissions::from_mode(0o644)).unwrap();
    let err = connects(with_cert).await.unwrap_err();
    assert!(
        err.contains(&format!(
            "private key file \"{}\" has group or world access",
            path("client.key").display()
        )),
        "{err}"
    );

    // sslrootcert=system: the system trust store (SSL_CERT_FILE here), verify-full by default.
    let server_crt = path("server.crt").display().to_string();
    let dsn =
        format!("host=localhost port={port} user=postgres dbname=postgres sslrootcert=system");
    let run = explain_with(&["--dsn", &dsn], &[("SSL_CERT_FILE", &server_crt)]);
    assert_eq!(run.code, 0, "{}", run.all_output());
    // verify-full: 127.0.0.1 is not in the certificate.
    let run = explain_with(
        &["--dsn", &dsn, "-h", "127.0.0.1"],
        &[("SSL_CERT_FILE", &server_crt)],
    );
    assert_eq!(run.code, 2, "{}", run.all_output());
    assert!(
        run.stderr.to_lowercase().contains("certificate"),
        "{}",
        run.stderr
    );
    let run = explain_with(&["--dsn", &format!("{dsn} sslmode=require")], &[]);
    assert_eq!(
        run.stderr.trim_end(),
        "pgdiag: error: weak sslmode \"require\" may not be used with sslrootcert=system (use \"verify-full\")"
    );
    drop(admin);
    server.stop().await.unwrap();
}
