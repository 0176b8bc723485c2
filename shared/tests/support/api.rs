//! Requests for the shared handler (`reelforge::api::handle`), built the way the server
//! and the Lambda adapter build them.

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method};
use reelforge::api::ApiRequest;
use std::net::{IpAddr, Ipv4Addr};

/// A request from client address `10.0.0.0 + ip`, with the key as a bearer token.
pub fn request(method: Method, path: &str, key: Option<&str>, ip: u32, body: &str) -> ApiRequest {
    let mut headers = HeaderMap::new();
    if let Some(key) = key {
        headers.insert(
            "authorization",
            HeaderValue::from_str(&format!("Bearer {key}")).unwrap(),
        );
    }
    ApiRequest {
        method,
        path: path.to_string(),
        headers,
        body: Bytes::from(body.to_string()),
        body_too_large: false,
        source_ip: Some(IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + ip))),
    }
}
