//! Process 1 in GraphQL: collection windows, classes, pupils with their
//! certification and support-hour requests, submission and approval.
//! Resolvers check arguments and call the use cases in `crate::usecases::registry`.

use std::sync::Arc;

use async_graphql::{Context, Enum, ID, InputObject, MaybeUndefined, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};

use super::attachments::Attachment;
use super::connection::{Connection, connection, list, nodes_show, page_request_by_id};
use super::loaders::{
    AmbitKey, ApprovalOf, ClassKey, DocumentsOf, InstitutionKey, MunicipalityKey, ProvinceKey, RequestOf, SiteKey,
    UserEmail,
};
use super::scalars::Date;
use super::territory::{Municipality, Province, School, SchoolOrder, Site, TerritorialAmbit, code_arg, istat_arg};
use super::{authorize, caller, db, loader};
use crate::authz::{Action, ObjectKind, Within};
use crate::db::audit::{self as trail, EventRow, TrailFilter};
use crate::db::registry::{
    self as q, ClassFilter, ClassRow, Dimension, PupilAlong, PupilFilter, PupilRow, ReportFilter, ReportRow,
    RequestRow, SubmissionRow, TotalRow, WindowRow,
};
use crate::db::territory::SiteRow;
use crate::error::{AppError, AppResult};
use crate::rules::order::SchoolOrder as DomainOrder;
use crate::rules::school_year::SchoolYear;
use crate::rules::support::{Ratio, Severity};
use crate::rules::tax_code::Sex as DomainSex;
use crate::usecases::registry::{self as uc, ClassInput, PupilInput, PupilPatch};

pub(crate) fn year_arg(field: &str, v: &str) -> AppResult<SchoolYear> {
    v.parse().map_err(|r| AppError::bad_input(field, r))
}

/// An optional school year, in its stored form.
pub(crate) fn stored_year_arg(field: &str, v: Option<&str>) -> AppResult<Option<i32>> {
    v.map(|y| year_arg(field, y)).transpose().map(|y| y.map(SchoolYear::stored))
}

pub(crate) fn id_arg(field: &str, id: &ID) -> AppResult<i64> {
    id.parse::<i64>().ok().filter(|v| *v > 0).ok_or_else(|| AppError::bad_input(field, "is not an id of this server"))
}

pub(crate) fn year_of(stored: i32) -> String {
    SchoolYear::from_stored(stored).map_or_else(|| stored.to_string(), |y| y.to_string())
}

async fn school(ctx: &Context<'_>, code: &str) -> Result<School> {
    let row = loader(ctx).load_one(InstitutionKey(code.to_owned())).await?.ok_or(AppError::NotFound)?;
    Ok(School(row))
}

/// Art. 3 of law 104/92: comma 1, or comma 3 (severe).
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum CertificationSeverity {
    /// Art. 3 comma 1: disability.
    C1,
    /// Art. 3 comma 3: severe disability (gravità).
    C3,
}

