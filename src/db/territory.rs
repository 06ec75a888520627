//! Territory rows and the queries over them: provinces, ambits, municipalities,
//! institutions, sites and hubs. Lists use keyset pagination on the code.

use diesel::dsl::count_star;
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::schema::{hub_sites, hubs, institutions, municipalities, provinces, sites, territorial_ambits};
use crate::rules::order::SchoolOrder;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = provinces, check_for_backend(Pg))]
pub struct ProvinceRow {
    pub code: String,
    pub istat_code: String,
    pub name: String,
    pub region: String,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = territorial_ambits, check_for_backend(Pg))]
pub struct AmbitRow {
    pub code: String,
    pub province_code: String,
    pub name: String,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = municipalities, check_for_backend(Pg))]
pub struct MunicipalityRow {
    pub istat_code: String,
    pub belfiore_code: String,
    pub name: String,
    pub province_code: String,
    pub ambit_code: Option<String>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = institutions, check_for_backend(Pg))]
pub struct InstitutionRow {
    pub code: String,
    pub name: String,
    pub kind: String,
    pub province_code: String,
    pub municipality_istat: String,
    pub email: Option<String>,
    pub pec: Option<String>,
    pub website: Option<String>,
    pub school_year: i32,
    pub derived: bool,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = sites, check_for_backend(Pg))]
pub struct SiteRow {
    pub code: String,
    pub institution_code: String,
    pub name: String,
    pub school_order: Option<String>,
    pub province_code: String,
    pub municipality_istat: String,
    pub address: Option<String>,
    pub postal_code: Option<String>,
    pub email: Option<String>,
    pub pec: Option<String>,
    pub website: Option<String>,
    pub pupils: Option<i32>,
    pub pupils_at_most: Option<i32>,
    pub school_year: i32,
    pub derived: bool,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = hubs, check_for_backend(Pg))]
pub struct HubRow {
    pub code: String,
    pub kind: String,
    pub name: String,
    pub province_code: String,
    pub ambit_code: Option<String>,
}

/// One page of a keyset-paginated list: rows after `after`, at most `limit`.
#[derive(Debug, Clone)]
pub struct PageRequest {
    pub after: Option<String>,
    pub limit: i64,
}

impl PageRequest {
    /// The cursor of a list keyed by numeric id; checked by `page_request_by_id`.
    pub fn after_id(&self) -> Option<i64> {
        self.after.as_deref().and_then(|a| a.parse().ok())
    }
}

