//! Process 4's use cases (seed 003): the reference data the office loads
//! (campaigns and their windows, classes of competition, districts, the
//! surplus, the teacher registry) and, in `applications`, the teachers'
//! forms. Each runs in the request's transaction under row security and
//! records the audit trail with the previous value.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::authz::{Caller, ObjectKind};
use crate::db::RequestDb;
use crate::db::audit::{self, Event};
use crate::db::mobility::{self as q, CampaignRow, ClassRow, DioceseRow, DistrictRow, TeacherRow};
use crate::error::{AppError, AppResult};
use crate::rules::mobility::application::{HoldingKind, PostType, Probation, Qualification};
use crate::rules::mobility::windows::{Category, Windows};
use crate::rules::mobility::{Finding, Order};
use crate::rules::tax_code;

mod allocation;
mod applications;
mod corrections;
mod review;
pub use allocation::*;
pub use applications::*;
pub use corrections::*;
pub use review::*;

fn bad(field: &str, reason: impl Into<String>) -> AppError {
    AppError::bad_input(field, reason)
}

/// A refusal of a rule of the spec, with the input field it is about.
impl From<Finding> for AppError {
    fn from(f: Finding) -> AppError {
        let field = match f.rule.split('-').next().unwrap_or("") {
            "PREF" if f.rule == "PREF-7" => Some("input.chainStart"),
            "PREF" | "PROV" | "COM" => Some("input.preferences"),
            "POST" if !matches!(f.rule, "POST-1" | "POST-3" | "POST-5") => Some("input.options"),
            "POST" | "SOS" => Some("input.postTypes"),
            "PRE" => Some("input.precedences"),
            "UT" if f.rule == "UT-E1" => Some("input.sectionE"),
            "UT" if f.rule == "UT-CONF" => Some("input.confirmation"),
            "UT" | "UTIP" => Some("input.utCategories"),
            "ELIG" | "REA" => Some("input.reasons"),
            "ORG" if f.rule == "ORG-5" => Some("input.additionalClasses"),
            "R" if f.rule == "R-ROUTE-1" => Some("input.diocese"),
            "SC" if f.rule == "SC-U2" => Some("input.utScore"),
            _ => None,
        };
        AppError::Ruled { code: f.code, rule: f.rule, field, message: f.reason }
    }
}

/// The orders of process 4, as stored.
pub fn order_str(o: Order) -> &'static str {
    match o {
        Order::Infanzia => "infanzia",
        Order::Primaria => "primaria",
        Order::SecondariaPrimoGrado => "secondaria_primo_grado",
        Order::SecondariaSecondoGrado => "secondaria_secondo_grado",
    }
}

pub fn order_of(stored: &str) -> Order {
    match stored {
        "infanzia" => Order::Infanzia,
        "primaria" => Order::Primaria,
        "secondaria_primo_grado" => Order::SecondariaPrimoGrado,
        _ => Order::SecondariaSecondoGrado,
    }
}

/// The staff categories of the registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum StaffCategory {
    Teacher,
    Educativo,
    Irc,
    Ata,
}

impl StaffCategory {
    pub fn as_str(self) -> &'static str {
        match self {
            StaffCategory::Teacher => "teacher",
            StaffCategory::Educativo => "educativo",
            StaffCategory::Irc => "irc",
            StaffCategory::Ata => "ata",
        }
    }

    fn of(s: &str) -> StaffCategory {
        match s {
            "educativo" => StaffCategory::Educativo,
            "irc" => StaffCategory::Irc,
            "ata" => StaffCategory::Ata,
            _ => StaffCategory::Teacher,
        }
    }

    /// The window category of a form by staff of this category (spec §2).
    pub fn category(self, order: Order, musical_liceo: bool) -> Category {
        match self {
            _ if musical_liceo => Category::LiceoMusicale,
            StaffCategory::Teacher => Category::Teacher(order),
            StaffCategory::Educativo => Category::Educativo,
            StaffCategory::Irc => Category::Irc,
            StaffCategory::Ata => Category::Ata,
        }
    }
}

