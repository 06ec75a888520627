//! Italian tax codes (codice fiscale) of natural persons: shape, check
//! character, omocodia, and the birth date and sex they encode.

use chrono::NaiveDate;

/// Letters that replace the digits 0–9 when two people would share a code (omocodia).
const OMOCODIA: &[u8; 10] = b"LMNPQRSTUV";
/// 0-based positions that hold digits, or their omocodia letters.
const DIGIT_POSITIONS: [usize; 7] = [6, 7, 9, 10, 12, 13, 14];
const MONTHS: &[u8; 12] = b"ABCDEHLMPRST";
/// Values of the characters in odd (1-based) positions, for A–Z and 0–9 alike.
const ODD: [u32; 26] = [1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16, 10, 22, 25, 24, 23];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sex {
    F,
    M,
}

/// What a valid tax code says about its holder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaxCode {
    /// The code as written (upper case), omocodia letters included.
    pub code: String,
    /// Two-digit year, month and day of birth.
    pub year2: u32,
    pub month: u32,
    pub day: u32,
    pub sex: Sex,
    /// Cadastral (Belfiore) code of the birth municipality or foreign country.
    pub birthplace: String,
}

/// Index of a character in the tables: digits and letters share values.
fn index(c: u8) -> Option<usize> {
    match c {
        b'0'..=b'9' => Some((c - b'0') as usize),
        b'A'..=b'Z' => Some((c - b'A') as usize),
        _ => None,
    }
}

/// The check character of the first 15 characters.
pub fn check_char(first15: &[u8]) -> Option<u8> {
    let mut sum = 0u32;
    for (i, &c) in first15.iter().enumerate() {
        let v = index(c)?;
        sum += if i % 2 == 0 { ODD[v] } else { v as u32 };
    }
    Some(b'A' + (sum % 26) as u8)
}

/// The digit a position holds, undoing omocodia.
fn digit(c: u8) -> Option<u32> {
    match c {
        b'0'..=b'9' => Some(u32::from(c - b'0')),
        _ => OMOCODIA.iter().position(|&l| l == c).map(|p| p as u32),
    }
}

/// Validates a tax code; the error says what is wrong, without repeating the code.
pub fn parse(raw: &str) -> Result<TaxCode, String> {
    let code = raw.trim().to_ascii_uppercase();
    let b = code.as_bytes();
    if b.len() != 16 || !b.iter().all(u8::is_ascii_alphanumeric) {
        return Err("must be 16 letters and digits".into());
    }
    let letters_at = [0, 1, 2, 3, 4, 5, 8, 11, 15];
    if letters_at.iter().any(|&i| !b[i].is_ascii_uppercase()) {
        return Err("is not shaped like a tax code (letters expected at positions 1–6, 9, 12 and 16)".into());
    }
    let mut d = [0u32; 7];
    for (slot, &i) in d.iter_mut().zip(DIGIT_POSITIONS.iter()) {
        *slot = digit(b[i]).ok_or("is not shaped like a tax code (digits expected at positions 7–8, 10–11, 13–15)")?;
    }
    let month = MONTHS.iter().position(|&m| m == b[8]).ok_or("has no valid month letter at position 9")? as u32 + 1;
    let day_code = d[2] * 10 + d[3];
    let (day, sex) = match day_code {
        1..=31 => (day_code, Sex::M),
        41..=71 => (day_code - 40, Sex::F),
        _ => return Err("has no valid day of birth at positions 10–11".into()),
    };
    if check_char(&b[..15]) != Some(b[15]) {
        return Err("has a wrong check character: please check it for typing errors".into());
    }
    let birthplace = format!("{}{}{}{}", b[11] as char, d[4], d[5], d[6]);
    Ok(TaxCode { code, year2: d[0] * 10 + d[1], month, day, sex, birthplace })
}

/// The three letters of a surname: consonants, then vowels, then `X`.
fn surname_part(s: &str) -> String {
    let letters: Vec<char> = s.to_ascii_uppercase().chars().filter(char::is_ascii_alphabetic).collect();
    let (vowels, consonants): (Vec<char>, Vec<char>) = letters.iter().partition(|c| "AEIOU".contains(**c));
    consonants.into_iter().chain(vowels).chain("XXX".chars()).take(3).collect()
}

/// The three letters of a first name: with four or more consonants, the
/// first, third and fourth; otherwise as for a surname.
fn name_part(s: &str) -> String {
    let consonants: Vec<char> =
        s.to_ascii_uppercase().chars().filter(|c| c.is_ascii_alphabetic() && !"AEIOU".contains(*c)).collect();
    if consonants.len() >= 4 { [consonants[0], consonants[2], consonants[3]].iter().collect() } else { surname_part(s) }
}

