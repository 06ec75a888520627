//! Documents over plain HTTP, streamed both ways with bounded memory.
//!
//! Uploads follow the core of the tus 1.0 protocol: `createUpload` (GraphQL)
//! opens a slot and gives its URL; `PUT /uploads/{id}` sends the file from
//! its start; `HEAD` tells how many bytes are safely stored; `PATCH` with
//! `Upload-Offset` sends the rest from there. Each request's bytes are sealed
//! into an object of their own as they arrive; only whole 64 KiB segments
//! count, so a dropped connection loses at most one. The last part makes the
//! document visible (parts are joined into one object first).
//!
//! `GET /attachments/{id}` checks the row under the caller's scope, then
//! decrypts and streams the file, or the one byte range asked for.

use std::sync::Arc;

use futures_util::StreamExt as _;
use object_store::ObjectStoreExt as _;
use poem::http::{StatusCode, header};
use poem::web::{Data, Path};
use poem::{Body, Request, Response, handler};
use uuid::Uuid;

use super::{AppState, Scoped, error_response, scoped_any};
use crate::authz::{Action, ObjectKind};
use crate::db::RequestDb;
use crate::db::attachments::AttachmentRow;
use crate::error::AppError;
use crate::rules::files::{FileType, RangeAsk, content_disposition, parse_range};
use crate::storage::envelope::SEGMENT;
use crate::storage::store::{self, Piece, StoreError};
use crate::storage::{hex, object_path};
use crate::usecases::attachments as uc;

const TUS_VERSION: &str = "1.0.0";

fn parse_id(id: &str) -> Result<Uuid, AppError> {
    // An id that is not one of ours cannot exist.
    Uuid::parse_str(id).map_err(|_| AppError::NotFound)
}

fn random_suffix() -> String {
    Uuid::new_v4().simple().to_string()[..12].to_owned()
}

/// `PUT /uploads/{id}`: the whole file, from its first byte.
#[handler]
pub async fn upload(req: &Request, Path(id): Path<String>, body: Body, Data(state): Data<&Arc<AppState>>) -> Response {
    receive(req, state, &id, None, body).await.unwrap_or_else(error_response)
}

/// `PATCH /uploads/{id}` with `Upload-Offset`: the rest of the file from
/// there, as tus 1.0 core says: the request must name the protocol version
/// (`Tus-Resumable: 1.0.0`, else 412) and send
/// `Content-Type: application/offset+octet-stream` (else 415); success is
/// `204 No Content` with the new `Upload-Offset`.
#[handler]
pub async fn resume(req: &Request, Path(id): Path<String>, body: Body, Data(state): Data<&Arc<AppState>>) -> Response {
    let header_is = |name: &str, want: &str| {
        req.headers().get(name).and_then(|v| v.to_str().ok()).is_some_and(|v| v.trim().eq_ignore_ascii_case(want))
    };
    if !header_is("tus-resumable", TUS_VERSION) {
        return Response::builder()
            .status(StatusCode::PRECONDITION_FAILED)
            .header("tus-version", TUS_VERSION)
            .body(format!("Tus-Resumable: {TUS_VERSION} is required"));
    }
    if !header_is(header::CONTENT_TYPE.as_str(), "application/offset+octet-stream") {
        return Response::builder()
            .status(StatusCode::UNSUPPORTED_MEDIA_TYPE)
            .header("tus-resumable", TUS_VERSION)
            .body("Content-Type: application/offset+octet-stream is required");
    }
    let offset = req.headers().get("upload-offset").and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    let Some(offset) = offset else {
        return error_response(AppError::bad_input("Upload-Offset", "the header must give the offset to resume at"));
    };
    match receive(req, state, &id, Some(offset), body).await {
        Ok(stored) if stored.status() == StatusCode::OK => {
            let mut done = Response::builder().status(StatusCode::NO_CONTENT);
            for name in ["tus-resumable", "upload-offset", "upload-length", "cache-control"] {
                if let Some(v) = stored.headers().get(name) {
                    done = done.header(name, v.clone());
                }
            }
            done.finish()
        }
        Ok(other) => other,
        Err(e) => error_response(e),
    }
}