#[derive(Debug, Clone, Default)]
pub struct ProvinceFilter {
    pub region: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct AmbitFilter {
    pub province: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct MunicipalityFilter {
    pub province: Option<String>,
    pub ambit: Option<String>,
    /// Municipalities in a hub's territory.
    pub hub: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct SchoolFilter {
    pub province: Option<String>,
    /// Institutions with their head office or any site in this municipality.
    pub municipality: Option<String>,
    /// Institutions with at least one site of this order.
    pub order: Option<SchoolOrder>,
    pub code_prefix: Option<String>,
    pub kind: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct SiteFilter {
    pub province: Option<String>,
    pub municipality: Option<String>,
    pub order: Option<SchoolOrder>,
    pub code_prefix: Option<String>,
    pub institution: Option<String>,
    /// Sites in a hub's territory (its ambit for a CTI, its sites for a Polo START).
    pub hub: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct HubFilter {
    pub province: Option<String>,
    pub kind: Option<String>,
}

/// `LIKE` pattern for a code prefix. Prefixes are validated to `[A-Z0-9]`, so
/// there is nothing to escape.
fn prefix_pattern(prefix: &str) -> String {
    format!("{prefix}%")
}

fn provinces_filtered(f: &ProvinceFilter) -> provinces::BoxedQuery<'static, Pg> {
    let mut q = provinces::table.into_boxed();
    if let Some(r) = &f.region {
        q = q.filter(provinces::region.eq(r.clone()));
    }
    q
}

pub async fn provinces_page(
    conn: &mut AsyncPgConnection,
    f: &ProvinceFilter,
    page: &PageRequest,
) -> QueryResult<Vec<ProvinceRow>> {
    let mut q = provinces_filtered(f);
    if let Some(after) = &page.after {
        q = q.filter(provinces::code.gt(after.clone()));
    }
    q.order(provinces::code).limit(page.limit).select(ProvinceRow::as_select()).load(conn).await
}

pub async fn provinces_count(conn: &mut AsyncPgConnection, f: &ProvinceFilter) -> QueryResult<i64> {
    provinces_filtered(f).select(count_star()).get_result(conn).await
}

fn ambits_filtered(f: &AmbitFilter) -> territorial_ambits::BoxedQuery<'static, Pg> {
    let mut q = territorial_ambits::table.into_boxed();
    if let Some(p) = &f.province {
        q = q.filter(territorial_ambits::province_code.eq(p.clone()));
    }
    q
}

pub async fn ambits_page(
    conn: &mut AsyncPgConnection,
    f: &AmbitFilter,
    page: &PageRequest,
) -> QueryResult<Vec<AmbitRow>> {
    let mut q = ambits_filtered(f);
    if let Some(after) = &page.after {
        q = q.filter(territorial_ambits::code.gt(after.clone()));
    }
    q.order(territorial_ambits::code).limit(page.limit).select(AmbitRow::as_select()).load(conn).await
}

pub async fn ambits_count(conn: &mut AsyncPgConnection, f: &AmbitFilter) -> QueryResult<i64> {
    ambits_filtered(f).select(count_star()).get_result(conn).await
}

fn municipalities_filtered(f: &MunicipalityFilter) -> municipalities::BoxedQuery<'static, Pg> {
    let mut q = municipalities::table.into_boxed();
    if let Some(p) = &f.province {
        q = q.filter(municipalities::province_code.eq(p.clone()));
    }
    if let Some(a) = &f.ambit {
        q = q.filter(municipalities::ambit_code.eq(a.clone()));
    }
    if let Some(h) = &f.hub {
        let hub_ambit = hubs::table.select(hubs::ambit_code).filter(hubs::code.eq(h.clone()));
        let hub_site_municipalities = sites::table.select(sites::municipality_istat).filter(
            sites::code.eq_any(hub_sites::table.select(hub_sites::site_code).filter(hub_sites::hub_code.eq(h.clone()))),
        );
        q = q.filter(
            municipalities::ambit_code
                .eq_any(hub_ambit)
                .or(municipalities::istat_code.eq_any(hub_site_municipalities).nullable()),
        );
    }
    q
}

pub async fn municipalities_page(
    conn: &mut AsyncPgConnection,
    f: &MunicipalityFilter,
    page: &PageRequest,
) -> QueryResult<Vec<MunicipalityRow>> {
    let mut q = municipalities_filtered(f);
    if let Some(after) = &page.after {
        q = q.filter(municipalities::istat_code.gt(after.clone()));
    }
    q.order(municipalities::istat_code).limit(page.limit).select(MunicipalityRow::as_select()).load(conn).await
}

pub async fn municipalities_count(conn: &mut AsyncPgConnection, f: &MunicipalityFilter) -> QueryResult<i64> {
    municipalities_filtered(f).select(count_star()).get_result(conn).await
}

fn schools_filtered(f: &SchoolFilter) -> institutions::BoxedQuery<'static, Pg> {
    let mut q = institutions::table.into_boxed();
    if let Some(p) = &f.province {
        q = q.filter(institutions::province_code.eq(p.clone()));
    }
    if let Some(m) = &f.municipality {
        let with_site_there =
            sites::table.select(sites::institution_code).filter(sites::municipality_istat.eq(m.clone()));
        q = q.filter(institutions::municipality_istat.eq(m.clone()).or(institutions::code.eq_any(with_site_there)));
    }
    if let Some(o) = f.order {
        let with_order = sites::table.select(sites::institution_code).filter(sites::school_order.eq(o.as_str()));
        q = q.filter(institutions::code.eq_any(with_order));
    }
    if let Some(prefix) = &f.code_prefix {
        q = q.filter(institutions::code.like(prefix_pattern(prefix)));
    }
    if let Some(k) = &f.kind {
        q = q.filter(institutions::kind.eq(k.clone()));
    }
    q
}

pub async fn schools_page(
    conn: &mut AsyncPgConnection,
    f: &SchoolFilter,
    page: &PageRequest,
) -> QueryResult<Vec<InstitutionRow>> {
    let mut q = schools_filtered(f);
    if let Some(after) = &page.after {
        q = q.filter(institutions::code.gt(after.clone()));
    }
    q.order(institutions::code).limit(page.limit).select(InstitutionRow::as_select()).load(conn).await
}

pub async fn schools_count(conn: &mut AsyncPgConnection, f: &SchoolFilter) -> QueryResult<i64> {
    schools_filtered(f).select(count_star()).get_result(conn).await
}

fn sites_filtered(f: &SiteFilter) -> sites::BoxedQuery<'static, Pg> {
    let mut q = sites::table.into_boxed();
    if let Some(p) = &f.province {
        q = q.filter(sites::province_code.eq(p.clone()));
    }
    if let Some(m) = &f.municipality {
        q = q.filter(sites::municipality_istat.eq(m.clone()));
    }
    if let Some(o) = f.order {
        q = q.filter(sites::school_order.eq(o.as_str()));
    }
    if let Some(prefix) = &f.code_prefix {
        q = q.filter(sites::code.like(prefix_pattern(prefix)));
    }
    if let Some(i) = &f.institution {
        q = q.filter(sites::institution_code.eq(i.clone()));
    }
    if let Some(h) = &f.hub {
        let hub_ambit = hubs::table.select(hubs::ambit_code).filter(hubs::code.eq(h.clone()));
        let ambit_municipalities = municipalities::table
            .select(municipalities::istat_code)
            .filter(municipalities::ambit_code.eq_any(hub_ambit));
        let listed = hub_sites::table.select(hub_sites::site_code).filter(hub_sites::hub_code.eq(h.clone()));
        q = q.filter(sites::code.eq_any(listed).or(sites::municipality_istat.eq_any(ambit_municipalities)));
    }
    q
}

