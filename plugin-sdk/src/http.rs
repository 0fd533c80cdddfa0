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

/// The scheme, authority and path of an `http://` or `https://` URL.
fn split_url(url: &str) -> Option<(Scheme, &str, &str)> {
    let (scheme, rest) = if let Some(r) = url.strip_prefix("http://") {
        (Scheme::Http, r)
    } else {
        (Scheme::Https, url.strip_prefix("https://")?)
    };
    Some(match rest.find('/') {
        Some(i) => (scheme, &rest[..i], &rest[i..]),
        None => (scheme, rest, "/"),
    })
}

/// Waits for the response to a request sent, and reads its whole body. `what` names the
/// request in errors.
fn read_response(future: outgoing_handler::FutureIncomingResponse, what: &str) -> Result<Response, String> {
    future.subscribe().block();
    let resp = match future.get() {
        Some(Ok(Ok(r))) => r,
        Some(Ok(Err(e))) => return Err(format!("request to {what} failed: {e:?}")),
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
            Err(e) => return Err(format!("reading the response of {what}: {e:?}")),
        }
    }
    Ok(Response { status, body: out })
}

/// `GET http(s)://authority/path`. `url` must start with `http://` or `https://`.
pub fn get(url: &str) -> Result<Response, String> {
    let (scheme, authority, path) =
        split_url(url).ok_or_else(|| format!("unsupported URL {url}: only http and https"))?;
    let req = OutgoingRequest::new(Fields::new());
    req.set_method(&Method::Get).map_err(|()| "invalid method".to_string())?;
    req.set_scheme(Some(&scheme)).map_err(|()| "invalid scheme".to_string())?;
    req.set_authority(Some(authority)).map_err(|()| format!("invalid authority {authority}"))?;
    req.set_path_with_query(Some(path)).map_err(|()| format!("invalid path {path}"))?;
    let future =
        outgoing_handler::handle(req, None).map_err(|e| format!("request to {url} refused: {e:?}"))?;
    read_response(future, url)
}

/// `POST` `body` to `url` (`http://` or `https://`) with `headers`, waiting at most
/// `timeout_ms` to connect and again for the first byte of the response. The request carries
/// `Content-Length` (any `content-length` in `headers` is replaced): many receivers refuse or
/// mishandle a chunked body. The caller decides what a status means; an error is a transport
/// failure (refused, denied, timed out).
pub fn post(url: &str, headers: &[(&str, &str)], body: &[u8], timeout_ms: u64) -> Result<Response, String> {
    send_post(url, headers, body, timeout_ms, true)
}

/// [`post`] without `Content-Length`: the body goes out chunked (`Transfer-Encoding:
/// chunked`), for a receiver that asks for it.
pub fn post_chunked(
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    timeout_ms: u64,
) -> Result<Response, String> {
    send_post(url, headers, body, timeout_ms, false)
}

fn send_post(
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    timeout_ms: u64,
    with_length: bool,
) -> Result<Response, String> {
    let (scheme, authority, path) = split_url(url).ok_or("unsupported URL: only http and https")?;
    let mut list: Vec<(String, Vec<u8>)> = headers
        .iter()
        .filter(|(k, _)| !k.eq_ignore_ascii_case("content-length"))
        .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
        .collect();
    // The host frames the body by this header; without it, it sends the body chunked.
    if with_length {
        list.push(("content-length".to_string(), body.len().to_string().into_bytes()));
    }
    let fields = Fields::from_list(&list).map_err(|e| format!("invalid header: {e:?}"))?;
    let req = OutgoingRequest::new(fields);
    req.set_method(&Method::Post).map_err(|()| "invalid method".to_string())?;
    req.set_scheme(Some(&scheme)).map_err(|()| "invalid scheme".to_string())?;
    req.set_authority(Some(authority)).map_err(|()| "invalid authority".to_string())?;
    req.set_path_with_query(Some(path)).map_err(|()| "invalid path".to_string())?;
    let out_body = req.body().map_err(|()| "no request body".to_string())?;
    let options = wasip2::http::types::RequestOptions::new();
    let ns = timeout_ms.saturating_mul(1_000_000);
    let _ = options.set_connect_timeout(Some(ns));
    let _ = options.set_first_byte_timeout(Some(ns));
    let _ = options.set_between_bytes_timeout(Some(ns));
    // Messages name the authority only: a URL may hold a secret (a webhook token).
    let future = outgoing_handler::handle(req, Some(options))
        .map_err(|e| format!("request to {authority} refused: {e:?}"))?;
    {
        let stream = out_body.write().map_err(|()| "no request body stream".to_string())?;
        for chunk in body.chunks(4096) {
            stream.blocking_write_and_flush(chunk).map_err(|e| format!("sending to {authority}: {e:?}"))?;
        }
    }
    wasip2::http::types::OutgoingBody::finish(out_body, None)
        .map_err(|e| format!("sending to {authority}: {e:?}"))?;
    read_response(future, authority)
}
