//! The municipal street list (stradario, RT 1): which site's catchment an
//! address falls in. Streets match after normalisation (case, spaces,
//! accents, the spellings of "Via"/"Viale"/"Piazza"…); a house number counts
//! by its leading integer ("13/A" is 13). Ranges of one street never overlap.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Parity {
    All,
    Odd,
    Even,
}

impl Parity {
    pub fn as_str(self) -> &'static str {
        match self {
            Parity::All => "all",
            Parity::Odd => "odd",
            Parity::Even => "even",
        }
    }

    pub fn parse(s: &str) -> Option<Parity> {
        [Parity::All, Parity::Odd, Parity::Even].into_iter().find(|p| p.as_str() == s)
    }

    fn admits(self, n: u32) -> bool {
        match self {
            Parity::All => true,
            Parity::Odd => n % 2 == 1,
            Parity::Even => n.is_multiple_of(2),
        }
    }

    fn meets(self, other: Parity) -> bool {
        self == Parity::All || other == Parity::All || self == other
    }
}

/// A line of the street list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    pub street: String,
    /// None: from the first number; with `to` None: to the last.
    pub from: Option<u32>,
    pub to: Option<u32>,
    pub parity: Parity,
    pub site: String,
}

/// The form streets are compared in: lowercase ASCII letters and digits,
/// single spaces, with the common prefixes spelled one way.
pub fn street_key(street: &str) -> String {
    let lower = street.trim().to_lowercase();
    let mut expanded = lower.as_str().to_owned();
    for (short, long) in [("p.zza ", "piazza "), ("p.za ", "piazza "), ("v.le ", "viale "), ("c.so ", "corso ")] {
        if let Some(rest) = lower.strip_prefix(short) {
            expanded = format!("{long}{rest}");
        }
    }
    let folded: String = expanded
        .chars()
        .map(|c| match c {
            'à' | 'á' | 'â' | 'ä' | 'À' | 'Á' => 'a',
            'è' | 'é' | 'ê' | 'ë' | 'È' | 'É' => 'e',
            'ì' | 'í' | 'î' | 'ï' | 'Ì' | 'Í' => 'i',
            'ò' | 'ó' | 'ô' | 'ö' | 'Ò' | 'Ó' => 'o',
            'ù' | 'ú' | 'û' | 'ü' | 'Ù' | 'Ú' => 'u',
            '\'' | '’' | '.' | ',' | '-' => ' ',
            c => c.to_ascii_lowercase(),
        })
        .collect();
    let words: Vec<&str> = folded.split_whitespace().collect();
    let mut out: Vec<&str> = Vec::with_capacity(words.len());
    for (i, w) in words.iter().enumerate() {
        let w = match (i, *w) {
            (0, "v" | "via") => "via",
            (0, "vle" | "viale") => "viale",
            (0, "p" | "pza" | "pzza" | "piazza") => "piazza",
            (0, "c" | "cso" | "corso") => "corso",
            (0, "vic" | "vicolo") => "vicolo",
            (0, "l" | "lgo" | "largo") => "largo",
            (_, w) => w,
        };
        out.push(w);
    }
    out.join(" ")
}

/// The leading integer of a house number: "13/A" is 13, "bis" is none.
pub fn house_number(s: &str) -> Option<u32> {
    let digits: String = s.trim().chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

fn covers(e: &Entry, n: Option<u32>) -> bool {
    match n {
        None => e.from.is_none() && e.to.is_none(),
        Some(n) => e.from.is_none_or(|f| n >= f) && e.to.is_none_or(|t| n <= t) && e.parity.admits(n),
    }
}

/// The site whose catchment the address is in, if the list says.
pub fn catchment<'a>(entries: &'a [Entry], street: &str, number: &str) -> Option<&'a str> {
    let key = street_key(street);
    let n = house_number(number);
    entries.iter().find(|e| street_key(&e.street) == key && covers(e, n)).map(|e| e.site.as_str())
}

/// The first pair of lines (by index) whose ranges overlap on one street.
pub fn overlap(entries: &[Entry]) -> Option<(usize, usize)> {
    for (i, a) in entries.iter().enumerate() {
        for (j, b) in entries.iter().enumerate().skip(i + 1) {
            if street_key(&a.street) != street_key(&b.street) || !a.parity.meets(b.parity) {
                continue;
            }
            let (a_from, a_to) = (a.from.unwrap_or(0), a.to.unwrap_or(u32::MAX));
            let (b_from, b_to) = (b.from.unwrap_or(0), b.to.unwrap_or(u32::MAX));
            if a_from <= b_to && b_from <= a_to {
                return Some((i, j));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(street: &str, from: Option<u32>, to: Option<u32>, parity: Parity, site: &str) -> Entry {
        Entry { street: street.into(), from, to, parity, site: site.into() }
    }

    #[test]
    fn streets_match_however_they_are_spelled() {
        assert_eq!(street_key("V. F.lli  Valenti"), street_key("via f lli valenti"));
        assert_eq!(street_key("P.zza Italia"), "piazza italia");
        assert_eq!(street_key("V.le Europa"), street_key("Viale  Europa"));
        assert_eq!(street_key("Viale Città"), "viale citta");
        assert_eq!(house_number("13/A"), Some(13));
        assert_eq!(house_number(" 7 bis"), Some(7));
        assert_eq!(house_number("snc"), None);
    }

    #[test]
    fn an_address_falls_in_the_range_and_parity_that_holds_it() {
        let list = [
            entry("Via Roma", Some(1), Some(99), Parity::Odd, "BGEE82101X"),
            entry("Via Roma", Some(2), Some(98), Parity::Even, "BGEE821021"),
            entry("Via Roma", Some(100), None, Parity::All, "BGEE821032"),
            entry("Piazza Garibaldi", None, None, Parity::All, "BGEE82101X"),
        ];
        assert_eq!(catchment(&list, "VIA ROMA", "13/A"), Some("BGEE82101X"));
        assert_eq!(catchment(&list, "v. roma", "14"), Some("BGEE821021"));
        assert_eq!(catchment(&list, "Via Roma", "250"), Some("BGEE821032"));
        assert_eq!(catchment(&list, "Piazza Garibaldi", "3"), Some("BGEE82101X"));
        assert_eq!(catchment(&list, "Via Milano", "3"), None);
        assert_eq!(overlap(&list), None);
        let clash = [list[0].clone(), entry("via roma", Some(51), Some(51), Parity::All, "BGEE821032")];
        assert_eq!(overlap(&clash), Some((0, 1)));
    }
}
