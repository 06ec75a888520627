//! Per-request batch loaders: a page of 100 schools asks for its sites,
//! municipalities and provinces in one query each, not one per row; a page
//! of pupils for its classes, requests and approvals likewise. They run in
//! the request's transaction, so row security applies to them too.

use std::collections::HashMap;

use async_graphql::dataloader::Loader;

use crate::db::RequestDb;
use crate::db::attachments::{self, AttachmentRow};
use crate::db::refugees::{self, TransitionRow};
use crate::db::registry::{self, ApprovalRow, ClassRow, RequestRow};
use crate::db::territory::{self, AmbitRow, HubRow, InstitutionRow, MunicipalityRow, ProvinceRow, SiteRow};

pub struct RequestLoader {
    db: RequestDb,
}

impl RequestLoader {
    pub fn new(db: RequestDb) -> RequestLoader {
        RequestLoader { db }
    }
}

#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ProvinceKey(pub String);
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct AmbitKey(pub String);
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct MunicipalityKey(pub String);
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct InstitutionKey(pub String);
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SiteKey(pub String);
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct HubKey(pub String);
/// The sites of an institution.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SitesOf(pub String);
/// The CTI of an ambit.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct HubOfAmbit(pub String);

type LoadError = async_graphql::Error;

/// One loader per key type, each a single `= ANY($1)` query.
macro_rules! by_code {
    ($key:ident, $row:ty, $query:path, $field:ident) => {
        impl Loader<$key> for RequestLoader {
            type Value = $row;
            type Error = LoadError;

            async fn load(&self, keys: &[$key]) -> Result<HashMap<$key, $row>, LoadError> {
                let codes: Vec<String> = keys.iter().map(|k| k.0.clone()).collect();
                let rows = self.db.run(move |conn| Box::pin($query(conn, codes))).await?;
                Ok(rows.into_iter().map(|r| ($key(r.$field.clone()), r)).collect())
            }
        }
    };
}

by_code!(ProvinceKey, ProvinceRow, territory::provinces_by_code, code);
by_code!(AmbitKey, AmbitRow, territory::ambits_by_code, code);
by_code!(MunicipalityKey, MunicipalityRow, territory::municipalities_by_code, istat_code);
by_code!(InstitutionKey, InstitutionRow, territory::institutions_by_code, code);
by_code!(SiteKey, SiteRow, territory::sites_by_code, code);
by_code!(HubKey, HubRow, territory::hubs_by_code, code);

impl Loader<SitesOf> for RequestLoader {
    type Value = Vec<SiteRow>;
    type Error = LoadError;

    async fn load(&self, keys: &[SitesOf]) -> Result<HashMap<SitesOf, Vec<SiteRow>>, LoadError> {
        let codes: Vec<String> = keys.iter().map(|k| k.0.clone()).collect();
        let rows = self.db.run(move |conn| Box::pin(territory::sites_of_institutions(conn, codes))).await?;
        let mut out: HashMap<SitesOf, Vec<SiteRow>> = keys.iter().map(|k| (k.clone(), Vec::new())).collect();
        for r in rows {
            out.entry(SitesOf(r.institution_code.clone())).or_default().push(r);
        }
        Ok(out)
    }
}

impl Loader<HubOfAmbit> for RequestLoader {
    type Value = HubRow;
    type Error = LoadError;

    async fn load(&self, keys: &[HubOfAmbit]) -> Result<HashMap<HubOfAmbit, HubRow>, LoadError> {
        let codes: Vec<String> = keys.iter().map(|k| k.0.clone()).collect();
        let rows = self.db.run(move |conn| Box::pin(territory::hubs_of_ambits(conn, codes))).await?;
        Ok(rows.into_iter().filter_map(|r| Some((HubOfAmbit(r.ambit_code.clone()?), r))).collect())
    }
}

/// A class by id.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ClassKey(pub i64);
/// The support request of a pupil.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct RequestOf(pub i64);
/// The approved hours of a pupil.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ApprovalOf(pub i64);

