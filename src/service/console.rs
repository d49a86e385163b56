//! `GET /`: the web console, one HTML page (with its script and style) compiled into the
//! binary: devices, their files, requests, live progress from the event stream, playback
//! controls and finished transfers. It calls the same `/api` as curl does.

use axum::response::Html;

const PAGE: &str = include_str!("console.html");

/// The page.
pub(crate) async fn page() -> Html<&'static str> {
    Html(PAGE)
}
