//! Documents in GraphQL: upload slots, the documents of a parent, the
//! caller's upload history and attaching a document again. The bytes travel
//! over plain HTTP (`crate::http::attachments`), never through GraphQL.

use super::mobility::MobilityDocumentKind;
use crate::rules::mobility::DocumentKind;
use async_graphql::{Context, Enum, ID, InputObject, Object, Result};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::connection::{Connection, connection, page_request};
use super::{caller, caller_of_any, db, subject};
use crate::authz::{Action, ObjectKind};
use crate::db::attachments::{self as q, AttachmentRow};
use crate::error::AppError;
use crate::storage::{Files, hex};
use crate::usecases::attachments::{self as uc, Kind, UploadInput};

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum AttachmentKind {
    /// A pupil's certification documents (verbale di accertamento, diagnosi
    /// funzionale, profilo di funzionamento, PEI); the parent is the pupil.
    Certification,
    /// The signed summary of requested support hours (PDF or .p7m); the
    /// parent is the school's support submission.
    SignedSummary,
    /// A refugee minor's enrolment documents; the parent is the request.
    EnrolmentDocument,
    /// A teacher's application documents; the parent is the application.
    ApplicationDocument,
    /// An admission application's documents (the certification under
    /// L. 104/92, a complaint's papers); the parent is the application. The
    /// school of the application only.
    AdmissionDocument,
}

impl From<AttachmentKind> for Kind {
    fn from(k: AttachmentKind) -> Kind {
        match k {
            AttachmentKind::Certification => Kind::Certification,
            AttachmentKind::SignedSummary => Kind::SignedSummary,
            AttachmentKind::EnrolmentDocument => Kind::EnrolmentDocument,
            AttachmentKind::ApplicationDocument => Kind::ApplicationDocument,
            AttachmentKind::AdmissionDocument => Kind::AdmissionDocument,
        }
    }
}

impl From<Kind> for AttachmentKind {
    fn from(k: Kind) -> AttachmentKind {
        match k {
            Kind::Certification => AttachmentKind::Certification,
            Kind::SignedSummary => AttachmentKind::SignedSummary,
            Kind::EnrolmentDocument => AttachmentKind::EnrolmentDocument,
            Kind::ApplicationDocument => AttachmentKind::ApplicationDocument,
            Kind::AdmissionDocument => AttachmentKind::AdmissionDocument,
        }
    }
}

/// Which of a pupil's certification documents a file is.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum CertificationDocument {
    /// Verbale di accertamento (the certification itself).
    VerbaleAccertamento,
    DiagnosiFunzionale,
    ProfiloFunzionamento,
    /// Piano educativo individualizzato.
    Pei,
}

impl CertificationDocument {
    const ALL: [CertificationDocument; 4] = [
        CertificationDocument::VerbaleAccertamento,
        CertificationDocument::DiagnosiFunzionale,
        CertificationDocument::ProfiloFunzionamento,
        CertificationDocument::Pei,
    ];

    fn as_str(self) -> &'static str {
        match self {
            CertificationDocument::VerbaleAccertamento => "verbale_accertamento",
            CertificationDocument::DiagnosiFunzionale => "diagnosi_funzionale",
            CertificationDocument::ProfiloFunzionamento => "profilo_funzionamento",
            CertificationDocument::Pei => "pei",
        }
    }
}

/// A stored document. Reading one is in the audit trail.
pub struct Attachment(pub AttachmentRow);

impl Attachment {
    /// A document the caller is shown: the read goes in the audit trail.
    pub fn shown(ctx: &Context<'_>, row: AttachmentRow) -> Attachment {
        uc::note_read(db(ctx), &row);
        Attachment(row)
    }
}

#[Object]
impl Attachment {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn kind(&self) -> AttachmentKind {
        self.0.kind.parse::<Kind>().map(Into::into).unwrap_or(AttachmentKind::Certification)
    }
    /// For a certification document, which one it is (when the uploader said).
    async fn document_type(&self) -> Option<CertificationDocument> {
        let t = self.0.document_type.as_deref()?;
        CertificationDocument::ALL.into_iter().find(|d| d.as_str() == t)
    }
    /// For a teacher's application document, what it is (spec §8).
    async fn document_kind(&self) -> Option<MobilityDocumentKind> {
        self.0.mobility_document_kind.as_deref().and_then(DocumentKind::parse).map(Into::into)
    }
    /// For a teacher's application document, when the teacher confirmed it
    /// with the personal code (DOC-4): until then it does not count.
    async fn confirmed_at(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        self.0.confirmed_at
    }
    /// The name the uploader gave the file, made safe; only a label.
    async fn file_name(&self) -> &str {
        &self.0.file_name
    }
    async fn content_type(&self) -> &str {
        &self.0.content_type
    }
    /// Bytes.
    async fn size(&self) -> i64 {
        self.0.size
    }
    /// SHA-256 of the content, in hex; null until the upload completes.
    async fn sha256(&self) -> Option<String> {
        self.0.sha256.as_deref().map(hex)
    }
    async fn uploaded_at(&self) -> DateTime<Utc> {
        self.0.committed_at.unwrap_or(self.0.created_at)
    }
    /// Set once the office archived the document: it is no longer downloadable here.
    async fn archived_at(&self) -> Option<DateTime<Utc>> {
        self.0.archived_at
    }
    /// Where to `GET` the file, with the same bearer token.
    async fn download_url(&self) -> String {
        format!("/attachments/{}", self.0.id)
    }
}

