//! Outbound HTTP through `wasi:http`, for plugins granted it.
//!
//! The host lets a request through only to hosts in the plugin's allow-list, and never to
//! link-local or cloud metadata addresses; a denied request comes back as an error.

use wasip2::http::outgoing_handler;
use wasip2::http::types::{Fields, Method, OutgoingRequest, Scheme};

/// A response: status and body.
#[derive(Debug, Clone)]
pub struct Response {
    /// HTTP status.
    pub status: u16,
    /// The body.
    pub body: Vec<u8>,
}

/// `GET http(s)://authority/path`. `url` must start with `http://` or `https://`.
pub fn get(url: &str) -> Result<Response, String> {
    let (scheme, rest) = if let Some(r) = url.strip_prefix("http://") {
        (Scheme::Http, r)
    } else if let Some(r) = url.strip_prefix("https://") {
        (Scheme::Https, r)
    } else {
        return Err(format!("unsupported URL {url}: only http and https"));
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let req = OutgoingRequest::new(Fields::new());
    req.set_method(&Method::Get).map_err(|()| "invalid method".to_string())?;
    req.set_scheme(Some(&scheme)).map_err(|()| "invalid scheme".to_string())?;
    req.set_authority(Some(authority)).map_err(|()| format!("invalid authority {authority}"))?;
    req.set_path_with_query(Some(path)).map_err(|()| format!("invalid path {path}"))?;
    let future =
        outgoing_handler::handle(req, None).map_err(|e| format!("request to {url} refused: {e:?}"))?;
    future.subscribe().block();
    let resp = match future.get() {
        Some(Ok(Ok(r))) => r,
        Some(Ok(Err(e))) => return Err(format!("request to {url} failed: {e:?}")),
        Some(Err(())) => return Err("response already taken".into()),
        None => return Err("no response".into()),
    };
    let status = resp.status();
    let body = resp.consume().map_err(|()| "no body".to_string())?;
    let stream = body.stream().map_err(|()| "no body stream".to_string())?;
    let mut out = Vec::new();
    loop {
        match stream.blocking_read(64 * 1024) {
            Ok(chunk) => out.extend_from_slice(&chunk),
            Err(wasip2::io::streams::StreamError::Closed) => break,
            Err(e) => return Err(format!("reading the body of {url}: {e:?}")),
        }
    }
    Ok(Response { status, body: out })
}
