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
            .map(percent_decoded)
    });
    let given = from_header.map(|h| h.as_bytes().to_vec()).or(from_query);
    match given {
        Some(given) if same(&given, token.as_bytes()) => next.run(request).await,
        _ => {
            state.metrics.error(401);
            ApiError::unauthorized().into_response()
        }
    }
}

/// A query value with its `%XX` escapes (and `+` for space) decoded: the console sends the
/// token through `encodeURIComponent`. A malformed escape is kept as written.
fn percent_decoded(value: &str) -> Vec<u8> {
    let bytes = value.as_bytes();
    let hex = |b: u8| char::from(b).to_digit(16);
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = match bytes.get(i..i + 3) {
            Some([b'%', h, l]) => hex(*h).zip(hex(*l)),
            _ => None,
        };
        match (escaped, bytes[i]) {
            (Some((h, l)), _) => {
                // Two hex digits are at most 0xff.
                out.push(u8::try_from(h * 16 + l).unwrap_or(b'?'));
                i += 3;
            }
            (None, b'+') => {
                out.push(b' ');
                i += 1;
            }
            (None, b) => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
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

    #[test]
    fn a_query_token_is_percent_decoded() {
        assert_eq!(super::percent_decoded("a%2Bb%2f%3D%3d"), b"a+b/==");
        assert_eq!(super::percent_decoded("x+y"), b"x y");
        assert_eq!(super::percent_decoded("bad%zz%4"), b"bad%zz%4");
        assert_eq!(
            super::percent_decoded("plain-token_123"),
            b"plain-token_123"
        );
    }
}
