//! Process 4's allocation (issue 21, spec §9): the office runs a phase of
//! its province, approves the proposal, and everyone reads what they may
//! of the result. The engine and every rule it applies are pure
//! (`rules::mobility::{allocation, phase}`); this module loads the facts,
//! stores the run with the hashes of its input and outcome, and files both
//! hashes in the audit trail.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use diesel_async::AsyncPgConnection;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{input_of, post_type_of, post_type_str, stored_of};
use crate::authz::Caller;
use crate::db::RequestDb;
use crate::db::audit::{self, Event};
use crate::db::mobility::ApplicationRow;
use crate::db::mobility::{self as q, CutoffRow, NewRun, ResultRow, RunRow};
use crate::error::{AppError, AppResult};
use crate::mail::Mailer;
use crate::rules::mobility::allocation::{Allocation, Violation};
use crate::rules::mobility::application::{HoldingKind, Kind, Precedence, PrefKind, Teacher};
use crate::rules::mobility::hours;
use crate::rules::mobility::phase::{
    self, CUTOFF_MIN_COUNT, CountedPrecedence, FormFacts, OverrideFacts, Phase, PlacedPreference, RunInput, Spot,
    VacancyFacts,
};

fn bad(field: &str, reason: impl Into<String>) -> AppError {
    AppError::bad_input(field, reason)
}

pub fn phase_str(p: Phase) -> &'static str {
    match p {
        Phase::UtApIntra => "ut_ap_intra",
        Phase::ApInter => "ap_inter",
    }
}

pub fn phase_of(s: &str) -> Phase {
    match s {
        "ap_inter" => Phase::ApInter,
        _ => Phase::UtApIntra,
    }
}

/// The phase a stored form takes part in.
pub fn phase_of_form(row: &ApplicationRow) -> Phase {
    if row.kind == "ap" && row.scope == "interprovincial" { Phase::ApInter } else { Phase::UtApIntra }
}

/// The precedences of a submitted form as the office left them: its
/// decision where it made one, else the rules' outcome (`None`: undecided).
pub fn precedence_decisions(row: &ApplicationRow) -> Vec<(Precedence, Option<bool>)> {
    stored_of(row)
        .precedences
        .into_iter()
        .map(|p| {
            let decided =
                row.precedence_decisions.get(super::precedence_str(p.code)).and_then(|d| d["recognised"].as_bool());
            (p.code, decided.or(p.recognised))
        })
        .collect()
}

/// SC-T: the family points of an AP, as the office corrected them if it did.
pub fn family_boxes(row: &ApplicationRow) -> [i32; 4] {
    let f = stored_of(row).family.unwrap_or_default();
    let o = row.family_override.as_ref();
    let box_of = |k: &str, computed: u32| o.and_then(|o| o[k].as_i64()).map_or(computed as i32, |v| v as i32);
    [box_of("a", f.a), box_of("b", f.b), box_of("c", f.c), box_of("d", f.d)]
}

/// One entry of a stored certificate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredEntry {
    pub position: u32,
    pub code: String,
    pub last_admitted: Option<StoredAdmitted>,
    /// Overrides that took a seat this preference reaches.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub overrides: Vec<StoredOverride>,
}

/// An override as a certificate shows it: whose form, and the office's reason.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredOverride {
    pub code: String,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredAdmitted {
    pub code: String,
    pub group: u8,
    pub precedence: Option<Precedence>,
    pub section_e: bool,
    pub score: f64,
}

pub fn certificate_of(row: &ResultRow) -> Vec<StoredEntry> {
    serde_json::from_value(row.certificate.clone()).unwrap_or_default()
}

/// Everything a phase reads, loaded under the office's row security.
struct Loaded {
    forms: Vec<FormFacts>,
    lines: Vec<VacancyFacts>,
    surplus: BTreeMap<String, u32>,
    /// Applications with no effective preference: nothing to allocate on.
    inadmissible: Vec<i64>,
    /// Forms whose teacher renounced the post of an approved run.
    renounced: Vec<i64>,
    /// Tax code of every form's teacher, by application.
    teachers: BTreeMap<i64, String>,
}

fn spot(p: &q::PlaceRow) -> Spot {
    Spot { province: p.province.clone(), municipality: p.municipality.clone(), district: p.district.clone() }
}

