//! The bearer token: `Authorization: Bearer TOKEN` on every `/api` route and `/metrics`
//! when the service has a token; `?access_token=TOKEN` is also read, for the console's
//! EventSource, which cannot set headers. docs/protocol.md D81.

use super::{ApiError, State};
use axum::extract::{Request, State as Extract};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// Lets the request through when it carries the token (or the service has none).
pub(crate) async fn require_token(
    Extract(state): Extract<State>,
    request: Request,
    next: Next,
) -> Response {
    let Some(token) = state.token.as_deref() else {
        return next.run(request).await;
    };
    let from_header = request
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let from_query = request.uri().query().and_then(|q| {
        q.split('&')
            .find_map(|pair| pair.strip_prefix("access_token="))
    });
    match from_header.or(from_query) {
        Some(given) if same(given.as_bytes(), token.as_bytes()) => next.run(request).await,
        _ => {
            state.metrics.error(401);
            ApiError::unauthorized().into_response()
        }
    }
}

/// Compares in time independent of where the first difference is.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    #[test]
    fn tokens_compare_whole() {
        assert!(super::same(b"abcdefgh", b"abcdefgh"));
        assert!(!super::same(b"abcdefgh", b"abcdefgX"));
        assert!(!super::same(b"abcdefgh", b"abcdefg"));
    }
}
