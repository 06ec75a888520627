//! ISTAT's list of Italian municipalities ("Elenco dei comuni"): `;`-separated,
//! Latin-1, with a quoted multi-line header.

use std::collections::{BTreeMap, HashSet};

use diesel::sql_types::{Array, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::text::{self, column};
use super::{ImportOptions, ImportReport, Parsed, RowError, Upserted, tally};
use crate::rules::codes::{is_belfiore_code, is_istat_code};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Province {
    pub code: String,
    pub istat_code: String,
    pub name: String,
    pub region: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Municipality {
    pub istat_code: String,
    pub belfiore_code: String,
    pub name: String,
    pub province_code: String,
}

#[derive(Debug, Clone, Default)]
pub struct MunicipalityFile {
    pub provinces: Vec<Province>,
    pub municipalities: Vec<Municipality>,
}

const ISTAT_CODE: &str = "Codice Comune formato alfanumerico";
const NAME: &str = "Denominazione in italiano";
const PROVINCE: &str = "Sigla automobilistica";
const BELFIORE: &str = "Codice Catastale del comune";
const REGION: &str = "Denominazione Regione";
const PROVINCE_ISTAT: &str = "Codice Provincia (Storico)";
const PROVINCE_NAME: &str = "Denominazione dell'Unità territoriale sovracomunale";

/// Parses and validates the whole file; no I/O. `Err` when the file cannot
/// be read at all; otherwise the good rows and the bad ones.
pub fn parse(bytes: &[u8]) -> Result<Parsed<MunicipalityFile>, RowError> {
    let text = text::latin1_or_utf8(bytes)?;
    let mut rdr = text::reader(&text, b';');
    let headers = text::normalized_headers(&mut rdr)?;
    let wanted = [ISTAT_CODE, NAME, PROVINCE, BELFIORE, REGION, PROVINCE_ISTAT, PROVINCE_NAME];
    let missing: Vec<&str> = wanted.iter().copied().filter(|w| column(&headers, w).is_none()).collect();
    if !missing.is_empty() {
        return Err(RowError::new(
            1,
            None,
            format!(
                "unknown column layout: not ISTAT's list of municipalities (`;`-separated); missing columns: {}",
                missing.join(", ")
            ),
        ));
    }
    let col = |name: &str| column(&headers, name).expect("checked above");
    let (c_istat, c_name, c_prov, c_belf, c_region, c_prov_istat, c_prov_name) = (
        col(ISTAT_CODE),
        col(NAME),
        col(PROVINCE),
        col(BELFIORE),
        col(REGION),
        col(PROVINCE_ISTAT),
        col(PROVINCE_NAME),
    );

    let mut errors = Vec::new();
    let rows = text::records(&mut rdr, &text::Lines::new(&text), headers.len(), &mut errors);
    let mut out = MunicipalityFile::default();
    let mut provinces: BTreeMap<String, (u64, Province)> = BTreeMap::new();
    let mut seen_istat = HashSet::new();
    let mut seen_belfiore = HashSet::new();
    for (line, r) in rows {
        let get = |i: usize| r.get(i).unwrap_or("").trim();
        let mut bad = |field: &str, reason: String| errors.push(RowError::new(line, Some(field.to_owned()), reason));
        let istat = get(c_istat);
        let belfiore = get(c_belf).to_ascii_uppercase();
        let sigla = get(c_prov).to_ascii_uppercase();
        let name = get(c_name);
        let prov_istat = get(c_prov_istat);
        let mut ok = true;
        if !is_istat_code(istat) {
            bad(ISTAT_CODE, format!("{istat:?} is not a 6-digit ISTAT code"));
            ok = false;
        } else if !seen_istat.insert(istat.to_owned()) {
            bad(ISTAT_CODE, format!("{istat} appears twice"));
            ok = false;
        }
        if !is_belfiore_code(&belfiore) {
            bad(BELFIORE, format!("{belfiore:?} is not a Belfiore code (a letter and 3 digits)"));
            ok = false;
        } else if !seen_belfiore.insert(belfiore.clone()) {
            bad(BELFIORE, format!("{belfiore} appears twice"));
            ok = false;
        }
        if sigla.len() != 2 || !sigla.bytes().all(|b| b.is_ascii_uppercase()) {
            bad(PROVINCE, format!("{sigla:?} is not a two-letter province code"));
            ok = false;
        }
        if prov_istat.len() != 3 || !prov_istat.bytes().all(|b| b.is_ascii_digit()) {
            bad(PROVINCE_ISTAT, format!("{prov_istat:?} is not a 3-digit province code"));
            ok = false;
        }
        if name.is_empty() {
            bad(NAME, "is empty".into());
            ok = false;
        }
        if !ok {
            continue;
        }
        let province = Province {
            code: sigla.clone(),
            istat_code: prov_istat.to_owned(),
            name: get(c_prov_name).to_owned(),
            region: get(c_region).to_owned(),
        };
        match provinces.get(&sigla) {
            Some((first, p)) if *p != province => errors.push(RowError::new(
                line,
                Some(PROVINCE.to_owned()),
                format!("province {sigla} is described differently than on line {first}"),
            )),
            Some(_) => {}
            None => {
                provinces.insert(sigla.clone(), (line, province));
            }
        }
        out.municipalities.push(Municipality {
            istat_code: istat.to_owned(),
            belfiore_code: belfiore,
            name: name.to_owned(),
            province_code: sigla,
        });
    }
    if out.municipalities.is_empty() && errors.is_empty() {
        return Err(RowError::new(1, None, "the file has no data rows"));
    }
    errors.sort_by_key(|e| e.line);
    out.provinces = provinces.into_values().map(|(_, p)| p).collect();
    Ok(Parsed { data: out, errors })
}

/// Writes a parsed file; the caller holds the transaction.
pub async fn write(
    conn: &mut AsyncPgConnection,
    data: &MunicipalityFile,
    report: &mut ImportReport,
) -> diesel::QueryResult<()> {
    let p = &data.provinces;
    let m = &data.municipalities;
    let col = |f: fn(&Province) -> &String| p.iter().map(f).cloned().collect::<Vec<String>>();
    let (p_code, p_istat, p_name, p_region) =
        (col(|x| &x.code), col(|x| &x.istat_code), col(|x| &x.name), col(|x| &x.region));
    let mcol = |f: fn(&Municipality) -> &String| m.iter().map(f).cloned().collect::<Vec<String>>();
    let (m_istat, m_belf, m_name, m_prov) =
        (mcol(|x| &x.istat_code), mcol(|x| &x.belfiore_code), mcol(|x| &x.name), mcol(|x| &x.province_code));
    let offered = m.len();
    diesel::sql_query(
        "INSERT INTO provinces (code, istat_code, name, region)
                     SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])
                     ON CONFLICT (code) DO UPDATE SET istat_code = EXCLUDED.istat_code,
                         name = EXCLUDED.name, region = EXCLUDED.region
                     WHERE (provinces.istat_code, provinces.name, provinces.region)
                         IS DISTINCT FROM (EXCLUDED.istat_code, EXCLUDED.name, EXCLUDED.region)",
    )
    .bind::<Array<Text>, _>(p_code)
    .bind::<Array<Text>, _>(p_istat)
    .bind::<Array<Text>, _>(p_name)
    .bind::<Array<Text>, _>(p_region)
    .execute(conn)
    .await?;
    let upserted = diesel::sql_query(
        "INSERT INTO municipalities (istat_code, belfiore_code, name, province_code)
                     SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])
                     ON CONFLICT (istat_code) DO UPDATE SET belfiore_code = EXCLUDED.belfiore_code,
                         name = EXCLUDED.name, province_code = EXCLUDED.province_code
                     WHERE (municipalities.belfiore_code, municipalities.name, municipalities.province_code)
                         IS DISTINCT FROM (EXCLUDED.belfiore_code, EXCLUDED.name, EXCLUDED.province_code)
                     RETURNING (xmax = 0) AS inserted",
    )
    .bind::<Array<Text>, _>(m_istat)
    .bind::<Array<Text>, _>(m_belf)
    .bind::<Array<Text>, _>(m_name)
    .bind::<Array<Text>, _>(m_prov)
    .load::<Upserted>(conn)
    .await?;
    report.rows = offered;
    tally(report, &upserted, offered);
    Ok(())
}