async fn load(c: &mut AsyncPgConnection, year: i32, province: &str, ph: Phase) -> AppResult<Loaded> {
    let rows = q::phase_forms(c, year, province).await?;
    let renounced_ids: BTreeSet<i64> = q::renounced(c, year, province).await?.into_iter().collect();
    // A teacher gets one post per phase (ORG-4): renouncing it leaves the
    // phase, with every form of the teacher in it.
    let renounced_by: BTreeSet<(String, Phase)> = rows
        .iter()
        .filter(|r| renounced_ids.contains(&r.id))
        .map(|r| (r.teacher_tax_code.clone(), phase_of_form(r)))
        .collect();
    let before = q::taken_by_other_phases(c, year, province, phase_str(ph)).await?;
    let placed_before: BTreeSet<&str> = before.iter().map(|r| r.teacher_tax_code.as_str()).collect();
    // Seats taken per stored line; a post of part-posts (POST-8) takes one
    // seat of each part-post's line (hours 0: whole posts).
    let mut taken: BTreeMap<(String, String, String, String, i32), u32> = BTreeMap::new();
    for r in &before {
        let key = |hours: i32| {
            (
                r.school_code.clone().unwrap_or_default(),
                r.post_type.clone().unwrap_or_default(),
                r.class_code.clone().unwrap_or_default(),
                r.chair_kind.clone().unwrap_or_default(),
                hours,
            )
        };
        let parts = match (&r.parts, r.hours) {
            (Some(parts), _) if !parts.is_empty() => parts.clone(),
            (_, hours) => vec![hours.unwrap_or(0)],
        };
        for h in parts {
            *taken.entry(key(h)).or_default() += 1;
        }
    }
    let vacancies = q::vacancies(c, year, province).await?;
    // Every code whose place matters, fetched at once.
    let mut schools: BTreeSet<String> = vacancies.iter().map(|v| v.school_code.clone()).collect();
    let (mut municipalities, mut districts, mut provinces) = (BTreeSet::new(), BTreeSet::new(), BTreeSet::new());
    let mut parsed = Vec::new();
    let mut renounced = Vec::new();
    let mut teachers = BTreeMap::new();
    for row in rows {
        let input = input_of(&row)?;
        if renounced_by.contains(&(row.teacher_tax_code.clone(), phase_of_form(&row))) {
            if ph.takes(input.kind, input.scope) {
                teachers.insert(row.id, row.teacher_tax_code.clone());
                renounced.push(row.id);
            }
            continue;
        }
        let teacher: Option<Teacher> = row.teacher_snapshot.clone().and_then(|v| serde_json::from_value(v).ok());
        let Some(teacher) = teacher else { continue };
        if placed_before.contains(row.teacher_tax_code.as_str()) || !ph.takes(input.kind, input.scope) {
            continue;
        }
        for p in &input.preferences {
            match p.kind {
                PrefKind::School => schools.insert(p.code.clone()),
                PrefKind::Municipality => municipalities.insert(p.code.clone()),
                PrefKind::District => districts.insert(p.code.clone()),
                PrefKind::Province => provinces.insert(p.code.clone()),
            };
        }
        for p in input.precedences.iter().filter_map(|p| p.municipality.clone()) {
            municipalities.insert(p);
        }
        if let Some(e) = &input.section_e {
            schools.insert(e.previous_school.clone());
        }
        provinces.insert(teacher.province.clone());
        parsed.push((row, input, teacher));
    }
    let list = |s: BTreeSet<String>| s.into_iter().collect::<Vec<_>>();
    let places =
        q::places(c, &list(schools), &list(municipalities), &list(districts), &list(provinces.clone())).await?;
    let place: BTreeMap<(&str, &str), Spot> =
        places.iter().map(|p| ((p.kind.as_str(), p.code.as_str()), spot(p))).collect();
    let multi: BTreeSet<String> = q::multi_district(c, &list(provinces)).await?.into_iter().collect();
    let ut_ids: Vec<i64> = parsed.iter().filter(|(_, i, _)| i.kind == Kind::Ut).map(|(r, ..)| r.id).collect();
    let validated: BTreeMap<i64, f64> =
        q::validated_ut_scores(c, &ut_ids).await?.into_iter().filter_map(|(id, v)| Some((id, v?))).collect();
    let mut forms = Vec::new();
    let mut inadmissible = Vec::new();
    for (row, input, teacher) in parsed {
        let stored = stored_of(&row);
        teachers.insert(row.id, row.teacher_tax_code.clone());
        let effective: BTreeSet<usize> =
            stored.preferences.iter().filter(|p| p.effective).map(|p| p.position).collect();
        let preferences: Vec<PlacedPreference> = input
            .preferences
            .iter()
            .enumerate()
            .filter(|(i, _)| effective.contains(&(i + 1)))
            .filter_map(|(i, p)| {
                let kind = match p.kind {
                    PrefKind::School => "school",
                    PrefKind::Municipality => "municipality",
                    PrefKind::District => "district",
                    PrefKind::Province => "province",
                };
                let spot = place.get(&(kind, p.code.as_str()))?.clone();
                Some(PlacedPreference { position: i as u32 + 1, kind: p.kind, code: p.code.clone(), spot })
            })
            .collect();
        let code = row.protocol_number.clone().unwrap_or_else(|| format!("#{}", row.id));
        if preferences.is_empty() {
            inadmissible.push(row.id);
            continue;
        }
        let decisions = precedence_decisions(&row);
        let precedences = input
            .precedences
            .iter()
            .filter(|claim| decisions.iter().any(|(p, r)| *p == claim.code && *r != Some(false)))
            .map(|claim| CountedPrecedence {
                code: claim.code,
                spot: claim.municipality.as_deref().and_then(|m| place.get(&("municipality", m)).cloned()),
            })
            .collect();
        let score = match input.kind {
            Kind::Ap => family_boxes(&row).iter().sum::<i32>() as f64,
            Kind::Ut => validated
                .get(&row.id)
                .copied()
                .or(stored.ut_score.as_ref().map(|s| s.total))
                .or(input.declared_score)
                .unwrap_or(0.0),
        };
        let held = Spot {
            province: teacher.province.clone(),
            municipality: teacher.municipality.clone(),
            district: teacher.district.clone(),
        };
        let multi_district = teacher.municipality.as_ref().is_some_and(|m| multi.contains(m));
        let section_e = match (stored.section_e, &input.section_e) {
            (Some(true), Some(e)) => {
                place.get(&("school", e.previous_school.as_str())).map(|s| (e.previous_school.clone(), s.clone()))
            }
            _ => None,
        };
        forms.push(FormFacts {
            application: row.id,
            teacher: row.teacher_tax_code.clone(),
            code,
            birth_date: phase::birth_date_of(&row.teacher_tax_code, year).unwrap_or_default(),
            submitted_at: row.submitted_at.map_or(0, |t| t.timestamp()),
            kind: input.kind,
            scope: input.scope,
            order: input.order,
            own_order: teacher.order,
            own_class: teacher.class.clone(),
            class: input.class.clone(),
            other_classes: match input.kind {
                Kind::Ap => input.additional_classes.clone(),
                Kind::Ut => input.options.ut_classes.clone(),
            },
            post_types: input.post_types.clone(),
            chairs: input.options.chairs,
            score,
            preferences,
            precedences,
            section_e,
            skip: phase::skip_of(input.kind, teacher.holding == HoldingKind::School, &held, multi_district),
            part_posts: input
                .options
                .part_posts
                .then(|| hours::service_hours(input.order, teacher.order, teacher.service_hours)),
        });
    }
    let lines = vacancies
        .iter()
        .filter_map(|v| {
            let spot = place.get(&("school", v.school_code.as_str()))?.clone();
            let key = (v.school_code.clone(), v.post_type.clone(), v.class_code.clone(), v.chair_kind.clone(), v.hours);
            Some(VacancyFacts {
                school: v.school_code.clone(),
                spot,
                post_type: post_type_of(&v.post_type),
                class: (!v.class_code.is_empty()).then(|| v.class_code.clone()),
                chair: super::chair_of(&v.chair_kind),
                count: v.count.max(0) as u32,
                taken_before: taken.get(&key).copied().unwrap_or(0),
                hours: (v.hours > 0).then_some(v.hours as u32),
            })
        })
        .collect();
    let surplus = q::esuberi(c, year, province).await?.into_iter().map(|(k, n)| (k, n.max(0) as u32)).collect();
    Ok(Loaded { forms, lines, surplus, inadmissible, renounced, teachers })
}

