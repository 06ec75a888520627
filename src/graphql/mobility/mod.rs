//! Process 4 in GraphQL: the reference data the office loads (campaigns,
//! classes of competition, districts, surplus, the teacher registry) and,
//! in `applications`, the teachers' forms. Resolvers check arguments and
//! call `crate::usecases::mobility`.

use async_graphql::{Context, InputObject, Object, Result, SimpleObject};
use chrono::NaiveDate;

use super::scalars::Date;
use super::territory::SchoolOrder;
use super::{caller, db};
use crate::authz::{Action, ObjectKind};
use crate::db::mobility::{CampaignRow, ClassRow, DioceseRow, DistrictRow, TeacherRow};
use crate::error::AppError;
use crate::rules::mobility::allocation::ChairKind as RChair;
use crate::rules::mobility::application::{
    HoldingKind as RHolding, PostType as RPostType, Probation as RProbation, Qualification,
};
use crate::rules::mobility::windows::Window;
use crate::rules::mobility::{DocumentKind, Order};
use crate::usecases::mobility::{self as uc, ReferenceFile as UFile, StaffCategory as UStaff, TeacherEntry};

mod allocation;
mod applications;
mod corrections;
pub use allocation::{AllocationMutation, AllocationQuery};
pub use applications::{ApplicationsMutation, ApplicationsQuery};
pub use corrections::{CorrectionsMutation, CorrectionsQuery};