impl From<CertificationSeverity> for Severity {
    fn from(s: CertificationSeverity) -> Self {
        match s {
            CertificationSeverity::C1 => Severity::C1,
            CertificationSeverity::C3 => Severity::C3,
        }
    }
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum Sex {
    F,
    M,
}

impl From<Sex> for DomainSex {
    fn from(s: Sex) -> Self {
        match s {
            Sex::F => DomainSex::F,
            Sex::M => DomainSex::M,
        }
    }
}

/// When schools may write their data for a school year: for every school of
/// the province, or reopened for one school.
pub struct CollectionWindow(WindowRow);

#[Object]
impl CollectionWindow {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// `2026/27`.
    async fn school_year(&self) -> String {
        year_of(self.0.school_year)
    }
    /// The school it was reopened for; null when it is every school's window.
    async fn school(&self, ctx: &Context<'_>) -> Result<Option<School>> {
        match &self.0.institution_code {
            Some(c) => Ok(Some(school(ctx, c).await?)),
            None => Ok(None),
        }
    }
    /// First day of the window (Italian calendar).
    async fn opens_on(&self) -> Date {
        Date(self.0.opens_on)
    }
    /// Last day of the window, included.
    async fn closes_on(&self) -> Date {
        Date(self.0.closes_on)
    }
    /// When the office closed it, if it did.
    async fn closed_at(&self) -> Option<DateTime<Utc>> {
        self.0.closed_at
    }
}

/// A class (classe and sezione) of a site, for one school year.
pub struct SchoolClass {
    row: Arc<ClassRow>,
    /// Its site, when a page of pupils fetched it along.
    site: Option<Arc<SiteRow>>,
}

impl From<ClassRow> for SchoolClass {
    fn from(row: ClassRow) -> SchoolClass {
        SchoolClass { row: Arc::new(row), site: None }
    }
}

#[Object]
impl SchoolClass {
    async fn id(&self) -> ID {
        ID(self.row.id.to_string())
    }
    async fn school_year(&self) -> String {
        year_of(self.row.school_year)
    }
    async fn school(&self, ctx: &Context<'_>) -> Result<School> {
        school(ctx, &self.row.institution_code).await
    }
    async fn site(&self, ctx: &Context<'_>) -> Result<Site> {
        Ok(match &self.site {
            Some(site) => Site(site.clone()),
            None => loader(ctx).load_one(SiteKey(self.row.site_code.clone())).await?.ok_or(AppError::NotFound)?.into(),
        })
    }
    async fn order(&self) -> Result<SchoolOrder> {
        let o: DomainOrder = self.row.school_order.parse().map_err(|e| AppError::internal(anyhow::anyhow!("{e}")))?;
        Ok(o.into())
    }
    async fn year_of_study(&self) -> i32 {
        self.row.year_of_study
    }
    /// Section letters: `A`, `BS`.
    async fn section(&self) -> &str {
        &self.row.section
    }
    /// Year and section, as schools write it: `2A`.
    async fn name(&self) -> String {
        format!("{}{}", self.row.year_of_study, self.row.section)
    }
    /// Pupils in the class (all of them, not only those with a disability).
    async fn pupils(&self) -> i32 {
        self.row.pupils
    }
    /// Weekly hours of the time model (tempo scuola).
    async fn time_model_hours(&self) -> i32 {
        self.row.time_model_hours
    }
}

/// A certification under law 104/92.
pub struct Certification(Arc<PupilRow>);

#[Object]
impl Certification {
    async fn severity(&self) -> CertificationSeverity {
        if self.0.severity == "c3" { CertificationSeverity::C3 } else { CertificationSeverity::C1 }
    }
    /// Date of the verbale di accertamento.
    async fn certified_on(&self) -> Date {
        Date(self.0.certified_on)
    }
    /// When a certification subject to revision ("rivedibile") is reviewed; null if permanent.
    async fn revision_on(&self) -> Option<Date> {
        self.0.revision_on.map(Date)
    }
    /// The body that issued it (e.g. the local health authority's commission).
    async fn issued_by(&self) -> &str {
        &self.0.certified_by
    }
}

/// A pupil with a disability, registered by a school for a school year.
/// Reading identity or certification is recorded in the audit trail.
pub struct Pupil {
    row: Arc<PupilRow>,
    /// Its class, site and support request, when its page fetched them
    /// along; otherwise the loaders fetch them.
    along: Option<Along>,
}

/// What a page of pupils fetched with each one ([`q::pupils_page_along`]),
/// shared with the objects that show it rather than copied into each.
struct Along {
    class: Option<Arc<ClassRow>>,
    site: Option<Arc<SiteRow>>,
    request: Option<RequestRow>,
}

impl From<PupilRow> for Pupil {
    fn from(row: PupilRow) -> Pupil {
        Pupil { row: Arc::new(row), along: None }
    }
}

impl From<PupilAlong> for Pupil {
    fn from((row, class, site, request): PupilAlong) -> Pupil {
        let (class, site) = (class.map(Arc::new), site.map(Arc::new));
        Pupil { row: Arc::new(row), along: Some(Along { class, site, request }) }
    }
}

impl Pupil {
    /// Notes a read of a protected field for the audit trail.
    fn read(&self, ctx: &Context<'_>, field: &'static str) {
        db(ctx).note_read(self.row.id, &self.row.province_code, &self.row.institution_code, field);
    }
}

#[Object]
impl Pupil {
    async fn id(&self) -> ID {
        ID(self.row.id.to_string())
    }
    async fn school_year(&self) -> String {
        year_of(self.row.school_year)
    }
    /// The code that identifies the pupil in summaries instead of the name.
    async fn internal_code(&self) -> String {
        internal_code(self.row.id)
    }
    async fn school(&self, ctx: &Context<'_>) -> Result<School> {
        school(ctx, &self.row.institution_code).await
    }
    async fn class(&self, ctx: &Context<'_>) -> Result<SchoolClass> {
        Ok(match &self.along {
            Some(along) => {
                SchoolClass { row: along.class.clone().ok_or(AppError::NotFound)?, site: along.site.clone() }
            }
            None => loader(ctx).load_one(ClassKey(self.row.class_id)).await?.ok_or(AppError::NotFound)?.into(),
        })
    }
    /// Certification documents: verbale di accertamento, diagnosi
    /// funzionale, profilo di funzionamento, PEI.
    async fn documents(&self, ctx: &Context<'_>) -> Result<Vec<Attachment>> {
        let rows = loader(ctx).load_one(DocumentsOf::Pupil(self.row.id)).await?.unwrap_or_default();
        Ok(rows.into_iter().map(|r| Attachment::shown(ctx, r)).collect())
    }
    async fn first_name(&self, ctx: &Context<'_>) -> &str {
        self.read(ctx, "firstName");
        &self.row.first_name
    }
    async fn last_name(&self, ctx: &Context<'_>) -> &str {
        self.read(ctx, "lastName");
        &self.row.last_name
    }
    /// Codice fiscale.
    async fn tax_code(&self, ctx: &Context<'_>) -> &str {
        self.read(ctx, "taxCode");
        &self.row.tax_code
    }
    async fn birth_date(&self, ctx: &Context<'_>) -> Date {
        self.read(ctx, "birthDate");
        Date(self.row.birth_date)
    }
    async fn sex(&self, ctx: &Context<'_>) -> Sex {
        self.read(ctx, "sex");
        if self.row.sex == "F" { Sex::F } else { Sex::M }
    }
    async fn certification(&self, ctx: &Context<'_>) -> Certification {
        self.read(ctx, "certification");
        Certification(self.row.clone())
    }
    /// The school's request of support hours; null until it makes one.
    async fn support_request(&self, ctx: &Context<'_>) -> Result<Option<SupportRequest>> {
        let row = match &self.along {
            Some(along) => along.request.clone(),
            None => loader(ctx).load_one(RequestOf(self.row.id)).await?,
        };
        Ok(row.map(|r| SupportRequest { pupil: self.row.clone(), row: r }))
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.row.created_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.row.updated_at
    }
}

/// `AL-000042`: identifies a pupil without naming them.
pub fn internal_code(id: i64) -> String {
    format!("AL-{id:06}")
}

/// Support hours requested for a pupil, and those the office approved.
pub struct SupportRequest {
    pupil: Arc<PupilRow>,
    row: RequestRow,
}

#[Object]
impl SupportRequest {
    /// Pupils per support teacher: `1:1`, `1:2`, …
    async fn ratio(&self) -> String {
        Ratio::label(self.row.ratio)
    }
    /// Requested hours per week.
    async fn hours(&self) -> i32 {
        self.row.hours
    }
    /// Hours per week the office approved; null until it decides.
    async fn approved_hours(&self, ctx: &Context<'_>) -> Result<Option<i32>> {
        Ok(loader(ctx).load_one(ApprovalOf(self.pupil.id)).await?.map(|a| a.hours))
    }
    async fn approved_at(&self, ctx: &Context<'_>) -> Result<Option<DateTime<Utc>>> {
        Ok(loader(ctx).load_one(ApprovalOf(self.pupil.id)).await?.map(|a| a.approved_at))
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.row.updated_at
    }
    async fn pupil(&self) -> Pupil {
        Pupil { row: self.pupil.clone(), along: None }
    }
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum SubmissionState {
    /// Being filled in by the school.
    Draft,
    /// Sent to the office: the school's data for the year are locked.
    Submitted,
    /// Sent back by the office with a reason: the school may edit and submit again.
    Returned,
}

/// Requested and approved hours of one order and ratio.
#[derive(SimpleObject)]
pub struct SupportTotal {
    order: SchoolOrder,
    ratio: String,
    pupils: i32,
    requested_hours: i32,
    approved_hours: i32,
}

impl From<TotalRow> for SupportTotal {
    fn from(t: TotalRow) -> Self {
        let order = t.school_order.parse::<DomainOrder>().map(SchoolOrder::from).unwrap_or(SchoolOrder::Adult);
        SupportTotal {
            order,
            ratio: Ratio::label(t.ratio),
            pupils: t.pupils as i32,
            requested_hours: t.hours as i32,
            approved_hours: t.approved_hours as i32,
        }
    }
}

/// A school's support request for a school year as a whole.
pub struct SupportSubmission {
    institution: String,
    school_year: i32,
    row: Option<SubmissionRow>,
}

impl SupportSubmission {
    async fn summaries(&self, ctx: &Context<'_>) -> AppResult<Vec<crate::db::attachments::AttachmentRow>> {
        let (code, year) = (self.institution.clone(), self.school_year);
        db(ctx)
            .run(move |c| Box::pin(async move { crate::db::attachments::signed_summaries(c, &code, year).await }))
            .await
    }
}

#[Object]
impl SupportSubmission {
    /// The parent id of its signed summary.
    async fn id(&self) -> ID {
        ID(crate::usecases::attachments::submission_id(&self.institution, self.school_year))
    }
    /// The summary the head teacher signed and sent back, newest first.
    async fn signed_summaries(&self, ctx: &Context<'_>) -> Result<Vec<Attachment>> {
        Ok(self.summaries(ctx).await?.into_iter().map(|r| Attachment::shown(ctx, r)).collect())
    }
    /// Whether a signed summary was received.
    async fn signed_summary_received(&self, ctx: &Context<'_>) -> Result<bool> {
        Ok(!self.summaries(ctx).await?.is_empty())
    }
    async fn school(&self, ctx: &Context<'_>) -> Result<School> {
        school(ctx, &self.institution).await
    }
    async fn school_year(&self) -> String {
        year_of(self.school_year)
    }
    async fn state(&self) -> SubmissionState {
        match self.row.as_ref().map(|r| r.state.as_str()) {
            Some("submitted") => SubmissionState::Submitted,
            Some("returned") => SubmissionState::Returned,
            _ => SubmissionState::Draft,
        }
    }
    async fn submitted_at(&self) -> Option<DateTime<Utc>> {
        self.row.as_ref().map(|r| r.submitted_at)
    }
    async fn returned_at(&self) -> Option<DateTime<Utc>> {
        self.row.as_ref().and_then(|r| r.returned_at)
    }
    /// Why the office sent it back.
    async fn return_reason(&self) -> Option<&str> {
        self.row.as_ref().and_then(|r| r.return_reason.as_deref())
    }
    /// Totals by order and ratio: pupils, requested and approved hours.
    async fn totals(&self, ctx: &Context<'_>) -> Result<Vec<SupportTotal>> {
        let (i, y) = (self.institution.clone(), self.school_year);
        let rows = db(ctx).run(move |c| Box::pin(async move { q::totals(c, &i, y).await })).await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }
}

/// What a registry report groups by.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum RegistryDimension {
    Province,
    /// Territorial ambit of the site's municipality.
    Ambit,
    /// Municipality of the site.
    Municipality,
    School,
    Site,
    Order,
    Severity,
    /// Ratio of the support request (pupils without a request have none).
    Ratio,
}

impl From<RegistryDimension> for Dimension {
    fn from(d: RegistryDimension) -> Self {
        match d {
            RegistryDimension::Province => Dimension::Province,
            RegistryDimension::Ambit => Dimension::Ambit,
            RegistryDimension::Municipality => Dimension::Municipality,
            RegistryDimension::School => Dimension::School,
            RegistryDimension::Site => Dimension::Site,
            RegistryDimension::Order => Dimension::Order,
            RegistryDimension::Severity => Dimension::Severity,
            RegistryDimension::Ratio => Dimension::Ratio,
        }
    }
}

/// One group of a registry report. Dimensions not grouped by are null.
pub struct RegistryReportRow(ReportRow);

#[Object]
impl RegistryReportRow {
    async fn province(&self, ctx: &Context<'_>) -> Result<Option<Province>> {
        let Some(c) = &self.0.province else { return Ok(None) };
        Ok(loader(ctx).load_one(ProvinceKey(c.clone())).await?.map(Province))
    }
    async fn ambit(&self, ctx: &Context<'_>) -> Result<Option<TerritorialAmbit>> {
        let Some(c) = &self.0.ambit else { return Ok(None) };
        Ok(loader(ctx).load_one(AmbitKey(c.clone())).await?.map(TerritorialAmbit))
    }
    async fn municipality(&self, ctx: &Context<'_>) -> Result<Option<Municipality>> {
        let Some(c) = &self.0.municipality else { return Ok(None) };
        Ok(loader(ctx).load_one(MunicipalityKey(c.clone())).await?.map(Municipality))
    }
    async fn school(&self, ctx: &Context<'_>) -> Result<Option<School>> {
        let Some(c) = &self.0.school else { return Ok(None) };
        Ok(loader(ctx).load_one(InstitutionKey(c.clone())).await?.map(School))
    }
    async fn site(&self, ctx: &Context<'_>) -> Result<Option<Site>> {
        let Some(c) = &self.0.site else { return Ok(None) };
        Ok(loader(ctx).load_one(SiteKey(c.clone())).await?.map(Site::from))
    }
    async fn order(&self) -> Option<SchoolOrder> {
        self.0.school_order.as_deref().and_then(|o| o.parse::<DomainOrder>().ok()).map(Into::into)
    }
    async fn severity(&self) -> Option<CertificationSeverity> {
        match self.0.severity.as_deref() {
            Some("c1") => Some(CertificationSeverity::C1),
            Some("c3") => Some(CertificationSeverity::C3),
            _ => None,
        }
    }
    async fn ratio(&self) -> Option<String> {
        self.0.ratio.as_deref().and_then(|r| r.parse::<i32>().ok()).and_then(Ratio::pupils).map(|r| r.to_string())
    }
    async fn pupils(&self) -> i32 {
        self.0.pupils as i32
    }
    async fn pupils_with_request(&self) -> i32 {
        self.0.pupils_with_request as i32
    }
    /// Weekly support hours requested.
    async fn requested_hours(&self) -> i32 {
        self.0.requested_hours as i32
    }
    /// Weekly support hours approved so far.
    async fn approved_hours(&self) -> i32 {
        self.0.approved_hours as i32
    }
}

#[derive(InputObject, Default)]
pub struct RegistryReportFilter {
    school: Option<String>,
    municipality: Option<String>,
    ambit: Option<String>,
    order: Option<SchoolOrder>,
    severity: Option<CertificationSeverity>,
}

/// One entry of the audit trail.
pub struct AuditEvent(EventRow);

impl AuditEvent {
    /// Values of the event about to be shown: when they concern pupils, the
    /// read is noted for the trail like any read of their identity.
    fn shown(
        &self,
        ctx: &Context<'_>,
        values: &Option<serde_json::Value>,
        field: &'static str,
    ) -> Option<async_graphql::Json<serde_json::Value>> {
        let v = values.clone()?;
        let (province, school) = (self.0.province_code.as_deref().unwrap_or(""), self.0.institution_code.as_deref());
        for pupil in &self.0.pupil_ids {
            db(ctx).note_read(*pupil, province, school.unwrap_or(""), field);
        }
        Some(async_graphql::Json(v))
    }
}

#[Object]
impl AuditEvent {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn at(&self) -> DateTime<Utc> {
        self.0.at
    }
    /// The account that acted.
    async fn user_email(&self, ctx: &Context<'_>) -> Result<Option<String>> {
        loader(ctx).load_one(UserEmail(self.0.user_id)).await
    }
    /// The membership it acted as.
    async fn membership_id(&self) -> Option<ID> {
        self.0.membership_id.map(|m| ID(m.to_string()))
    }
    async fn role(&self) -> &str {
        &self.0.role
    }
    /// `read`, `create`, `update`, `delete`, `approve`, `submit`, `return`, `open_window`,
    /// `close_window`, `export`, `duplicate_registration`; for documents `upload`,
    /// `attach`, `read` (metadata) and `download`.
    async fn action(&self) -> &str {
        &self.0.action
    }
    /// `pupil`, `class`, `support_request`, `support_approval`, `support_submission`,
    /// `collection_window`, `attachment`.
    async fn object_kind(&self) -> &str {
        &self.0.object_kind
    }
    async fn object_id(&self) -> Option<&str> {
        self.0.object_id.as_deref()
    }
    /// The pupils it concerns: the one a change was made to, or every pupil
    /// whose protected fields a read showed (one event per page, not per pupil).
    async fn pupil_ids(&self) -> Vec<ID> {
        self.0.pupil_ids.iter().map(|p| ID(p.to_string())).collect()
    }
    async fn school_code(&self) -> Option<&str> {
        self.0.institution_code.as_deref()
    }
    /// The fields read or changed.
    async fn fields(&self) -> &[String] {
        &self.0.fields
    }
    /// Values before a change, of the changed fields. Reading them is
    /// itself a read of the pupils' identity, recorded in the trail.
    async fn previous(&self, ctx: &Context<'_>) -> Option<async_graphql::Json<serde_json::Value>> {
        self.shown(ctx, &self.0.previous, "auditTrail.previous")
    }
    /// Values after a change, of the changed fields; audited like `previous`.
    async fn current(&self, ctx: &Context<'_>) -> Option<async_graphql::Json<serde_json::Value>> {
        self.shown(ctx, &self.0.current, "auditTrail.current")
    }
}

#[derive(InputObject, Default)]
pub struct SchoolClassFilterInput {
    /// `2026/27`.
    school_year: Option<String>,
    /// Codice meccanografico of the institution (the office's filter).
    school: Option<String>,
    site: Option<String>,
}

#[derive(InputObject, Default)]
pub struct PupilFilterInput {
    school_year: Option<String>,
    school: Option<String>,
    class_id: Option<ID>,
    site: Option<String>,
    order: Option<SchoolOrder>,
    /// ISTAT code of the site's municipality.
    municipality: Option<String>,
    severity: Option<CertificationSeverity>,
    /// Exact tax code, to find a registration.
    tax_code: Option<String>,
}

#[derive(InputObject)]
pub struct OpenCollectionWindowInput {
    school_year: String,
    opens_on: Date,
    closes_on: Date,
    /// Reopen for these schools only; leave out for every school of the province.
    schools: Option<Vec<String>>,
}

#[derive(InputObject)]
pub struct SchoolClassInput {
    school_year: String,
    /// Code of the site (plesso) of the school.
    site: String,
    order: SchoolOrder,
    year_of_study: i32,
    section: String,
    /// Pupils in the class.
    pupils: i32,
    /// Weekly hours of the time model.
    time_model_hours: i32,
}

#[derive(InputObject)]
pub struct CertificationInput {
    severity: CertificationSeverity,
    certified_on: Date,
    /// For a certification subject to revision.
    revision_on: Option<Date>,
    issued_by: String,
}

#[derive(InputObject)]
pub struct CreatePupilInput {
    class_id: ID,
    first_name: String,
    last_name: String,
    tax_code: String,
    birth_date: Date,
    sex: Sex,
    certification: CertificationInput,
}

#[derive(InputObject, Default)]
pub struct CertificationPatch {
    severity: Option<CertificationSeverity>,
    certified_on: Option<Date>,
    /// `null` clears it.
    revision_on: MaybeUndefined<Date>,
    issued_by: Option<String>,
}

/// Only the fields given change.
#[derive(InputObject, Default)]
pub struct UpdatePupilInput {
    class_id: Option<ID>,
    first_name: Option<String>,
    last_name: Option<String>,
    tax_code: Option<String>,
    birth_date: Option<Date>,
    sex: Option<Sex>,
    certification: Option<CertificationPatch>,
}

fn class_input(i: SchoolClassInput) -> AppResult<ClassInput> {
    Ok(ClassInput {
        school_year: year_arg("input.schoolYear", &i.school_year)?,
        site: i.site,
        order: i.order.into(),
        year_of_study: i.year_of_study,
        section: i.section,
        pupils: i.pupils,
        time_model_hours: i.time_model_hours,
    })
}

list!(
    class_list,
    page_request_by_id,
    ClassFilter,
    ClassRow,
    SchoolClass = SchoolClass::from,
    q::classes_page,
    q::classes_count,
    id
);
list!(
    plain_pupil_list,
    page_request_by_id,
    PupilFilter,
    PupilRow,
    Pupil = Pupil::from,
    q::pupils_page,
    q::pupils_count,
    id
);
list!(
    pupil_list_along,
    page_request_by_id,
    PupilFilter,
    PupilAlong,
    Pupil = Pupil::from,
    q::pupils_page_along,
    q::pupils_count,
    0.id
);

/// A page of pupils. When the client shows each pupil's class or support
/// request, as a school's pupil list does, they come with the page in one
/// statement rather than in a batch per field.
async fn pupil_list(
    ctx: &Context<'_>,
    filter: PupilFilter,
    first: Option<i32>,
    after: Option<String>,
) -> Result<Connection<Pupil>> {
    if nodes_show(ctx, &["class", "supportRequest"]) {
        pupil_list_along(ctx, filter, first, after).await
    } else {
        plain_pupil_list(ctx, filter, first, after).await
    }
}

#[derive(Default)]
pub struct RegistryQuery;

#[Object]
impl RegistryQuery {
    /// Collection windows of the registry, newest school year first.
    async fn collection_windows(
        &self,
        ctx: &Context<'_>,
        school_year: Option<String>,
    ) -> Result<Vec<CollectionWindow>> {
        authorize(ctx, ObjectKind::CollectionWindow, Action::Read)?;
        let year = stored_year_arg("schoolYear", school_year.as_deref())?;
        let rows = db(ctx).run(move |c| Box::pin(q::all_windows(c, year))).await?;
        Ok(rows.into_iter().map(CollectionWindow).collect())
    }

