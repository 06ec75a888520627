//! Attachments as use cases: an upload slot for a parent row, the parts of
//! an upload as they arrive, the commit that makes a document visible,
//! attaching a document again elsewhere, and downloads. A document takes
//! its parent's institution and so its parent's scope; row security decides
//! which documents exist for the caller. Every change and every read of a
//! document is in the audit trail.

use std::str::FromStr;

use anyhow::Context as _;
use object_store::path::Path;
use serde_json::json;
use uuid::Uuid;

use crate::authz::{Caller, ObjectKind};
use crate::db::RequestDb;
use crate::db::attachments::{self as q, AttachmentRow, NewAttachment};
use crate::db::audit::Event;
use crate::db::refugees;
use crate::db::registry as reg;
use crate::error::{AppError, AppResult};
use crate::rules::files::{FileType, sanitize_file_name};
use crate::rules::school_year::SchoolYear;
use crate::storage::envelope::{Envelope, WrappedKey};
use crate::storage::keys::Keyring;
use crate::storage::store::{self, Store};
use crate::storage::{Files, hex};

/// What a document is to its parent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A pupil's certification documents: verbale di accertamento, diagnosi
    /// funzionale, profilo di funzionamento, PEI.
    Certification,
    /// A school's signed summary of requested support hours.
    SignedSummary,
    /// A refugee minor's enrolment request documents.
    EnrolmentDocument,
    /// A teacher's application documents.
    ApplicationDocument,
    /// An admission application's documents: the certification under
    /// L. 104/92, papers of a complaint. Health data: the school's only.
    AdmissionDocument,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Certification => "certification",
            Kind::SignedSummary => "signed_summary",
            Kind::EnrolmentDocument => "enrolment_document",
            Kind::ApplicationDocument => "application_document",
            Kind::AdmissionDocument => "admission_document",
        }
    }
}

impl Kind {
    /// The object kind whose policy lines say who may add documents of this kind.
    pub fn object_kind(self) -> ObjectKind {
        match self {
            Kind::EnrolmentDocument => ObjectKind::EnrolmentDocument,
            Kind::AdmissionDocument => ObjectKind::AdmissionApplication,
            Kind::ApplicationDocument => ObjectKind::MobilityApplication,
            _ => ObjectKind::Attachment,
        }
    }
}

