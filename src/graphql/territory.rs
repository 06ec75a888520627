//! The territory in GraphQL: provinces, territorial ambits, municipalities,
//! school institutions and their sites, and the hubs serving them.

use std::sync::Arc;

use async_graphql::{Context, Enum, InputObject, Object, Result};

use super::connection::{Connection, list, page_request};
use super::loader;
use super::loaders::{AmbitKey, HubKey, HubOfAmbit, InstitutionKey, MunicipalityKey, ProvinceKey, SiteKey, SitesOf};
use crate::db::territory::{
    self as q, AmbitFilter, AmbitRow, HubFilter, HubRow, InstitutionRow, MunicipalityFilter, MunicipalityRow,
    ProvinceFilter, ProvinceRow, SchoolFilter, SiteFilter, SiteRow,
};
use crate::error::{AppError, AppResult};
use crate::rules::codes::is_istat_code;
use crate::rules::order::SchoolOrder as DomainOrder;

/// Ordine di scuola.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum SchoolOrder {
    Infanzia,
    Primaria,
    SecondariaPrimoGrado,
    SecondariaSecondoGrado,
    /// Adult education (CPIA).
    Adult,
}

impl From<DomainOrder> for SchoolOrder {
    fn from(o: DomainOrder) -> Self {
        match o {
            DomainOrder::Infanzia => SchoolOrder::Infanzia,
            DomainOrder::Primaria => SchoolOrder::Primaria,
            DomainOrder::SecondariaPrimoGrado => SchoolOrder::SecondariaPrimoGrado,
            DomainOrder::SecondariaSecondoGrado => SchoolOrder::SecondariaSecondoGrado,
            DomainOrder::Adult => SchoolOrder::Adult,
        }
    }
}

impl From<SchoolOrder> for DomainOrder {
    fn from(o: SchoolOrder) -> Self {
        match o {
            SchoolOrder::Infanzia => DomainOrder::Infanzia,
            SchoolOrder::Primaria => DomainOrder::Primaria,
            SchoolOrder::SecondariaPrimoGrado => DomainOrder::SecondariaPrimoGrado,
            SchoolOrder::SecondariaSecondoGrado => DomainOrder::SecondariaSecondoGrado,
            SchoolOrder::Adult => DomainOrder::Adult,
        }
    }
}

fn order_of(stored: Option<&str>) -> Option<SchoolOrder> {
    stored.and_then(|s| s.parse::<DomainOrder>().ok()).map(SchoolOrder::from)
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum SchoolKind {
    /// A state institution (istituzione scolastica statale).
    State,
    /// A non-state school (scuola paritaria).
    NonState,
}

impl SchoolKind {
    fn stored(self) -> &'static str {
        match self {
            SchoolKind::State => "state",
            SchoolKind::NonState => "non_state",
        }
    }
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum HubKind {
    /// Centro Territoriale per l'Integrazione: serves one territorial ambit.
    Cti,
    /// Polo START: serves part of Milan city, first cycle only.
    PoloStart,
}

impl HubKind {
    fn stored(self) -> &'static str {
        match self {
            HubKind::Cti => "cti",
            HubKind::PoloStart => "polo_start",
        }
    }
}

/// `2024/25` from the stored `202425`.
fn school_year(y: i32) -> String {
    format!("{}/{:02}", y / 100, y % 100)
}

// Argument checks: each names the argument and says what is expected.

pub(crate) fn province_arg(field: &str, v: Option<String>) -> AppResult<Option<String>> {
    v.map(|p| {
        let p = p.trim().to_ascii_uppercase();
        if p.len() == 2 && p.bytes().all(|b| b.is_ascii_uppercase()) {
            Ok(p)
        } else {
            Err(AppError::bad_input(field, "must be a two-letter province code such as \"BG\""))
        }
    })
    .transpose()
}

pub(crate) fn istat_arg(field: &str, v: Option<String>) -> AppResult<Option<String>> {
    v.map(|m| {
        let m = m.trim().to_owned();
        if is_istat_code(&m) {
            Ok(m)
        } else {
            Err(AppError::bad_input(field, "must be a 6-digit ISTAT code such as \"016008\""))
        }
    })
    .transpose()
}