pub fn post_type_str(p: PostType) -> &'static str {
    match p {
        PostType::Nn => "NN",
        PostType::Eh => "EH",
        PostType::Ch => "CH",
        PostType::Dh => "DH",
        PostType::Lingua => "LINGUA",
        PostType::Speciale => "SPECIALE",
        PostType::Idd => "IDD",
    }
}

pub fn post_type_of(s: &str) -> PostType {
    match s {
        "EH" => PostType::Eh,
        "CH" => PostType::Ch,
        "DH" => PostType::Dh,
        "LINGUA" => PostType::Lingua,
        "SPECIALE" => PostType::Speciale,
        "IDD" => PostType::Idd,
        _ => PostType::Nn,
    }
}

fn holding_str(h: HoldingKind) -> &'static str {
    match h {
        HoldingKind::School => "school",
        HoldingKind::Ambit => "ambit",
        HoldingKind::Province => "province",
    }
}

fn holding_of(s: &str) -> HoldingKind {
    match s {
        "school" => HoldingKind::School,
        "ambit" => HoldingKind::Ambit,
        _ => HoldingKind::Province,
    }
}

fn probation_str(p: Probation) -> &'static str {
    match p {
        Probation::Passed => "passed",
        Probation::NotDone => "not_done",
        Probation::NotFinished => "not_finished",
        Probation::Unfavourable => "unfavourable",
    }
}

fn probation_of(s: &str) -> Probation {
    match s {
        "passed" => Probation::Passed,
        "not_done" => Probation::NotDone,
        "not_finished" => Probation::NotFinished,
        _ => Probation::Unfavourable,
    }
}

/// A code of the reference data: 2 to `max` capital letters or digits.
fn code(field: &str, raw: &str, max: usize) -> AppResult<String> {
    let c = raw.trim().to_ascii_uppercase();
    if (2..=max).contains(&c.len()) && c.bytes().all(|b| b.is_ascii_alphanumeric()) {
        Ok(c)
    } else {
        Err(bad(field, format!("2 to {max} letters or digits")))
    }
}

fn reference_event(
    action: &'static str,
    kind: &'static str,
    id: String,
    province: Option<String>,
    previous: Option<Value>,
    current: Value,
) -> Event {
    Event {
        action,
        object_kind: kind,
        object_id: Some(id),
        province,
        previous,
        current: Some(current),
        ..Event::default()
    }
}

/// An act on an application, for the audit trail.
fn app_event(
    action: &'static str,
    app: &crate::db::mobility::ApplicationRow,
    province: Option<String>,
    previous: Option<Value>,
    current: Value,
) -> Event {
    Event {
        action,
        object_kind: "mobility_application",
        object_id: Some(app.id.to_string()),
        province,
        previous,
        current: Some(current),
        ..Event::default()
    }
}

/// The campaign's windows as stored, or the seed's defaults for its year.
pub fn windows_of(row: &CampaignRow) -> Windows {
    serde_json::from_value(row.windows.clone()).unwrap_or_else(|_| Windows::default_for(row.year))
}

/// A campaign for year `y` (school year y/y+1), with the windows of spec §2.
pub async fn create_campaign(db: &RequestDb, caller: &Caller, year: i32) -> AppResult<CampaignRow> {
    caller.office_province()?;
    if !(2000..=2100).contains(&year) {
        return Err(bad("input.year", "a calendar year from 2000 to 2100"));
    }
    let windows = serde_json::to_value(Windows::default_for(year)).map_err(AppError::internal)?;
    db.try_run(move |c| {
        Box::pin(async move {
            let row = q::insert_campaign(c, year, &windows)
                .await?
                .ok_or_else(|| AppError::Conflict(format!("the campaign {year} exists already")))?;
            let e = reference_event("create", "mobility_campaign", year.to_string(), None, None, windows);
            audit::record(c, vec![e]).await?;
            Ok(row)
        })
    })
    .await
}