    /// Classes in the caller's scope.
    #[graphql(complexity = "crate::graphql::limits::page_cost(first, child_complexity)")]
    async fn classes(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        filter: Option<SchoolClassFilterInput>,
    ) -> Result<Connection<SchoolClass>> {
        authorize(ctx, ObjectKind::Class, Action::Read)?;
        let f = filter.unwrap_or_default();
        let filter = ClassFilter {
            school_year: stored_year_arg("filter.schoolYear", f.school_year.as_deref())?,
            institution: code_arg("filter.school", f.school, 10)?,
            site: code_arg("filter.site", f.site, 10)?,
        };
        class_list(ctx, filter, first, after).await
    }

    /// A class by id; null when it does not exist or is outside the caller's scope.
    async fn school_class(&self, ctx: &Context<'_>, id: ID) -> Result<Option<SchoolClass>> {
        authorize(ctx, ObjectKind::Class, Action::Read)?;
        let id = id_arg("id", &id)?;
        Ok(loader(ctx).load_one(ClassKey(id)).await?.map(SchoolClass::from))
    }

    /// Pupils in the caller's scope: a school's own, the office's province.
    #[graphql(complexity = "crate::graphql::limits::page_cost(first, child_complexity)")]
    async fn pupils(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        filter: Option<PupilFilterInput>,
    ) -> Result<Connection<Pupil>> {
        let within = caller(ctx, ObjectKind::Pupil, Action::Read)?.within();
        let f = filter.unwrap_or_default();
        let filter = PupilFilter {
            within,
            school_year: stored_year_arg("filter.schoolYear", f.school_year.as_deref())?,
            institution: code_arg("filter.school", f.school, 10)?,
            class_id: f.class_id.as_ref().map(|c| id_arg("filter.classId", c)).transpose()?,
            site: code_arg("filter.site", f.site, 10)?,
            order: f.order.map(|o| DomainOrder::from(o).as_str().to_owned()),
            municipality: istat_arg("filter.municipality", f.municipality)?,
            severity: f.severity.map(|s| Severity::from(s).as_str().to_owned()),
            tax_code: f.tax_code.map(|t| t.trim().to_ascii_uppercase()),
        };
        pupil_list(ctx, filter, first, after).await
    }

