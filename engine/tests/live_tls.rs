//! `rediss://`: the Redis store over TLS (rustls) against a real redis-server with TLS on, its
//! certificate signed by a private authority made here with the `openssl` command line. The
//! store connects and works when told to trust that authority, and refuses the server otherwise
//! (so the certificate is really checked); a plain `redis://` URL on the TLS port fails.

#![cfg(all(feature = "redis", feature = "dynamodb"))]

mod live_support;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hotcold_engine::backends::redis::{RedisHotConfig, RedisHotStore};
use hotcold_engine::store::{HotLookup, HotStore, HotWrite};
use hotcold_engine::{RegionId, Session, SessionData, SessionId, Timestamp, UserId};
use live_support::{env, free_port, unique};

/// Runs `openssl` with `args` in `dir`.
fn openssl(dir: &Path, args: &[&str]) {
    let status = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("openssl (scripts/services.sh install provides it)");
    assert!(status.success(), "openssl {args:?}");
}

/// A private authority and a certificate it signed for 127.0.0.1, in `dir`.
fn make_certificates(dir: &Path) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
            "-days",
            "2",
            "-subj",
            "/CN=hotcold test authority",
        ],
    );
    std::fs::write(dir.join("san.ext"), "subjectAltName=IP:127.0.0.1,DNS:localhost\n").expect("write san.ext");
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=localhost",
        ],
    );
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.crt",
            "-days",
            "2",
            "-extfile",
            "san.ext",
        ],
    );
}

/// A redis-server with only a TLS port; killed on drop.
struct TlsRedis {
    port: u16,
    child: Child,
}

impl TlsRedis {
    fn start(dir: &Path) -> Self {
        let port = free_port();
        let path = |name: &str| dir.join(name).display().to_string();
        let child = Command::new(env("HOTCOLD_REDIS_SERVER_BIN"))
            .args(["--port", "0", "--tls-port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--tls-cert-file", &path("server.crt"), "--tls-key-file", &path("server.key")])
            .args(["--tls-ca-cert-file", &path("ca.crt"), "--tls-auth-clients", "no"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server with TLS");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not open its TLS port");
            std::thread::sleep(Duration::from_millis(20));
        }
        Self { port, child }
    }
}

impl Drop for TlsRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn session() -> Session {
    Session {
        id: SessionId::from_parts([9; 16], RegionId(0)),
        user_id: UserId::new("tls-user").unwrap(),
        data: SessionData::from_stored(Bytes::from_static(br#"{"over":"tls"}"#)),
        version: 1,
        created_at: Timestamp(1_700_000_000_000),
        last_access: Timestamp(1_700_000_000_000),
        persisted_version: 0,
        hot_region: None,
        activity: hotcold_engine::Activity::default(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_talks_tls_to_a_server_it_trusts_and_refuses_one_it_does_not() {
    let dir = std::env::temp_dir().join(unique("hotcold-tls"));
    std::fs::create_dir_all(&dir).expect("temp dir");
    make_certificates(&dir);
    let server = TlsRedis::start(&dir);
    let ca = std::fs::read(dir.join("ca.crt")).expect("ca.crt");
    let tls_url = format!("rediss://127.0.0.1:{}", server.port);
    let config = |url: &str| RedisHotConfig::standalone(url).with_prefix(unique("tls")).with_label("redis tls");

    let store = RedisHotStore::connect(config(&tls_url).with_tls_root_cert(ca)).await.expect("TLS connection");
    let ttl = Duration::from_secs(60);
    assert_eq!(store.put(&session(), ttl).await, Ok(HotWrite::Written));
    match store.get_and_touch(&session().id, Timestamp(1_700_000_001_000), ttl).await {
        HotLookup::Hit(found) => assert_eq!(found.data, session().data, "the session over TLS"),
        other => panic!("the session over TLS, got {other:?}"),
    }

    // The system's roots do not know the private authority: the certificate is checked.
    let untrusted = RedisHotStore::connect(config(&tls_url)).await;
    assert!(untrusted.is_err(), "a server whose certificate no trusted authority signed is refused");
    // Plain text to the TLS port is no connection either.
    let plain = RedisHotStore::connect(config(&format!("redis://127.0.0.1:{}", server.port))).await;
    assert!(plain.is_err(), "redis:// to a TLS port fails");
    let _ = std::fs::remove_dir_all(&dir);
}