pub(crate) fn code_arg(field: &str, v: Option<String>, max: usize) -> AppResult<Option<String>> {
    v.map(|c| {
        let c = c.trim().to_ascii_uppercase();
        if !c.is_empty() && c.len() <= max && c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            Ok(c)
        } else {
            Err(AppError::bad_input(field, format!("must be 1 to {max} letters or digits")))
        }
    })
    .transpose()
}

list!(province_list, page_request, ProvinceFilter, ProvinceRow, Province, q::provinces_page, q::provinces_count, code);
list!(ambit_list, page_request, AmbitFilter, AmbitRow, TerritorialAmbit, q::ambits_page, q::ambits_count, code);
list!(
    municipality_list,
    page_request,
    MunicipalityFilter,
    MunicipalityRow,
    Municipality,
    q::municipalities_page,
    q::municipalities_count,
    istat_code
);
list!(school_list, page_request, SchoolFilter, InstitutionRow, School, q::schools_page, q::schools_count, code);
list!(site_list, page_request, SiteFilter, SiteRow, Site = Site::from, q::sites_page, q::sites_count, code);
list!(hub_list, page_request, HubFilter, HubRow, Hub, q::hubs_page, q::hubs_count, code);

async fn province(ctx: &Context<'_>, code: &str) -> Result<Province> {
    let row = loader(ctx).load_one(ProvinceKey(code.to_owned())).await?.ok_or(AppError::NotFound)?;
    Ok(Province(row))
}

async fn municipality(ctx: &Context<'_>, istat: &str) -> Result<Municipality> {
    let row = loader(ctx).load_one(MunicipalityKey(istat.to_owned())).await?.ok_or(AppError::NotFound)?;
    Ok(Municipality(row))
}

#[derive(Clone)]
pub struct Province(pub(crate) ProvinceRow);