    /// A pupil by id; null when it does not exist or is outside the caller's scope.
    async fn pupil(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Pupil>> {
        authorize(ctx, ObjectKind::Pupil, Action::Read)?;
        let id = id_arg("id", &id)?;
        let rows = db(ctx).run(move |c| Box::pin(q::pupils_by_id(c, vec![id]))).await?;
        Ok(rows.into_iter().next().map(Pupil::from))
    }

    /// The schools' support requests of a year that were submitted or sent
    /// back, in the caller's scope: the office's worklist for approval.
    async fn support_submissions(
        &self,
        ctx: &Context<'_>,
        school_year: String,
        state: Option<SubmissionState>,
    ) -> Result<Vec<SupportSubmission>> {
        authorize(ctx, ObjectKind::SupportRequest, Action::Read)?;
        let year = year_arg("schoolYear", &school_year)?.stored();
        let state = match state {
            None => None,
            Some(SubmissionState::Submitted) => Some("submitted"),
            Some(SubmissionState::Returned) => Some("returned"),
            // Drafts have no row: a school is a draft until it submits.
            Some(SubmissionState::Draft) => return Ok(Vec::new()),
        };
        let rows = db(ctx).run(move |c| Box::pin(q::submissions(c, year, state))).await?;
        Ok(rows
            .into_iter()
            .map(|r| SupportSubmission {
                institution: r.institution_code.clone(),
                school_year: r.school_year,
                row: Some(r),
            })
            .collect())
    }

    /// A school's support request for a year. A school sees its own (leave
    /// `school` out); the office names the school. Null outside the caller's scope.
    async fn support_submission(
        &self,
        ctx: &Context<'_>,
        school_year: String,
        school: Option<String>,
    ) -> Result<Option<SupportSubmission>> {
        let caller = caller(ctx, ObjectKind::SupportRequest, Action::Read)?;
        let year = year_arg("schoolYear", &school_year)?;
        let Some(institution) = code_arg("school", school, 10)?.or(caller.school.clone()) else {
            return Err(AppError::bad_input("school", "name the school").into());
        };
        let Some(found) = loader(ctx).load_one(InstitutionKey(institution.clone())).await? else { return Ok(None) };
        if !caller.reaches(&found.code, &found.province_code) {
            return Ok(None);
        }
        let i = institution.clone();
        let row = db(ctx).run(move |c| Box::pin(async move { q::submission(c, &i, year.stored()).await })).await?;
        Ok(Some(SupportSubmission { institution, school_year: year.stored(), row }))
    }

    /// Counts of pupils and support hours for a school year, grouped by the
    /// dimensions given (none: one row of totals). Computed over the rows the
    /// caller may read: a school gets its own figures, the office its province's.
    async fn registry_report(
        &self,
        ctx: &Context<'_>,
        school_year: String,
        group_by: Vec<RegistryDimension>,
        filter: Option<RegistryReportFilter>,
    ) -> Result<Vec<RegistryReportRow>> {
        let reader = caller(ctx, ObjectKind::Pupil, Action::Read)?;
        let joined = [ObjectKind::Class, ObjectKind::SupportRequest, ObjectKind::SupportApproval]
            .map(|k| authorize(ctx, k, Action::Read).ok().map(|(_, scope)| scope));
        let year = year_arg("schoolYear", &school_year)?.stored();
        let mut dims: Vec<Dimension> = Vec::new();
        for d in group_by.into_iter().map(Dimension::from) {
            if !dims.contains(&d) {
                dims.push(d);
            }
        }
        let f = filter.unwrap_or_default();
        let filter = ReportFilter {
            within: Within::default(),
            institution: code_arg("filter.school", f.school, 10)?,
            municipality: istat_arg("filter.municipality", f.municipality)?,
            ambit: code_arg("filter.ambit", f.ambit, 16)?,
            order: f.order.map(|o| DomainOrder::from(o).as_str().to_owned()),
            severity: f.severity.map(|s| Severity::from(s).as_str().to_owned()),
        };
        let rows = uc::report(db(ctx), &reader, joined, year, dims, filter).await?;
        Ok(rows.into_iter().map(RegistryReportRow).collect())
    }

    /// The audit trail, newest first: for a pupil, for a user (by e-mail), of
    /// one action (e.g. `duplicate_registration`, registrations refused because
    /// another school has the pupil), or everything in the office's province.
    #[graphql(complexity = "crate::graphql::limits::page_cost(first, child_complexity)")]
    async fn audit_trail(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        pupil_id: Option<ID>,
        user_email: Option<String>,
        action: Option<String>,
    ) -> Result<Connection<AuditEvent>> {
        authorize(ctx, ObjectKind::AuditEvent, Action::Read)?;
        let page = page_request_by_id(first, after)?;
        let pupil_id = pupil_id.as_ref().map(|p| id_arg("pupilId", p)).transpose()?;
        let user_id = match user_email {
            None => None,
            Some(e) => {
                let email = crate::auth::normalize_email(&e).map_err(|r| AppError::bad_input("userEmail", r))?;
                let found = db(ctx)
                    .run(move |c| Box::pin(async move { crate::db::accounts::user_id_by_email(c, &email).await }))
                    .await?;
                // An unknown address has no events: the same answer as an address with none.
                Some(found.unwrap_or(-1))
            }
        };
        let action = action.map(|a| a.trim().to_ascii_lowercase());
        if action.as_deref().is_some_and(|a| a.is_empty() || a.len() > 40) {
            return Err(AppError::bad_input("action", "must name an action such as \"update\"").into());
        }
        let filter = TrailFilter { pupil_id, user_id, action };
        let (f2, before, limit) = (filter.clone(), page.after_id(), page.limit);
        let rows =
            db(ctx).run(move |c| Box::pin(async move { trail::trail_page(c, &f2, before, limit).await })).await?;
        let counter = db(ctx).clone();
        Ok(connection(
            ctx,
            &page,
            rows,
            move || {
                Box::pin(async move {
                    counter.run(move |c| Box::pin(async move { trail::trail_count(c, &filter).await })).await
                })
            },
            |r: &EventRow| r.id.to_string(),
            AuditEvent,
        )
        .await?)
    }
}

#[derive(Default)]
pub struct RegistryMutation;

#[Object]
impl RegistryMutation {
    /// Opens the collection for a school year, for every school of the
    /// province or (with `schools`) reopens it for the schools named. Opening
    /// again moves the dates and undoes an earlier close.
    async fn open_collection_window(
        &self,
        ctx: &Context<'_>,
        input: OpenCollectionWindowInput,
    ) -> Result<Vec<CollectionWindow>> {
        let caller = caller(ctx, ObjectKind::CollectionWindow, Action::Write)?;
        let year = year_arg("input.schoolYear", &input.school_year)?;
        let rows = uc::open_window(db(ctx), &caller, year, input.opens_on.0, input.closes_on.0, input.schools).await?;
        Ok(rows.into_iter().map(CollectionWindow).collect())
    }

