//! Process 2 in GraphQL: refugee minors' enrolment requests, their workflow
//! moves, delta sync for offline hub apps and the office's monitoring.
//! Resolvers check arguments and call the use cases in `crate::usecases::refugees`;
//! the subscription lives in `super::events`.

use async_graphql::{Context, Enum, ID, InputObject, Object, Result, SimpleObject};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};

use super::attachments::Attachment;
use super::connection::{Connection, connection, nodes_show, page_request_by_id};
use super::loaders::{DocumentsOf, HubKey, InstitutionKey, MunicipalityKey, TransitionsOf, UserEmail};
use super::registry::{Sex, id_arg, stored_year_arg, year_arg, year_of};
use super::scalars::Date;
use super::territory::{Hub, Municipality, School, SchoolOrder, code_arg, istat_arg};
use super::{authorize, caller, db, loader};
use crate::authz::{Action, ObjectKind, Scope};
use crate::db::refugees::{self as q, EnrolmentAlong, EnrolmentFilter, EnrolmentRow, TransitionRow};
use crate::db::territory::MunicipalityRow;
use crate::error::{AppError, AppResult};
use crate::rules::refugees::{Move, Status};
use crate::usecases::refugees::{self as uc, MoveArgs, MoveOutcome, RequestInput};

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum EnrolmentStatus {
    /// Entered by the municipality, waiting for its hub.
    Submitted,
    /// The hub reviews it and looks for a school.
    InCharge,
    /// Proposed to a school, which confirms or declines.
    Proposed,
    /// Declined by the proposed school: back with the hub.
    Declined,
    /// Enrolled in a school.
    Enrolled,
    /// Withdrawn by the municipality.
    Withdrawn,
}

impl From<Status> for EnrolmentStatus {
    fn from(s: Status) -> Self {
        match s {
            Status::Submitted => EnrolmentStatus::Submitted,
            Status::InCharge => EnrolmentStatus::InCharge,
            Status::Proposed => EnrolmentStatus::Proposed,
            Status::Declined => EnrolmentStatus::Declined,
            Status::Enrolled => EnrolmentStatus::Enrolled,
            Status::Withdrawn => EnrolmentStatus::Withdrawn,
        }
    }
}

impl From<EnrolmentStatus> for Status {
    fn from(s: EnrolmentStatus) -> Self {
        match s {
            EnrolmentStatus::Submitted => Status::Submitted,
            EnrolmentStatus::InCharge => Status::InCharge,
            EnrolmentStatus::Proposed => Status::Proposed,
            EnrolmentStatus::Declined => Status::Declined,
            EnrolmentStatus::Enrolled => Status::Enrolled,
            EnrolmentStatus::Withdrawn => Status::Withdrawn,
        }
    }
}