pub async fn campaign(db: &RequestDb, year: i32) -> AppResult<Option<CampaignRow>> {
    db.run(move |c| Box::pin(q::campaign(c, year))).await
}

/// WIN-2: the day the transfers of an order are published opens its
/// window (primaria: spec §2); other orders keep their own opening.
pub async fn set_publication_date(
    db: &RequestDb,
    caller: &Caller,
    year: i32,
    order: Order,
    date: NaiveDate,
) -> AppResult<CampaignRow> {
    if order != Order::Primaria {
        return Err(bad("order", "only the primaria window opens with the publication of the transfers"));
    }
    change_windows(db, caller, year, "set_publication_date", move |w| {
        if w.primaria.closes.is_some_and(|c| date > c) {
            return Err(bad("date", "after the primaria window closes"));
        }
        w.primaria.opens = Some(date);
        Ok(())
    })
    .await
}

/// The window of the paper forms for the *licei musicali*, which the seed
/// leaves to the office (Ambiguity 3): closed until it is set.
pub async fn set_liceo_musicale_window(
    db: &RequestDb,
    caller: &Caller,
    year: i32,
    opens: NaiveDate,
    closes: NaiveDate,
) -> AppResult<CampaignRow> {
    if closes < opens {
        return Err(bad("closes", "on or after the day it opens"));
    }
    change_windows(db, caller, year, "set_liceo_musicale_window", move |w| {
        w.liceo_musicale = crate::rules::mobility::windows::Window::days(opens, closes);
        Ok(())
    })
    .await
}

/// A change of a campaign's windows by an office, audited with the
/// windows it replaces.
async fn change_windows(
    db: &RequestDb,
    caller: &Caller,
    year: i32,
    action: &'static str,
    change: impl FnOnce(&mut Windows) -> AppResult<()> + Send + 'static,
) -> AppResult<CampaignRow> {
    caller.office_province()?;
    db.try_run(move |c| {
        Box::pin(async move {
            let row = q::campaign(c, year).await?.ok_or(AppError::NotFound)?;
            let mut windows = windows_of(&row);
            change(&mut windows)?;
            let value = serde_json::to_value(&windows).map_err(AppError::internal)?;
            let updated = q::set_windows(c, year, &value).await?;
            let e = reference_event(action, "mobility_campaign", year.to_string(), None, Some(row.windows), value);
            audit::record(c, vec![e]).await?;
            Ok(updated)
        })
    })
    .await
}

pub async fn set_class(
    db: &RequestDb,
    caller: &Caller,
    code_raw: &str,
    name: &str,
    order: Order,
) -> AppResult<ClassRow> {
    caller.office_province()?;
    let row = ClassRow {
        code: code("input.code", code_raw, 8)?,
        name: name.trim().to_owned(),
        school_order: order_str(order).to_owned(),
    };
    if row.name.is_empty() || row.name.chars().count() > 200 {
        return Err(bad("input.name", "1 to 200 characters"));
    }
    db.try_run(move |c| {
        Box::pin(async move {
            let before = q::class(c, &row.code).await?;
            let saved = q::upsert_class(c, &row).await?;
            let prev = before.map(|b| json!({ "name": b.name, "order": b.school_order }));
            let e = reference_event(
                "set",
                "class_of_competition",
                row.code.clone(),
                None,
                prev,
                json!({ "name": row.name, "order": row.school_order }),
            );
            audit::record(c, vec![e]).await?;
            Ok(saved)
        })
    })
    .await
}