/// One loader per id key type, each a single `= ANY($1)` query.
macro_rules! by_id {
    ($key:ident, $row:ty, $query:path, $field:ident) => {
        impl Loader<$key> for RequestLoader {
            type Value = $row;
            type Error = LoadError;

            async fn load(&self, keys: &[$key]) -> Result<HashMap<$key, $row>, LoadError> {
                let ids: Vec<i64> = keys.iter().map(|k| k.0).collect();
                let rows = self.db.run(move |conn| Box::pin($query(conn, ids))).await?;
                Ok(rows.into_iter().map(|r| ($key(r.$field), r)).collect())
            }
        }
    };
}

by_id!(ClassKey, ClassRow, registry::classes_by_id, id);
by_id!(RequestOf, RequestRow, registry::requests_by_pupil, pupil_id);
by_id!(ApprovalOf, ApprovalRow, registry::approvals_by_pupil, pupil_id);

/// The documents of a parent row: a pupil's certification documents, an
/// enrolment request's or an admission application's documents.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub enum DocumentsOf {
    Pupil(i64),
    Enrolment(i64),
    Admission(i64),
}

impl Loader<DocumentsOf> for RequestLoader {
    type Value = Vec<AttachmentRow>;
    type Error = LoadError;

    async fn load(&self, keys: &[DocumentsOf]) -> Result<HashMap<DocumentsOf, Vec<AttachmentRow>>, LoadError> {
        let ids = |want: fn(&DocumentsOf) -> Option<i64>| keys.iter().filter_map(want).collect::<Vec<i64>>();
        let pupils = ids(|k| if let DocumentsOf::Pupil(id) = k { Some(*id) } else { None });
        let requests = ids(|k| if let DocumentsOf::Enrolment(id) = k { Some(*id) } else { None });
        let applications = ids(|k| if let DocumentsOf::Admission(id) = k { Some(*id) } else { None });
        let rows =
            self.db.run(move |conn| Box::pin(attachments::of_parents(conn, pupils, requests, applications))).await?;
        let mut out: HashMap<DocumentsOf, Vec<AttachmentRow>> = keys.iter().map(|k| (*k, Vec::new())).collect();
        for r in rows {
            let key = match (r.pupil_id, r.enrolment_request_id, r.admission_application_id) {
                (Some(p), _, _) => DocumentsOf::Pupil(p),
                (_, Some(e), _) => DocumentsOf::Enrolment(e),
                (_, _, Some(a)) => DocumentsOf::Admission(a),
                _ => continue,
            };
            out.entry(key).or_default().push(r);
        }
        Ok(out)
    }
}

/// The e-mail address of a user, for showing who acted in the audit trail.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct UserEmail(pub i64);

impl Loader<UserEmail> for RequestLoader {
    type Value = String;
    type Error = LoadError;

    async fn load(&self, keys: &[UserEmail]) -> Result<HashMap<UserEmail, String>, LoadError> {
        let ids: Vec<i64> = keys.iter().map(|k| k.0).collect();
        let rows = self.db.run(move |conn| Box::pin(crate::db::audit::emails(conn, ids))).await?;
        Ok(rows.into_iter().map(|(id, email)| (UserEmail(id), email)).collect())
    }
}

/// The recorded transitions of an enrolment request that the caller may see.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct TransitionsOf(pub i64);

impl Loader<TransitionsOf> for RequestLoader {
    type Value = Vec<TransitionRow>;
    type Error = LoadError;

    async fn load(&self, keys: &[TransitionsOf]) -> Result<HashMap<TransitionsOf, Vec<TransitionRow>>, LoadError> {
        let ids: Vec<i64> = keys.iter().map(|k| k.0).collect();
        let rows = self.db.run(move |conn| Box::pin(refugees::transitions_of(conn, ids))).await?;
        let mut out: HashMap<TransitionsOf, Vec<TransitionRow>> =
            keys.iter().map(|k| (k.clone(), Vec::new())).collect();
        for r in rows {
            out.entry(TransitionsOf(r.request_id)).or_default().push(r);
        }
        Ok(out)
    }
}