fn status_of(stored: &str) -> Result<EnrolmentStatus> {
    let s: Status = stored.parse().map_err(|e: String| AppError::internal(anyhow::anyhow!(e)))?;
    Ok(s.into())
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum EnrolmentOrigin {
    /// Entered by the municipality where the minor lives.
    Municipality,
    /// Registered by a school that enrolled the minor on its own.
    School,
}

/// A refugee minor's enrolment request. Fields a role does not need answer
/// FORBIDDEN: the office monitors without the family's contacts, and only
/// hubs and the office see likely duplicates.
pub struct EnrolmentRequest(pub(crate) EnrolmentRow, Option<MunicipalityRow>);

impl From<EnrolmentRow> for EnrolmentRequest {
    fn from(row: EnrolmentRow) -> EnrolmentRequest {
        EnrolmentRequest(row, None)
    }
}

impl From<EnrolmentAlong> for EnrolmentRequest {
    fn from((row, municipality): EnrolmentAlong) -> EnrolmentRequest {
        EnrolmentRequest(row, municipality)
    }
}

/// The caller's read scope for requests.
fn read_scope(ctx: &Context<'_>) -> Result<Scope> {
    Ok(authorize(ctx, ObjectKind::EnrolmentRequest, Action::Read)?.1)
}

/// Contacts, address and notes are for those who place the minor, not the office.
fn contact<'a, T: ?Sized>(ctx: &Context<'_>, v: &'a T) -> Result<&'a T> {
    if read_scope(ctx)? == Scope::Province {
        return Err(AppError::Forbidden.into());
    }
    Ok(v)
}

#[Object]
impl EnrolmentRequest {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn status(&self) -> Result<EnrolmentStatus> {
        status_of(&self.0.status)
    }
    /// Increases with every change: moves name the version they were made on.
    async fn version(&self) -> i32 {
        self.0.version
    }
    async fn origin(&self) -> EnrolmentOrigin {
        if self.0.origin == "school" { EnrolmentOrigin::School } else { EnrolmentOrigin::Municipality }
    }
    /// `2026/27`.
    async fn school_year(&self) -> String {
        year_of(self.0.school_year)
    }
    /// Where the minor lives (for a municipality's request, the municipality that entered it).
    async fn municipality(&self, ctx: &Context<'_>) -> Result<Municipality> {
        // A page of requests fetched it along.
        if let Some(row) = &self.1 {
            return Ok(Municipality(row.clone()));
        }
        let row = loader(ctx).load_one(MunicipalityKey(self.0.municipality_istat.clone())).await?;
        Ok(Municipality(row.ok_or(AppError::NotFound)?))
    }
    /// The hub that places the minor.
    async fn hub(&self, ctx: &Context<'_>) -> Result<Hub> {
        let row = loader(ctx).load_one(HubKey(self.0.hub_code.clone())).await?;
        Ok(Hub(row.ok_or(AppError::NotFound)?))
    }
    /// The school the minor is proposed to or enrolled in.
    async fn school(&self, ctx: &Context<'_>) -> Result<Option<School>> {
        let Some(code) = &self.0.institution_code else { return Ok(None) };
        Ok(loader(ctx).load_one(InstitutionKey(code.clone())).await?.map(School))
    }
    async fn first_name(&self) -> &str {
        &self.0.first_name
    }
    async fn last_name(&self) -> &str {
        &self.0.last_name
    }
    async fn birth_date(&self) -> Date {
        Date(self.0.birth_date)
    }
    async fn sex(&self) -> Sex {
        if self.0.sex == "F" { Sex::F } else { Sex::M }
    }
    /// ISO 3166-1 alpha-2.
    async fn nationality(&self) -> &str {
        &self.0.nationality
    }
    /// Date of arrival in Italy.
    async fn arrived_on(&self) -> Date {
        Date(self.0.arrived_on)
    }
    async fn languages(&self) -> &[String] {
        &self.0.languages
    }
    /// The last class attended, as the family tells it.
    async fn last_class(&self) -> Option<&str> {
        self.0.last_class.as_deref()
    }
    /// The minor has special needs the school must prepare for.
    async fn special_needs(&self) -> bool {
        self.0.special_needs
    }
    async fn guardian_name(&self, ctx: &Context<'_>) -> Result<Option<&str>> {
        contact(ctx, &self.0.guardian_name).map(Option::as_deref)
    }
    async fn guardian_phone(&self, ctx: &Context<'_>) -> Result<Option<&str>> {
        contact(ctx, &self.0.guardian_phone).map(Option::as_deref)
    }
    async fn guardian_email(&self, ctx: &Context<'_>) -> Result<Option<&str>> {
        contact(ctx, &self.0.guardian_email).map(Option::as_deref)
    }
    /// Address in the municipality.
    async fn address(&self, ctx: &Context<'_>) -> Result<&str> {
        contact(ctx, self.0.address.as_str())
    }
    /// The city zone (Municipio) where Poli START serve by zone.
    async fn city_zone(&self) -> Option<i32> {
        self.0.city_zone
    }
    /// The order asked for.
    async fn order(&self) -> Result<SchoolOrder> {
        let o: crate::rules::order::SchoolOrder =
            self.0.school_order.parse().map_err(|e: String| AppError::internal(anyhow::anyhow!(e)))?;
        Ok(o.into())
    }
    /// The class (year of study) asked for.
    async fn year_of_study(&self) -> i32 {
        self.0.year_of_study
    }
    async fn notes(&self, ctx: &Context<'_>) -> Result<Option<&str>> {
        contact(ctx, &self.0.notes).map(Option::as_deref)
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
    async fn enrolled_at(&self) -> Option<DateTime<Utc>> {
        self.0.enrolled_at
    }
    /// Documents of the request (the minor's papers): for the municipality,
    /// the hub and the school it is proposed to; the office monitors
    /// without them (FORBIDDEN). Add one with `createUpload` (kind
    /// ENROLMENT_DOCUMENT, the request's id as parent).
    async fn documents(&self, ctx: &Context<'_>) -> Result<Vec<Attachment>> {
        authorize(ctx, ObjectKind::EnrolmentDocument, Action::Read)?;
        let rows = loader(ctx).load_one(DocumentsOf::Enrolment(self.0.id)).await?.unwrap_or_default();
        Ok(rows.into_iter().map(|r| Attachment::shown(ctx, r)).collect())
    }
    /// The recorded moves the caller may see, oldest first: a school sees
    /// only its own part of the minor's path.
    async fn history(&self, ctx: &Context<'_>) -> Result<Vec<EnrolmentTransition>> {
        let rows = loader(ctx).load_one(TransitionsOf(self.0.id)).await?.unwrap_or_default();
        Ok(rows.into_iter().map(EnrolmentTransition).collect())
    }
    /// Other requests of the province for a minor with the same names (in
    /// either order) and birth date, that the caller may see. For hubs and
    /// the office.
    async fn possible_duplicates(&self, ctx: &Context<'_>) -> Result<Vec<EnrolmentRequest>> {
        if !matches!(read_scope(ctx)?, Scope::Territory | Scope::Province) {
            return Err(AppError::Forbidden.into());
        }
        let id = self.0.id;
        let rows = db(ctx)
            .run(move |c| {
                Box::pin(async move {
                    let ids = q::duplicates(c, id).await?;
                    q::by_ids(c, ids).await
                })
            })
            .await?;
        Ok(rows.into_iter().map(EnrolmentRequest::from).collect())
    }
    /// How many requests of the province share the minor's names and birth
    /// date, including those the caller cannot see. For hubs and the office.
    async fn possible_duplicate_count(&self, ctx: &Context<'_>) -> Result<i32> {
        if !matches!(read_scope(ctx)?, Scope::Territory | Scope::Province) {
            return Err(AppError::Forbidden.into());
        }
        let id = self.0.id;
        let ids = db(ctx).run(move |c| Box::pin(q::duplicates(c, id))).await?;
        Ok(i32::try_from(ids.len()).unwrap_or(i32::MAX))
    }
}

/// One recorded move: who, when, why.
pub struct EnrolmentTransition(TransitionRow);

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum EnrolmentAction {
    Submit,
    Register,
    Edit,
    TakeInCharge,
    Propose,
    Confirm,
    Decline,
    Withdraw,
    Transfer,
}

#[Object]
impl EnrolmentTransition {
    /// The request it moved (which the caller may no longer see).
    async fn request_id(&self) -> ID {
        ID(self.0.request_id.to_string())
    }
    async fn action(&self) -> Result<EnrolmentAction> {
        Ok(match self.0.action.as_str() {
            "submit" => EnrolmentAction::Submit,
            "register" => EnrolmentAction::Register,
            "edit" => EnrolmentAction::Edit,
            "take_in_charge" => EnrolmentAction::TakeInCharge,
            "propose" => EnrolmentAction::Propose,
            "confirm" => EnrolmentAction::Confirm,
            "decline" => EnrolmentAction::Decline,
            "withdraw" => EnrolmentAction::Withdraw,
            "transfer" => EnrolmentAction::Transfer,
            other => return Err(AppError::internal(anyhow::anyhow!("unknown action {other}")).into()),
        })
    }
    #[graphql(name = "fromStatus")]
    async fn previous_status(&self) -> Result<Option<EnrolmentStatus>> {
        self.0.from_status.as_deref().map(status_of).transpose()
    }
    async fn to_status(&self) -> Result<EnrolmentStatus> {
        status_of(&self.0.to_status)
    }
    async fn at(&self) -> DateTime<Utc> {
        self.0.at
    }
    async fn reason(&self) -> Option<&str> {
        self.0.reason.as_deref()
    }
    /// The hub in charge when it happened (for a transfer, the hub it left).
    async fn hub(&self, ctx: &Context<'_>) -> Result<Option<Hub>> {
        Ok(loader(ctx).load_one(HubKey(self.0.hub_code.clone())).await?.map(Hub))
    }
    /// For a transfer, the hub it went to.
    async fn to_hub(&self, ctx: &Context<'_>) -> Result<Option<Hub>> {
        let Some(code) = &self.0.to_hub_code else { return Ok(None) };
        Ok(loader(ctx).load_one(HubKey(code.clone())).await?.map(Hub))
    }
    /// The school it concerned.
    async fn school(&self, ctx: &Context<'_>) -> Result<Option<School>> {
        let Some(code) = &self.0.institution_code else { return Ok(None) };
        Ok(loader(ctx).load_one(InstitutionKey(code.clone())).await?.map(School))
    }
    /// Who made the move.
    async fn by(&self, ctx: &Context<'_>) -> Result<Option<String>> {
        loader(ctx).load_one(UserEmail(self.0.user_id)).await
    }
}

/// The outcome of a move. `request` is null when the move handed the
/// request out of the caller's scope (a transfer, a school's refusal).
pub struct EnrolmentMove(MoveOutcome);

#[Object]
impl EnrolmentMove {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn status(&self) -> EnrolmentStatus {
        self.0.status.into()
    }
    async fn version(&self) -> i32 {
        self.0.version
    }
    async fn request(&self) -> Option<EnrolmentRequest> {
        self.0.row.clone().map(EnrolmentRequest::from)
    }
}

/// What changed since a delta-sync cursor.
pub struct EnrolmentChanges {
    changed: Vec<EnrolmentRow>,
    removed: Vec<i64>,
    cursor: String,
    complete: bool,
}

#[Object]
impl EnrolmentChanges {
    /// Requests created or changed since the cursor, in id order.
    async fn changed(&self) -> Vec<EnrolmentRequest> {
        self.changed.iter().cloned().map(EnrolmentRequest::from).collect()
    }
    /// Requests that left the caller's view since the cursor (transferred to
    /// another hub, declined by the caller's school): drop them.
    async fn removed(&self) -> Vec<ID> {
        self.removed.iter().map(|id| ID(id.to_string())).collect()
    }
    /// Pass it as `since` next time.
    async fn cursor(&self) -> &str {
        &self.cursor
    }
    /// False when more changes wait: call again with `cursor` at once.
    async fn complete(&self) -> bool {
        self.complete
    }
}

/// A delta-sync position: the snapshot the changes are relative to, the
/// snapshot the sync in progress will move to, and the last id returned.
struct SyncCursor {
    since: String,
    upto: Option<String>,
    after: i64,
}

impl SyncCursor {
    /// Everything: no transaction is visible in the snapshot `1:1:`.
    fn beginning() -> SyncCursor {
        SyncCursor { since: "1:1:".into(), upto: None, after: 0 }
    }

    fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!("d1|{}|{}|{}", self.since, self.upto.as_deref().unwrap_or(""), self.after))
    }

    fn decode(s: &str) -> AppResult<SyncCursor> {
        let bad = || AppError::bad_input("since", "not a cursor returned by enrolmentChanges");
        let text = String::from_utf8(URL_SAFE_NO_PAD.decode(s).map_err(|_| bad())?).map_err(|_| bad())?;
        let parts: Vec<&str> = text.split('|').collect();
        let [tag, since, upto, after] = parts.as_slice() else { return Err(bad()) };
        if *tag != "d1" || !is_snapshot(since) || !(upto.is_empty() || is_snapshot(upto)) {
            return Err(bad());
        }
        Ok(SyncCursor {
            since: (*since).to_owned(),
            upto: (!upto.is_empty()).then(|| (*upto).to_owned()),
            after: after.parse().map_err(|_| bad())?,
        })
    }
}