/// A district of the office's province: whole municipalities (ISTAT
/// codes), or the sites of a city with several districts.
pub async fn set_district(
    db: &RequestDb,
    caller: &Caller,
    code_raw: &str,
    province: &str,
    municipalities: Vec<String>,
    sites: Vec<String>,
) -> AppResult<DistrictRow> {
    let office = caller.office_province()?;
    if province != office {
        return Err(bad("input.province", "an office keeps the districts of its own province"));
    }
    if municipalities.is_empty() == sites.is_empty() {
        return Err(bad("input.municipalities", "give either whole municipalities or the sites of one city"));
    }
    let row = DistrictRow { code: code("input.code", code_raw, 12)?, province_code: office, municipalities, sites };
    db.try_run(move |c| {
        Box::pin(async move {
            // Every code must be of the province: a district never spans two.
            let schools: Vec<String> = row.sites.clone();
            let places = q::places(c, &schools, &row.municipalities, &[], &[]).await?;
            for (field, wanted, kind) in
                [("input.sites", &row.sites, "school"), ("input.municipalities", &row.municipalities, "municipality")]
            {
                for w in wanted {
                    let found = places.iter().find(|p| p.kind == kind && &p.code == w);
                    if found.is_none_or(|p| p.province != row.province_code) {
                        return Err(bad(field, format!("{w} is not a {kind} of the province {}", row.province_code)));
                    }
                }
            }
            let before = q::district(c, &row.code).await?;
            if before.as_ref().is_some_and(|b| b.province_code != row.province_code) {
                return Err(AppError::NotFound);
            }
            let saved = q::upsert_district(c, &row).await?;
            let prev = before.map(|b| json!({ "municipalities": b.municipalities, "sites": b.sites }));
            let e = reference_event(
                "set",
                "school_district",
                row.code.clone(),
                Some(row.province_code.clone()),
                prev,
                json!({ "municipalities": row.municipalities, "sites": row.sites }),
            );
            audit::record(c, vec![e]).await?;
            Ok(saved)
        })
    })
    .await
}

/// A diocese whose see is in the office's province: an IRC form names
/// one, and goes to the regional directorate of its region (seed L83).
pub async fn set_diocese(
    db: &RequestDb,
    caller: &Caller,
    code_raw: &str,
    name: &str,
    province: &str,
) -> AppResult<DioceseRow> {
    let office = caller.office_province()?;
    if province != office {
        return Err(bad("input.province", "an office keeps the dioceses whose see is in its province"));
    }
    let row =
        DioceseRow { code: code("input.code", code_raw, 12)?, name: name.trim().to_owned(), province_code: office };
    if row.name.is_empty() || row.name.chars().count() > 200 {
        return Err(bad("input.name", "1 to 200 characters"));
    }
    db.try_run(move |c| {
        Box::pin(async move {
            let before = q::diocese(c, &row.code).await?;
            if before.as_ref().is_some_and(|b| b.province_code != row.province_code) {
                return Err(AppError::NotFound);
            }
            let saved = q::upsert_diocese(c, &row).await?;
            let e = reference_event(
                "set",
                "diocese",
                row.code.clone(),
                Some(row.province_code.clone()),
                before.map(|b| json!({ "name": b.name })),
                json!({ "name": row.name }),
            );
            audit::record(c, vec![e]).await?;
            Ok(saved)
        })
    })
    .await
}

/// The surplus of a class or post type in the office's province.
pub async fn set_esubero(
    db: &RequestDb,
    caller: &Caller,
    year: i32,
    province: &str,
    class_raw: &str,
    count: i32,
) -> AppResult<i32> {
    let office = caller.office_province()?;
    if province != office {
        return Err(bad("province", "an office sets the surplus of its own province"));
    }
    if !(0..=100_000).contains(&count) {
        return Err(bad("count", "from 0 to 100000"));
    }
    let class = code("classOfCompetition", class_raw, 8)?;
    db.try_run(move |c| {
        Box::pin(async move {
            q::campaign(c, year).await?.ok_or(AppError::NotFound)?;
            let before = q::esubero(c, year, &office, &class).await?;
            q::set_esubero(c, year, &office, &class, count).await?;
            let e = reference_event(
                "set",
                "mobility_esubero",
                format!("{year}/{class}"),
                Some(office.clone()),
                Some(json!({ "count": before })),
                json!({ "count": count }),
            );
            audit::record(c, vec![e]).await?;
            Ok(count)
        })
    })
    .await
}

