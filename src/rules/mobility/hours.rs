//! POST-8 (issue 21): part-posts (*spezzoni*) and the hours they add up to,
//! as pure code. A provisional assignment may be a post «derivante dalla
//! somma di spezzoni purché compatibili con l'orario di servizio» (seed
//! L717): the office loads part-posts as lines of hours, this module
//! composes those of one school into posts, and the engine offers a post
//! of part-posts only to a form that asked for them and whose service hours
//! it matches.

use crate::rules::order::SchoolOrder;

use super::Order;

/// The weekly teaching hours of a full post (CCNL scuola 2007, art. 28 c. 5:
/// 25 in infanzia, 22 in primaria, 18 in secondary schools). The seed
/// assumes them; it never states them.
pub fn full_hours(order: Order) -> u32 {
    match order {
        Order::Infanzia => 25,
        Order::Primaria => 22,
        Order::SecondariaPrimoGrado | Order::SecondariaSecondoGrado => 18,
    }
}

/// The order a line of free posts belongs to: a line with a class of
/// competition is of a secondary school (whose full post is 18 hours in
/// either grade); one without is told by its school code's type letters.
/// None when the code tells no order (an institution's own code).
pub fn line_order(school: &str, class: Option<&str>) -> Option<Order> {
    if class.is_some() {
        return Some(Order::SecondariaSecondoGrado);
    }
    match SchoolOrder::from_code(school)? {
        SchoolOrder::Infanzia => Some(Order::Infanzia),
        SchoolOrder::Primaria => Some(Order::Primaria),
        SchoolOrder::SecondariaPrimoGrado => Some(Order::SecondariaPrimoGrado),
        SchoolOrder::SecondariaSecondoGrado => Some(Order::SecondariaSecondoGrado),
        SchoolOrder::Adult => None,
    }
}

/// The service hours a form is compatible with. The registry holds the
/// teacher's weekly hours in their own order (none: full time). A form for
/// another order (ORG-3) counts the same share of that order's full post,
/// rounded down, so a half-time teacher stays half-time.
pub fn service_hours(form: Order, own: Order, registry: Option<u32>) -> u32 {
    let own_full = full_hours(own);
    let hours = registry.unwrap_or(own_full).clamp(1, own_full);
    if form == own { hours } else { full_hours(form) * hours / own_full }
}

/// A post of part-posts in words, for the outcome's sheet, e-mail and
/// certificate: «18 ore (10+8)», or «9 ore» for a single part-post.
pub fn describe(hours: u32, parts: &[u32]) -> String {
    if parts.is_empty() {
        return format!("{hours} ore");
    }
    let parts: Vec<String> = parts.iter().map(u32::to_string).collect();
    format!("{hours} ore ({})", parts.join("+"))
}

/// Composes one school's part-posts (of one post type, class and chair
/// kind) into posts of `target` hours: again and again the set of the
/// remaining part-posts that sums to exactly `target`, taking the largest
/// part-posts first (the lexicographically greatest such set, read from
/// the largest), until no set does. Returns each post as its part-posts,
/// largest first, in the order composed, and the part-posts left, largest
/// first. Exact sums only: a post of part-posts is never longer or shorter
/// than the service hours it is for.
pub fn compose(pieces: &[u32], target: u32) -> (Vec<Vec<u32>>, Vec<u32>) {
    let mut left: Vec<u32> = pieces.iter().copied().filter(|h| *h > 0).collect();
    left.sort_unstable_by(|a, b| b.cmp(a));
    let mut posts = Vec::new();
    while let Some(chosen) = subset(&left, target) {
        let post: Vec<u32> = chosen.iter().map(|&i| left[i]).collect();
        for &i in chosen.iter().rev() {
            left.remove(i);
        }
        posts.push(post);
    }
    (posts, left)
}