/// A result row with no post: `state` is why.
fn no_post(run: i64, province: &str, application: i64, loaded: &Loaded, state: &str) -> ResultRow {
    ResultRow {
        run_id: run,
        application_id: application,
        province_code: province.to_owned(),
        teacher_tax_code: loaded.teachers.get(&application).cloned().unwrap_or_default(),
        state: state.to_owned(),
        school_code: None,
        post_type: None,
        class_code: None,
        chair_kind: None,
        position: None,
        certificate: json!([]),
        hours: None,
        parts: None,
    }
}

/// The stored outcome of each application of a run.
fn results(run: i64, province: &str, input: &RunInput, a: &Allocation, loaded: &Loaded) -> Vec<ResultRow> {
    // Each override, as certificates name it: the form's code and the reason.
    let named: Vec<StoredOverride> = input
        .overrides
        .iter()
        .map(|o| StoredOverride {
            code: input
                .candidates
                .iter()
                .find(|c| c.forms.iter().any(|f| f.application == o.application))
                .map(|c| c.code.clone())
                .unwrap_or_default(),
            reason: o.reason.clone(),
        })
        .collect();
    let mut out = Vec::new();
    for (c, o) in input.candidates.iter().zip(&a.outcomes) {
        for (f, terms) in c.forms.iter().enumerate() {
            let placed = o.assigned.filter(|p| c.wishes[p.wish].form == f);
            let manual = o.manual.filter(|m| m.form == f);
            let certificate: Vec<StoredEntry> = o
                .certificate
                .iter()
                .filter(|e| c.wishes[e.wish].form == f)
                .map(|e| StoredEntry {
                    position: c.wishes[e.wish].position,
                    code: c.wishes[e.wish].code.clone(),
                    last_admitted: e.last_admitted.as_ref().map(|l| StoredAdmitted {
                        code: l.code.clone(),
                        group: l.group,
                        precedence: l.precedence,
                        section_e: l.section_e,
                        score: l.score,
                    }),
                    overrides: e.overrides.iter().filter_map(|k| named.get(*k).cloned()).collect(),
                })
                .collect();
            let line = placed.map(|p| p.vacancy).or(manual.map(|m| m.vacancy)).map(|v| &input.vacancies[v]);
            let state = match (placed, manual) {
                (Some(_), _) => "assigned",
                (None, Some(_)) => "manual",
                _ => "not_assigned",
            };
            out.push(ResultRow {
                school_code: line.map(|l| l.school.clone()),
                post_type: line.map(|l| post_type_str(l.post_type).to_owned()),
                class_code: line.and_then(|l| l.class.clone()),
                chair_kind: line.map(|l| super::chair_str(l.chair).to_owned()),
                position: placed.map(|p| c.wishes[p.wish].position as i32),
                certificate: serde_json::to_value(certificate).unwrap_or_default(),
                hours: line.and_then(|l| l.hours).map(|h| h as i32),
                parts: line.filter(|l| !l.parts.is_empty()).map(|l| l.parts.iter().map(|&h| h as i32).collect()),
                ..no_post(run, province, terms.application, loaded, state)
            });
        }
    }
    for id in &loaded.inadmissible {
        out.push(no_post(run, province, *id, loaded, "inadmissible"));
    }
    for id in &loaded.renounced {
        out.push(no_post(run, province, *id, loaded, "renounced"));
    }
    out
}

