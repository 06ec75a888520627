//! The operator's work on stored documents, across tenants (it runs as the
//! role `ambito_maint`, not as a caller): the janitor, `storage verify`, key
//! rotation and the archive export for legal preservation. Reports name
//! documents by id and objects by key, never by file name or content.

use std::collections::{HashMap, HashSet};
use std::io::Write as _;
use std::path::{Path as FsPath, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, bail};
use diesel::QueryResult;
use diesel_async::AsyncPgConnection;
use futures_util::TryStreamExt as _;
use object_store::ObjectStoreExt as _;
use object_store::path::Path;
use serde::Serialize;
use uuid::Uuid;

use super::envelope::{self, WrappedKey};
use super::hex;
use super::keys::Keyring;
use super::store::{self, Store};
use crate::db::attachments::{self as q, AttachmentRow};
use crate::usecases::attachments::open_object as open;

/// Every object under Ambito's prefix, with its size and age.
async fn objects(store: &Store) -> anyhow::Result<HashMap<String, object_store::ObjectMeta>> {
    let prefix = Path::from(super::PREFIX);
    let listed: Vec<object_store::ObjectMeta> = store.list(Some(&prefix)).try_collect().await?;
    Ok(listed.into_iter().map(|m| (m.location.to_string(), m)).collect())
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct JanitorReport {
    /// Unfinished uploads removed, with their parts.
    pub uploads: usize,
    /// Objects that no document referred to, removed.
    pub objects: usize,
}

/// Removes uploads left pending longer than `grace` with their parts, and
/// objects older than `grace` that no row refers to (a crash between
/// writing an object and recording it). The grace keeps uploads in flight.
pub async fn janitor(conn: &mut AsyncPgConnection, store: &Store, grace: Duration) -> anyhow::Result<JanitorReport> {
    let before = chrono::Utc::now() - chrono::Duration::from_std(grace)?;
    let mut report = JanitorReport::default();
    for row in q::stale_pending(conn, before).await? {
        for part in &row.parts {
            delete(store, &Path::from(part.as_str())).await?;
        }
        report.uploads += q::delete_pending(conn, row.id).await?;
    }
    // List first, then read the references: an object recorded meanwhile is kept.
    let listed = objects(store).await?;
    let referenced = q::referenced_keys(conn).await?;
    refuse_blind_deletion(referenced.len(), listed.len())?;
    for (key, meta) in listed {
        if !referenced.contains(&key) && meta.last_modified < before {
            delete(store, &meta.location).await?;
            report.objects += 1;
        }
    }
    Ok(report)
}

/// An object is an orphan only if the janitor can see every document. When
/// it sees none at all while the store holds objects, the likelier cause is
/// that it cannot see them (a role under row security, another database,
/// another bucket), and deleting would destroy every document: it refuses.
fn refuse_blind_deletion(referenced: usize, listed: usize) -> anyhow::Result<()> {
    if referenced == 0 && listed > 0 {
        bail!(
            "the database shows no stored document but the store holds {listed} objects: this connection may not \
             see the documents (row security, another database or bucket), so none of them is provably an orphan; \
             nothing was deleted"
        );
    }
    Ok(())
}

async fn delete(store: &Store, path: &Path) -> anyhow::Result<()> {
    match store.delete(path).await {
        Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

#[derive(Debug, Default)]
pub struct VerifyReport {
    pub documents: usize,
    pub problems: Vec<String>,
}

/// Checks that every committed document's object exists, has the length its
/// size implies, and decrypts to its recorded SHA-256; and that every object
/// in the store belongs to a document or a pending upload.
pub async fn verify(conn: &mut AsyncPgConnection, store: &Store, keys: &Keyring) -> anyhow::Result<VerifyReport> {
    let listed = objects(store).await?;
    let mut report = VerifyReport::default();
    let mut after = None;
    loop {
        let page = q::committed_page(conn, after, 200).await?;
        let Some(last) = page.last() else { break };
        after = Some(last.id);
        for row in page {
            report.documents += 1;
            if let Err(problem) = check(store, keys, &listed, &row).await {
                report.problems.push(format!("document {}: {problem:#}", row.id));
            }
        }
    }
    let referenced = q::referenced_keys(conn).await?;
    let mut orphans: Vec<&String> = listed.keys().filter(|k| !referenced.contains(*k)).collect();
    orphans.sort();
    report.problems.extend(orphans.into_iter().map(|k| format!("object {k} belongs to no document")));
    Ok(report)
}

async fn check(
    store: &Store,
    keys: &Keyring,
    listed: &HashMap<String, object_store::ObjectMeta>,
    row: &AttachmentRow,
) -> anyhow::Result<()> {
    let key = row.object_key.as_deref().unwrap_or_default();
    let meta = listed.get(key).with_context(|| format!("object {key} is missing"))?;
    let want = envelope::object_len(row.size as u64);
    if meta.size != want {
        bail!("object {key} has {} bytes, {want} expected", meta.size);
    }
    let (path, env) = open(store, keys, row).await?;
    let sha = store::read_each(store, &path, &env, row.size as u64, |_| ()).await?;
    if Some(sha.as_slice()) != row.sha256.as_deref() {
        bail!("object {key} decrypts to content with another SHA-256");
    }
    Ok(())
}

/// Re-wraps every data key wrapped under another key than the current one:
/// documents', and those of the kept answers of idempotent mutations
/// (replayed for a day), so an old key leaves the key file with nothing
/// sealed under it. Each row is its own transaction, so an interrupted
/// rotation resumes where it stopped. Returns how many keys were re-wrapped.
pub async fn rotate(conn: &mut AsyncPgConnection, keys: &Keyring) -> anyhow::Result<usize> {
    let current = keys.current();
    let mut done = 0;
    for kind in [Wrapped::Answers, Wrapped::Documents] {
        loop {
            let rows = kind.under_other(conn, &current.id).await?;
            if rows.is_empty() {
                break;
            }
            for (id, bound, wrapped) in rows {
                let old = keys.get(&wrapped.kek_id).with_context(|| {
                    format!(
                        "key {} is needed to re-wrap {} {id} but is not in the key file",
                        wrapped.kek_id,
                        kind.name()
                    )
                })?;
                let new = envelope::rewrap(*bound.as_bytes(), &wrapped, old, current)
                    .with_context(|| format!("{} {id}", kind.name()))?;
                done += kind.store(conn, id, &wrapped.kek_id, &current.id, &new.bytes).await?;
            }
        }
    }
    Ok(done)
}

/// The data keys the database keeps wrapped.
#[derive(Clone, Copy)]
enum Wrapped {
    Documents,
    Answers,
}

impl Wrapped {
    fn name(self) -> &'static str {
        match self {
            Wrapped::Documents => "document",
            Wrapped::Answers => "kept answer",
        }
    }

    /// Up to 200 keys wrapped under another key than `current`: the row's
    /// id, the id bound into the wrapping, and the wrapped key.
    async fn under_other(
        self,
        conn: &mut AsyncPgConnection,
        current: &str,
    ) -> QueryResult<Vec<(Uuid, Uuid, WrappedKey)>> {
        use crate::db::idempotency as k;
        Ok(match self {
            Wrapped::Documents => q::wrapped_under_other(conn, current, 200)
                .await?
                .into_iter()
                .map(|r| (r.id, r.blob_id, WrappedKey { kek_id: r.kek_id, bytes: r.wrapped_key }))
                .collect(),
            // Only a claim still running has no key, and the query skips those.
            Wrapped::Answers => k::wrapped_under_other(conn, current, 200)
                .await?
                .into_iter()
                .filter_map(|r| Some((r.id, r.id, WrappedKey { kek_id: r.kek_id?, bytes: r.wrapped_key? })))
                .collect(),
        })
    }

    /// Stores a re-wrapped key, unless the row changed keys meanwhile.
    async fn store(
        self,
        conn: &mut AsyncPgConnection,
        id: Uuid,
        old: &str,
        new: &str,
        bytes: &[u8],
    ) -> QueryResult<usize> {
        match self {
            Wrapped::Documents => q::rewrap(conn, id, old, new, bytes).await,
            Wrapped::Answers => crate::db::idempotency::rewrap(conn, id, old, new, bytes).await,
        }
    }
}

/// One document in an archive's index.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IndexEntry {
    pub id: Uuid,
    pub kind: String,
    pub institution: Option<String>,
    pub province: String,
    pub pupil_id: Option<i64>,
    pub enrolment_request_id: Option<i64>,
    pub admission_application_id: Option<i64>,
    pub school_year: Option<i32>,
    pub file_name: String,
    pub content_type: String,
    pub size: i64,
    pub sha256: String,
    pub uploaded_at: chrono::DateTime<chrono::Utc>,
    /// The file's path in the package.
    pub file: String,
}

/// Writes the package (the decrypted files, checked against their SHA-256,
/// and `index.json` + `index.csv`), syncs it to disk, and only then marks
/// the documents archived and removes their objects from the live store.
pub async fn archive_export(
    conn: &mut AsyncPgConnection,
    store: &Store,
    keys: &Keyring,
    dir: &FsPath,
    province: Option<&str>,
    before: Option<chrono::DateTime<chrono::Utc>>,
) -> anyhow::Result<Vec<IndexEntry>> {
    if dir.exists() && std::fs::read_dir(dir)?.next().is_some() {
        bail!("{} is not empty: give a new or empty directory for the package", dir.display());
    }
    // Decrypted special-category documents: readable by the operator alone.
    let files_dir = dir.join("files");
    private_dir(dir)?;
    private_dir(&files_dir)?;
    let rows = q::to_archive(conn, province, before).await?;
    let mut index = Vec::with_capacity(rows.len());
    for row in &rows {
        let name = format!("{}-{}", row.id.simple(), row.file_name.replace(['/', '\\'], "_"));
        let target: PathBuf = files_dir.join(&name);
        let mut file = private_file(&target)?;
        let (path, env) = open(store, keys, row).await.with_context(|| format!("document {}", row.id))?;
        let mut failed = None;
        let sha = store::read_each(store, &path, &env, row.size as u64, |piece| {
            if failed.is_none() {
                failed = file.write_all(piece).err();
            }
        })
        .await
        .with_context(|| format!("document {}", row.id))?;
        if let Some(e) = failed {
            return Err(e).with_context(|| format!("writing {}", target.display()));
        }
        if Some(sha.as_slice()) != row.sha256.as_deref() {
            bail!("document {} decrypts to content with another SHA-256: nothing was archived", row.id);
        }
        file.sync_all()?;
        index.push(IndexEntry {
            id: row.id,
            kind: row.kind.clone(),
            institution: row.institution_code.clone(),
            province: row.province_code.clone(),
            pupil_id: row.pupil_id,
            enrolment_request_id: row.enrolment_request_id,
            admission_application_id: row.admission_application_id,
            school_year: row.school_year,
            file_name: row.file_name.clone(),
            content_type: row.content_type.clone(),
            size: row.size,
            sha256: hex(&sha),
            uploaded_at: row.committed_at.unwrap_or(row.created_at),
            file: format!("files/{name}"),
        });
    }
    write_synced(&dir.join("index.json"), &serde_json::to_vec_pretty(&index)?)?;
    let mut csv = csv::Writer::from_writer(Vec::new());
    csv.write_record([
        "id",
        "kind",
        "institution",
        "province",
        "pupil_id",
        "enrolment_request_id",
        "admission_application_id",
        "school_year",
        "file_name",
        "content_type",
        "size",
        "sha256",
        "uploaded_at",
        "file",
    ])?;
    for e in &index {
        csv.write_record([
            e.id.to_string(),
            e.kind.clone(),
            e.institution.clone().unwrap_or_default(),
            e.province.clone(),
            e.pupil_id.map(|p| p.to_string()).unwrap_or_default(),
            e.enrolment_request_id.map(|p| p.to_string()).unwrap_or_default(),
            e.admission_application_id.map(|p| p.to_string()).unwrap_or_default(),
            e.school_year.map(|y| y.to_string()).unwrap_or_default(),
            crate::reports::neutralised(e.file_name.clone()),
            e.content_type.clone(),
            e.size.to_string(),
            e.sha256.clone(),
            e.uploaded_at.to_rfc3339(),
            e.file.clone(),
        ])?;
    }
    write_synced(&dir.join("index.csv"), &csv.into_inner()?)?;
    // The files' names live in their folders: synced too before anything
    // leaves the live store, or a crash could lose what is gone from it.
    sync_dir(&files_dir)?;
    sync_dir(dir)?;
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        sync_dir(parent)?;
    }
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    q::mark_archived(conn, &ids).await?;
    // An object shared with a document still live (attached again elsewhere) stays.
    let referenced = q::referenced_keys(conn).await?;
    let gone: HashSet<&str> = rows.iter().filter_map(|r| r.object_key.as_deref()).collect();
    for key in gone.into_iter().filter(|k| !referenced.contains(*k)) {
        delete(store, &Path::from(key)).await?;
    }
    Ok(index)
}

fn private_dir(path: &FsPath) -> anyhow::Result<()> {
    use std::os::unix::fs::{DirBuilderExt as _, PermissionsExt as _};
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(path)?;
    // An existing empty folder keeps its mode unless told.
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700))?;
    Ok(())
}

fn private_file(path: &FsPath) -> anyhow::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt as _;
    Ok(std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?)
}

fn sync_dir(path: &FsPath) -> anyhow::Result<()> {
    std::fs::File::open(path)?.sync_all().with_context(|| format!("syncing {}", path.display()))
}

fn write_synced(path: &FsPath, bytes: &[u8]) -> anyhow::Result<()> {
    let mut f = private_file(path)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    Ok(())
}