/// A province (or metropolitan city), by its vehicle-registration code.
#[Object]
impl Province {
    /// Sigla automobilistica: `BG`, `MI`.
    async fn code(&self) -> &str {
        &self.0.code
    }
    /// ISTAT province code (3 digits).
    async fn istat_code(&self) -> &str {
        &self.0.istat_code
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn region(&self) -> &str {
        &self.0.region
    }
    #[graphql(complexity = "crate::graphql::limits::page_cost(first, child_complexity)")]
    async fn territorial_ambits(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Connection<TerritorialAmbit>> {
        let filter = AmbitFilter { province: Some(self.0.code.clone()) };
        ambit_list(ctx, filter, first, after).await
    }
    #[graphql(complexity = "crate::graphql::limits::page_cost(first, child_complexity)")]
    async fn municipalities(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Connection<Municipality>> {
        let filter = MunicipalityFilter { province: Some(self.0.code.clone()), ..Default::default() };
        municipality_list(ctx, filter, first, after).await
    }
}

#[derive(Clone)]
pub struct TerritorialAmbit(pub(crate) AmbitRow);

/// An ambito territoriale: a set of municipalities served by one CTI.
#[Object]
impl TerritorialAmbit {
    async fn code(&self) -> &str {
        &self.0.code
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn province(&self, ctx: &Context<'_>) -> Result<Province> {
        province(ctx, &self.0.province_code).await
    }
    /// The CTI hub serving this ambit.
    async fn hub(&self, ctx: &Context<'_>) -> Result<Option<Hub>> {
        Ok(loader(ctx).load_one(HubOfAmbit(self.0.code.clone())).await?.map(Hub))
    }
    #[graphql(complexity = "crate::graphql::limits::page_cost(first, child_complexity)")]
    async fn municipalities(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Connection<Municipality>> {
        let filter = MunicipalityFilter { ambit: Some(self.0.code.clone()), ..Default::default() };
        municipality_list(ctx, filter, first, after).await
    }
}

#[derive(Clone)]
pub struct Municipality(pub(crate) MunicipalityRow);

/// A comune.
#[Object]
impl Municipality {
    /// ISTAT code, 6 digits (`016008`).
    async fn istat_code(&self) -> &str {
        &self.0.istat_code
    }
    /// Cadastral (Belfiore) code (`A246`), as the Ministry's files use.
    async fn belfiore_code(&self) -> &str {
        &self.0.belfiore_code
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn province(&self, ctx: &Context<'_>) -> Result<Province> {
        province(ctx, &self.0.province_code).await
    }
    async fn territorial_ambit(&self, ctx: &Context<'_>) -> Result<Option<TerritorialAmbit>> {
        let Some(code) = &self.0.ambit_code else {
            return Ok(None);
        };
        Ok(loader(ctx).load_one(AmbitKey(code.clone())).await?.map(TerritorialAmbit))
    }
    /// Sites in this municipality.
    #[graphql(complexity = "crate::graphql::limits::page_cost(first, child_complexity)")]
    async fn sites(&self, ctx: &Context<'_>, first: Option<i32>, after: Option<String>) -> Result<Connection<Site>> {
        let filter = SiteFilter { municipality: Some(self.0.istat_code.clone()), ..Default::default() };
        site_list(ctx, filter, first, after).await
    }
}

#[derive(Clone)]
pub struct School(pub(crate) InstitutionRow);

/// A school institution (istituzione scolastica), or a non-state school.
#[Object]
impl School {
    /// Codice meccanografico (`BGIC82100T`).
    async fn code(&self) -> &str {
        &self.0.code
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn kind(&self) -> SchoolKind {
        if self.0.kind == "state" { SchoolKind::State } else { SchoolKind::NonState }
    }
    async fn province(&self, ctx: &Context<'_>) -> Result<Province> {
        province(ctx, &self.0.province_code).await
    }
    /// Where the head office is.
    async fn municipality(&self, ctx: &Context<'_>) -> Result<Municipality> {
        municipality(ctx, &self.0.municipality_istat).await
    }
    /// Institutional e-mail address, the school's user name.
    async fn email(&self) -> Option<&str> {
        self.0.email.as_deref()
    }
    async fn pec(&self) -> Option<&str> {
        self.0.pec.as_deref()
    }
    async fn website(&self) -> Option<&str> {
        self.0.website.as_deref()
    }
    /// School year of the registry data (`2024/25`).
    async fn school_year(&self) -> String {
        school_year(self.0.school_year)
    }
    /// True when facts were derived for the demo rather than read from a registry file.
    async fn derived(&self) -> bool {
        self.0.derived
    }
    /// The institution's sites (plessi), by code.
    async fn sites(&self, ctx: &Context<'_>) -> Result<Vec<Site>> {
        let rows = loader(ctx).load_one(SitesOf(self.0.code.clone())).await?.unwrap_or_default();
        Ok(rows.into_iter().map(Site::from).collect())
    }
}

#[derive(Clone)]
pub struct Site(pub(crate) Arc<SiteRow>);

impl From<SiteRow> for Site {
    fn from(row: SiteRow) -> Site {
        Site(Arc::new(row))
    }
}

/// A school site (plesso / punto di erogazione).
#[Object]
impl Site {
    /// Codice meccanografico of the site (`BGEE82101X`).
    async fn code(&self) -> &str {
        &self.0.code
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// Null for an institution's head office that teaches no order itself.
    async fn order(&self) -> Option<SchoolOrder> {
        order_of(self.0.school_order.as_deref())
    }
    async fn school(&self, ctx: &Context<'_>) -> Result<School> {
        let row =
            loader(ctx).load_one(InstitutionKey(self.0.institution_code.clone())).await?.ok_or(AppError::NotFound)?;
        Ok(School(row))
    }
    async fn province(&self, ctx: &Context<'_>) -> Result<Province> {
        province(ctx, &self.0.province_code).await
    }
    async fn municipality(&self, ctx: &Context<'_>) -> Result<Municipality> {
        municipality(ctx, &self.0.municipality_istat).await
    }
    async fn address(&self) -> Option<&str> {
        self.0.address.as_deref()
    }
    async fn postal_code(&self) -> Option<&str> {
        self.0.postal_code.as_deref()
    }
    async fn email(&self) -> Option<&str> {
        self.0.email.as_deref()
    }
    async fn pec(&self) -> Option<&str> {
        self.0.pec.as_deref()
    }
    /// Pupils enrolled, from the Ministry's pupils-per-site file. Null when
    /// unknown or when the Ministry published only a bound (see `pupilsAtMost`).
    async fn pupils(&self) -> Option<i32> {
        self.0.pupils
    }
    /// Upper bound of a small count the Ministry suppressed (`<=3`).
    async fn pupils_at_most(&self) -> Option<i32> {
        self.0.pupils_at_most
    }
    async fn school_year(&self) -> String {
        school_year(self.0.school_year)
    }
    async fn derived(&self) -> bool {
        self.0.derived
    }
}

#[derive(Clone)]
pub struct Hub(pub(crate) HubRow);

/// A territorial hub: a CTI (one ambit) or a Polo START (sites in Milan city).
#[Object]
impl Hub {
    async fn code(&self) -> &str {
        &self.0.code
    }
    async fn kind(&self) -> HubKind {
        if self.0.kind == "cti" { HubKind::Cti } else { HubKind::PoloStart }
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn province(&self, ctx: &Context<'_>) -> Result<Province> {
        province(ctx, &self.0.province_code).await
    }
    /// The ambit a CTI serves; null for a Polo START.
    async fn territorial_ambit(&self, ctx: &Context<'_>) -> Result<Option<TerritorialAmbit>> {
        let Some(code) = &self.0.ambit_code else {
            return Ok(None);
        };
        Ok(loader(ctx).load_one(AmbitKey(code.clone())).await?.map(TerritorialAmbit))
    }
    /// Municipalities of the hub's territory.
    #[graphql(complexity = "crate::graphql::limits::page_cost(first, child_complexity)")]
    async fn municipalities(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Connection<Municipality>> {
        let filter = MunicipalityFilter { hub: Some(self.0.code.clone()), ..Default::default() };
        municipality_list(ctx, filter, first, after).await
    }
    /// Sites of the hub's territory, optionally of one order.
    #[graphql(complexity = "crate::graphql::limits::page_cost(first, child_complexity)")]
    async fn sites(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        order: Option<SchoolOrder>,
    ) -> Result<Connection<Site>> {
        let filter = SiteFilter { hub: Some(self.0.code.clone()), order: order.map(Into::into), ..Default::default() };
        site_list(ctx, filter, first, after).await
    }
}

#[derive(InputObject, Default)]
pub struct ProvinceFilterInput {
    /// Region name as ISTAT writes it (`Lombardia`).
    region: Option<String>,
}

#[derive(InputObject, Default)]
pub struct TerritorialAmbitFilter {
    province: Option<String>,
}

#[derive(InputObject, Default)]
pub struct MunicipalityFilterInput {
    /// Province code (`BG`).
    province: Option<String>,
    territorial_ambit: Option<String>,
    /// Municipalities in this hub's territory.
    hub: Option<String>,
}

#[derive(InputObject, Default)]
pub struct SchoolFilterInput {
    province: Option<String>,
    /// ISTAT code: institutions with their head office or a site there.
    municipality: Option<String>,
    /// Institutions with at least one site of this order.
    order: Option<SchoolOrder>,
    /// Start of the codice meccanografico (`BGIC821`).
    code_prefix: Option<String>,
    kind: Option<SchoolKind>,
}

#[derive(InputObject, Default)]
pub struct SiteFilterInput {
    province: Option<String>,
    municipality: Option<String>,
    order: Option<SchoolOrder>,
    code_prefix: Option<String>,
    /// Code of the institution the sites belong to.
    school: Option<String>,
    /// Sites in this hub's territory.
    hub: Option<String>,
}

#[derive(InputObject, Default)]
pub struct HubFilterInput {
    province: Option<String>,
    kind: Option<HubKind>,
}

#[derive(Default)]
pub struct TerritoryQuery;

#[Object]
impl TerritoryQuery {
    #[graphql(complexity = "crate::graphql::limits::page_cost(first, child_complexity)")]
    async fn provinces(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        filter: Option<ProvinceFilterInput>,
    ) -> Result<Connection<Province>> {
        let f = filter.unwrap_or_default();
        province_list(ctx, ProvinceFilter { region: f.region }, first, after).await
    }

    async fn province(&self, ctx: &Context<'_>, code: String) -> Result<Option<Province>> {
        let code = province_arg("code", Some(code))?.unwrap_or_default();
        Ok(loader(ctx).load_one(ProvinceKey(code)).await?.map(Province))
    }

    #[graphql(complexity = "crate::graphql::limits::page_cost(first, child_complexity)")]
    async fn territorial_ambits(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        filter: Option<TerritorialAmbitFilter>,
    ) -> Result<Connection<TerritorialAmbit>> {
        let f = filter.unwrap_or_default();
        let filter = AmbitFilter { province: province_arg("filter.province", f.province)? };
        ambit_list(ctx, filter, first, after).await
    }

    async fn territorial_ambit(&self, ctx: &Context<'_>, code: String) -> Result<Option<TerritorialAmbit>> {
        let code = code_arg("code", Some(code), 16)?.unwrap_or_default();
        Ok(loader(ctx).load_one(AmbitKey(code)).await?.map(TerritorialAmbit))
    }

    #[graphql(complexity = "crate::graphql::limits::page_cost(first, child_complexity)")]
    async fn municipalities(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        filter: Option<MunicipalityFilterInput>,
    ) -> Result<Connection<Municipality>> {
        let f = filter.unwrap_or_default();
        let filter = MunicipalityFilter {
            province: province_arg("filter.province", f.province)?,
            ambit: code_arg("filter.territorialAmbit", f.territorial_ambit, 16)?,
            hub: code_arg("filter.hub", f.hub, 16)?,
        };
        municipality_list(ctx, filter, first, after).await
    }

    async fn municipality(&self, ctx: &Context<'_>, istat_code: String) -> Result<Option<Municipality>> {
        let code = istat_arg("istatCode", Some(istat_code))?.unwrap_or_default();
        Ok(loader(ctx).load_one(MunicipalityKey(code)).await?.map(Municipality))
    }

    #[graphql(complexity = "crate::graphql::limits::page_cost(first, child_complexity)")]
    async fn schools(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        filter: Option<SchoolFilterInput>,
    ) -> Result<Connection<School>> {
        let f = filter.unwrap_or_default();
        let filter = SchoolFilter {
            province: province_arg("filter.province", f.province)?,
            municipality: istat_arg("filter.municipality", f.municipality)?,
            order: f.order.map(Into::into),
            code_prefix: code_arg("filter.codePrefix", f.code_prefix, 10)?,
            kind: f.kind.map(|k| k.stored().to_owned()),
        };
        school_list(ctx, filter, first, after).await
    }

    async fn school(&self, ctx: &Context<'_>, code: String) -> Result<Option<School>> {
        let code = code_arg("code", Some(code), 10)?.unwrap_or_default();
        Ok(loader(ctx).load_one(InstitutionKey(code)).await?.map(School))
    }

    #[graphql(complexity = "crate::graphql::limits::page_cost(first, child_complexity)")]
    async fn sites(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        filter: Option<SiteFilterInput>,
    ) -> Result<Connection<Site>> {
        let f = filter.unwrap_or_default();
        let filter = SiteFilter {
            province: province_arg("filter.province", f.province)?,
            municipality: istat_arg("filter.municipality", f.municipality)?,
            order: f.order.map(Into::into),
            code_prefix: code_arg("filter.codePrefix", f.code_prefix, 10)?,
            institution: code_arg("filter.school", f.school, 10)?,
            hub: code_arg("filter.hub", f.hub, 16)?,
        };
        site_list(ctx, filter, first, after).await
    }

    async fn site(&self, ctx: &Context<'_>, code: String) -> Result<Option<Site>> {
        let code = code_arg("code", Some(code), 10)?.unwrap_or_default();
        Ok(loader(ctx).load_one(SiteKey(code)).await?.map(Site::from))
    }

    #[graphql(complexity = "crate::graphql::limits::page_cost(first, child_complexity)")]
    async fn hubs(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        filter: Option<HubFilterInput>,
    ) -> Result<Connection<Hub>> {
        let f = filter.unwrap_or_default();
        let filter = HubFilter {
            province: province_arg("filter.province", f.province)?,
            kind: f.kind.map(|k| k.stored().to_owned()),
        };
        hub_list(ctx, filter, first, after).await
    }

    async fn hub(&self, ctx: &Context<'_>, code: String) -> Result<Option<Hub>> {
        let code = code_arg("code", Some(code), 16)?.unwrap_or_default();
        Ok(loader(ctx).load_one(HubKey(code)).await?.map(Hub))
    }
}