impl FromStr for Kind {
    type Err = ();
    fn from_str(s: &str) -> Result<Kind, ()> {
        [
            Kind::Certification,
            Kind::SignedSummary,
            Kind::EnrolmentDocument,
            Kind::ApplicationDocument,
            Kind::AdmissionDocument,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
        .ok_or(())
    }
}

/// The id of a school's support submission for a year, as a parent:
/// `institution:yyyy/yy`.
pub fn submission_id(institution: &str, year: i32) -> String {
    let label = SchoolYear::from_stored(year).map_or_else(|| year.to_string(), |y| y.to_string());
    format!("{institution}:{label}")
}

/// The row a document belongs to, and the scope it takes from it.
struct Parent {
    institution: Option<String>,
    province: String,
    pupil_id: Option<i64>,
    school_year: Option<i32>,
    enrolment_request_id: Option<i64>,
    admission_application_id: Option<i64>,
    mobility_application_id: Option<i64>,
}

/// Finds the parent in the caller's scope and checks the caller may add a
/// document to it now.
async fn parent(
    conn: &mut diesel_async::AsyncPgConnection,
    caller: &Caller,
    kind: Kind,
    parent_id: &str,
) -> AppResult<Parent> {
    match kind {
        Kind::Certification => {
            let id: i64 = parent_id.parse().map_err(|_| AppError::bad_input("parentId", "must be a pupil's id"))?;
            let pupil = reg::pupils_by_id(conn, vec![id]).await?.pop().ok_or(AppError::NotFound)?;
            crate::usecases::registry::check_writable(
                conn,
                caller,
                &pupil.institution_code,
                &pupil.province_code,
                pupil.school_year,
            )
            .await?;
            Ok(Parent {
                institution: Some(pupil.institution_code),
                province: pupil.province_code,
                pupil_id: Some(pupil.id),
                school_year: Some(pupil.school_year),
                enrolment_request_id: None,
                admission_application_id: None,
                mobility_application_id: None,
            })
        }
        Kind::SignedSummary => {
            let bad = || AppError::bad_input("parentId", "must be a support submission's id, e.g. BGIC81200X:2026/27");
            let (institution, year) = parent_id.split_once(':').ok_or_else(bad)?;
            let year = year.parse::<SchoolYear>().map_err(|_| bad())?.stored();
            match reg::submission(conn, institution, year).await? {
                Some(s) if s.state == "submitted" => Ok(Parent {
                    institution: Some(s.institution_code),
                    // The database sets it from the institution in any case.
                    province: caller.province.clone().unwrap_or_default(),
                    pupil_id: None,
                    school_year: Some(year),
                    enrolment_request_id: None,
                    admission_application_id: None,
                    mobility_application_id: None,
                }),
                // Only the school itself learns that its own request is not submitted.
                _ if caller.school.as_deref() == Some(institution) => Err(AppError::Conflict(format!(
                    "submit the support request for {} before sending its signed summary",
                    SchoolYear::from_stored(year).map_or_else(String::new, |y| y.to_string())
                ))),
                _ => Err(AppError::NotFound),
            }
        }
        Kind::EnrolmentDocument => {
            let id: i64 =
                parent_id.parse().map_err(|_| AppError::bad_input("parentId", "must be an enrolment request's id"))?;
            let request = refugees::by_id(conn, id).await?.ok_or(AppError::NotFound)?;
            if request.status == "withdrawn" {
                return Err(AppError::Conflict("the request was withdrawn: it takes no more documents".into()));
            }
            Ok(Parent {
                institution: None,
                province: request.province_code,
                pupil_id: None,
                school_year: None,
                enrolment_request_id: Some(request.id),
                admission_application_id: None,
                mobility_application_id: None,
            })
        }
        Kind::AdmissionDocument => {
            let id: i64 = parent_id
                .parse()
                .map_err(|_| AppError::bad_input("parentId", "must be an admission application's id"))?;
            let app = crate::usecases::admissions::document_parent(conn, caller, id).await?;
            Ok(Parent {
                institution: Some(app.institution_code),
                province: app.province_code,
                pupil_id: None,
                school_year: None,
                enrolment_request_id: None,
                admission_application_id: Some(app.id),
                mobility_application_id: None,
            })
        }
        Kind::ApplicationDocument => {
            let id: i64 = parent_id
                .parse()
                .map_err(|_| AppError::bad_input("parentId", "must be a mobility application's id"))?;
            let (id, province) = crate::usecases::mobility::document_parent(conn, caller, id).await?;
            Ok(Parent {
                institution: None,
                province,
                pupil_id: None,
                school_year: None,
                enrolment_request_id: None,
                admission_application_id: None,
                mobility_application_id: Some(id),
            })
        }
    }
}

pub struct UploadInput {
    pub parent_id: String,
    pub kind: Kind,
    /// Which certification document (`verbale_accertamento`, `diagnosi_funzionale`, …).
    pub document_type: Option<&'static str>,
    /// What a teacher's application document is (`medical_certificate`, …).
    pub mobility_document_kind: Option<&'static str>,
    pub file_name: String,
    pub content_type: String,
    pub size: i64,
}

fn event(action: &'static str, row: &AttachmentRow) -> Event {
    Event {
        action,
        object_kind: "attachment",
        object_id: Some(row.id.to_string()),
        pupil_ids: row.pupil_id.into_iter().collect(),
        // A teacher acts for no province: their documents' events carry none.
        province: row.mobility_application_id.is_none().then(|| row.province_code.clone()),
        institution: row.institution_code.clone(),
        fields: Vec::new(),
        previous: None,
        current: Some(json!({
            "kind": row.kind,
            "enrolmentRequest": row.enrolment_request_id,
            "admissionApplication": row.admission_application_id,
            "mobilityApplication": row.mobility_application_id,
            "size": row.size,
            "sha256": row.sha256.as_deref().map(hex),
        })),
    }
}

/// The data key of a document, from its row, under a fresh nonce prefix.
pub fn data_key(keys: &Keyring, row: &AttachmentRow) -> anyhow::Result<Envelope> {
    let kek = keys.get(&row.kek_id).with_context(|| format!("key {} is not in the key file", row.kek_id))?;
    let wrapped = WrappedKey { kek_id: row.kek_id.clone(), bytes: row.wrapped_key.clone() };
    Ok(Envelope::reseal(*row.blob_id.as_bytes(), &wrapped, kek)?)
}

/// A committed document's object, opened for reading.
pub async fn open_object(store: &Store, keys: &Keyring, row: &AttachmentRow) -> anyhow::Result<(Path, Envelope)> {
    let path = Path::from(row.object_key.clone().context("a committed document without an object")?);
    let header = store::header(store, &path).await?;
    Ok((path, data_key(keys, row)?.with_header(&header)?))
}

/// Opens an upload slot: a pending row with the file's wrapped data key.
/// Nothing is visible until the whole file has arrived.
pub async fn create_upload(
    db: &RequestDb,
    caller: &Caller,
    files: &Files,
    input: UploadInput,
) -> AppResult<AttachmentRow> {
    let file_name = sanitize_file_name(&input.file_name).map_err(|r| AppError::bad_input("fileName", r))?;
    let file_type =
        FileType::from_content_type(&input.content_type).map_err(|r| AppError::bad_input("contentType", r))?;
    let max = files.max_size as i64;
    if !(1..=max).contains(&input.size) {
        return Err(AppError::bad_input(
            "size",
            format!("must be between 1 and {max} bytes ({} MiB, the largest document accepted)", max >> 20),
        ));
    }
    if input.document_type.is_some() && input.kind != Kind::Certification {
        return Err(AppError::bad_input("documentType", "only certification documents have a document type"));
    }
    if input.mobility_document_kind.is_some() != (input.kind == Kind::ApplicationDocument) {
        return Err(AppError::bad_input(
            "documentKind",
            "an application document, and only one, says which document it is",
        ));
    }
    let id = Uuid::new_v4();
    // The keys as they are now: a rotation since start-up wraps this upload under the new key.
    let ring = files.keys.ring();
    let wrapped = Envelope::new(*id.as_bytes()).wrap(ring.current());
    let caller = caller.clone();
    db.try_run(move |c| {
        Box::pin(async move {
            let p = parent(c, &caller, input.kind, &input.parent_id).await?;
            let row = NewAttachment {
                id,
                blob_id: id,
                institution_code: p.institution,
                province_code: p.province,
                kind: input.kind.as_str().into(),
                document_type: input.document_type.map(Into::into),
                pupil_id: p.pupil_id,
                school_year: p.school_year,
                file_name,
                content_type: file_type.mime().into(),
                size: input.size,
                state: "pending".into(),
                received: 0,
                object_key: None,
                sha256: None,
                kek_id: wrapped.kek_id,
                wrapped_key: wrapped.bytes,
                committed_at: None,
                enrolment_request_id: p.enrolment_request_id,
                admission_application_id: p.admission_application_id,
                mobility_application_id: p.mobility_application_id,
                mobility_document_kind: input.mobility_document_kind.map(Into::into),
            };
            Ok(q::insert(c, &row).await?)
        })
    })
    .await
}

/// Attaches a document the caller uploaded before to another parent, without
/// uploading it again: a new row that shares the sealed object.
pub async fn attach_again(
    db: &RequestDb,
    caller: &Caller,
    user: i64,
    source: Uuid,
    kind: Kind,
    parent_id: String,
) -> AppResult<AttachmentRow> {
    let caller = caller.clone();
    let row = db
        .try_run(move |c| {
            Box::pin(async move {
                let s = q::visible(c, source).await?.filter(|s| s.uploaded_by == user).ok_or(AppError::NotFound)?;
                if s.state != "committed" {
                    return Err(AppError::Archived);
                }
                let p = parent(c, &caller, kind, &parent_id).await?;
                // An application document keeps what it is (DOC-5: from the teacher's history).
                let mobility_document_kind = match kind {
                    Kind::ApplicationDocument => Some(s.mobility_document_kind.clone().ok_or_else(|| {
                        AppError::bad_input("attachmentId", "not a document of a teacher's application")
                    })?),
                    _ => None,
                };
                let row = NewAttachment {
                    id: Uuid::new_v4(),
                    blob_id: s.blob_id,
                    institution_code: p.institution,
                    province_code: p.province,
                    kind: kind.as_str().into(),
                    document_type: s.document_type.filter(|_| kind == Kind::Certification),
                    pupil_id: p.pupil_id,
                    school_year: p.school_year,
                    file_name: s.file_name,
                    content_type: s.content_type,
                    size: s.size,
                    state: "committed".into(),
                    received: s.size,
                    object_key: s.object_key,
                    sha256: s.sha256,
                    kek_id: s.kek_id,
                    wrapped_key: s.wrapped_key,
                    committed_at: Some(chrono::Utc::now()),
                    enrolment_request_id: p.enrolment_request_id,
                    admission_application_id: p.admission_application_id,
                    mobility_application_id: p.mobility_application_id,
                    mobility_document_kind,
                };
                Ok(q::insert(c, &row).await?)
            })
        })
        .await?;
    db.note_event(Event { previous: Some(json!({ "from": source.to_string() })), ..event("attach", &row) });
    Ok(row)
}

/// The caller's own pending upload, for the next bytes.
pub async fn pending_upload(db: &RequestDb, user: i64, id: Uuid) -> AppResult<AttachmentRow> {
    let row = db.run(move |c| Box::pin(async move { q::find(c, id).await })).await?;
    match row {
        Some(r) if r.uploaded_by == user && r.state == "pending" => Ok(r),
        Some(r) if r.uploaded_by == user => Err(AppError::Conflict("the file was already uploaded".into())),
        _ => Err(AppError::NotFound),
    }
}

/// An upload slot of `user`'s, pending or complete: what `HEAD` reports on.
pub async fn own_upload(db: &RequestDb, user: i64, id: Uuid) -> AppResult<AttachmentRow> {
    let row = db.run(move |c| Box::pin(async move { q::find(c, id).await })).await?;
    row.filter(|r| r.uploaded_by == user).ok_or(AppError::NotFound)
}

fn moved_on() -> AppError {
    AppError::Conflict("another request sent bytes of this file meanwhile: ask for the offset and resume".into())
}

/// Records a part of a pending upload, received from offset `from` to `to`.
pub async fn record_part(db: &RequestDb, id: Uuid, from: i64, to: i64, key: String) -> AppResult<()> {
    let done = db.run(move |c| Box::pin(async move { q::add_part(c, id, from, to, &key).await })).await?;
    if done { Ok(()) } else { Err(moved_on()) }
}

/// Makes a fully received upload visible, and records it in the audit trail.
pub async fn commit(db: &RequestDb, id: Uuid, from: i64, key: String, sha256: [u8; 32]) -> AppResult<AttachmentRow> {
    let row = db.run(move |c| Box::pin(async move { q::commit(c, id, from, &key, &sha256).await })).await?;
    let row = row.ok_or_else(moved_on)?;
    db.note_event(event("upload", &row));
    Ok(row)
}

/// A document to download: visible to the caller, still in the live store.
/// The download is in the audit trail.
pub async fn for_download(db: &RequestDb, id: Uuid) -> AppResult<AttachmentRow> {
    let row = db.run(move |c| Box::pin(async move { q::visible(c, id).await })).await?.ok_or(AppError::NotFound)?;
    db.note_event(event("download", &row));
    if row.state == "archived" {
        return Err(AppError::Archived);
    }
    Ok(row)
}

/// Notes that the caller read a document's metadata.
pub fn note_read(db: &RequestDb, row: &AttachmentRow) {
    db.note_event(event("read", row));
}