/// The indices (ascending) of the first subset of `sorted` (largest first)
/// summing to `target`, searched largest first. States that failed are
/// remembered, so the search is bounded by pieces × target.
fn subset(sorted: &[u32], target: u32) -> Option<Vec<usize>> {
    fn walk(p: &[u32], from: usize, need: u32, chosen: &mut Vec<usize>, failed: &mut Vec<bool>, t: u32) -> bool {
        if need == 0 {
            return true;
        }
        let state = from * (t as usize + 1) + need as usize;
        if from >= p.len() || failed[state] {
            return false;
        }
        for j in from..p.len() {
            // Equal pieces are interchangeable: try the first of a run only.
            if j > from && p[j] == p[j - 1] || p[j] > need {
                continue;
            }
            chosen.push(j);
            if walk(p, j + 1, need - p[j], chosen, failed, t) {
                return true;
            }
            chosen.pop();
        }
        failed[state] = true;
        false
    }
    if target == 0 {
        return None;
    }
    let mut failed = vec![false; (sorted.len() + 1) * (target as usize + 1)];
    let mut chosen = Vec::new();
    walk(sorted, 0, target, &mut chosen, &mut failed, target).then_some(chosen)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_posts_compose_into_exact_posts_largest_first_and_the_rest_stay_single() {
        // 10 + 8 and 9 + 9 make two 18-hour posts; the 5 stays alone.
        assert_eq!(compose(&[9, 10, 5, 8, 9], 18), (vec![vec![10, 8], vec![9, 9]], vec![5]));
        // The largest part-post goes first even when another set also fits.
        assert_eq!(compose(&[6, 12, 6, 6], 18), (vec![vec![12, 6]], vec![6, 6]));
        // Nothing adds up: every part-post stays single.
        assert_eq!(compose(&[7, 7, 7], 18), (vec![], vec![7, 7, 7]));
        // Three part-posts may make one post.
        assert_eq!(compose(&[4, 11, 7], 22), (vec![vec![11, 7, 4]], vec![]));
        // The order given does not matter.
        assert_eq!(compose(&[5, 9, 9, 8, 10], 18), compose(&[9, 10, 5, 8, 9], 18));
    }

    #[test]
    fn every_composed_post_sums_to_its_target_and_no_part_post_is_lost() {
        let mut dice = crate::rules::dice::Dice(11);
        for _ in 0..300 {
            let n = dice.next(12);
            let pieces: Vec<u32> = (0..n).map(|_| 1 + dice.next(17) as u32).collect();
            let (posts, left) = compose(&pieces, 18);
            assert!(posts.iter().all(|p| p.iter().sum::<u32>() == 18), "{pieces:?}");
            let mut all: Vec<u32> = posts.concat().into_iter().chain(left.iter().copied()).collect();
            let mut given = pieces.clone();
            all.sort_unstable();
            given.sort_unstable();
            assert_eq!(all, given, "the part-posts are used once each");
            assert!(subset(&left, 18).is_none(), "{pieces:?}: no post left to compose");
        }
    }

    #[test]
    fn service_hours_follow_the_registry_and_keep_their_share_in_another_order() {
        assert_eq!(service_hours(Order::Primaria, Order::Primaria, None), 22);
        assert_eq!(service_hours(Order::SecondariaPrimoGrado, Order::SecondariaPrimoGrado, Some(9)), 9);
        // Half-time in primaria (11 of 22) is half of infanzia's 25, rounded down.
        assert_eq!(service_hours(Order::Infanzia, Order::Primaria, Some(11)), 12);
        assert_eq!(service_hours(Order::SecondariaSecondoGrado, Order::Primaria, None), 18);
        assert_eq!(line_order("MIEE80401C", None), Some(Order::Primaria));
        assert_eq!(line_order("MIAA80401C", None).map(full_hours), Some(25));
        assert_eq!(line_order("MIIC80400X", None), None, "an institution's code tells no order");
        assert_eq!(line_order("MIIS00900X", Some("A022")).map(full_hours), Some(18));
        assert_eq!((describe(18, &[10, 8]), describe(9, &[])), ("18 ore (10+8)".into(), "9 ore".into()));
    }
}