/// One line of free posts as the office enters it (issue 21).
#[derive(Debug, Clone)]
pub struct VacancyEntry {
    pub school: String,
    pub post_type: PostType,
    pub class: Option<String>,
    pub chair: crate::rules::mobility::allocation::ChairKind,
    pub count: i32,
    /// POST-8: part-posts of these weekly hours each; none for whole posts.
    pub hours: Option<i32>,
}

pub fn chair_str(k: crate::rules::mobility::allocation::ChairKind) -> &'static str {
    use crate::rules::mobility::allocation::ChairKind as K;
    match k {
        K::Internal => "internal",
        K::ExternalSameMunicipality => "external_same_municipality",
        K::ExternalOtherMunicipalities => "external_other_municipalities",
    }
}

pub fn chair_of(s: &str) -> crate::rules::mobility::allocation::ChairKind {
    use crate::rules::mobility::allocation::ChairKind as K;
    match s {
        "external_same_municipality" => K::ExternalSameMunicipality,
        "external_other_municipalities" => K::ExternalOtherMunicipalities,
        _ => K::Internal,
    }
}

/// A line's key in the audit trail: part-post lines (POST-8) add their hours.
fn line_key(year: i32, row: &q::VacancyRow) -> String {
    let key = format!("{year}/{}/{}/{}/{}", row.school_code, row.post_type, row.class_code, row.chair_kind);
    if row.hours > 0 { format!("{key}/{}h", row.hours) } else { key }
}

/// Sets the count of each line named, all or nothing; other lines stay.
/// Every school must be of the office's province, every class on record.
/// A line that already has another count is a correction: it needs a
/// reason, which the audit trail keeps with the count it replaces.
pub async fn set_vacancies(
    db: &RequestDb,
    caller: &Caller,
    year: i32,
    entries: Vec<VacancyEntry>,
    reason: Option<String>,
) -> AppResult<usize> {
    let office = caller.office_province()?;
    let reason = reason.map(|r| r.trim().to_owned()).filter(|r| !r.is_empty());
    if reason.as_ref().is_some_and(|r| r.chars().count() > 500) {
        return Err(bad("reason", "at most 500 characters"));
    }
    let mut rows = Vec::with_capacity(entries.len());
    for e in &entries {
        if !(0..=1000).contains(&e.count) {
            return Err(bad("entries.count", "from 0 to 1000"));
        }
        let class = e.class.as_deref().map(|c| code("entries.classOfCompetition", c, 8)).transpose()?;
        let school = e.school.trim().to_ascii_uppercase();
        if let Some(h) = e.hours {
            use crate::rules::mobility::hours::{full_hours, line_order};
            let refused = |message: String| AppError::Ruled {
                code: "BAD_USER_INPUT",
                rule: "POST-8",
                field: Some("entries.hours"),
                message,
            };
            let full = line_order(&school, class.as_deref())
                .map(full_hours)
                .ok_or_else(|| refused(format!("{school} is no site whose code tells its order")))?;
            if h < 1 || h as u32 >= full {
                return Err(refused(format!("a part-post has 1 to {} hours, fewer than a full post", full - 1)));
            }
        }
        rows.push(q::VacancyRow {
            campaign_year: year,
            school_code: school,
            province_code: office.clone(),
            post_type: post_type_str(e.post_type).to_owned(),
            class_code: class.unwrap_or_default(),
            chair_kind: chair_str(e.chair).to_owned(),
            count: e.count,
            hours: e.hours.unwrap_or(0),
        });
    }
    let n = rows.len();
    db.try_run(move |c| {
        Box::pin(async move {
            q::campaign(c, year).await?.ok_or(AppError::NotFound)?;
            let schools: Vec<String> = rows.iter().map(|r| r.school_code.clone()).collect();
            let places = q::places(c, &schools, &[], &[], &[]).await?;
            let mut events = Vec::new();
            for row in &rows {
                let known = places.iter().any(|p| p.code == row.school_code && p.province == office);
                if !known {
                    return Err(bad("entries.school", format!("{} is not a school of {office}", row.school_code)));
                }
                if !row.class_code.is_empty() && q::class(c, &row.class_code).await?.is_none() {
                    return Err(bad("entries.classOfCompetition", format!("{} is not on record", row.class_code)));
                }
                let before = q::vacancy_count(c, row).await?;
                if before.is_some_and(|b| b != row.count) && reason.is_none() {
                    return Err(bad(
                        "reason",
                        format!(
                            "{} already has {} posts: a correction needs a reason",
                            row.school_code,
                            before.unwrap_or(0)
                        ),
                    ));
                }
                q::set_vacancy(c, row).await?;
                events.push(reference_event(
                    "set",
                    "mobility_vacancy",
                    line_key(year, row),
                    Some(office.clone()),
                    before.map(|b| json!({ "count": b })),
                    json!({ "count": row.count, "reason": reason }),
                ));
            }
            audit::record(c, events).await?;
            Ok(n)
        })
    })
    .await
}