/// `HEAD /uploads/{id}`: how many bytes of the file are safely stored.
#[handler]
pub async fn upload_offset(req: &Request, Path(id): Path<String>, Data(state): Data<&Arc<AppState>>) -> Response {
    let found = async {
        let id = parse_id(&id)?;
        let Scoped { subject, db, .. } = scoped_any(req, state, &ObjectKind::DOCUMENTS, Action::Write).await?;
        let row = uc::own_upload(&db, subject.user_id, id).await;
        db.settle(row).await
    }
    .await;
    match found {
        Ok(row) if row.state == "pending" => upload_state(StatusCode::OK, &row, row.received as u64).finish(),
        // Complete: every byte is stored.
        Ok(row) => upload_state(StatusCode::OK, &row, row.size as u64).header("upload-complete", "true").finish(),
        Err(e) => error_response(e),
    }
}

fn upload_state(status: StatusCode, row: &AttachmentRow, offset: u64) -> poem::ResponseBuilder {
    Response::builder()
        .status(status)
        .header("tus-resumable", TUS_VERSION)
        .header("upload-offset", offset.to_string())
        .header("upload-length", row.size.to_string())
        .header(header::CACHE_CONTROL, "no-store")
}

/// Stores the bytes of one request, from `resume_at` (a PUT: from the start,
/// to a slot that has nothing yet).
async fn receive(
    req: &Request,
    state: &AppState,
    id: &str,
    resume_at: Option<u64>,
    body: Body,
) -> Result<Response, AppError> {
    let id = parse_id(id)?;
    let Scoped { subject, db, .. } = scoped_any(req, state, &ObjectKind::DOCUMENTS, Action::Write).await?;
    let row = uc::pending_upload(&db, subject.user_id, id).await;
    let row = db.settle(row).await?;
    let size = row.size as u64;
    let from = row.received as u64;
    let start = match resume_at.unwrap_or(0) {
        o if o != from => {
            let body = serde_json::json!({ "errors": [{
                "message": format!("the upload is at offset {from}: resume from there"),
                "extensions": { "code": "CONFLICT", "offset": from },
            }]});
            return Ok(upload_state(StatusCode::CONFLICT, &row, from)
                .content_type("application/json")
                .body(body.to_string()));
        }
        // A PUT sends the file from its start, to a slot that has nothing yet.
        o => o,
    };
    // A declared length beyond the file is refused before a byte is read.
    let declared = req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if let Some(len) = declared.filter(|len| *len > size - start) {
        return Err(AppError::bad_input(
            "body",
            format!("{len} bytes sent from offset {start}, but the file has {size} bytes in all"),
        ));
    }
    let files = &state.files;
    let key = uc::data_key(&files.keys.ring(), &row).map_err(AppError::internal)?;
    let file_type =
        FileType::from_content_type(&row.content_type).map_err(|e| AppError::internal(anyhow::anyhow!(e)))?;
    let first = start / SEGMENT as u64;
    let path = object_path(row.blob_id, &format!("part-{first:010}-{}", random_suffix()));
    let reader = body.into_async_read();
    // `key` already has a nonce prefix of its own: this part's.
    let part = store::put_part(&files.store, &path, key.clone(), size, first, reader, |head| file_type.check(head))
        .await
        .map_err(|e| match e {
            StoreError::TooLarge(_) | StoreError::Content(_) => AppError::bad_input("body", e.to_string()),
            e => AppError::storage(e),
        })?;
    let db = RequestDb::new(state.pool.clone(), state.authz.settings(Some(&subject)));
    // The object the parts are joined into, when this request completes a resumed upload.
    let mut joined = None;
    let outcome = async {
        if part.segments == 0 {
            return Ok((start, None));
        }
        if !part.complete {
            let to = (first + part.segments) * SEGMENT as u64;
            uc::record_part(&db, id, from as i64, to as i64, path.to_string()).await?;
            return Ok((to, None));
        }
        let (object, sha) = match part.sha256 {
            // One request brought the whole file: its part is the document's object.
            Some(sha) => (path.clone(), sha),
            None => {
                let target = object_path(row.blob_id, &format!("sealed-{}", random_suffix()));
                joined = Some(target.clone());
                let pieces = pieces(&row.parts, &path, first, part.segments)?;
                let stored =
                    store::join_parts(&files.store, &key, size, &pieces, &target).await.map_err(AppError::storage)?;
                (target, stored.sha256)
            }
        };
        uc::commit(&db, id, from as i64, object.to_string(), sha).await.map(|row| (size, Some(row)))
    }
    .await;
    let outcome = db.settle(outcome).await;
    // Objects no row refers to after this request: the parts of a joined
    // upload, or whatever a failed request wrote.
    let unneeded: Vec<object_store::path::Path> = match (&outcome, joined) {
        (Ok(_), Some(_)) => row.parts.iter().map(|p| p.as_str().into()).chain([path.clone()]).collect(),
        (Ok(_), None) => Vec::new(),
        (Err(_), joined) => [path.clone()].into_iter().chain(joined).collect(),
    };
    for p in unneeded {
        let _ = files.store.delete(&p).await;
    }
    let (at, committed) = outcome?;
    let body = serde_json::json!({
        "id": id.to_string(),
        "offset": at,
        "complete": committed.is_some(),
        "sha256": committed.as_ref().and_then(|c| c.sha256.as_deref()).map(hex),
    });
    Ok(upload_state(StatusCode::OK, &row, at).content_type("application/json").body(body.to_string()))
}