/// The tax code of a person without omocodia. Names are taken as plain
/// ASCII letters (accents dropped by the caller).
pub fn encode(surname: &str, name: &str, birth: NaiveDate, sex: Sex, birthplace: &str) -> String {
    use chrono::Datelike;
    let day = birth.day() + if sex == Sex::F { 40 } else { 0 };
    let mut s = format!(
        "{}{}{:02}{}{:02}{}",
        surname_part(surname),
        name_part(name),
        birth.year() % 100,
        MONTHS[birth.month0() as usize] as char,
        day,
        birthplace
    );
    let c = check_char(s.as_bytes()).unwrap_or(b'X');
    s.push(c as char);
    s
}

impl TaxCode {
    /// Whether the code agrees with a birth date and sex declared beside it.
    pub fn matches(&self, birth: NaiveDate, sex: Sex) -> Result<(), String> {
        use chrono::Datelike;
        if (birth.year() % 100) as u32 != self.year2 || birth.month() != self.month || birth.day() != self.day {
            return Err("does not match the birth date".into());
        }
        if sex != self.sex {
            return Err("does not match the sex".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds a valid code for a birth date and sex, applying omocodia to the
    /// last `omocodia` digit positions (from the right, as the Agency does).
    fn build(date: NaiveDate, sex: Sex, omocodia: usize) -> String {
        use chrono::Datelike;
        let day = date.day() + if sex == Sex::F { 40 } else { 0 };
        let mut s = format!("RSSMRA{:02}{}{:02}A794", date.year() % 100, MONTHS[date.month0() as usize] as char, day)
            .into_bytes();
        for &i in DIGIT_POSITIONS.iter().rev().take(omocodia) {
            s[i] = OMOCODIA[(s[i] - b'0') as usize];
        }
        let c = check_char(&s).unwrap();
        s.push(c);
        String::from_utf8(s).unwrap()
    }

    #[test]
    fn encodes_names_as_the_agency_does() {
        let d = NaiveDate::from_ymd_opt(1985, 12, 10).unwrap();
        assert_eq!(encode("Rossi", "Mario", d, Sex::M, "A562"), "RSSMRA85T10A562S");
        assert_eq!(&encode("Fo", "Giancarlo", d, Sex::F, "A562")[..11], "FOXGCR85T50");
        assert!(parse(&encode("De Luca", "Ada", d, Sex::F, "Z100")).is_ok());
    }

    #[test]
    fn known_codes() {
        let t = parse("RSSMRA85T10A562S").unwrap();
        assert_eq!((t.year2, t.month, t.day, t.sex), (85, 12, 10, Sex::M));
        assert_eq!(t.birthplace, "A562");
        assert!(parse(" rssmra85t10a562s ").is_ok());
        assert!(parse("RSSMRA85T10A562T").unwrap_err().contains("check character"));
        // The same person under omocodia: every substituted digit decodes back.
        let t = parse("RSSMRA85T10A56NH").unwrap();
        assert_eq!((t.day, t.birthplace.as_str()), (10, "A562"));
    }

    #[test]
    fn every_day_sex_and_omocodia_level_round_trips() {
        let mut day = NaiveDate::from_ymd_opt(2008, 1, 1).unwrap();
        let end = NaiveDate::from_ymd_opt(2024, 12, 31).unwrap();
        while day <= end {
            for sex in [Sex::F, Sex::M] {
                for level in 0..=7 {
                    let code = build(day, sex, level);
                    let t = parse(&code).unwrap_or_else(|e| panic!("{code}: {e}"));
                    assert_eq!(t.matches(day, sex), Ok(()), "{code}");
                    assert_eq!(t.birthplace, "A794");
                }
            }
            day = day.succ_opt().unwrap();
        }
    }

    #[test]
    fn any_single_typo_is_caught() {
        let code = build(NaiveDate::from_ymd_opt(2015, 4, 23).unwrap(), Sex::F, 0).into_bytes();
        for i in 0..16 {
            for c in (b'0'..=b'9').chain(b'A'..=b'Z') {
                if c == code[i] {
                    continue;
                }
                let mut typo = code.clone();
                typo[i] = c;
                let typo = String::from_utf8(typo).unwrap();
                // Every other character changes the weighted sum by less than 26, or breaks the shape.
                assert!(parse(&typo).is_err(), "{typo} passes");
            }
        }
    }

    #[test]
    fn mismatches_with_the_declared_identity_are_named() {
        let t = parse(&build(NaiveDate::from_ymd_opt(2016, 2, 29).unwrap(), Sex::M, 0)).unwrap();
        assert!(t.matches(NaiveDate::from_ymd_opt(2016, 2, 28).unwrap(), Sex::M).unwrap_err().contains("birth"));
        assert!(t.matches(NaiveDate::from_ymd_opt(2016, 2, 29).unwrap(), Sex::F).unwrap_err().contains("sex"));
        assert!(parse("RSSMRA85Z10A562S").unwrap_err().contains("month"));
        assert!(parse("RSSMRA85T35A562S").unwrap_err().contains("day"));
        assert!(parse("RSSMRA85T10A56").unwrap_err().contains("16"));
    }
}