/// A GraphQL enum that mirrors an enum of the rules, both ways.
macro_rules! mirror {
    ($(#[$doc:meta])* $gql:ident = $rule:ident { $($v:ident $(= $n:literal)?),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(async_graphql::Enum, Copy, Clone, Eq, PartialEq, Debug)]
        pub enum $gql { $( $(#[graphql(name = $n)])? $v ),+ }
        impl From<$gql> for $rule {
            fn from(v: $gql) -> Self { match v { $($gql::$v => $rule::$v),+ } }
        }
        impl From<$rule> for $gql {
            fn from(v: $rule) -> Self { match v { $($rule::$v => $gql::$v),+ } }
        }
    };
}
pub(crate) use mirror;

mirror!(
    /// Staff categories of the registry (spec §0.1).
    StaffCategory = UStaff { Teacher, Educativo, Irc, Ata }
);
mirror!(
    /// Post types (spec §6): the seed's four codes and the internal ones.
    PostType = RPostType { Nn = "NN", Eh = "EH", Ch = "CH", Dh = "DH", Lingua = "LINGUA", Speciale = "SPECIALE", Idd = "IDD" }
);
mirror!(
    /// The outcome of the probation year.
    ProbationOutcome = RProbation { Passed, NotDone, NotFinished, Unfavourable }
);
mirror!(
    /// What a document of a teacher's application is (spec §8).
    MobilityDocumentKind = DocumentKind {
        SelfDeclaration, MedicalCertificate, DisabilityCertificate104 = "DISABILITY_CERTIFICATE_104",
        InvalidityCertificate, AslCertificate, CareInstituteCertificate, RehabStructureCertificate,
        CourtOrderFostering, CourtOrderGuardianship, EmployerDeclaration, SpouseCohabitationDeclaration,
        MandateDeclaration, UnionLeaveDeclaration, Title, PaperApplicationScan,
    }
);
mirror!(
    /// The reference files an office imports.
    MobilityReferenceFile = UFile { Classes, Districts, Dioceses, Esubero, Teachers, Vacancies }
);
mirror!(
    /// How a teacher holds their post (*titolarità*).
    HoldingKind = RHolding { School, Ambit, Province }
);

/// The orders of process 4: adult education has no forms.
pub(crate) fn order_arg(field: &str, o: SchoolOrder) -> Result<Order, AppError> {
    Ok(match o {
        SchoolOrder::Infanzia => Order::Infanzia,
        SchoolOrder::Primaria => Order::Primaria,
        SchoolOrder::SecondariaPrimoGrado => Order::SecondariaPrimoGrado,
        SchoolOrder::SecondariaSecondoGrado => Order::SecondariaSecondoGrado,
        SchoolOrder::Adult => return Err(AppError::bad_input(field, "adult education has no mobility forms")),
    })
}

pub(crate) fn order_out(o: Order) -> SchoolOrder {
    match o {
        Order::Infanzia => SchoolOrder::Infanzia,
        Order::Primaria => SchoolOrder::Primaria,
        Order::SecondariaPrimoGrado => SchoolOrder::SecondariaPrimoGrado,
        Order::SecondariaSecondoGrado => SchoolOrder::SecondariaSecondoGrado,
    }
}

/// One window of a campaign (spec §2): days included, in Italian time.
#[derive(SimpleObject)]
pub struct MobilityWindow {
    /// `INFANZIA`, `PRIMARIA`, `SECONDARIA`, `EDUCATIVO_IRC`, `ATA`, `LICEO_MUSICALE`.
    pub category: String,
    /// Null while the office has not set it (primaria: the publication of the transfers).
    pub opens: Option<Date>,
    pub closes: Option<Date>,
}

pub struct MobilityCampaign(pub CampaignRow);

#[Object]
impl MobilityCampaign {
    async fn year(&self) -> i32 {
        self.0.year
    }

    /// The windows of the forms, per order and category.
    async fn windows(&self) -> Vec<MobilityWindow> {
        let w = uc::windows_of(&self.0);
        let out = |category: &str, w: Window| MobilityWindow {
            category: category.to_owned(),
            opens: w.opens.map(Date),
            closes: w.closes.map(Date),
        };
        vec![
            out("INFANZIA", w.infanzia),
            out("PRIMARIA", w.primaria),
            out("SECONDARIA", w.secondaria),
            out("EDUCATIVO_IRC", w.educativo_irc),
            out("ATA", w.ata),
            out("LICEO_MUSICALE", w.liceo_musicale),
        ]
    }

    /// The publication of the transfers (WIN-2), which opens the primaria window.
    async fn primaria_publication_date(&self) -> Option<Date> {
        uc::windows_of(&self.0).primaria.opens.map(Date)
    }

    /// Days after an outcome's publication in which the office records a
    /// complaint about it; null until the office sets them.
    async fn complaint_days(&self) -> Option<i32> {
        uc::windows_of(&self.0).complaint_days.map(|d| d as i32)
    }
}

pub struct ClassOfCompetition(pub ClassRow);

#[Object]
impl ClassOfCompetition {
    async fn code(&self) -> &str {
        &self.0.code
    }

    async fn name(&self) -> &str {
        &self.0.name
    }

    async fn order(&self) -> SchoolOrder {
        order_out(uc::order_of(&self.0.school_order))
    }
}

pub struct SchoolDistrict(pub DistrictRow);

/// A diocese, with the province of its see: its region's directorate
/// receives the IRC forms that name it.
#[derive(Clone)]
pub struct Diocese(pub DioceseRow);

#[Object]
impl Diocese {
    async fn code(&self) -> &str {
        &self.0.code
    }

    async fn name(&self) -> &str {
        &self.0.name
    }

    async fn province(&self) -> &str {
        &self.0.province_code
    }
}

#[Object]
impl SchoolDistrict {
    async fn code(&self) -> &str {
        &self.0.code
    }

    async fn province(&self) -> &str {
        &self.0.province_code
    }

    /// ISTAT codes of its whole municipalities.
    async fn municipalities(&self) -> &[String] {
        &self.0.municipalities
    }

    /// Its sites, in a city with several districts.
    async fn sites(&self) -> &[String] {
        &self.0.sites
    }
}

/// A row of the teacher registry.
pub struct Teacher(pub TeacherRow);

#[Object]
impl Teacher {
    async fn tax_code(&self) -> &str {
        &self.0.tax_code
    }

    async fn email(&self) -> &str {
        &self.0.email
    }

    async fn first_name(&self) -> &str {
        &self.0.first_name
    }

    async fn last_name(&self) -> &str {
        &self.0.last_name
    }

    async fn order(&self) -> SchoolOrder {
        order_out(uc::order_of(&self.0.school_order))
    }

    async fn class_of_competition(&self) -> Option<&str> {
        self.0.class_code.as_deref()
    }

    async fn post_type(&self) -> PostType {
        uc::post_type_of(&self.0.post_type).into()
    }

    /// The province of the post held: its office keeps the row.
    async fn province(&self) -> &str {
        &self.0.province_code
    }

    async fn holding_code(&self) -> &str {
        &self.0.holding_code
    }

    /// UT-3: when the foreign-language title was obtained.
    async fn language_title(&self) -> Option<Date> {
        self.0.language_title.map(Date)
    }

    /// POST-8: weekly service hours when part-time; null is full time.
    async fn service_hours(&self) -> Option<i32> {
        self.0.service_hours
    }
}

#[derive(InputObject)]
pub struct MobilityCampaignInput {
    /// The calendar year Y of the school year Y/Y+1.
    pub year: i32,
}

#[derive(InputObject)]
pub struct ClassOfCompetitionInput {
    pub code: String,
    pub name: String,
    pub order: SchoolOrder,
}

/// A district of whole municipalities (ISTAT codes), or of the sites of a
/// city with several districts.
#[derive(InputObject)]
pub struct SchoolDistrictInput {
    pub code: String,
    pub province: String,
    pub municipalities: Option<Vec<String>>,
    pub sites: Option<Vec<String>>,
}

mirror!(
    /// PREF-6: the kinds of chair, in the order a preference examines them.
    ChairKind = RChair { Internal, ExternalSameMunicipality, ExternalOtherMunicipalities }
);

/// A line of free posts: `count` alike posts at a school.
#[derive(InputObject)]
pub struct VacancyInput {
    pub school: String,
    pub post_type: PostType,
    pub class_of_competition: Option<String>,
    pub chair_kind: ChairKind,
    pub count: i32,
    /// POST-8: a line of `count` part-posts (spezzoni) of these weekly
    /// hours each, fewer than a full post's; none for whole posts.
    pub hours: Option<i32>,
}

/// A line of free posts of a campaign.
#[derive(SimpleObject)]
pub struct Vacancy {
    pub school: String,
    pub post_type: PostType,
    pub class_of_competition: Option<String>,
    pub chair_kind: ChairKind,
    pub count: i32,
    /// POST-8: the weekly hours of each part-post; null for whole posts.
    pub hours: Option<i32>,
}

/// A diocese and the province of its see: IRC forms name it.
#[derive(InputObject)]
pub struct DioceseInput {
    pub code: String,
    pub name: String,
    pub province: String,
}

/// A school code, a territorial ambit code, or a province (DOP).
#[derive(InputObject)]
pub struct HoldingInput {
    pub kind: HoldingKind,
    pub code: String,
}

#[derive(InputObject)]
pub struct QualificationInput {
    pub order: SchoolOrder,
    pub class_of_competition: Option<String>,
    pub obtained_on: Date,
}

#[derive(InputObject)]
pub struct SupportTitleInput {
    pub post_type: PostType,
    pub obtained_on: Date,
}

#[derive(InputObject)]
pub struct TeacherInput {
    pub tax_code: String,
    pub first_name: String,
    pub last_name: String,
    /// The teacher's account is the user with this address.
    pub email: String,
    pub category: StaffCategory,
    pub tenured: bool,
    pub order: SchoolOrder,
    pub class_of_competition: Option<String>,
    pub post_type: PostType,
    pub holding: HoldingInput,
    pub legal_start: Option<Date>,
    pub economic_start: Option<Date>,
    pub probation: Option<ProbationOutcome>,
    pub qualifications: Option<Vec<QualificationInput>>,
    pub support_titles: Option<Vec<SupportTitleInput>>,
    pub support_constraint_satisfied: Option<bool>,
    /// `CONCORSO_2012` for the derogation of PROV-2.
    pub hiring_source: Option<String>,
    /// `A`, `B` or `C`.
    pub hiring_phase: Option<String>,
    /// The region of the merit ranking, as ISTAT names it.
    pub merit_ranking_region: Option<String>,
    /// UT-3: when the foreign-language title was obtained.
    pub language_title: Option<Date>,
    /// POST-8: weekly service hours when part-time; none is full time.
    pub service_hours: Option<i32>,
}

fn entry(i: TeacherInput) -> Result<TeacherEntry, AppError> {
    let mut qualifications = Vec::new();
    for q in i.qualifications.unwrap_or_default() {
        qualifications.push(Qualification {
            order: order_arg("input.qualifications.order", q.order)?,
            class: q.class_of_competition.map(|c| c.trim().to_ascii_uppercase()),
            obtained_on: q.obtained_on.0,
        });
    }
    let date = |d: Option<Date>| d.map(|d| d.0);
    Ok(TeacherEntry {
        tax_code: i.tax_code,
        first_name: i.first_name,
        last_name: i.last_name,
        email: i.email,
        category: i.category.into(),
        tenured: i.tenured,
        order: order_arg("input.order", i.order)?,
        class: i.class_of_competition,
        post_type: i.post_type.into(),
        holding: i.holding.kind.into(),
        holding_code: i.holding.code,
        legal_start: date(i.legal_start),
        economic_start: date(i.economic_start),
        probation: i.probation.map(Into::into),
        qualifications,
        support_titles: i
            .support_titles
            .unwrap_or_default()
            .into_iter()
            .map(|t| (t.post_type.into(), t.obtained_on.0))
            .collect(),
        support_constraint_satisfied: i.support_constraint_satisfied.unwrap_or(false),
        hiring_source: i.hiring_source,
        hiring_phase: i.hiring_phase,
        merit_region: i.merit_ranking_region,
        language_title: date(i.language_title),
        service_hours: i.service_hours,
    })
}

#[derive(Default)]
pub struct MobilityQuery;

#[Object]
impl MobilityQuery {
    /// A campaign by its year Y (school year Y/Y+1); null when the office
    /// has not opened it. Public to every signed-in caller.
    async fn mobility_campaign(&self, ctx: &Context<'_>, year: i32) -> Result<Option<MobilityCampaign>> {
        super::subject(ctx)?;
        Ok(uc::campaign(db(ctx), year).await?.map(MobilityCampaign))
    }

    /// A row of the teacher registry: the office of its province, or the
    /// teacher their own. Null when out of scope.
    async fn teacher(&self, ctx: &Context<'_>, tax_code: String) -> Result<Option<Teacher>> {
        caller(ctx, ObjectKind::TeacherRegistry, Action::Read)?;
        let code = tax_code.trim().to_ascii_uppercase();
        Ok(db(ctx)
            .run(move |c| Box::pin(async move { crate::db::mobility::teacher(c, &code).await }))
            .await?
            .map(Teacher))
    }

    /// The free posts of a province in a campaign: published data, public
    /// to every signed-in caller.
    async fn mobility_vacancies(
        &self,
        ctx: &Context<'_>,
        campaign_year: i32,
        province: String,
    ) -> Result<Vec<Vacancy>> {
        super::subject(ctx)?;
        let rows = uc::vacancies(db(ctx), campaign_year, province.trim().to_ascii_uppercase()).await?;
        Ok(rows
            .into_iter()
            .map(|r| Vacancy {
                post_type: uc::post_type_of(&r.post_type).into(),
                class_of_competition: Some(r.class_code).filter(|c| !c.is_empty()),
                chair_kind: uc::chair_of(&r.chair_kind).into(),
                school: r.school_code,
                count: r.count,
                hours: (r.hours > 0).then_some(r.hours),
            })
            .collect())
    }
}

#[derive(Default)]
pub struct MobilityMutation;

#[Object]
impl MobilityMutation {
    /// Opens the campaign of year Y with the windows of spec §2 for Y.
    async fn create_mobility_campaign(
        &self,
        ctx: &Context<'_>,
        input: MobilityCampaignInput,
    ) -> Result<MobilityCampaign> {
        let c = caller(ctx, ObjectKind::MobilityReference, Action::Write)?;
        Ok(MobilityCampaign(uc::create_campaign(db(ctx), &c, input.year).await?))
    }

    /// The publication date of the transfers, which opens the primaria
    /// window (WIN-2).
    async fn set_movements_publication_date(
        &self,
        ctx: &Context<'_>,
        campaign_year: i32,
        order: SchoolOrder,
        date: Date,
    ) -> Result<MobilityCampaign> {
        let c = caller(ctx, ObjectKind::MobilityReference, Action::Write)?;
        let order = order_arg("order", order)?;
        Ok(MobilityCampaign(uc::set_publication_date(db(ctx), &c, campaign_year, order, date.0).await?))
    }

    /// Opens the window of the paper forms for the *licei musicali*, which
    /// the seed leaves to the office (closed until set).
    async fn set_liceo_musicale_window(
        &self,
        ctx: &Context<'_>,
        campaign_year: i32,
        opens: Date,
        closes: Date,
    ) -> Result<MobilityCampaign> {
        let c = caller(ctx, ObjectKind::MobilityReference, Action::Write)?;
        Ok(MobilityCampaign(uc::set_liceo_musicale_window(db(ctx), &c, campaign_year, opens.0, closes.0).await?))
    }

    async fn set_class_of_competition(
        &self,
        ctx: &Context<'_>,
        input: ClassOfCompetitionInput,
    ) -> Result<ClassOfCompetition> {
        let c = caller(ctx, ObjectKind::MobilityReference, Action::Write)?;
        let order = order_arg("input.order", input.order)?;
        Ok(ClassOfCompetition(uc::set_class(db(ctx), &c, &input.code, &input.name, order).await?))
    }

    async fn set_school_district(&self, ctx: &Context<'_>, input: SchoolDistrictInput) -> Result<SchoolDistrict> {
        let c = caller(ctx, ObjectKind::MobilityReference, Action::Write)?;
        let upper =
            |v: Option<Vec<String>>| v.unwrap_or_default().iter().map(|s| s.trim().to_ascii_uppercase()).collect();
        let row = uc::set_district(
            db(ctx),
            &c,
            &input.code,
            &input.province.trim().to_ascii_uppercase(),
            upper(input.municipalities),
            upper(input.sites),
        )
        .await?;
        Ok(SchoolDistrict(row))
    }

    /// A diocese whose see is in the office's province.
    async fn set_diocese(&self, ctx: &Context<'_>, input: DioceseInput) -> Result<Diocese> {
        let c = caller(ctx, ObjectKind::MobilityReference, Action::Write)?;
        let province = input.province.trim().to_ascii_uppercase();
        Ok(Diocese(uc::set_diocese(db(ctx), &c, &input.code, &input.name, &province).await?))
    }

    /// Sets the free posts of each line named (school, post type, class of
    /// competition, chair kind) in the office's province, all or nothing;
    /// other lines stay. Changing a line's count is a correction: give a
    /// `reason`. Answers the number of lines set.
    async fn set_vacancies(
        &self,
        ctx: &Context<'_>,
        campaign_year: i32,
        entries: Vec<VacancyInput>,
        reason: Option<String>,
    ) -> Result<i32> {
        let c = caller(ctx, ObjectKind::MobilityReference, Action::Write)?;
        let entries = entries
            .into_iter()
            .map(|e| uc::VacancyEntry {
                school: e.school,
                post_type: e.post_type.into(),
                class: e.class_of_competition,
                chair: e.chair_kind.into(),
                count: e.count,
                hours: e.hours,
            })
            .collect();
        Ok(uc::set_vacancies(db(ctx), &c, campaign_year, entries, reason).await? as i32)
    }

    /// The surplus of a class or post type in the office's province; answers the count.
    async fn set_esubero(
        &self,
        ctx: &Context<'_>,
        campaign_year: i32,
        province: String,
        class_of_competition: String,
        count: i32,
    ) -> Result<i32> {
        let c = caller(ctx, ObjectKind::MobilityReference, Action::Write)?;
        let province = province.trim().to_ascii_uppercase();
        Ok(uc::set_esubero(db(ctx), &c, campaign_year, &province, &class_of_competition, count).await?)
    }

    /// Imports a whole reference file (CSV; columns in
    /// docs/teacher-applications.md), all or nothing: every bad line is
    /// named, and each line is checked as its single mutation would be.
    /// `campaignYear` is needed for the surplus. Answers the lines imported.
    async fn import_mobility_reference(
        &self,
        ctx: &Context<'_>,
        file: MobilityReferenceFile,
        csv: String,
        campaign_year: Option<i32>,
    ) -> Result<i32> {
        let file = uc::ReferenceFile::from(file);
        let c = caller(ctx, file.object(), Action::Write)?;
        Ok(uc::import_reference(db(ctx), &c, file, campaign_year, &csv).await? as i32)
    }

    /// Enters or replaces a teacher of the office's province.
    async fn set_teacher(&self, ctx: &Context<'_>, input: TeacherInput) -> Result<Teacher> {
        let c = caller(ctx, ObjectKind::TeacherRegistry, Action::Write)?;
        Ok(Teacher(uc::set_teacher(db(ctx), &c, entry(input)?).await?))
    }
}

/// A date argument that the form needs as a `NaiveDate`.
pub(crate) fn day(d: Option<Date>) -> Option<NaiveDate> {
    d.map(|d| d.0)
}
