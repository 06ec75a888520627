//! Deterministic derivation of the facts the shared files lack for the demo:
//! Lombardy's state institutions and where they are, the territorial ambits,
//! and the hubs. Pure functions of the files' content: the same data on every
//! machine. The rules are described in the README ("Demo data").

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::import::pupils::PupilCount;
use crate::import::schools::{Institution, Site};
use crate::rules::codes::SchoolCode;
use crate::rules::order::SchoolOrder;

/// School year of the pupils-per-site file the state sites come from.
const PUPILS_YEAR: i32 = 202425;
const MILANO: &str = "015146";

#[derive(Debug, Clone)]
pub struct Municipality {
    pub istat_code: String,
    pub province_code: String,
    pub name: String,
}

/// What seed 002 tells about one institution; it wins over any derivation.
struct Known {
    code: &'static str,
    name: &'static str,
    municipality: &'static str,
    address: &'static str,
    postal_code: &'static str,
    website: &'static str,
}

const KNOWN: &[Known] = &[Known {
    code: "BGIC82100T",
    name: "ISTITUTO COMPRENSIVO STATALE ALZANO LOMBARDO \u{201c}Rita Levi-Montalcini\u{201d}",
    municipality: "016008",
    address: "Via F.lli Valenti, 6",
    postal_code: "24022",
    website: "www.icalzanolombardo.edu.it",
}];

#[derive(Debug, Default)]
pub struct StateSchools {
    pub institutions: Vec<Institution>,
    pub sites: Vec<Site>,
}

/// 64-bit FNV-1a: a stable hash, unlike std's, across Rust versions and machines.
fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

/// The institution a state site belongs to: sites of one institution share
/// province and institution number (characters 5–7) but not their type letters.
/// First- and second-cycle sites with the same number are kept apart.
fn group_key(code: &SchoolCode, order: Option<SchoolOrder>) -> (String, String, bool) {
    (code.province().to_owned(), code.number().to_owned(), order.is_some_and(SchoolOrder::is_first_cycle))
}

/// The institution's code: the site numbered `00` when the file has it, else
/// `IC` for a first-cycle group with secondary and primary or infanzia sites,
/// `IS` for a mixed second-cycle group, the sites' own type otherwise.
fn institution_code(sites: &[SchoolCode]) -> SchoolCode {
    if let Some(own) = sites.iter().find(|c| c.site_number() == "00") {
        return own.clone();
    }
    let kinds: BTreeSet<&str> = sites.iter().map(SchoolCode::kind).collect();
    let first = &sites[0];
    let kind = if kinds.len() == 1 {
        first.kind()
    } else if kinds.iter().all(|k| ["AA", "EE", "MM"].contains(k)) {
        if kinds.contains("MM") { "IC" } else { "EE" }
    } else {
        "IS"
    };
    SchoolCode::compose(first.province(), kind, first.number(), "00").unwrap_or_else(|| first.clone())
}

fn kind_label(code: &SchoolCode) -> &'static str {
    match code.kind() {
        "IC" => "ISTITUTO COMPRENSIVO",
        "IS" => "ISTITUTO DI ISTRUZIONE SUPERIORE",
        "EE" => "CIRCOLO DIDATTICO",
        "MM" => "SCUOLA SECONDARIA DI PRIMO GRADO",
        "CT" => "CENTRO PROVINCIALE ISTRUZIONE ADULTI",
        k if k.starts_with('P') => "LICEO",
        k if k.starts_with('T') => "ISTITUTO TECNICO",
        k if k.starts_with('R') => "ISTITUTO PROFESSIONALE",
        _ => "ISTITUTO STATALE",
    }
}

fn order_label(order: Option<SchoolOrder>) -> &'static str {
    match order {
        Some(SchoolOrder::Infanzia) => "Scuola dell'infanzia",
        Some(SchoolOrder::Primaria) => "Scuola primaria",
        Some(SchoolOrder::SecondariaPrimoGrado) => "Scuola secondaria di primo grado",
        Some(SchoolOrder::SecondariaSecondoGrado) => "Scuola secondaria di secondo grado",
        Some(SchoolOrder::Adult) => "Istruzione degli adulti",
        None => "Sede",
    }
}

/// Picks a municipality of the province for an institution, weighted by how
/// many non-state schools the registry lists there (plus one), so that state
/// schools cluster where schools really are: Milan city gets many, a hamlet few.
fn place(code: &str, candidates: &[&Municipality], weight: &HashMap<String, u32>) -> usize {
    let w = |m: &Municipality| 1 + 4 * u64::from(weight.get(&m.istat_code).copied().unwrap_or(0));
    let total: u64 = candidates.iter().map(|m| w(m)).sum();
    let mut target = fnv1a(code) % total;
    for (i, m) in candidates.iter().enumerate() {
        if target < w(m) {
            return i;
        }
        target -= w(m);
    }
    candidates.len() - 1
}

