//! Windows and channels (spec §2: WIN-1..5, CH-1): which forms go online and
//! which on paper, and on which days each is accepted. A campaign is named
//! by its calendar year Y; its windows default to the seed's dates for Y
//! and the office may set them each year. Days are inclusive and the last
//! one lasts until 23:59:59 in Italy, so every check takes a date in Italy.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::{Finding, Order};

/// Who applies: a teacher of an order, or a category whose forms are paper.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Category {
    /// A teacher of this order (the order of the post held).
    Teacher(Order),
    /// «personale educativo».
    Educativo,
    /// Teachers of Catholic religion.
    Irc,
    /// Administrative, technical and auxiliary staff.
    Ata,
    /// A utilisation on the specific disciplines of a liceo musicale.
    LiceoMusicale,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Channel {
    Online,
    Paper,
}

/// The first and last day a form is accepted; `None` where the office has
/// not set it yet (then the window is closed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    pub opens: Option<NaiveDate>,
    pub closes: Option<NaiveDate>,
}

impl Window {
    pub fn days(opens: NaiveDate, closes: NaiveDate) -> Window {
        Window { opens: Some(opens), closes: Some(closes) }
    }

    pub fn contains(&self, day: NaiveDate) -> bool {
        matches!((self.opens, self.closes), (Some(o), Some(c)) if o <= day && day <= c)
    }
}

/// A campaign's windows (spec §2), as the office keeps them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Windows {
    pub infanzia: Window,
    /// Opens on the publication of the transfers (WIN-2), which the office sets.
    pub primaria: Window,
    /// I and II grado.
    pub secondaria: Window,
    /// Personale educativo and IRC teachers (paper).
    pub educativo_irc: Window,
    /// ATA staff (paper); the seed gives only the closing day.
    pub ata: Window,
    /// Licei musicali (paper); the seed gives neither day (Ambiguity 3).
    pub liceo_musicale: Window,
    /// Days after an outcome's publication in which the office records a
    /// complaint about it (Ambiguity 21: no number in the seed, so none
    /// until the office sets one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub complaint_days: Option<u32>,
}

/// The last day (in Italy, inclusive) a complaint about an outcome
/// published on `published` is received, with `days` for complaints.
pub fn complaint_deadline(published: NaiveDate, days: u32) -> NaiveDate {
    published + chrono::Days::new(u64::from(days))
}

impl Windows {
    /// The seed's windows for campaign year `y`, with the primaria
    /// publication date left to the office, the ATA window opening with the
    /// campaign's first window, and the liceo musicale window unset.
    pub fn default_for(y: i32) -> Windows {
        let d = |m, day| NaiveDate::from_ymd_opt(y, m, day).expect("a date of the seed");
        Windows {
            infanzia: Window::days(d(7, 28), d(8, 12)),
            primaria: Window { opens: None, closes: Some(d(8, 12)) },
            secondaria: Window::days(d(8, 18), d(8, 28)),
            educativo_irc: Window::days(d(7, 25), d(8, 5)),
            ata: Window::days(d(7, 25), d(8, 20)),
            liceo_musicale: Window { opens: None, closes: None },
            complaint_days: None,
        }
    }

    /// The window of a teacher's own order.
    fn teacher(&self, order: Order) -> &Window {
        match order {
            Order::Infanzia => &self.infanzia,
            Order::Primaria => &self.primaria,
            Order::SecondariaPrimoGrado | Order::SecondariaSecondoGrado => &self.secondaria,
        }
    }
}

/// What a form is: who applies, for which order, on which channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Form {
    pub category: Category,
    /// The order applied for (a teacher's own order, or another one).
    pub order: Option<Order>,
    pub channel: Channel,
}

/// The channel a form must use (CH-1, WIN-4): online for a teacher's order
/// and for another order of the same cycle (Ambiguity 4); paper for the
/// other categories and for an order of the other cycle.
pub fn required_channel(category: Category, order: Option<Order>) -> Channel {
    match (category, order) {
        (Category::Teacher(own), Some(asked)) if own.first_cycle() != asked.first_cycle() => Channel::Paper,
        (Category::Teacher(_), _) => Channel::Online,
        _ => Channel::Paper,
    }
}

/// The window a form is judged by: its category's, and for a teacher the
/// window of their own order, whatever order the form asks for (WIN-4).
pub fn window_of(windows: &Windows, category: Category) -> Window {
    match category {
        Category::Teacher(own) => *windows.teacher(own),
        Category::Educativo | Category::Irc => windows.educativo_irc,
        Category::Ata => windows.ata,
        Category::LiceoMusicale => windows.liceo_musicale,
    }
}

/// Whether a form is accepted on `day` (a date in Italy): for an online form
/// the day of submission (WIN-1, WIN-2), for a paper form its date of
/// receipt at the office (WIN-3).
pub fn check(windows: &Windows, form: &Form, day: NaiveDate) -> Result<(), Finding> {
    let channel = required_channel(form.category, form.order);
    if form.channel != channel {
        let why = match channel {
            Channel::Paper => "this form is on paper only: the office records it with its date of receipt",
            Channel::Online => "this form is online only («esclusivamente in modalità online»)",
        };
        return Err(Finding::refused("CH-1", "BAD_USER_INPUT", why));
    }
    let window = window_of(windows, form.category);
    if window.contains(day) {
        return Ok(());
    }
    let (rule, why) = match (form.category, window.opens, window.closes) {
        (Category::Teacher(Order::Primaria), None, _) => {
            ("WIN-2", "the primaria window opens with the publication of the transfers, not set yet".to_owned())
        }
        (_, Some(o), Some(c)) => (
            if form.channel == Channel::Paper { "WIN-3" } else { "WIN-1" },
            format!("accepted from {} to {}", o.format("%d/%m/%Y"), c.format("%d/%m/%Y")),
        ),
        _ => ("WIN-1", "the office has not set this window yet".to_owned()),
    };
    Err(Finding::refused(rule, "CAMPAIGN_CLOSED", why))
}