/// Whether a text is a snapshot PostgreSQL accepts (`xmin:xmax:xip,…`, as
/// `pg_snapshot` input checks it), so that a forged cursor is refused
/// before it reaches the database.
fn is_snapshot(s: &str) -> bool {
    let mut parts = s.splitn(3, ':');
    let (Some(xmin), Some(xmax), Some(xip)) = (parts.next(), parts.next(), parts.next()) else { return false };
    let (Ok(xmin), Ok(xmax)) = (xmin.parse::<u64>(), xmax.parse::<u64>()) else { return false };
    if xmin == 0 || xmax < xmin || s.len() > 100_000 {
        return false;
    }
    let mut last = xmin;
    xip.is_empty()
        || xip.split(',').all(|v| match v.parse::<u64>() {
            Ok(v) if v >= last && v < xmax => {
                last = v;
                true
            }
            _ => false,
        })
}

/// Monitoring dimensions.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum EnrolmentDimension {
    /// The hub (CTI or Polo START).
    Hub,
    /// The territorial ambit of the minor's municipality.
    Ambit,
    Municipality,
    Order,
    Status,
    /// Age on the day of the count: 0-5, 6-10, 11-13, 14-18, 19+.
    AgeBand,
    Nationality,
}

impl EnrolmentDimension {
    /// The grouping expression: a fixed list, never caller text.
    fn sql(self) -> &'static str {
        match self {
            EnrolmentDimension::Hub => "r.hub_code",
            EnrolmentDimension::Ambit => "coalesce(m.ambit_code, '')",
            EnrolmentDimension::Municipality => "r.municipality_istat",
            EnrolmentDimension::Order => "r.school_order",
            EnrolmentDimension::Status => "r.status",
            EnrolmentDimension::AgeBand => {
                "CASE WHEN age(r.birth_date) < interval '6 years' THEN '0-5'
                      WHEN age(r.birth_date) < interval '11 years' THEN '6-10'
                      WHEN age(r.birth_date) < interval '14 years' THEN '11-13'
                      WHEN age(r.birth_date) < interval '19 years' THEN '14-18' ELSE '19+' END"
            }
            EnrolmentDimension::Nationality => "r.nationality",
        }
    }
}

