//! The personal code (codice personale, seed 004): a second secret beside
//! the password that confirms an application or an attachment. It is made of
//! two halves: one shown once to the staff member who enabled the account in
//! person (to hand over on paper), one e-mailed to the holder. Neither half
//! alone is enough; the code is the staff half followed by the e-mailed half.
//! Pure: the random bytes come from the caller.

/// Characters of a code: no 0/O, 1/I/L, which are mistaken for each other
/// when read off paper.
const ALPHABET: &[u8; 32] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789#";

/// Characters per half: 8 of 31 symbols each, about 79 bits in all.
pub const HALF: usize = 8;

/// A new code's two halves from `random` (one byte per character).
pub fn halves(random: [u8; 2 * HALF]) -> (String, String) {
    // 31 symbols: '#' only pads the table to a power of two and is never drawn.
    let symbol = |b: u8| ALPHABET[usize::from(b) % 31] as char;
    let all: String = random.iter().map(|b| symbol(*b)).collect();
    (all[..HALF].to_owned(), all[HALF..].to_owned())
}

/// A code as typed: spaces and dashes between groups are allowed, case does
/// not matter. `None` when it cannot be a code at all.
pub fn normalize(typed: &str) -> Option<String> {
    let code: String = typed.chars().filter(|c| !c.is_whitespace() && *c != '-').collect::<String>().to_uppercase();
    let valid = code.len() == 2 * HALF && code.bytes().all(|b| ALPHABET[..31].contains(&b));
    valid.then_some(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn halves_make_a_code_that_normalizes_to_itself() {
        let random: [u8; 16] = core::array::from_fn(|i| (i * 37 + 11) as u8);
        let (staff, mail) = halves(random);
        assert_eq!((staff.len(), mail.len()), (HALF, HALF));
        let code = format!("{staff}{mail}");
        assert_eq!(normalize(&code), Some(code.clone()));
        assert_eq!(normalize(&format!("{} - {}", staff.to_lowercase(), mail)), Some(code.clone()));
        assert_eq!(halves(random), (staff.clone(), mail.clone()), "the same bytes, the same code");
        assert_eq!(normalize(&staff), None, "half a code is not a code");
        assert_eq!(normalize("O0O0O0O0I1I1I1I1"), None, "ambiguous characters are never part of a code");
    }

    #[test]
    fn every_symbol_is_drawn_and_none_is_ambiguous() {
        let all: String = (0..=255u8).map(|b| halves([b; 16]).0.chars().next().unwrap()).collect();
        for c in "ABCDEFGHJKMNPQRSTUVWXYZ23456789".chars() {
            assert!(all.contains(c), "{c} is never drawn");
        }
        assert!(!all.contains(['0', 'O', '1', 'I', 'L', '#']));
    }
}