    /// Closes the collection of a school year now: every window, or the
    /// reopenings of the schools named. Returns the windows it closed.
    async fn close_collection_window(
        &self,
        ctx: &Context<'_>,
        school_year: String,
        schools: Option<Vec<String>>,
    ) -> Result<Vec<CollectionWindow>> {
        let caller = caller(ctx, ObjectKind::CollectionWindow, Action::Write)?;
        let year = year_arg("schoolYear", &school_year)?;
        let rows = uc::close_window(db(ctx), &caller, year, schools).await?;
        Ok(rows.into_iter().map(CollectionWindow).collect())
    }

    async fn create_class(&self, ctx: &Context<'_>, input: SchoolClassInput) -> Result<SchoolClass> {
        let caller = caller(ctx, ObjectKind::Class, Action::Write)?;
        Ok(SchoolClass::from(uc::create_class(db(ctx), &caller, class_input(input)?).await?))
    }

    async fn update_class(&self, ctx: &Context<'_>, id: ID, input: SchoolClassInput) -> Result<SchoolClass> {
        let caller = caller(ctx, ObjectKind::Class, Action::Write)?;
        let id = id_arg("id", &id)?;
        Ok(SchoolClass::from(uc::update_class(db(ctx), &caller, id, class_input(input)?).await?))
    }