/// One monitoring cell.
#[derive(SimpleObject)]
pub struct EnrolmentCount {
    /// The dimension's value: a hub or ambit code, an ISTAT code, an order
    /// or status as stored, an age band, a country code.
    pub key: String,
    pub requests: i32,
    /// Not yet enrolled nor withdrawn.
    pub open: i32,
    pub enrolled: i32,
    /// Median days from a municipality's request to enrolment.
    pub median_days_to_enrolment: Option<f64>,
    /// Open requests waiting longer than `waitingDays`.
    pub waiting_long: i32,
}

#[derive(InputObject, Default)]
pub struct EnrolmentRequestFilter {
    pub status: Option<Vec<EnrolmentStatus>>,
    /// `2026/27`.
    pub school_year: Option<String>,
    /// ISTAT code of the minor's municipality.
    pub municipality: Option<String>,
    pub hub: Option<String>,
    pub school: Option<String>,
    pub order: Option<SchoolOrder>,
    /// Only open requests entered more than this many days ago.
    pub waiting_more_than_days: Option<i32>,
}

impl EnrolmentRequestFilter {
    fn checked(self) -> AppResult<EnrolmentFilter> {
        let waiting = match self.waiting_more_than_days {
            Some(d) if !(0..=3650).contains(&d) => {
                return Err(AppError::bad_input("filter.waitingMoreThanDays", "must be between 0 and 3650"));
            }
            Some(d) => Some(uc::waiting_cutoff(Utc::now(), d)),
            None => None,
        };
        Ok(EnrolmentFilter {
            within: Default::default(),
            statuses: self.status.map(|s| s.into_iter().map(|x| Status::from(x).as_str().to_owned()).collect()),
            school_year: stored_year_arg("filter.schoolYear", self.school_year.as_deref())?,
            municipality: istat_arg("filter.municipality", self.municipality)?,
            hub: code_arg("filter.hub", self.hub, 20)?,
            school: code_arg("filter.school", self.school, 10)?,
            order: self.order.map(|o| crate::rules::order::SchoolOrder::from(o).as_str().to_owned()),
            waiting_since: waiting,
        })
    }
}