/// Who moved between the approved run and its re-run, how, and why.
fn diff(before: &[ResultRow], after: &[ResultRow], why: impl Fn(i64) -> Vec<String>) -> Value {
    let key = |r: &ResultRow| {
        json!({ "state": r.state, "school": r.school_code, "postType": r.post_type,
                "classOfCompetition": r.class_code, "chairKind": r.chair_kind, "position": r.position,
                "hours": r.hours })
    };
    let old: BTreeMap<i64, &ResultRow> = before.iter().map(|r| (r.application_id, r)).collect();
    let moved: Vec<Value> = after
        .iter()
        .filter_map(|r| {
            let was = old.get(&r.application_id).map(|o| key(o));
            let now = key(r);
            (was.as_ref() != Some(&now)).then(|| {
                json!({ "application": r.application_id, "before": was, "after": now, "why": why(r.application_id) })
            })
        })
        .collect();
    Value::Array(moved)
}

/// The office's standing overrides of a phase, as the engine's input names them.
async fn overrides_of(
    c: &mut AsyncPgConnection,
    year: i32,
    province: &str,
    ph: Phase,
) -> AppResult<Vec<OverrideFacts>> {
    Ok(q::standing_overrides(c, year, province, phase_str(ph))
        .await?
        .into_iter()
        .map(|o| OverrideFacts {
            application: o.application_id,
            school: o.school_code,
            post_type: post_type_of(&o.post_type),
            class: (!o.class_code.is_empty()).then_some(o.class_code),
            chair: super::chair_of(&o.chair_kind),
            reason: o.reason,
        })
        .collect())
}