/// Parses, validates and writes one file.
pub async fn import(
    conn: &mut AsyncPgConnection,
    file: &str,
    bytes: &[u8],
    options: ImportOptions,
) -> anyhow::Result<ImportReport> {
    super::run(conn, file, "municipalities", parse(bytes), options, |c, d, r| Box::pin(write(c, d, r))).await
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "Codice Regione;\"Codice dell'Unit\u{e0} territoriale sovracomunale \n(valida a fini statistici)\";Codice Provincia (Storico)(1);Progressivo del Comune (2);Codice Comune formato alfanumerico;Denominazione (Italiana e straniera);Denominazione in italiano;Denominazione altra lingua;Codice Ripartizione Geografica;Ripartizione geografica;Denominazione Regione;\"Denominazione dell'Unit\u{e0} territoriale sovracomunale \n(valida a fini statistici)\";Tipologia di Unit\u{e0} territoriale sovracomunale ;Flag Comune capoluogo di provincia/citt\u{e0} metropolitana/libero consorzio;Sigla automobilistica;Codice Comune formato numerico;Codice Comune numerico con 110 province (dal 2010 al 2016);Codice Comune numerico con 107 province (dal 2006 al 2009);Codice Comune numerico con 103 province (dal 1995 al 2005);Codice Catastale del comune;Codice NUTS1 2021;Codice NUTS2 2021 (3) ;Codice NUTS3 2021;Codice NUTS1 2024;Codice NUTS2 2024 (3) ;Codice NUTS3 2024\r\n";
    const ALZANO: &str = "03;016;016;008;016008;Alzano Lombardo;Alzano Lombardo;;1;Nord-ovest;Lombardia;Bergamo;1;0;BG;16008;16008;16008;16008;A246;ITC;ITC4;ITC46;ITC;ITC4;ITC46\r\n";

    fn latin1(s: &str) -> Vec<u8> {
        s.chars().map(|c| c as u32 as u8).collect()
    }

    #[test]
    fn reads_the_published_layout_in_latin1() {
        let file = latin1(&format!("{HEADER}{ALZANO}"));
        let parsed = parse(&file).unwrap().strict().unwrap();
        assert_eq!(parsed.municipalities[0].istat_code, "016008");
        assert_eq!(parsed.municipalities[0].belfiore_code, "A246");
        assert_eq!(parsed.provinces[0].name, "Bergamo");
    }

    #[test]
    fn names_line_and_field_of_a_bad_row() {
        let bad = ALZANO.replace(";016008;", ";16008;").replace(";A246;", ";A247;");
        let file = latin1(&format!("{HEADER}{ALZANO}{bad}"));
        let errors = parse(&file).unwrap().errors;
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].line, 5, "header takes lines 1-3");
        assert_eq!(errors[0].field.as_deref(), Some(ISTAT_CODE));
    }

    #[test]
    fn refuses_an_unknown_layout() {
        let fatal = parse(b"CODICESCUOLA,NUMEROSTUDENTI\nBGEE82101X,3\n").unwrap_err();
        assert!(fatal.reason.contains("unknown column layout"), "{fatal:?}");
    }
}