/// An upload slot: `PUT` the bytes to `uploadUrl` with the same bearer token.
pub struct UploadSlot(AttachmentRow);

#[Object]
impl UploadSlot {
    /// The document, visible once all its bytes have arrived.
    async fn attachment(&self) -> Attachment {
        Attachment(self.0.clone())
    }
    /// Path on this server: `PUT` the file there; after an interruption,
    /// `HEAD` gives `Upload-Offset` and `PATCH` with `Upload-Offset` sends the rest (tus 1.0).
    async fn upload_url(&self) -> String {
        format!("/uploads/{}", self.0.id)
    }
}

#[derive(InputObject)]
pub struct CreateUploadInput {
    /// The parent row: a pupil's id, a support submission's id, or an
    /// enrolment request's id.
    parent_id: ID,
    kind: AttachmentKind,
    /// For a certification document: which one.
    document_type: Option<CertificationDocument>,
    /// For a teacher's application document (APPLICATION_DOCUMENT): what it is.
    document_kind: Option<MobilityDocumentKind>,
    file_name: String,
    /// One of application/pdf, application/pkcs7-mime, image/png, image/jpeg, image/tiff.
    content_type: String,
    /// Bytes the file has.
    size: i64,
}

#[derive(InputObject)]
pub struct AttachDocumentInput {
    /// A document the caller uploaded before.
    attachment_id: ID,
    parent_id: ID,
    kind: AttachmentKind,
}

pub(crate) fn uuid_arg(field: &str, id: &ID) -> Result<Uuid, AppError> {
    Uuid::parse_str(id).map_err(|_| AppError::bad_input(field, "not a document id"))
}

/// Cursor of the upload history: upload time and id.
fn history_key(r: &AttachmentRow) -> String {
    format!("{}_{}", r.created_at.timestamp_micros(), r.id.simple())
}

fn parse_history_key(key: &str) -> Result<(DateTime<Utc>, Uuid), AppError> {
    let bad = || AppError::bad_input("after", "not a cursor returned by this server");
    let (micros, id) = key.split_once('_').ok_or_else(bad)?;
    let at = micros.parse().ok().and_then(DateTime::from_timestamp_micros).ok_or_else(bad)?;
    Ok((at, Uuid::parse_str(id).map_err(|_| bad())?))
}

#[derive(Default)]
pub struct AttachmentsQuery;

#[Object]
impl AttachmentsQuery {
    /// A document's metadata, in the caller's scope.
    async fn attachment(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Attachment>> {
        caller_of_any(ctx, &ObjectKind::DOCUMENTS, Action::Read)?;
        let Ok(id) = Uuid::parse_str(&id) else { return Ok(None) };
        let row = db(ctx).run(move |c| Box::pin(async move { q::visible(c, id).await })).await?;
        Ok(row.map(|r| Attachment::shown(ctx, r)))
    }

    /// Documents the caller uploaded, newest first, to attach again elsewhere.
    async fn my_uploads(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Connection<Attachment>> {
        caller_of_any(ctx, &ObjectKind::DOCUMENTS, Action::Read)?;
        let user = subject(ctx)?.user_id;
        let page = page_request(first, after)?;
        let before = page.after.as_deref().map(parse_history_key).transpose()?;
        let limit = page.limit;
        let rows = db(ctx).run(move |c| Box::pin(async move { q::uploaded_by(c, user, before, limit).await })).await?;
        let counter = db(ctx).clone();
        let count = move || -> futures_util::future::BoxFuture<'static, Result<i64, AppError>> {
            Box::pin(async move { counter.run(move |c| Box::pin(q::uploaded_count(c, user))).await })
        };
        Ok(connection(ctx, &page, rows, count, history_key, |r| Attachment::shown(ctx, r)).await?)
    }
}

#[derive(Default)]
pub struct AttachmentsMutation;

#[Object]
impl AttachmentsMutation {
    /// Opens an upload slot for a document of a parent row. The document
    /// becomes visible once its bytes have arrived at `uploadUrl`.
    async fn create_upload(&self, ctx: &Context<'_>, input: CreateUploadInput) -> Result<UploadSlot> {
        let caller = caller(ctx, Kind::from(input.kind).object_kind(), Action::Write)?;
        let files = ctx.data_unchecked::<Files>();
        let input = UploadInput {
            parent_id: input.parent_id.to_string(),
            kind: input.kind.into(),
            document_type: input.document_type.map(CertificationDocument::as_str),
            mobility_document_kind: input.document_kind.map(|k| DocumentKind::from(k).as_str()),
            file_name: input.file_name,
            content_type: input.content_type,
            size: input.size,
        };
        Ok(UploadSlot(uc::create_upload(db(ctx), &caller, files, input).await?))
    }

    /// Attaches a document the caller uploaded before to another parent,
    /// without uploading it again.
    async fn attach_document(&self, ctx: &Context<'_>, input: AttachDocumentInput) -> Result<Attachment> {
        let caller = caller(ctx, Kind::from(input.kind).object_kind(), Action::Write)?;
        let user = subject(ctx)?.user_id;
        let source = uuid_arg("attachmentId", &input.attachment_id)?;
        let row =
            uc::attach_again(db(ctx), &caller, user, source, input.kind.into(), input.parent_id.to_string()).await?;
        Ok(Attachment(row))
    }
}
