//! The mobility allocation's speed (issue 21): a national campaign of
//! 30,000 forms with 20 preferences each over 50,000 posts, on one core,
//! certificates and the global checker included. Beside it, the physical
//! reference: the same candidates' options only expanded and sorted by
//! standing, with no assignment, certificate or check.
//!
//! `cargo bench --bench allocation`. Prints a Markdown table.

mod common;

use common::median;

use ambito::rules::mobility::allocation;
use ambito::rules::mobility::phase;
use ambito::rules::mobility::synthetic::{self, Sizes};

fn main() {
    let sizes = Sizes::NATIONAL;
    let campaign = synthetic::campaign(2016, sizes);
    let input = campaign.input();
    let options: usize = input.candidates.iter().map(|c| c.wishes.iter().map(|w| w.schools.len()).sum::<usize>()).sum();
    let build = median(3, || {
        std::hint::black_box(campaign.input());
    });
    let mut assigned = 0;
    let run = median(3, || {
        let a = phase::run(&input).expect("the checker accepts");
        assigned = a.outcomes.iter().filter(|o| o.assigned.is_some()).count();
        std::hint::black_box(a);
    });
    let hash = median(3, || {
        std::hint::black_box(input.hash());
    });
    // The reference: every candidate's options, sorted by standing.
    let reference = median(3, || {
        let at = allocation::Index::new(&input.vacancies);
        let mut all: Vec<_> = input
            .candidates
            .iter()
            .flat_map(|c| allocation::options(c, &input.vacancies, &at))
            .map(|r| r.standing)
            .collect();
        all.sort();
        std::hint::black_box(all);
    });
    println!(
        "Allocation, national campaign: {} forms × {} preferences, {} posts in {} lines, {} school slots",
        sizes.forms,
        sizes.preferences,
        sizes.posts,
        input.vacancies.len(),
        options
    );
    println!();
    println!("| step | median of 3 |");
    println!("|---|---:|");
    println!("| build the run's input from the forms | {:.3} s |", build.as_secs_f64());
    println!("| allocate + certificates + checker | {:.3} s |", run.as_secs_f64());
    println!("| input hash (SHA-256 of canonical JSON) | {:.3} s |", hash.as_secs_f64());
    println!("| reference: options expanded and sorted | {:.3} s |", reference.as_secs_f64());
    println!();
    println!("{assigned} of {} candidates assigned", input.candidates.len());
}