    /// Removes a class without pupils.
    async fn delete_class(&self, ctx: &Context<'_>, id: ID) -> Result<bool> {
        let caller = caller(ctx, ObjectKind::Class, Action::Write)?;
        uc::delete_class(db(ctx), &caller, id_arg("id", &id)?).await?;
        Ok(true)
    }

    /// Registers a pupil with a disability in a class of the caller's school.
    /// A tax code already registered in the province for the year is a CONFLICT.
    async fn create_pupil(&self, ctx: &Context<'_>, input: CreatePupilInput) -> Result<Pupil> {
        let caller = caller(ctx, ObjectKind::Pupil, Action::Write)?;
        let c = input.certification;
        let input = PupilInput {
            class_id: id_arg("input.classId", &input.class_id)?,
            first_name: input.first_name,
            last_name: input.last_name,
            tax_code: input.tax_code,
            birth_date: input.birth_date.0,
            sex: input.sex.into(),
            severity: c.severity.into(),
            certified_on: c.certified_on.0,
            revision_on: c.revision_on.map(|d| d.0),
            certified_by: c.issued_by,
        };
        Ok(Pupil::from(uc::create_pupil(db(ctx), &caller, input).await?))
    }

    async fn update_pupil(&self, ctx: &Context<'_>, id: ID, input: UpdatePupilInput) -> Result<Pupil> {
        let caller = caller(ctx, ObjectKind::Pupil, Action::Write)?;
        let id = id_arg("id", &id)?;
        let c = input.certification.unwrap_or_default();
        let patch = PupilPatch {
            class_id: input.class_id.as_ref().map(|c| id_arg("input.classId", c)).transpose()?,
            first_name: input.first_name,
            last_name: input.last_name,
            tax_code: input.tax_code,
            birth_date: input.birth_date.map(|d| d.0),
            sex: input.sex.map(Into::into),
            severity: c.severity.map(Into::into),
            certified_on: c.certified_on.map(|d| d.0),
            revision_on: match c.revision_on {
                MaybeUndefined::Undefined => None,
                MaybeUndefined::Null => Some(None),
                MaybeUndefined::Value(d) => Some(Some(d.0)),
            },
            certified_by: c.issued_by,
        };
        Ok(Pupil::from(uc::update_pupil(db(ctx), &caller, id, patch).await?))
    }