/// The stored input of a run.
async fn stored_input(c: &mut AsyncPgConnection, run: i64) -> AppResult<RunInput> {
    let (_, input) = q::run_input(c, run).await?.ok_or(AppError::NotFound)?;
    serde_json::from_value(input).map_err(AppError::internal)
}

/// SEQ-1..9: runs a phase of the office's province. The result is a
/// proposal only the office sees; running the phase again before approval
/// supersedes it; after approval, it is a re-run that reconsiders everyone
/// and lists who moved. A refusal of the global checker stores nothing.
pub async fn run_phase(
    db: &RequestDb,
    caller: &Caller,
    user: i64,
    year: i32,
    province: &str,
    ph: Phase,
    now: DateTime<Utc>,
) -> AppResult<RunRow> {
    let office = caller.office_province()?;
    if province != office {
        return Err(bad("province", "an office runs the allocation of its own province"));
    }
    db.try_run(move |c| {
        Box::pin(async move {
            q::campaign(c, year).await?.ok_or(AppError::NotFound)?;
            if let Some(prev) = ph.after()
                && q::run_in_state(c, year, &office, phase_str(prev), "approved").await?.is_none()
            {
                return Err(AppError::Ruled {
                    code: "CONFLICT",
                    rule: "SEQ-1",
                    field: Some("phase"),
                    message: format!("the phase {} must be approved first", phase_str(prev).to_uppercase()),
                });
            }
            let loaded = load(c, year, &office, ph).await?;
            let input = phase::input(year, &office, ph, &loaded.forms, &loaded.lines, &loaded.surplus, post_type_str);
            let input = phase::with_overrides(input, &overrides_of(c, year, &office, ph).await?);
            let allocation = phase::run(&input).map_err(|v| match v {
                Violation::Override { application } => AppError::Ruled {
                    code: "CONFLICT",
                    rule: "OVERRIDE",
                    field: Some("override"),
                    message: format!(
                        "the override of application {application} names a form outside the phase or a line \
                         with no free post left: withdraw or change it; nothing was stored"
                    ),
                },
                v => AppError::Ruled {
                    code: "CONFLICT",
                    rule: "SEQ-6",
                    field: None,
                    message: format!("the global checker refused the result, nothing was stored: {v:?}"),
                },
            })?;
            let (input_hash, outcome_hash) = (input.hash(), phase::outcome_hash(&allocation));
            let superseded = q::run_in_state(c, year, &office, phase_str(ph), "proposal").await?;
            if let Some(old) = &superseded {
                q::delete_results(c, old.id).await?;
                q::set_run_state(c, old.id, "superseded", None).await?;
            }
            let approved = q::run_in_state(c, year, &office, phase_str(ph), "approved").await?;
            let assigned =
                allocation.outcomes.iter().filter(|o| o.assigned.is_some() || o.manual.is_some()).count() as i32;
            let run = q::insert_run(
                c,
                NewRun {
                    campaign_year: year,
                    province_code: &office,
                    phase: phase_str(ph),
                    input: serde_json::to_value(&input).map_err(AppError::internal)?,
                    input_hash: &input_hash,
                    outcome_hash: &outcome_hash,
                    assigned_count: assigned,
                    revises: approved.as_ref().map(|r| r.id),
                    diff: json!([]),
                    created_by: user,
                    created_at: now,
                },
            )
            .await?;
            let rows = results(run.id, &office, &input, &allocation, &loaded);
            q::insert_results(c, &rows).await?;
            let run = match &approved {
                Some(a) => {
                    let before = q::results_of_run(c, a.id).await?;
                    let was = stored_input(c, a.id).await?;
                    let why = phase::Why::new(&was, &input);
                    q::set_diff(c, run.id, &diff(&before, &rows, |id| why.of(id))).await?
                }
                None => run,
            };
            audit::record(
                c,
                vec![Event {
                    action: "run",
                    object_kind: "mobility_run",
                    object_id: Some(run.id.to_string()),
                    province: Some(office.clone()),
                    previous: superseded.map(|s| json!({ "superseded": s.id, "inputHash": s.input_hash })),
                    current: Some(json!({
                        "campaignYear": year, "phase": phase_str(ph), "inputHash": input_hash,
                        "outcomeHash": outcome_hash, "assigned": assigned, "revises": run.revises,
                    })),
                    ..Event::default()
                }],
            )
            .await?;
            Ok(run)
        })
    })
    .await
}

