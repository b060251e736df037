//! One retry budget per call: a DynamoDB write that keeps being throttled is sent exactly
//! `max_attempts` times, then reported as throttled. (The adapter's own retry loop used to
//! multiply the SDK's: 5 x 3 = 15 PutItems for one item.)
//!
//! DynamoDB Local never throttles, so the endpoint here is a small HTTP server that answers every
//! request with DynamoDB's throttling error and counts the requests.

#![cfg(feature = "dynamodb")]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use hotcold_engine::backends::dynamodb::{DynamoColdStore, DynamoConfig};
use hotcold_engine::{ColdStore, RegionId, Session, SessionData, SessionId, StoreError, Timestamp, UserId};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const THROTTLED: &str =
    r#"{"__type":"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException","message":"slow down"}"#;

/// An endpoint that throttles everything; the counter counts the requests it answered.
async fn throttling_endpoint() -> (String, Arc<AtomicU64>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    let requests = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&requests);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(answer_all(stream, Arc::clone(&counter)));
        }
    });
    (format!("http://{address}"), requests)
}

/// Answers every request on one (keep-alive) connection with the throttling error.
async fn answer_all(mut stream: TcpStream, requests: Arc<AtomicU64>) {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        // Read one request: headers, then the body by its Content-Length.
        let header_end = loop {
            if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                break end + 4;
            }
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            }
        };
        let headers = String::from_utf8_lossy(&buffer[..header_end]).to_ascii_lowercase();
        let body_len = headers
            .lines()
            .find_map(|line| line.strip_prefix("content-length:"))
            .and_then(|value| value.trim().parse::<usize>().ok())
            .unwrap_or(0);
        while buffer.len() < header_end + body_len {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            }
        }
        buffer.drain(..header_end + body_len);
        requests.fetch_add(1, Ordering::SeqCst);
        let response = format!(
            "HTTP/1.1 400 Bad Request\r\nContent-Type: application/x-amz-json-1.0\r\nx-amzn-RequestId: test\r\n\
             Content-Length: {}\r\n\r\n{THROTTLED}",
            THROTTLED.len()
        );
        if stream.write_all(response.as_bytes()).await.is_err() {
            return;
        }
    }
}

fn session() -> Session {
    Session {
        id: SessionId::from_parts([3; 16], RegionId(0)),
        user_id: UserId::new("throttled").unwrap(),
        data: SessionData::from_stored(Bytes::from_static(b"{}")),
        version: 1,
        created_at: Timestamp(1_700_000_000_000),
        last_access: Timestamp(1_700_000_000_000),
        persisted_version: 1,
        hot_region: None,
        activity: hotcold_engine::Activity::default(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throttled_write_is_sent_max_attempts_times_in_all() {
    let (endpoint, requests) = throttling_endpoint().await;
    for max_attempts in [1, 3] {
        let config = DynamoConfig {
            max_attempts,
            call_timeout: Duration::from_secs(30),
            ..DynamoConfig::local(endpoint.clone(), "budget-sessions", "budget-audit")
        };
        let cold = DynamoColdStore::connect(config, false).await.expect("client");
        let before = requests.load(Ordering::SeqCst);
        let written = cold.put(&session(), RegionId(0), Timestamp(1_700_000_000_000)).await;
        assert!(matches!(written, Err(StoreError::Throttled { .. })), "reported as throttled, got {written:?}");
        let sent = requests.load(Ordering::SeqCst) - before;
        assert_eq!(sent, u64::from(max_attempts), "PutItems sent for one item with max_attempts {max_attempts}");

        // A batch of 30: every item within its own budget, none beyond.
        let batch: Vec<Session> =
            (0..30u8).map(|i| Session { id: SessionId::from_parts([i; 16], RegionId(0)), ..session() }).collect();
        let before = requests.load(Ordering::SeqCst);
        let written = cold.put_batch(&batch, RegionId(0), Timestamp(1_700_000_000_000)).await;
        assert!(matches!(written, Err(StoreError::Throttled { .. })), "the batch reports the throttling");
        let sent = requests.load(Ordering::SeqCst) - before;
        assert!(
            sent <= 30 * u64::from(max_attempts),
            "at most {max_attempts} PutItems per item of the batch, sent {sent}"
        );
    }
}
