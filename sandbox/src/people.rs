//! The people of a generated organisation.
//!
//! Both the Okta directory and the Duo account are populated from the same people, so a login
//! synced from Okta names the same person Duo knows — as in a real company that uses both.
//! Everything derives from `(seed, index)`, so an organisation of any size is reproducible and
//! person `i` is the same whatever the size.

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

const FIRST: &[&str] = &[
    "Ada",
    "Alan",
    "Barbara",
    "Brian",
    "Claude",
    "Dennis",
    "Donald",
    "Edsger",
    "Frances",
    "Grace",
    "Hedy",
    "Ivan",
    "Jean",
    "John",
    "Ken",
    "Leslie",
    "Linus",
    "Margaret",
    "Niklaus",
    "Radia",
    "Robin",
    "Shafi",
    "Sophie",
    "Tim",
    "Whitfield",
    "Yukihiro",
    "Zhang",
    "Émilie",
    "Søren",
    "Ólafur",
];
const LAST: &[&str] = &[
    "Lovelace",
    "Turing",
    "Liskov",
    "Kernighan",
    "Shannon",
    "Ritchie",
    "Knuth",
    "Dijkstra",
    "Allen",
    "Hopper",
    "Lamarr",
    "Sutherland",
    "Sammet",
    "Backus",
    "Thompson",
    "Lamport",
    "Torvalds",
    "Hamilton",
    "Wirth",
    "Perlman",
    "Milner",
    "Goldwasser",
    "Wilson",
    "Berners-Lee",
    "Diffie",
    "Matsumoto",
    "Yi",
    "du Châtelet",
    "Kierkegaard",
    "Grímsson",
];

/// One person of the generated organisation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    /// Position in the organisation (0-based).
    pub index: usize,
    /// Given name (may hold non-ASCII letters).
    pub first_name: String,
    /// Family name.
    pub last_name: String,
    /// The login: `first.last.N@example.com`, ASCII, lower-case, unique.
    pub login: String,
}

impl Person {
    /// The person with this index in the organisation generated from `seed`.
    pub fn generate(seed: u64, index: usize) -> Self {
        let mut rng =
            StdRng::seed_from_u64(seed ^ (index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let first_name = FIRST[rng.random_range(0..FIRST.len())].to_owned();
        let last_name = LAST[rng.random_range(0..LAST.len())].to_owned();
        let login = format!(
            "{}.{}.{index}@example.com",
            ascii_slug(&first_name),
            ascii_slug(&last_name)
        );
        Self {
            index,
            first_name,
            last_name,
            login,
        }
    }

    /// `First Last`.
    pub fn full_name(&self) -> String {
        format!("{} {}", self.first_name, self.last_name)
    }

    /// The part of the login before `@`.
    pub fn username(&self) -> &str {
        self.login.split('@').next().unwrap_or(&self.login)
    }
}

/// Lower-case ASCII letters only, for logins.
fn ascii_slug(name: &str) -> String {
    name.chars()
        .filter_map(|c| match c {
            'a'..='z' | 'A'..='Z' => Some(c.to_ascii_lowercase()),
            'É' | 'é' => Some('e'),
            'Ø' | 'ø' => Some('o'),
            'Ó' | 'ó' => Some('o'),
            'â' => Some('a'),
            'í' => Some('i'),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_unique() {
        let a: Vec<Person> = (0..500).map(|i| Person::generate(7, i)).collect();
        let b: Vec<Person> = (0..500).map(|i| Person::generate(7, i)).collect();
        assert_eq!(a, b);
        let mut logins: Vec<&str> = a.iter().map(|p| p.login.as_str()).collect();
        logins.sort_unstable();
        logins.dedup();
        assert_eq!(logins.len(), 500);
        assert!(a.iter().all(|p| p.login.is_ascii()));
        assert_ne!(Person::generate(8, 3), Person::generate(7, 3));
    }
}