/// Publishes a proposal to the teachers and closes its phase, so the next
/// phase of the province can run; an approved re-run replaces the run it
/// revises. The phase's cutoffs are published with it.
pub async fn approve_run(
    db: &RequestDb,
    caller: &Caller,
    mailer: Option<&Mailer>,
    user: i64,
    id: i64,
    now: DateTime<Utc>,
) -> AppResult<RunRow> {
    let office = caller.office_province()?;
    let (done, mails) = db
        .try_run(move |c| {
            Box::pin(async move {
                let run =
                    q::run_for_update(c, id).await?.filter(|r| r.province_code == office).ok_or(AppError::NotFound)?;
                if run.state != "proposal" {
                    return Err(AppError::Conflict(format!("the run is {}, not a proposal", run.state)));
                }
                if let Some(old) = run.revises {
                    q::delete_results(c, old).await?;
                    q::set_run_state(c, old, "superseded", None).await?;
                }
                let input = stored_input(c, id).await?;
                let allocation = phase::run(&input).map_err(|v| AppError::internal(anyhow::anyhow!("{v:?}")))?;
                let cutoffs: Vec<CutoffRow> = phase::cutoffs(&input, &allocation)
                    .into_iter()
                    .map(|k| {
                        let shown = k.assigned >= CUTOFF_MIN_COUNT;
                        CutoffRow {
                            run_id: id,
                            campaign_year: run.campaign_year,
                            province_code: office.clone(),
                            phase: run.phase.clone(),
                            code: k.code,
                            post_type: post_type_str(k.post_type).to_owned(),
                            suppressed: !shown,
                            last_score: shown.then_some(k.last_score),
                            precedence: k.precedence.filter(|_| shown).map(super::precedence_str),
                        }
                    })
                    .collect();
                q::replace_cutoffs(c, run.campaign_year, &office, &run.phase, &cutoffs).await?;
                let done = q::set_run_state(c, id, "approved", Some((user, now))).await?;
                audit::record(
                    c,
                    vec![Event {
                        action: "approve",
                        object_kind: "mobility_run",
                        object_id: Some(id.to_string()),
                        province: Some(office.clone()),
                        previous: run.revises.map(|r| json!({ "superseded": r })),
                        current: Some(json!({ "inputHash": run.input_hash, "outcomeHash": run.outcome_hash })),
                        ..Event::default()
                    }],
                )
                .await?;
                let results: BTreeMap<i64, ResultRow> =
                    q::results_of_run(c, id).await?.into_iter().map(|r| (r.application_id, r)).collect();
                let mails: Vec<(String, String, ResultRow)> = q::outcome_addresses(c, id)
                    .await?
                    .into_iter()
                    .filter_map(|a| Some((a.email, a.protocol_number, results.get(&a.application_id)?.clone())))
                    .collect();
                Ok((done, mails))
            })
        })
        .await?;
    if let Some(mailer) = mailer {
        for (to, protocol, result) in mails {
            outcome_mail(mailer.clone(), to, protocol, result);
        }
    }
    Ok(done)
}