/// The request form.
#[derive(InputObject)]
pub struct EnrolmentRequestInput {
    /// `2026/27`; the current school year when left out.
    pub school_year: Option<String>,
    pub first_name: String,
    pub last_name: String,
    pub birth_date: Date,
    pub sex: Sex,
    /// ISO 3166-1 alpha-2, e.g. `UA`.
    pub nationality: String,
    /// Date of arrival in Italy.
    pub arrived_on: Date,
    #[graphql(default)]
    pub languages: Vec<String>,
    pub last_class: Option<String>,
    #[graphql(default)]
    pub special_needs: bool,
    pub guardian_name: Option<String>,
    pub guardian_phone: Option<String>,
    pub guardian_email: Option<String>,
    /// Address in the municipality.
    pub address: String,
    /// The Municipio, required where Poli START serve the city by zone (Milan, first cycle).
    pub city_zone: Option<i32>,
    pub order: SchoolOrder,
    pub year_of_study: i32,
    pub notes: Option<String>,
}

impl EnrolmentRequestInput {
    fn checked(self) -> AppResult<RequestInput> {
        Ok(RequestInput {
            school_year: self.school_year.as_deref().map(|y| year_arg("input.schoolYear", y)).transpose()?,
            first_name: self.first_name,
            last_name: self.last_name,
            birth_date: self.birth_date.0,
            sex: self.sex.into(),
            nationality: self.nationality,
            arrived_on: self.arrived_on.0,
            languages: self.languages,
            last_class: self.last_class,
            special_needs: self.special_needs,
            guardian_name: self.guardian_name,
            guardian_phone: self.guardian_phone,
            guardian_email: self.guardian_email,
            address: self.address,
            city_zone: self.city_zone,
            order: self.order.into(),
            year_of_study: self.year_of_study,
            notes: self.notes,
        })
    }
}