pub async fn sites_page(conn: &mut AsyncPgConnection, f: &SiteFilter, page: &PageRequest) -> QueryResult<Vec<SiteRow>> {
    let mut q = sites_filtered(f);
    if let Some(after) = &page.after {
        q = q.filter(sites::code.gt(after.clone()));
    }
    q.order(sites::code).limit(page.limit).select(SiteRow::as_select()).load(conn).await
}

pub async fn sites_count(conn: &mut AsyncPgConnection, f: &SiteFilter) -> QueryResult<i64> {
    sites_filtered(f).select(count_star()).get_result(conn).await
}

fn hubs_filtered(f: &HubFilter) -> hubs::BoxedQuery<'static, Pg> {
    let mut q = hubs::table.into_boxed();
    if let Some(p) = &f.province {
        q = q.filter(hubs::province_code.eq(p.clone()));
    }
    if let Some(k) = &f.kind {
        q = q.filter(hubs::kind.eq(k.clone()));
    }
    q
}

pub async fn hubs_page(conn: &mut AsyncPgConnection, f: &HubFilter, page: &PageRequest) -> QueryResult<Vec<HubRow>> {
    let mut q = hubs_filtered(f);
    if let Some(after) = &page.after {
        q = q.filter(hubs::code.gt(after.clone()));
    }
    q.order(hubs::code).limit(page.limit).select(HubRow::as_select()).load(conn).await
}

pub async fn hubs_count(conn: &mut AsyncPgConnection, f: &HubFilter) -> QueryResult<i64> {
    hubs_filtered(f).select(count_star()).get_result(conn).await
}

// Batched lookups for the request's data loaders.

pub async fn provinces_by_code(conn: &mut AsyncPgConnection, codes: Vec<String>) -> QueryResult<Vec<ProvinceRow>> {
    provinces::table.filter(provinces::code.eq_any(codes)).select(ProvinceRow::as_select()).load(conn).await
}

pub async fn ambits_by_code(conn: &mut AsyncPgConnection, codes: Vec<String>) -> QueryResult<Vec<AmbitRow>> {
    territorial_ambits::table
        .filter(territorial_ambits::code.eq_any(codes))
        .select(AmbitRow::as_select())
        .load(conn)
        .await
}

pub async fn municipalities_by_code(
    conn: &mut AsyncPgConnection,
    codes: Vec<String>,
) -> QueryResult<Vec<MunicipalityRow>> {
    municipalities::table
        .filter(municipalities::istat_code.eq_any(codes))
        .select(MunicipalityRow::as_select())
        .load(conn)
        .await
}

pub async fn institutions_by_code(
    conn: &mut AsyncPgConnection,
    codes: Vec<String>,
) -> QueryResult<Vec<InstitutionRow>> {
    institutions::table.filter(institutions::code.eq_any(codes)).select(InstitutionRow::as_select()).load(conn).await
}

pub async fn sites_by_code(conn: &mut AsyncPgConnection, codes: Vec<String>) -> QueryResult<Vec<SiteRow>> {
    sites::table.filter(sites::code.eq_any(codes)).select(SiteRow::as_select()).load(conn).await
}

pub async fn sites_of_institutions(conn: &mut AsyncPgConnection, codes: Vec<String>) -> QueryResult<Vec<SiteRow>> {
    sites::table
        .filter(sites::institution_code.eq_any(codes))
        .order((sites::institution_code, sites::code))
        .select(SiteRow::as_select())
        .load(conn)
        .await
}

pub async fn hubs_by_code(conn: &mut AsyncPgConnection, codes: Vec<String>) -> QueryResult<Vec<HubRow>> {
    hubs::table.filter(hubs::code.eq_any(codes)).select(HubRow::as_select()).load(conn).await
}

/// The CTI serving each of these ambits.
pub async fn hubs_of_ambits(conn: &mut AsyncPgConnection, ambits: Vec<String>) -> QueryResult<Vec<HubRow>> {
    hubs::table.filter(hubs::ambit_code.eq_any(ambits)).order(hubs::code).select(HubRow::as_select()).load(conn).await
}