/// WIN-5: the last day by which requirements, titles and documents must
/// exist to count: the deadline of the teacher's own order.
pub fn titles_deadline(windows: &Windows, category: Category) -> Option<NaiveDate> {
    window_of(windows, category).closes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2016, m, day).unwrap()
    }

    fn online(own: Order, asked: Order) -> Form {
        Form { category: Category::Teacher(own), order: Some(asked), channel: Channel::Online }
    }

    #[test]
    fn each_order_on_its_days_with_both_ends_included() {
        let w = Windows::default_for(2016);
        let infanzia = online(Order::Infanzia, Order::Infanzia);
        assert_eq!(check(&w, &infanzia, d(7, 27)).unwrap_err().rule, "WIN-1");
        assert!(check(&w, &infanzia, d(7, 28)).is_ok());
        assert!(check(&w, &infanzia, d(8, 12)).is_ok());
        assert_eq!(check(&w, &infanzia, d(8, 13)).unwrap_err().code, "CAMPAIGN_CLOSED");
        let second = online(Order::SecondariaSecondoGrado, Order::SecondariaSecondoGrado);
        assert!(check(&w, &second, d(8, 17)).is_err());
        assert!(check(&w, &second, d(8, 18)).is_ok() && check(&w, &second, d(8, 28)).is_ok());
        assert!(check(&w, &second, d(8, 29)).is_err());
    }

    #[test]
    fn the_complaint_deadline_counts_days_after_publication_and_is_unset_by_default() {
        assert_eq!(complaint_deadline(d(8, 30), 5), d(9, 4));
        let w = Windows::default_for(2016);
        assert_eq!(w.complaint_days, None, "the seed sets no number: the office does");
        // A campaign stored before the field existed reads back alike.
        let mut stored = serde_json::to_value(&w).unwrap();
        assert!(stored.get("complaint_days").is_none());
        stored["complaint_days"] = 7.into();
        assert_eq!(serde_json::from_value::<Windows>(stored).unwrap().complaint_days, Some(7));
    }

    #[test]
    fn primaria_opens_only_with_the_publication_of_the_transfers() {
        let mut w = Windows::default_for(2016);
        let primaria = online(Order::Primaria, Order::Primaria);
        let e = check(&w, &primaria, d(8, 1)).unwrap_err();
        assert_eq!((e.rule, e.code), ("WIN-2", "CAMPAIGN_CLOSED"));
        w.primaria.opens = Some(d(7, 29));
        assert!(check(&w, &primaria, d(7, 28)).is_err());
        assert!(check(&w, &primaria, d(7, 29)).is_ok() && check(&w, &primaria, d(8, 12)).is_ok());
    }

    #[test]
    fn another_cycle_is_on_paper_with_the_deadline_of_the_own_order() {
        let w = Windows::default_for(2016);
        // A primaria teacher asking for I grado: paper, by 12 August (not 28).
        let mut form = online(Order::Infanzia, Order::SecondariaPrimoGrado);
        let e = check(&w, &form, d(8, 1)).unwrap_err();
        assert_eq!((e.rule, e.code), ("CH-1", "BAD_USER_INPUT"));
        form.channel = Channel::Paper;
        assert!(check(&w, &form, d(8, 12)).is_ok());
        assert_eq!(check(&w, &form, d(8, 20)).unwrap_err().rule, "WIN-3");
        // Within a cycle the form stays online with the own order's deadline.
        let within = online(Order::SecondariaPrimoGrado, Order::SecondariaSecondoGrado);
        assert!(check(&w, &within, d(8, 28)).is_ok());
        assert_eq!(titles_deadline(&w, Category::Teacher(Order::Infanzia)), Some(d(8, 12)));
        assert_eq!(titles_deadline(&w, Category::Teacher(Order::SecondariaPrimoGrado)), Some(d(8, 28)));
    }

    #[test]
    fn paper_categories_by_their_date_of_receipt() {
        let w = Windows::default_for(2016);
        let paper = |category| Form { category, order: None, channel: Channel::Paper };
        assert_eq!(
            check(&w, &Form { channel: Channel::Online, ..paper(Category::Irc) }, d(8, 1)).unwrap_err().rule,
            "CH-1"
        );
        assert!(check(&w, &paper(Category::Irc), d(8, 5)).is_ok());
        assert_eq!(check(&w, &paper(Category::Educativo), d(8, 6)).unwrap_err().rule, "WIN-3");
        assert!(check(&w, &paper(Category::Ata), d(8, 20)).is_ok());
        assert!(check(&w, &paper(Category::Ata), d(8, 21)).is_err());
        // The liceo musicale window waits for the office.
        assert_eq!(check(&w, &paper(Category::LiceoMusicale), d(8, 10)).unwrap_err().code, "CAMPAIGN_CLOSED");
        // A teacher's own-order form on paper is refused: it is online only.
        let own_on_paper = Form { channel: Channel::Paper, ..online(Order::Infanzia, Order::Infanzia) };
        assert_eq!(check(&w, &own_on_paper, d(8, 1)).unwrap_err().rule, "CH-1");
    }
}