/// A school's registration of a minor it enrolled on its own.
#[derive(InputObject)]
pub struct EnrolledMinorInput {
    /// ISTAT code of the municipality where the minor lives.
    pub municipality: String,
    pub minor: EnrolmentRequestInput,
}

#[derive(Default)]
pub struct RefugeesQuery;

#[Object]
impl RefugeesQuery {
    /// Requests the caller may see, newest first.
    #[graphql(complexity = "crate::graphql::limits::page_cost(first, child_complexity)")]
    async fn enrolment_requests(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        filter: Option<EnrolmentRequestFilter>,
    ) -> Result<Connection<EnrolmentRequest>> {
        let within = caller(ctx, ObjectKind::EnrolmentRequest, Action::Read)?.within();
        let filter = EnrolmentFilter { within, ..filter.unwrap_or_default().checked()? };
        let page = page_request_by_id(first, after)?;
        // A queue shows each minor's municipality: it comes with the page.
        let (f, p) = (filter.clone(), page.clone());
        let rows: Vec<EnrolmentAlong> = if nodes_show(ctx, &["municipality"]) {
            db(ctx).run(move |c| Box::pin(async move { q::list_along(c, &f, &p).await })).await?
        } else {
            let rows = db(ctx).run(move |c| Box::pin(async move { q::list(c, &f, &p).await })).await?;
            rows.into_iter().map(|r| (r, None)).collect()
        };
        let counter = db(ctx).clone();
        Ok(connection(
            ctx,
            &page,
            rows,
            move || {
                Box::pin(async move { counter.run(move |c| Box::pin(async move { q::count(c, &filter).await })).await })
            },
            |r| r.0.id.to_string(),
            EnrolmentRequest::from,
        )
        .await?)
    }

    /// One request; null when it does not exist or is outside the caller's scope.
    async fn enrolment_request(&self, ctx: &Context<'_>, id: ID) -> Result<Option<EnrolmentRequest>> {
        authorize(ctx, ObjectKind::EnrolmentRequest, Action::Read)?;
        let Ok(id) = id_arg("id", &id) else { return Ok(None) };
        Ok(db(ctx).run(move |c| Box::pin(q::by_id(c, id))).await?.map(EnrolmentRequest::from))
    }