    async fn delete_pupil(&self, ctx: &Context<'_>, id: ID) -> Result<bool> {
        let caller = caller(ctx, ObjectKind::Pupil, Action::Write)?;
        uc::delete_pupil(db(ctx), &caller, id_arg("id", &id)?).await?;
        Ok(true)
    }

    /// Requests weekly support hours for a pupil, at a ratio of `1:1` to `1:4`.
    /// A one-to-one request for a severe certification is the order's
    /// maximum (25 infanzia, 22 primaria, 18 secondaria) and `hours` may be
    /// left out; other requests give `hours` up to that maximum.
    async fn request_support_hours(
        &self,
        ctx: &Context<'_>,
        pupil_id: ID,
        ratio: String,
        hours: Option<i32>,
    ) -> Result<SupportRequest> {
        let caller = caller(ctx, ObjectKind::SupportRequest, Action::Write)?;
        let pupil_id = id_arg("pupilId", &pupil_id)?;
        let ratio: Ratio = ratio.parse().map_err(|r| AppError::bad_input("ratio", r))?;
        let (pupil, row) = uc::request_hours(db(ctx), &caller, pupil_id, ratio, hours).await?;
        Ok(SupportRequest { pupil: Arc::new(pupil), row })
    }

    /// The school submits its support request for the year; its data lock
    /// until the office sends the request back.
    async fn submit_support_request(&self, ctx: &Context<'_>, school_year: String) -> Result<SupportSubmission> {
        let caller = caller(ctx, ObjectKind::SupportRequest, Action::Write)?;
        let year = year_arg("schoolYear", &school_year)?;
        let row = uc::submit(db(ctx), &caller, year).await?;
        Ok(SupportSubmission {
            institution: row.institution_code.clone(),
            school_year: row.school_year,
            row: Some(row),
        })
    }

    /// The office sends a submitted request back to the school, saying why.
    async fn return_support_request(
        &self,
        ctx: &Context<'_>,
        school: String,
        school_year: String,
        reason: String,
    ) -> Result<SupportSubmission> {
        let caller = caller(ctx, ObjectKind::SupportApproval, Action::Write)?;
        let year = year_arg("schoolYear", &school_year)?;
        let row = uc::send_back(db(ctx), &caller, school, year, reason).await?;
        Ok(SupportSubmission {
            institution: row.institution_code.clone(),
            school_year: row.school_year,
            row: Some(row),
        })
    }

    /// The office approves weekly support hours for a pupil of a submitted request.
    async fn approve_support_hours(&self, ctx: &Context<'_>, pupil_id: ID, hours: i32) -> Result<SupportRequest> {
        let caller = caller(ctx, ObjectKind::SupportApproval, Action::Write)?;
        let pupil_id = id_arg("pupilId", &pupil_id)?;
        let (pupil, row) = uc::approve(db(ctx), &caller, pupil_id, hours).await?;
        Ok(SupportRequest { pupil: Arc::new(pupil), row })
    }
}