/// An outcome in the words of the e-mail and the PDF certificate.
pub fn outcome_words(r: &ResultRow) -> String {
    match r.state.as_str() {
        "assigned" | "manual" => format!(
            "ASSEGNATA{}: sede {}, posto {}{}{}{}{}",
            if r.state == "manual" { " D'UFFICIO (con motivazione)" } else { "" },
            r.school_code.as_deref().unwrap_or_default(),
            r.post_type.as_deref().unwrap_or_default(),
            r.class_code.as_deref().map(|c| format!(", classe di concorso {c}")).unwrap_or_default(),
            // Chairs are of I and II grado, which have classes.
            r.class_code.as_ref().and(r.chair_kind.as_deref()).map(|k| format!(", cattedra {k}")).unwrap_or_default(),
            r.hours
                .map(|h| format!(", spezzoni per {}", crate::reports::mobility::hours_words(h, r.parts.as_deref())))
                .unwrap_or_default(),
            r.position.map(|p| format!(" (preferenza n. {p})")).unwrap_or_default()
        ),
        "inadmissible" => "NON ESAMINABILE: nessuna preferenza valida".to_owned(),
        "renounced" => "RINUNCIA registrata".to_owned(),
        _ => "NON ASSEGNATA".to_owned(),
    }
}

/// A certificate entry in words: who took the last post there, and the
/// overrides that took a seat there.
pub fn entry_words(e: &StoredEntry) -> String {
    let group = |g: u8| match g {
        0 => "utilizzazione",
        1 => "assegnazione nello stesso ordine e classe",
        _ => "assegnazione su altro ordine o classe",
    };
    let mut out = format!("Preferenza {} ({}): ", e.position, e.code);
    match &e.last_admitted {
        Some(l) => out.push_str(&format!(
            "ultimo posto a {}, {}, precedenza {}{}, punteggio {:.2}",
            l.code,
            group(l.group),
            l.precedence.map_or_else(|| "nessuna".to_owned(), super::precedence_str),
            if l.section_e { ", rientro nella scuola precedente (sezione E)" } else { "" },
            l.score
        )),
        None if e.overrides.is_empty() => out.push_str("nessun posto del suo tipo"),
        None => out.push_str("nessun altro posto del suo tipo"),
    }
    for o in &e.overrides {
        out.push_str(&format!("; posto assegnato d'ufficio a {}: {}", o.code, o.reason));
    }
    out
}

/// The e-mail that tells a teacher the published outcome of their form;
/// the certificate is in Ambito, for them alone.
fn outcome_mail(mailer: Mailer, to: String, protocol: String, r: ResultRow) {
    crate::mail::in_background("mobility outcome", async move {
        let outcome = outcome_words(&r);
        let body = format!(
            "Gentile docente,\n\n\
             l'esito della sua domanda {protocol} è stato pubblicato.\n\
             Esito: {outcome}\n\n\
             In Ambito trova, per ogni preferenza espressa prima di quella ottenuta, chi ha avuto \
             l'ultimo posto e con quale precedenza e punteggio.\n\n\
             The outcome of your application {protocol} is published: {state}.\n",
            state = r.state.to_ascii_uppercase(),
        );
        mailer.send(&to, &format!("Ambito: esito della domanda {protocol}"), body).await
    });
}

/// The newest outcome of an application the caller may see.
pub async fn outcome(db: &RequestDb, application: i64) -> AppResult<Option<ResultRow>> {
    db.run(move |c| Box::pin(async move { q::result_of(c, application).await })).await
}

/// The published cutoffs of a province's approved runs.
pub async fn cutoffs(db: &RequestDb, year: i32, province: String) -> AppResult<Vec<CutoffRow>> {
    db.run(move |c| Box::pin(async move { q::cutoffs(c, year, &province).await })).await
}

/// What `ambito mobility verify` found for one run.
#[derive(Debug, Clone)]
pub struct Verified {
    pub run: RunRow,
    pub input_matches: bool,
    pub outcome_matches: bool,
}

/// Recomputes every run of a campaign's phase from its stored input and
/// compares both hashes (the caller's connection sees every province).
pub async fn verify(c: &mut AsyncPgConnection, year: i32, ph: Phase) -> AppResult<Vec<Verified>> {
    let mut out = Vec::new();
    for run in q::runs_of(c, year, phase_str(ph)).await? {
        let input = stored_input(c, run.id).await?;
        let outcome_matches = phase::run(&input).is_ok_and(|a| phase::outcome_hash(&a) == run.outcome_hash);
        out.push(Verified { input_matches: input.hash() == run.input_hash, outcome_matches, run });
    }
    Ok(out)
}