/// The free posts of a province in a campaign (published data).
pub async fn vacancies(db: &RequestDb, year: i32, province: String) -> AppResult<Vec<q::VacancyRow>> {
    db.run(move |c| Box::pin(async move { q::vacancies(c, year, &province).await })).await
}

/// A registry row as the office enters it.
#[derive(Debug, Clone)]
pub struct TeacherEntry {
    pub tax_code: String,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub category: StaffCategory,
    pub tenured: bool,
    pub order: Order,
    pub class: Option<String>,
    pub post_type: PostType,
    pub holding: HoldingKind,
    pub holding_code: String,
    pub legal_start: Option<NaiveDate>,
    pub economic_start: Option<NaiveDate>,
    pub probation: Option<Probation>,
    pub qualifications: Vec<Qualification>,
    pub support_titles: Vec<(PostType, NaiveDate)>,
    pub support_constraint_satisfied: bool,
    pub hiring_source: Option<String>,
    pub hiring_phase: Option<String>,
    pub merit_region: Option<String>,
    pub language_title: Option<NaiveDate>,
    /// POST-8: weekly service hours when part-time; none is full time.
    pub service_hours: Option<i32>,
}

fn short(field: &str, v: &str, max: usize) -> AppResult<String> {
    let v = v.trim();
    if v.is_empty() || v.chars().count() > max {
        return Err(bad(field, format!("1 to {max} characters")));
    }
    Ok(v.to_owned())
}