    /// The recorded moves the caller may see, newest first. A hub keeps here
    /// the history of requests it handed to another hub.
    #[graphql(complexity = "crate::graphql::limits::page_cost(first, child_complexity)")]
    async fn enrolment_history(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Connection<EnrolmentTransition>> {
        authorize(ctx, ObjectKind::EnrolmentRequest, Action::Read)?;
        let page = page_request_by_id(first, after)?;
        let p = page.clone();
        let rows = db(ctx).run(move |c| Box::pin(async move { q::transitions(c, &p).await })).await?;
        let counter = db(ctx).clone();
        Ok(connection(
            ctx,
            &page,
            rows,
            move || Box::pin(async move { counter.run(move |c| Box::pin(q::transitions_count(c))).await }),
            |r| r.id.to_string(),
            EnrolmentTransition,
        )
        .await?)
    }

    /// Delta sync for offline clients: what changed in the caller's view
    /// since `since` (a `cursor` of an earlier answer; leave it out for
    /// everything). Pages of `first`; `complete` says when to stop.
    async fn enrolment_changes(
        &self,
        ctx: &Context<'_>,
        since: Option<String>,
        #[graphql(desc = "Changes per page, 1 to 500; 100 when left out.")] first: Option<i32>,
    ) -> Result<EnrolmentChanges> {
        authorize(ctx, ObjectKind::EnrolmentRequest, Action::Read)?;
        let first = first.unwrap_or(100);
        if !(1..=500).contains(&first) {
            return Err(AppError::bad_input("first", "must be between 1 and 500").into());
        }
        let cursor = match since.as_deref() {
            Some(s) => SyncCursor::decode(s)?,
            None => SyncCursor::beginning(),
        };
        let out = db(ctx)
            .try_run(move |c| {
                Box::pin(async move {
                    // The snapshot comes before the rows: a change committed in
                    // between is returned now and again next time, never lost.
                    let upto = match cursor.upto {
                        Some(u) => u,
                        None => q::snapshot(c).await?,
                    };
                    let mut changed = q::changed_since(c, &cursor.since, cursor.after, i64::from(first) + 1).await?;
                    let complete = changed.len() <= first as usize;
                    changed.truncate(first as usize);
                    let next = if complete {
                        SyncCursor { since: upto, upto: None, after: 0 }
                    } else {
                        let last = changed.last().map_or(cursor.after, |r| r.id);
                        SyncCursor { since: cursor.since.clone(), upto: Some(upto), after: last }
                    };
                    let removed = if complete { q::left_since(c, &cursor.since).await? } else { Vec::new() };
                    Ok(EnrolmentChanges { changed, removed, cursor: next.encode(), complete })
                })
            })
            .await?;
        Ok(out)
    }

    /// Counts of the requests the caller sees, by one dimension. For hubs and the office.
    async fn enrolment_counts(
        &self,
        ctx: &Context<'_>,
        by: EnrolmentDimension,
        school_year: Option<String>,
        #[graphql(default = 30)] waiting_days: i32,
    ) -> Result<Vec<EnrolmentCount>> {
        let scope = read_scope(ctx)?;
        if !matches!(scope, Scope::Territory | Scope::Province) {
            return Err(AppError::Forbidden.into());
        }
        if !(0..=3650).contains(&waiting_days) {
            return Err(AppError::bad_input("waitingDays", "must be between 0 and 3650").into());
        }
        let year = stored_year_arg("schoolYear", school_year.as_deref())?;
        let rows = db(ctx).run(move |c| Box::pin(q::counts(c, by.sql(), year, waiting_days))).await?;
        let n = |v: i64| i32::try_from(v).unwrap_or(i32::MAX);
        Ok(rows
            .into_iter()
            .map(|r| EnrolmentCount {
                key: r.key,
                requests: n(r.requests),
                open: n(r.open),
                enrolled: n(r.enrolled),
                median_days_to_enrolment: r.median_days_to_enrolment,
                waiting_long: n(r.waiting_long),
            })
            .collect())
    }
}

#[derive(Default)]
pub struct RefugeesMutation;

async fn make_move(ctx: &Context<'_>, id: ID, version: i32, m: Move, args: MoveArgs) -> Result<EnrolmentMove> {
    let caller = caller(ctx, ObjectKind::EnrolmentRequest, Action::Write)?;
    let id = id_arg("id", &id)?;
    Ok(EnrolmentMove(uc::make_move(db(ctx), &caller, id, version, m, args).await?))
}

#[Object]
impl RefugeesMutation {
    /// A municipality enters a request for a minor living in it; the routing
    /// rule names the hub. Likely duplicates are flagged to the hub.
    async fn create_enrolment_request(
        &self,
        ctx: &Context<'_>,
        input: EnrolmentRequestInput,
    ) -> Result<EnrolmentRequest> {
        let caller = caller(ctx, ObjectKind::EnrolmentRequest, Action::Write)?;
        Ok(EnrolmentRequest::from(uc::create(db(ctx), &caller, input.checked()?).await?))
    }

