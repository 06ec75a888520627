//! `GET /graphql` without a WebSocket upgrade: the GraphiQL explorer when the
//! server has it on (demo mode, or `--explorer`), and otherwise a plain answer
//! saying how to send a query. Its assets are compiled into the binary, so it
//! works in an office with no network but the server's.

use std::sync::OnceLock;

use poem::http::{StatusCode, header};
use poem::{Request, Response};

/// A file of the explorer: its route name, its type, and its bytes.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
    /// The zlib-compressed bytes (`Content-Encoding: deflate`), made on first use.
    deflated: OnceLock<bytes::Bytes>,
}

macro_rules! asset {
    ($name:literal, $type:literal) => {
        Asset {
            name: $name,
            content_type: $type,
            bytes: include_bytes!(concat!("../../assets/explorer/", $name)),
            deflated: OnceLock::new(),
        }
    };
}

static ASSETS: [Asset; 6] = [
    asset!("graphiql.min.js", "text/javascript; charset=utf-8"),
    asset!("graphiql.min.css", "text/css; charset=utf-8"),
    asset!("react.production.min.js", "text/javascript; charset=utf-8"),
    asset!("react-dom.production.min.js", "text/javascript; charset=utf-8"),
    asset!("explorer.js", "text/javascript; charset=utf-8"),
    asset!("explorer.css", "text/css; charset=utf-8"),
];

/// The page: scripts from this server only, nothing inline but styles
/// GraphiQL sets, no framing, and requests to this origin alone.
const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
    img-src 'self' data:; font-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; \
    frame-ancestors 'none'";

const PAGE: &str = r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>Ambito · GraphQL explorer</title>
<link rel="stylesheet" href="/explorer/graphiql.min.css">
<link rel="stylesheet" href="/explorer/explorer.css">
</head>
<body>
<div id="explorer">Loading the explorer…</div>
<noscript>The explorer needs JavaScript. Without it, send queries with POST /graphql as application/json.</noscript>
<script src="/explorer/react.production.min.js"></script>
<script src="/explorer/react-dom.production.min.js"></script>
<script src="/explorer/graphiql.min.js"></script>
<script src="/explorer/explorer.js"></script>
</body>
</html>
"#;

fn hardened(builder: poem::ResponseBuilder) -> poem::ResponseBuilder {
    builder
        .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff")
        .header(header::REFERRER_POLICY, "no-referrer")
        .header(header::X_FRAME_OPTIONS, "DENY")
}

/// `GET /graphql` as a page: the explorer, or why there is none.
pub fn page(req: &Request, on: bool) -> Response {
    if req.uri().query().is_some_and(|q| q.split('&').any(|p| p.starts_with("query="))) {
        // GraphQL over GET would let a link or an image run an operation
        // with the user's cookies or a proxy's credentials (CSRF): refused.
        let mut refused = super::json_error(
            StatusCode::METHOD_NOT_ALLOWED,
            "BAD_USER_INPUT",
            "GraphQL operations are not accepted over GET: send them with POST /graphql as application/json",
        );
        refused.headers_mut().insert(header::ALLOW, header::HeaderValue::from_static("POST"));
        return refused;
    }
    if !on {
        let text = "This is Ambito's GraphQL endpoint: send queries with POST /graphql as application/json.\n\
                    The explorer is off on this server; its operator can switch it on with --explorer.\n";
        return hardened(Response::builder())
            .status(StatusCode::METHOD_NOT_ALLOWED)
            .header(header::ALLOW, "POST")
            .content_type("text/plain; charset=utf-8")
            .body(text);
    }
    hardened(Response::builder())
        .header(header::CONTENT_SECURITY_POLICY, POLICY)
        .header(header::CACHE_CONTROL, "no-cache")
        .content_type("text/html; charset=utf-8")
        .body(PAGE)
}

/// `GET /explorer/{name}`: one of the explorer's files, compressed when the
/// client takes it. Not found when the explorer is off.
pub fn asset(req: &Request, name: &str, on: bool) -> Response {
    let Some(asset) = ASSETS.iter().find(|a| a.name == name).filter(|_| on) else {
        return Response::builder().status(StatusCode::NOT_FOUND).body("not found");
    };
    let deflate = req
        .headers()
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|e| e.split(';').next().is_some_and(|e| e.trim() == "deflate")));
    let builder = hardened(Response::builder())
        .content_type(asset.content_type)
        .header(header::CACHE_CONTROL, "public, max-age=3600")
        .header(header::VARY, "accept-encoding");
    if deflate {
        let body = asset.deflated.get_or_init(|| miniz_oxide::deflate::compress_to_vec_zlib(asset.bytes, 6).into());
        builder.header(header::CONTENT_ENCODING, "deflate").body(body.clone())
    } else {
        builder.body(asset.bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_the_page_loads_is_embedded_and_compresses_back() {
        for link in PAGE.split("/explorer/").skip(1) {
            let name = link.split('"').next().unwrap();
            let asset = ASSETS.iter().find(|a| a.name == name).unwrap_or_else(|| panic!("{name} is not embedded"));
            let packed = miniz_oxide::deflate::compress_to_vec_zlib(asset.bytes, 6);
            assert_eq!(miniz_oxide::inflate::decompress_to_vec_zlib(&packed).unwrap(), asset.bytes);
        }
    }
}
