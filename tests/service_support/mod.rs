//! Helpers of the service tests: a platform and its admin service on loopback (QUIC and
//! HTTP), a real client, an HTTP client with or without the token, and a parser of the
//! Prometheus text.
#![allow(dead_code)]

use crate::e2e_support::{start_platform_with, Harness};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use tokio::sync::mpsc;
use vstream::platform::PlatformConfig;
use vstream::service::AdminService;

pub const TOKEN: &str = "test-token-0123456789abcdef";

/// A platform (observed by its service) and the service's HTTP address.
pub struct Service {
    pub h: Harness,
    pub admin: AdminService,
    pub base: String,
    pub http: reqwest::Client,
}

impl Service {
    /// `GET path` with the token.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{path}", self.base))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap()
    }

    /// `GET path` with the token, expecting `status`, as JSON.
    pub async fn get_json(&self, path: &str, status: u16) -> serde_json::Value {
        let r = self.get(path).await;
        json_of(r, status, path).await
    }

    /// `POST path` with the token and a JSON body, expecting `status`.
    pub async fn post(&self, path: &str, body: &str, status: u16) -> serde_json::Value {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(TOKEN)
            .header("content-type", "application/json")
            .body(body.to_owned())
            .send()
            .await
            .unwrap();
        json_of(r, status, path).await
    }

    /// `DELETE path` with the token, expecting `status`.
    pub async fn delete(&self, path: &str, status: u16) -> serde_json::Value {
        let r = self
            .http
            .delete(format!("{}{path}", self.base))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        json_of(r, status, path).await
    }

    /// The metrics, parsed.
    pub async fn metrics(&self) -> Metrics {
        let r = self.get("/metrics").await;
        assert_eq!(r.status(), 200);
        Metrics::parse(&r.text().await.unwrap())
    }
}

/// Checks the status and, for errors, the error shape; returns the body.
pub async fn json_of(r: reqwest::Response, status: u16, what: &str) -> serde_json::Value {
    let got = r.status().as_u16();
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(got, status, "{what}: {body}");
    if status >= 400 {
        assert_eq!(body["status_code"], status, "{what}: {body}");
        assert!(
            body["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{body}"
        );
    }
    body
}

/// Starts a platform whose observations feed an admin service with [`TOKEN`], serving
/// HTTP on loopback.
pub async fn start_service() -> Service {
    start_service_with_token(Some(TOKEN.to_owned())).await
}

pub async fn start_service_with_token(token: Option<String>) -> Service {
    start_service_configured(token, |_| {}).await
}

/// [`start_service`] with the platform's configuration adjusted (e.g. to wait through
/// breaks and resume).
pub async fn start_service_with(adjust: impl FnOnce(&mut PlatformConfig)) -> Service {
    start_service_configured(Some(TOKEN.to_owned()), adjust).await
}

async fn start_service_configured(
    token: Option<String>,
    adjust: impl FnOnce(&mut PlatformConfig),
) -> Service {
    let (tx, rx) = mpsc::unbounded_channel();
    let h = start_platform_with(|c| {
        c.observer = Some(tx);
        adjust(c);
    });
    let admin = AdminService::start(h.platform.clone(), Some(rx), token);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let router = admin.router();
    tokio::spawn(async move {
        axum::serve(listener, router).await.unwrap();
    });
    Service {
        h,
        admin,
        base: format!("http://{addr}"),
        http: reqwest::Client::new(),
    }
}

/// Samples of a Prometheus text exposition: `name{labels}` to value.
pub struct Metrics(pub BTreeMap<String, f64>);

impl Metrics {
    /// Parses every sample line; panics on a line that is not `NAME[{LABELS}] VALUE`.
    pub fn parse(text: &str) -> Metrics {
        let mut samples = BTreeMap::new();
        assert!(
            text.trim_end().ends_with("# EOF"),
            "not OpenMetrics:\n{text}"
        );
        for line in text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
        {
            let (series, value) = line
                .rsplit_once(' ')
                .unwrap_or_else(|| panic!("bad sample line {line:?}"));
            let value: f64 = value
                .parse()
                .unwrap_or_else(|_| panic!("bad value in {line:?}"));
            samples.insert(series.to_owned(), value);
        }
        Metrics(samples)
    }

    /// The value of a series, 0 when absent.
    pub fn value(&self, series: &str) -> f64 {
        self.0.get(series).copied().unwrap_or(0.0)
    }

    /// Whether a series is exposed.
    pub fn has(&self, series: &str) -> bool {
        self.0.contains_key(series)
    }
}