/// State institutions and sites from the state sites of the pupils file.
pub fn state_schools(
    counts: &[PupilCount],
    municipalities: &[Municipality],
    non_state_per_municipality: &HashMap<String, u32>,
) -> StateSchools {
    let mut groups: BTreeMap<(String, String, bool), Vec<SchoolCode>> = BTreeMap::new();
    for c in counts {
        let Ok(code) = SchoolCode::parse(&c.code) else {
            continue;
        };
        if code.is_non_state() {
            continue;
        }
        groups.entry(group_key(&code, SchoolOrder::from_code(code.as_str()))).or_default().push(code);
    }
    let by_code: HashMap<&str, &Municipality> = municipalities.iter().map(|m| (m.istat_code.as_str(), m)).collect();
    let mut out = StateSchools::default();
    for ((province, number, _), sites) in groups {
        let candidates: Vec<&Municipality> = municipalities.iter().filter(|m| m.province_code == province).collect();
        if candidates.is_empty() {
            continue;
        }
        let inst = institution_code(&sites);
        let known = KNOWN.iter().find(|k| k.code == inst.as_str());
        let municipality = match known.and_then(|k| by_code.get(k.municipality)) {
            Some(m) => *m,
            None => candidates[place(inst.as_str(), &candidates, non_state_per_municipality)],
        };
        let name = match known {
            Some(k) => k.name.to_owned(),
            None => format!("{} {} {number}", kind_label(&inst), municipality.name.to_uppercase()),
        };
        let lower = inst.as_str().to_ascii_lowercase();
        out.institutions.push(Institution {
            code: inst.to_string(),
            name,
            kind: "state",
            province_code: province.clone(),
            municipality_istat: municipality.istat_code.clone(),
            email: Some(format!("{lower}@istruzione.it")),
            pec: Some(format!("{lower}@pec.istruzione.it")),
            website: known.map(|k| k.website.to_owned()),
            school_year: PUPILS_YEAR,
        });
        for site in sites {
            let order = SchoolOrder::from_code(site.as_str());
            let head = known.filter(|_| site == inst);
            out.sites.push(Site {
                name: format!("{} {} (plesso {})", order_label(order), municipality.name, site.site_number()),
                institution_code: inst.to_string(),
                order,
                province_code: province.clone(),
                municipality_istat: municipality.istat_code.clone(),
                address: head.map(|k| k.address.to_owned()),
                postal_code: head.map(|k| k.postal_code.to_owned()),
                email: None,
                pec: None,
                website: None,
                school_year: PUPILS_YEAR,
                code: site.into_string(),
            });
        }
    }
    out
}

/// The Municipi of Milan each of the four Poli START serves.
pub const START_ZONES: [&[i32]; 4] = [&[1, 2], &[3, 4], &[5, 6, 7], &[8, 9]];

#[derive(Debug, Clone)]
pub struct Ambit {
    pub code: String,
    pub province_code: String,
    pub name: String,
}

#[derive(Debug, Clone)]
pub struct Hub {
    pub code: String,
    pub kind: &'static str,
    pub name: String,
    pub province_code: String,
    pub ambit_code: Option<String>,
    pub sites: Vec<String>,
    /// For a Polo START: the city it serves and its zones (Municipi).
    pub city: Option<String>,
    pub zones: Vec<i32>,
}

#[derive(Debug, Default)]
pub struct Territory {
    pub ambits: Vec<Ambit>,
    /// ISTAT code → ambit code.
    pub ambit_of: BTreeMap<String, String>,
    pub hubs: Vec<Hub>,
}