/// The objects of a resumed upload, in order: the parts stored before and
/// the one just written. A part's name starts with its first segment.
fn pieces(
    earlier: &[String],
    last: &object_store::path::Path,
    first: u64,
    segments: u64,
) -> Result<Vec<Piece>, AppError> {
    let start_of = |p: &str| -> Result<u64, AppError> {
        let name = p.rsplit('/').next().unwrap_or("");
        name.strip_prefix("part-")
            .and_then(|n| n.get(..10))
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| AppError::internal(anyhow::anyhow!("unexpected part name {name}")))
    };
    let mut out = Vec::with_capacity(earlier.len() + 1);
    let starts: Vec<u64> = earlier.iter().map(|p| start_of(p)).collect::<Result<_, _>>()?;
    for (i, p) in earlier.iter().enumerate() {
        let next = starts.get(i + 1).copied().unwrap_or(first);
        out.push(Piece { path: object_store::path::Path::from(p.as_str()), first: starts[i], last: next - 1 });
    }
    out.push(Piece { path: last.clone(), first, last: first + segments - 1 });
    Ok(out)
}

/// `GET /attachments/{id}`: the document, decrypted as it streams.
#[handler]
pub async fn download(req: &Request, Path(id): Path<String>, Data(state): Data<&Arc<AppState>>) -> Response {
    send(req, state, &id).await.unwrap_or_else(error_response)
}

async fn send(req: &Request, state: &AppState, id: &str) -> Result<Response, AppError> {
    let id = parse_id(id)?;
    let Scoped { db, .. } = scoped_any(req, state, &ObjectKind::DOCUMENTS, Action::Read).await?;
    let row = uc::for_download(&db, id).await;
    let row = db.settle(row).await?;
    let files = &state.files;
    let (object, envelope) =
        uc::open_object(&files.store, &files.keys.ring(), &row).await.map_err(AppError::storage)?;
    let size = row.size as u64;
    let (status, range) = match parse_range(req.headers().get(header::RANGE).and_then(|v| v.to_str().ok()), size) {
        RangeAsk::Whole => (StatusCode::OK, 0..size),
        RangeAsk::Part(r) => (StatusCode::PARTIAL_CONTENT, r),
        RangeAsk::Unsatisfiable => {
            return Ok(Response::builder()
                .status(StatusCode::RANGE_NOT_SATISFIABLE)
                .header(header::CONTENT_RANGE, format!("bytes */{size}"))
                .header(header::CACHE_CONTROL, "no-store")
                .finish());
        }
    };
    let mut chunks = Box::pin(store::plaintext(files.store.clone(), object, envelope, size, range.clone()));
    // The first chunk before the headers: a missing or altered object is an
    // error response, not a cut-off download.
    let head = match chunks.next().await {
        Some(Ok(c)) => Some(c),
        Some(Err(e)) => return Err(AppError::storage(e)),
        None => None,
    };
    let stream = futures_util::stream::iter(head.map(Ok)).chain(chunks).map(|c| c.map_err(std::io::Error::other));
    let mut resp = Response::builder()
        .status(status)
        .content_type(row.content_type.as_str())
        .header(header::CONTENT_DISPOSITION, content_disposition(&row.file_name))
        .header("x-content-type-options", "nosniff")
        .header(header::CACHE_CONTROL, "no-store")
        .header(header::ACCEPT_RANGES, "bytes")
        .header(header::CONTENT_LENGTH, (range.end - range.start).to_string());
    if status == StatusCode::PARTIAL_CONTENT {
        resp = resp.header(header::CONTENT_RANGE, format!("bytes {}-{}/{size}", range.start, range.end - 1));
    }
    Ok(resp.body(Body::from_bytes_stream(stream)))
}