    /// The municipality corrects its request's form, naming the version it read.
    async fn update_enrolment_request(
        &self,
        ctx: &Context<'_>,
        id: ID,
        version: i32,
        input: EnrolmentRequestInput,
    ) -> Result<EnrolmentRequest> {
        let caller = caller(ctx, ObjectKind::EnrolmentRequest, Action::Write)?;
        let id = id_arg("id", &id)?;
        Ok(EnrolmentRequest::from(uc::edit(db(ctx), &caller, id, version, input.checked()?).await?))
    }

    /// A school registers a minor it enrolled on its own.
    async fn register_enrolled_minor(&self, ctx: &Context<'_>, input: EnrolledMinorInput) -> Result<EnrolmentRequest> {
        let caller = caller(ctx, ObjectKind::EnrolmentRequest, Action::Write)?;
        let municipality = istat_arg("input.municipality", Some(input.municipality))?.unwrap_or_default();
        Ok(EnrolmentRequest::from(uc::register(db(ctx), &caller, municipality, input.minor.checked()?).await?))
    }

    /// The hub takes a submitted request in charge.
    async fn take_in_charge(&self, ctx: &Context<'_>, id: ID, version: i32) -> Result<EnrolmentMove> {
        make_move(ctx, id, version, Move::TakeInCharge, MoveArgs::default()).await
    }

    /// The hub proposes a school of its territory (institution code).
    async fn propose_school(&self, ctx: &Context<'_>, id: ID, version: i32, school: String) -> Result<EnrolmentMove> {
        make_move(ctx, id, version, Move::Propose, MoveArgs { school: Some(school), ..Default::default() }).await
    }

    /// The proposed school confirms the enrolment.
    async fn confirm_enrolment(&self, ctx: &Context<'_>, id: ID, version: i32) -> Result<EnrolmentMove> {
        make_move(ctx, id, version, Move::Confirm, MoveArgs::default()).await
    }

    /// The proposed school declines, with a reason: the request goes back to the hub.
    async fn decline_enrolment(
        &self,
        ctx: &Context<'_>,
        id: ID,
        version: i32,
        reason: String,
    ) -> Result<EnrolmentMove> {
        make_move(ctx, id, version, Move::Decline, MoveArgs { reason: Some(reason), ..Default::default() }).await
    }

    /// The municipality withdraws its request, with a reason.
    async fn withdraw_enrolment_request(
        &self,
        ctx: &Context<'_>,
        id: ID,
        version: i32,
        reason: String,
    ) -> Result<EnrolmentMove> {
        make_move(ctx, id, version, Move::Withdraw, MoveArgs { reason: Some(reason), ..Default::default() }).await
    }

    /// The hub hands a request not yet proposed to another hub of the
    /// province (the family moved), with a reason. The old hub keeps the
    /// history of what it did.
    async fn transfer_enrolment_request(
        &self,
        ctx: &Context<'_>,
        id: ID,
        version: i32,
        hub: String,
        reason: String,
    ) -> Result<EnrolmentMove> {
        let args = MoveArgs { hub: Some(hub), reason: Some(reason), ..Default::default() };
        make_move(ctx, id, version, Move::Transfer, args).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sync_cursors_hold_valid_snapshots_only() {
        for ok in ["1:1:", "100:104:100,102", "5:9:5,5,8"] {
            assert!(is_snapshot(ok), "{ok}");
        }
        for bad in ["", "x", "0:1:", "5:3:", "5:9:4", "5:9:9", "5:9:7,6", "5:9:7,", "1:2:-1", "1:2"] {
            assert!(!is_snapshot(bad), "{bad}");
        }
        let c = SyncCursor { since: "100:104:100,102".into(), upto: Some("105:105:".into()), after: 7 };
        let back = SyncCursor::decode(&c.encode()).unwrap();
        assert_eq!((back.since, back.upto, back.after), (c.since, c.upto, 7));
        assert!(SyncCursor::decode(&URL_SAFE_NO_PAD.encode("d1|5:3:||0")).is_err());
    }
}