/// Ambits, their CTI hubs and Milan's four Poli START.
///
/// Bergamo: five ambits, its municipalities in ISTAT-code order cut into five
/// runs of near-equal length. Milano: six ambits, the first Milan city alone,
/// the other 132 municipalities cut into five runs. Any other province (the
/// national benchmark data set): one ambit per 45 municipalities or part, cut
/// the same way. One CTI per ambit. The four Poli START serve Milan's nine
/// Municipi ([`START_ZONES`]) and share the city's first-cycle state sites,
/// all sites of one institution going to the same Polo.
pub fn territory(municipalities: &[Municipality], state_sites: &[Site]) -> Territory {
    let mut t = Territory::default();
    let provinces: BTreeSet<&str> = municipalities.iter().map(|m| m.province_code.as_str()).collect();
    for province in provinces {
        let mut members: Vec<&Municipality> = municipalities.iter().filter(|m| m.province_code == province).collect();
        let (province_name, ambits) = match province {
            "BG" => ("Bergamo", 5usize),
            "MI" => ("Milano", 6),
            other => (other, members.len().div_ceil(45).max(1)),
        };
        let mut runs: Vec<Vec<&Municipality>> = Vec::new();
        if province == "MI" {
            runs.push(members.iter().copied().filter(|m| m.istat_code == MILANO).collect());
            members.retain(|m| m.istat_code != MILANO);
        }
        let parts = ambits - runs.len();
        let n = members.len();
        for i in 0..parts {
            runs.push(members[i * n / parts..(i + 1) * n / parts].to_vec());
        }
        for (i, run) in runs.into_iter().enumerate() {
            let code = format!("{province}-{}", i + 1);
            for m in run {
                t.ambit_of.insert(m.istat_code.clone(), code.clone());
            }
            t.ambits.push(Ambit {
                code: code.clone(),
                province_code: province.into(),
                name: format!("Ambito territoriale {province_name} {}", i + 1),
            });
            t.hubs.push(Hub {
                code: format!("CTI-{code}"),
                kind: "cti",
                name: format!("CTI Ambito {province_name} {}", i + 1),
                province_code: province.into(),
                ambit_code: Some(code),
                sites: Vec::new(),
                city: None,
                zones: Vec::new(),
            });
        }
    }
    if !municipalities.iter().any(|m| m.istat_code == MILANO) {
        return t;
    }
    let mut poli: Vec<Hub> = START_ZONES
        .iter()
        .enumerate()
        .map(|(i, zones)| Hub {
            code: format!("START-MI-{}", i + 1),
            kind: "polo_start",
            name: format!("Polo START {} Milano", i + 1),
            province_code: "MI".into(),
            ambit_code: None,
            sites: Vec::new(),
            city: Some(MILANO.into()),
            zones: zones.to_vec(),
        })
        .collect();
    for s in state_sites {
        if s.municipality_istat == MILANO && s.order.is_some_and(SchoolOrder::is_first_cycle) {
            poli[(fnv1a(&s.institution_code) % 4) as usize].sites.push(s.code.clone());
        }
    }
    t.hubs.extend(poli);
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(code: &str) -> PupilCount {
        PupilCount { code: code.into(), pupils: Some(10), at_most: None }
    }

    fn towns() -> Vec<Municipality> {
        [
            ("016008", "BG", "Alzano Lombardo"),
            ("016024", "BG", "Bergamo"),
            ("015146", "MI", "Milano"),
            ("015002", "MI", "Abbiategrasso"),
        ]
        .into_iter()
        .map(|(i, p, n)| Municipality { istat_code: i.into(), province_code: p.into(), name: n.into() })
        .collect()
    }

    #[test]
    fn alzano_sites_form_the_institution_of_seed_002() {
        let counts: Vec<PupilCount> =
            ["BGAA82101P", "BGEE82101X", "BGEE821021", "BGEE821032", "BGMM82101V", "BGPS02000B", "BG1A00100X"]
                .into_iter()
                .map(count)
                .collect();
        let out = state_schools(&counts, &towns(), &HashMap::new());
        let alzano = out.institutions.iter().find(|i| i.code == "BGIC82100T").expect("derived IC");
        assert_eq!(alzano.municipality_istat, "016008");
        assert!(alzano.name.contains("ALZANO LOMBARDO"));
        let mut sites: Vec<&str> =
            out.sites.iter().filter(|s| s.institution_code == "BGIC82100T").map(|s| s.code.as_str()).collect();
        sites.sort();
        assert_eq!(sites, ["BGAA82101P", "BGEE82101X", "BGEE821021", "BGEE821032", "BGMM82101V"]);
        // A second-cycle site is its own institution when numbered 00; non-state sites are not derived.
        assert!(out.institutions.iter().any(|i| i.code == "BGPS02000B"));
        assert!(!out.sites.iter().any(|s| s.code == "BG1A00100X"));
    }

    #[test]
    fn derivation_is_deterministic() {
        let counts: Vec<PupilCount> = ["MIEE80101A", "MIMM80101B", "MIEE80201C"].into_iter().map(count).collect();
        let a = state_schools(&counts, &towns(), &HashMap::new());
        let b = state_schools(&counts, &towns(), &HashMap::new());
        assert_eq!(a.institutions, b.institutions);
        assert_eq!(a.sites, b.sites);
    }

    #[test]
    fn milan_is_its_own_ambit_and_poli_start_take_only_first_cycle_city_sites() {
        let counts: Vec<PupilCount> = ["MIEE80101A", "MIPS01000X"].into_iter().map(count).collect();
        let mut weights = HashMap::new();
        weights.insert(MILANO.to_string(), 1000);
        let schools = state_schools(&counts, &towns(), &weights);
        let t = territory(&towns(), &schools.sites);
        assert_eq!(t.ambit_of[MILANO], "MI-1");
        assert!(t.ambit_of["015002"].starts_with("MI-") && t.ambit_of["015002"] != "MI-1");
        assert_eq!(t.hubs.iter().filter(|h| h.kind == "cti").count(), 11);
        let start_sites: Vec<&String> = t.hubs.iter().flat_map(|h| &h.sites).collect();
        assert!(start_sites.iter().all(|s| s.as_str() != "MIPS01000X"));
    }
}