/// Enters or replaces a teacher of the office's province. The holding
/// decides the province: a school or ambit of it, or its endowment.
pub async fn set_teacher(db: &RequestDb, caller: &Caller, e: TeacherEntry) -> AppResult<TeacherRow> {
    let office = caller.office_province()?;
    let tax = tax_code::parse(&e.tax_code).map_err(|r| bad("input.taxCode", r))?.code;
    let email = crate::auth::normalize_email(&e.email).map_err(|r| bad("input.email", r))?;
    let row = TeacherRow {
        tax_code: tax,
        first_name: short("input.firstName", &e.first_name, 100)?,
        last_name: short("input.lastName", &e.last_name, 100)?,
        email,
        category: e.category.as_str().to_owned(),
        tenured: e.tenured,
        school_order: order_str(e.order).to_owned(),
        class_code: e.class.as_deref().map(|c| code("input.classOfCompetition", c, 8)).transpose()?,
        post_type: post_type_str(e.post_type).to_owned(),
        holding_kind: holding_str(e.holding).to_owned(),
        holding_code: e.holding_code.trim().to_ascii_uppercase(),
        province_code: office.clone(),
        legal_start: e.legal_start,
        economic_start: e.economic_start,
        probation: e.probation.map(|p| probation_str(p).to_owned()),
        qualifications: serde_json::to_value(&e.qualifications).map_err(AppError::internal)?,
        support_titles: serde_json::to_value(&e.support_titles).map_err(AppError::internal)?,
        support_constraint_satisfied: e.support_constraint_satisfied,
        hiring_source: e.hiring_source.as_deref().map(|v| short("input.hiringSource", v, 40)).transpose()?,
        hiring_phase: e.hiring_phase.as_deref().map(|v| short("input.hiringPhase", v, 10)).transpose()?,
        merit_region: e.merit_region.as_deref().map(|v| short("input.meritRankingRegion", v, 60)).transpose()?,
        language_title: e.language_title,
        service_hours: e.service_hours,
    };
    if e.tenured && e.legal_start.is_none() {
        return Err(bad("input.legalStart", "a tenured teacher has a legal start"));
    }
    let full = crate::rules::mobility::hours::full_hours(e.order);
    if e.service_hours.is_some_and(|h| h < 1 || h as u32 > full) {
        return Err(bad("input.serviceHours", format!("from 1 to {full}, the full post of the order")));
    }
    db.try_run(move |c| {
        Box::pin(async move {
            if let Some(class) = &row.class_code {
                q::class(c, class)
                    .await?
                    .ok_or_else(|| bad("input.classOfCompetition", format!("{class} is not a class of competition")))?;
            }
            let holding = holding_place(c, holding_of(&row.holding_kind), &row.holding_code).await?;
            if holding.as_ref().map(|h| h.province.as_str()) != Some(row.province_code.as_str()) {
                return Err(bad(
                    "input.holding.code",
                    format!("not a {} of the province {}", row.holding_kind, row.province_code),
                ));
            }
            let before = q::teacher(c, &row.tax_code).await?;
            let saved = q::upsert_teacher(c, &row).await.map_err(|e| match e {
                diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _) => {
                    bad("input.email", "another teacher of the registry has this address")
                }
                // The row exists in another province: its update is refused by
                // row security, and the row is not found, as everywhere out of scope.
                e if q::hidden_row(&e) => AppError::NotFound,
                other => other.into(),
            })?;
            let saved = saved.ok_or(AppError::NotFound)?;
            let summary = |t: &TeacherRow| {
                json!({ "order": t.school_order, "class": t.class_code, "postType": t.post_type,
                "holding": format!("{}:{}", t.holding_kind, t.holding_code), "tenured": t.tenured })
            };
            let e = reference_event(
                "set",
                "teacher",
                saved.tax_code.clone(),
                Some(saved.province_code.clone()),
                before.as_ref().map(summary),
                summary(&saved),
            );
            audit::record(c, vec![e]).await?;
            Ok(saved)
        })
    })
    .await
}

/// Where a holding lies: its province, municipality and district.
pub struct HoldingPlace {
    pub province: String,
    pub region: String,
    pub municipality: Option<String>,
    pub district: Option<String>,
}

async fn holding_place(
    c: &mut diesel_async::AsyncPgConnection,
    kind: HoldingKind,
    code: &str,
) -> AppResult<Option<HoldingPlace>> {
    let one = vec![code.to_owned()];
    match kind {
        HoldingKind::School => {
            let p = q::places(c, &one, &[], &[], &[]).await?.into_iter().next();
            Ok(p.map(|p| HoldingPlace {
                province: p.province,
                region: p.region,
                municipality: p.municipality,
                district: p.district,
            }))
        }
        HoldingKind::Province => {
            let p = q::places(c, &[], &[], &[], &one).await?.into_iter().next();
            Ok(p.map(|p| HoldingPlace { province: p.province, region: p.region, municipality: None, district: None }))
        }
        HoldingKind::Ambit => {
            let a = crate::db::territory::ambits_by_code(c, one).await?.into_iter().next();
            let Some(a) = a else { return Ok(None) };
            let p = q::places(c, &[], &[], &[], &[a.province_code]).await?.into_iter().next();
            Ok(p.map(|p| HoldingPlace { province: p.province, region: p.region, municipality: None, district: None }))
        }
    }
}

