//! "Did you mean": the known name nearest to a misspelt one. Shared by the
//! attribute (misspelt keys, read at compile time) and configuration files
//! (misspelt group names and variables, read at run time).

/// The known name closest to `given`, if it is close enough to be a typo
/// (at most `max(2, len / 3)` single-character edits away).
pub fn did_you_mean<'a>(given: &str, known: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    known
        .into_iter()
        .map(|name| (edit_distance(given, name), name))
        .filter(|&(distance, name)| distance <= 2.max(name.len() / 3))
        .min_by_key(|&(distance, _)| distance)
        .map(|(_, name)| name)
}

/// Levenshtein distance in characters.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = diagonal + usize::from(ca != *cb);
            diagonal = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(diagonal + 1);
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance_counts_single_edits() {
        assert_eq!(edit_distance("size", "size"), 0);
        assert_eq!(edit_distance("sise", "size"), 1);
        assert_eq!(edit_distance("mx", "max"), 1);
        assert_eq!(edit_distance("", "max"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    #[test]
    fn suggests_close_names_only() {
        let known = ["app::fetch", "app::store"];
        assert_eq!(did_you_mean("app::fetc", known), Some("app::fetch"));
        assert_eq!(did_you_mean("app::stor", known), Some("app::store"));
        assert_eq!(did_you_mean("billing", known), None);
    }
}
