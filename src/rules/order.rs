//! School orders (ordini e gradi di istruzione) and how the Ministry's files name them.

use std::fmt;
use std::str::FromStr;

/// The order of a school site. `Adult` covers the adult-education centres
/// (CPIA, formerly CTP) that the state registry also lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SchoolOrder {
    Infanzia,
    Primaria,
    SecondariaPrimoGrado,
    SecondariaSecondoGrado,
    Adult,
}

impl SchoolOrder {
    pub const ALL: [SchoolOrder; 5] = [
        SchoolOrder::Infanzia,
        SchoolOrder::Primaria,
        SchoolOrder::SecondariaPrimoGrado,
        SchoolOrder::SecondariaSecondoGrado,
        SchoolOrder::Adult,
    ];

    /// The stored spelling (the `sites.school_order` column).
    pub fn as_str(self) -> &'static str {
        match self {
            SchoolOrder::Infanzia => "infanzia",
            SchoolOrder::Primaria => "primaria",
            SchoolOrder::SecondariaPrimoGrado => "secondaria_primo_grado",
            SchoolOrder::SecondariaSecondoGrado => "secondaria_secondo_grado",
            SchoolOrder::Adult => "adult",
        }
    }

    /// First cycle (infanzia, primaria, secondaria I grado): what a Polo START serves.
    pub fn is_first_cycle(self) -> bool {
        matches!(self, SchoolOrder::Infanzia | SchoolOrder::Primaria | SchoolOrder::SecondariaPrimoGrado)
    }

    /// The order of a site from the Ministry's description
    /// (`DESCRIZIONETIPOLOGIAGRADOISTRUZIONESCUOLA`), falling back to the type
    /// letters of its code when the description names no order ("ISTITUTO
    /// COMPRENSIVO", "Non Disponibile"). `None` for an institution's head office
    /// that teaches no order itself.
    pub fn from_registry(description: &str, code: &str) -> Option<SchoolOrder> {
        let d = description.to_ascii_uppercase();
        if d.contains("INFANZIA") {
            Some(SchoolOrder::Infanzia)
        } else if d.contains("PRIMARIA") {
            Some(SchoolOrder::Primaria)
        } else if d.contains("PRIMO GRADO") {
            Some(SchoolOrder::SecondariaPrimoGrado)
        } else if d.contains("SECONDO GRADO")
            || d.starts_with("LICEO")
            || d.starts_with("IST") && !d.starts_with("ISTITUTO COMPRENSIVO") && !d.starts_with("ISTITUTO SUPERIORE")
        {
            Some(SchoolOrder::SecondariaSecondoGrado)
        } else if d.contains("CENTRO TERRITORIALE") || d.contains("ADULTI") {
            Some(SchoolOrder::Adult)
        } else {
            Self::from_code(code)
        }
    }

    /// The order implied by a codice meccanografico's type letters
    /// (characters 3–4): `AA`/`1A` infanzia, `EE`/`1E` primaria, `MM`/`1M`
    /// secondaria I grado, `CT` adult education, and the secondary-school
    /// types (`P*` licei, `R*` professional, `S*` art, `T*` technical).
    /// Institution-level types (`IC`, `IS`, `IP`, …) have no order.
    pub fn from_code(code: &str) -> Option<SchoolOrder> {
        let t = code.get(2..4)?;
        match t {
            "AA" | "1A" => Some(SchoolOrder::Infanzia),
            "EE" | "1E" => Some(SchoolOrder::Primaria),
            "MM" | "1M" => Some(SchoolOrder::SecondariaPrimoGrado),
            "CT" => Some(SchoolOrder::Adult),
            _ => {
                let b = t.as_bytes();
                let secondary = matches!(b[0], b'P' | b'R' | b'S' | b'T')
                    || (b[0] == b'1' && matches!(b[1], b'P' | b'R' | b'S' | b'T'));
                secondary.then_some(SchoolOrder::SecondariaSecondoGrado)
            }
        }
    }
}

impl fmt::Display for SchoolOrder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SchoolOrder {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SchoolOrder::ALL.into_iter().find(|o| o.as_str() == s).ok_or_else(|| format!("unknown school order {s:?}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions_of_the_registry_files() {
        let cases = [
            ("SCUOLA INFANZIA", "AO1A008020", Some(SchoolOrder::Infanzia)),
            ("SCUOLA INFANZIA NON STATALE", "VA1A06500E", Some(SchoolOrder::Infanzia)),
            ("SCUOLA PRIMARIA", "BGEE82101X", Some(SchoolOrder::Primaria)),
            ("SCUOLA PRIMO GRADO", "BGMM82101V", Some(SchoolOrder::SecondariaPrimoGrado)),
            ("SCUOLA SEC. PRIMO GRADO NON STATALE", "TB1M008007", Some(SchoolOrder::SecondariaPrimoGrado)),
            ("SCUOLA SEC. SECONDO GRADO NON STATALE", "TNPS015002", Some(SchoolOrder::SecondariaSecondoGrado)),
            ("LICEO SCIENTIFICO", "AOPS00101A", Some(SchoolOrder::SecondariaSecondoGrado)),
            ("ISTITUTO TECNICO PER GEOMETRI", "AOTL010008", Some(SchoolOrder::SecondariaSecondoGrado)),
            ("IST PROF PER I SERVIZI SOCIALI", "AORF00101X", Some(SchoolOrder::SecondariaSecondoGrado)),
            ("CENTRO TERRITORIALE", "AOCT70000X", Some(SchoolOrder::Adult)),
            ("CRIA Centro Regionale Istruzione Adulti", "AORR00000X", Some(SchoolOrder::Adult)),
            ("ISTITUTO COMPRENSIVO", "BGIC82100T", None),
            ("ISTITUTO SUPERIORE", "AOIS00100X", None),
            ("Non Disponibile", "AOIP008000", None),
            ("Non Disponibile", "AOTD010005", Some(SchoolOrder::SecondariaSecondoGrado)),
        ];
        for (desc, code, want) in cases {
            assert_eq!(SchoolOrder::from_registry(desc, code), want, "{desc} / {code}");
        }
    }

    #[test]
    fn stored_spelling_round_trips() {
        for o in SchoolOrder::ALL {
            assert_eq!(o.as_str().parse::<SchoolOrder>(), Ok(o));
        }
        assert!("elementare".parse::<SchoolOrder>().is_err());
    }
}