/// The reference files an office imports (columns: `docs/teacher-applications.md`);
/// the command line names them the same way (`ambito import mobility KIND`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReferenceFile {
    Classes,
    Districts,
    Dioceses,
    Esubero,
    Teachers,
    /// The free posts of a campaign (issue 21).
    Vacancies,
}

impl ReferenceFile {
    /// The object kind whose write policy the import needs.
    pub fn object(self) -> ObjectKind {
        match self {
            ReferenceFile::Teachers => ObjectKind::TeacherRegistry,
            _ => ObjectKind::MobilityReference,
        }
    }

    /// What the file's lines are, for reports.
    pub fn label(self) -> &'static str {
        match self {
            ReferenceFile::Classes => "classes of competition",
            ReferenceFile::Districts => "school districts",
            ReferenceFile::Dioceses => "dioceses",
            ReferenceFile::Esubero => "surplus",
            ReferenceFile::Teachers => "teachers",
            ReferenceFile::Vacancies => "vacancies",
        }
    }
}

/// Each parsed line of a file through `apply`, all in the request's
/// transaction: the bad lines of the parse, or the first refusal placed at
/// its line. Answers how many lines were applied.
async fn each_line<T, R, F: Future<Output = AppResult<R>>>(
    parsed: Result<Vec<crate::import::mobility::Line<T>>, Vec<crate::import::RowError>>,
    mut apply: impl FnMut(T) -> F,
) -> AppResult<usize> {
    let lines = parsed.map_err(|e| crate::usecases::bad_lines(&e))?;
    let n = lines.len();
    for l in lines {
        apply(l.row).await.map_err(|e| crate::usecases::at_line(e, l.line))?;
    }
    Ok(n)
}

/// Imports a whole reference file in the request's transaction, all or
/// nothing: the file is parsed first and every bad line named; then each
/// line goes through the use case of its single mutation, and the first
/// refusal names its line and keeps its code and rule. Returns the number
/// of lines imported. The surplus belongs to a campaign: `year`.
pub async fn import_reference(
    db: &RequestDb,
    caller: &Caller,
    file: ReferenceFile,
    year: Option<i32>,
    csv: &str,
) -> AppResult<usize> {
    use crate::import::mobility as parse;
    caller.office_province()?;
    match file {
        ReferenceFile::Classes => {
            each_line(parse::classes(csv), |r| async move { set_class(db, caller, &r.code, &r.name, r.order).await })
                .await
        }
        ReferenceFile::Districts => {
            let set = |r: parse::DistrictLine| async move {
                set_district(db, caller, &r.code, &r.province, r.municipalities, r.sites).await
            };
            each_line(parse::districts(csv), set).await
        }
        ReferenceFile::Dioceses => {
            let set =
                |r: parse::DioceseLine| async move { set_diocese(db, caller, &r.code, &r.name, &r.province).await };
            each_line(parse::dioceses(csv), set).await
        }
        ReferenceFile::Esubero => {
            let year = year.ok_or_else(|| bad("campaignYear", "the surplus belongs to a campaign: give its year"))?;
            let set = |r: parse::EsuberoLine| async move {
                set_esubero(db, caller, year, &r.province, &r.class, r.count).await
            };
            each_line(parse::esubero(csv), set).await
        }
        ReferenceFile::Teachers => each_line(parse::teachers(csv), |r| set_teacher(db, caller, r)).await,
        // A line whose count differs from the stored one is a correction:
        // it needs a reason, given through `setVacancies`.
        ReferenceFile::Vacancies => {
            let year = year.ok_or_else(|| bad("campaignYear", "free posts belong to a campaign: give its year"))?;
            let set = |r: VacancyEntry| async move { set_vacancies(db, caller, year, vec![r], None).await };
            each_line(parse::vacancies(csv), set).await
        }
    }
}
