//! What a class (classe/sezione) may look like in each school order.

use super::order::SchoolOrder;

/// Years of study in an order: infanzia and secondaria di I grado have 3,
/// primaria and secondaria di II grado 5.
pub fn years_of_study(order: SchoolOrder) -> Option<std::ops::RangeInclusive<i32>> {
    match order {
        SchoolOrder::Infanzia | SchoolOrder::SecondariaPrimoGrado => Some(1..=3),
        SchoolOrder::Primaria | SchoolOrder::SecondariaSecondoGrado => Some(1..=5),
        SchoolOrder::Adult => None,
    }
}

/// Weekly hours a time model (tempo scuola) may have in an order: from the
/// shortest ordinary timetable to the longest extended one.
pub fn time_model_hours(order: SchoolOrder) -> Option<std::ops::RangeInclusive<i32>> {
    match order {
        SchoolOrder::Infanzia => Some(25..=50),
        SchoolOrder::Primaria => Some(24..=40),
        SchoolOrder::SecondariaPrimoGrado => Some(30..=40),
        SchoolOrder::SecondariaSecondoGrado => Some(27..=40),
        SchoolOrder::Adult => None,
    }
}

/// Most pupils in one class.
pub const MAX_PUPILS: i32 = 35;

/// A class as entered, before it is checked against its site.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassShape {
    pub order: SchoolOrder,
    pub year_of_study: i32,
    pub section: String,
    pub pupils: i32,
    pub time_model_hours: i32,
}

/// Checks a class; the error names the input field and the allowed values.
/// `site_order` is the order the registry gives the site, if any.
pub fn check(c: &ClassShape, site_order: Option<SchoolOrder>) -> Result<ClassShape, (&'static str, String)> {
    let label = super::support::order_label(c.order);
    let years = years_of_study(c.order).ok_or(("order", format!("the registry has no classes in {label}")))?;
    if let Some(site) = site_order.filter(|s| *s != c.order) {
        return Err(("order", format!("the site teaches {}, not {label}", super::support::order_label(site))));
    }
    if !years.contains(&c.year_of_study) {
        return Err((
            "yearOfStudy",
            format!("must be from {} to {} in {label}, was {}", years.start(), years.end(), c.year_of_study),
        ));
    }
    let section = c.section.trim().to_uppercase();
    if section.is_empty() || section.chars().count() > 4 || !section.chars().all(|ch| ch.is_ascii_alphabetic()) {
        return Err(("section", "must be 1 to 4 letters, such as \"A\" or \"BS\"".into()));
    }
    if !(1..=MAX_PUPILS).contains(&c.pupils) {
        return Err(("pupils", format!("must be from 1 to {MAX_PUPILS}, was {}", c.pupils)));
    }
    let hours = time_model_hours(c.order).expect("every order with years has time models");
    if !hours.contains(&c.time_model_hours) {
        return Err((
            "timeModelHours",
            format!("must be from {} to {} h/week in {label}, was {}", hours.start(), hours.end(), c.time_model_hours),
        ));
    }
    Ok(ClassShape { section, ..c.clone() })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(order: SchoolOrder, year: i32) -> ClassShape {
        ClassShape { order, year_of_study: year, section: " a ".into(), pupils: 22, time_model_hours: 30 }
    }

    #[test]
    fn year_of_study_fits_the_order() {
        assert_eq!(check(&class(SchoolOrder::Primaria, 5), None).unwrap().section, "A");
        assert_eq!(check(&class(SchoolOrder::SecondariaPrimoGrado, 4), None).unwrap_err().0, "yearOfStudy");
        assert_eq!(check(&class(SchoolOrder::Infanzia, 0), None).unwrap_err().0, "yearOfStudy");
        assert!(check(&class(SchoolOrder::SecondariaSecondoGrado, 5), None).is_ok());
        assert_eq!(check(&class(SchoolOrder::Adult, 1), None).unwrap_err().0, "order");
    }

    #[test]
    fn the_site_decides_the_order() {
        let e = check(&class(SchoolOrder::Primaria, 1), Some(SchoolOrder::Infanzia)).unwrap_err();
        assert_eq!(e.0, "order");
        assert!(e.1.contains("infanzia"), "{}", e.1);
        assert!(check(&class(SchoolOrder::Primaria, 1), Some(SchoolOrder::Primaria)).is_ok());
    }

    #[test]
    fn other_fields() {
        let mut c = class(SchoolOrder::Primaria, 2);
        c.section = "A1".into();
        assert_eq!(check(&c, None).unwrap_err().0, "section");
        c.section = "B".into();
        c.pupils = 0;
        assert_eq!(check(&c, None).unwrap_err().0, "pupils");
        c.pupils = 20;
        c.time_model_hours = 45;
        assert!(check(&c, None).unwrap_err().1.contains("24 to 40"));
    }
}