/// The PDF certificate of a form's outcome, for whoever sees the outcome:
/// the teacher once published, the office (a proposal too). Each download
/// is a read in the audit trail.
pub async fn certificate_document(
    db: &RequestDb,
    caller: &Caller,
    id: i64,
    now: DateTime<Utc>,
) -> AppResult<crate::reports::mobility::Certificate> {
    let province = caller.office_province().ok();
    db.try_run(move |c| {
        Box::pin(async move {
            let row = q::application(c, id).await?.ok_or(AppError::NotFound)?;
            let result = q::result_of(c, id).await?.ok_or(AppError::NotFound)?;
            let teacher = q::teacher(c, &row.teacher_tax_code).await?;
            // A teacher reads results of approved runs only, and no run.
            let proposal = q::run(c, result.run_id).await?.is_some_and(|r| r.state == "proposal");
            let renounced = q::renunciation_of(c, id).await?.map(|r| r.renounced_at);
            let protocol = row.protocol_number.clone().unwrap_or_else(|| format!("#{id}"));
            let year = row.campaign_year;
            audit::record(
                c,
                vec![Event {
                    action: "download_certificate",
                    object_kind: "mobility_application",
                    object_id: Some(id.to_string()),
                    province: province.clone(),
                    current: Some(json!({ "protocolNumber": protocol, "run": result.run_id })),
                    ..Event::default()
                }],
            )
            .await?;
            Ok(crate::reports::mobility::Certificate {
                kind: if row.kind == "ut" { "Utilizzazione" } else { "Assegnazione provvisoria" }.into(),
                school_year: format!("{year}/{:02}", (year + 1) % 100),
                teacher: teacher.map(|t| format!("{} {}", t.last_name, t.first_name)).unwrap_or_default(),
                standing: if proposal { "proposta non ancora approvata" } else { "pubblicato" }.into(),
                outcome: outcome_words(&result),
                entries: certificate_of(&result).iter().map(entry_words).collect(),
                renounced,
                generated_at: now,
                protocol,
            })
        })
    })
    .await
}

/// Which rows of the outcome sheet a caller asks for.
#[derive(Debug, Clone, Default)]
pub struct SheetFilter {
    /// The office may name a run (a proposal, to review it); else the
    /// approved run of the phase in the caller's province.
    pub run: Option<i64>,
    pub school: Option<String>,
    pub post_type: Option<String>,
}

/// The outcome sheet of a phase, per school and post type: the office's
/// whole province, a school's own sites in the approved run; not found for
/// a run the caller does not reach. The export is a read of every teacher
/// it names, in the audit trail.
pub async fn outcome_sheet(
    db: &RequestDb,
    caller: &Caller,
    year: i32,
    ph: Phase,
    filter: SheetFilter,
) -> AppResult<(i64, Vec<q::SheetRow>)> {
    if filter.run.is_some() && caller.office_province().is_err() {
        return Err(bad("run", "only the office names a run"));
    }
    let (province, institution) = (caller.province.clone(), caller.school.clone());
    db.try_run(move |c| {
        Box::pin(async move {
            let run = match filter.run {
                Some(id) => {
                    q::run(c, id).await?.filter(|r| r.campaign_year == year && r.phase == phase_str(ph)).map(|r| r.id)
                }
                None => q::approved_run_id(c, year, phase_str(ph)).await?,
            }
            .ok_or(AppError::NotFound)?;
            let rows: Vec<q::SheetRow> = q::outcome_sheet(c, run)
                .await?
                .into_iter()
                .filter(|r| {
                    filter
                        .school
                        .as_ref()
                        .is_none_or(|s| r.school_code.as_ref() == Some(s) || r.institution_code.as_ref() == Some(s))
                })
                .filter(|r| filter.post_type.as_ref().is_none_or(|p| r.post_type.as_ref() == Some(p)))
                .collect();
            audit::record(
                c,
                vec![Event {
                    action: "export",
                    object_kind: "mobility_run",
                    object_id: Some(run.to_string()),
                    province,
                    institution,
                    current: Some(json!({ "applications": rows.iter().map(|r| r.application_id).collect::<Vec<_>>() })),
                    ..Event::default()
                }],
            )
            .await?;
            Ok((run, rows))
        })
    })
    .await
}
