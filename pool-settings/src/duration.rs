//! Duration literals (`"500ms"`, `"2s"`, `"1m30s"`), shared by the attribute
//! (read at compile time) and configuration files (read at run time).

/// The units a duration literal accepts, with their length in nanoseconds.
const UNITS: &[(&str, u64)] = &[
    ("h", 3_600_000_000_000),
    ("m", 60_000_000_000),
    ("s", 1_000_000_000),
    ("ms", 1_000_000),
    ("us", 1_000),
    // The micro sign (what `Duration`'s `Debug` prints), and the Greek
    // letter mu, which looks the same (and which normalisation makes of it).
    ("µs", 1_000),
    ("μs", 1_000),
    ("ns", 1),
];

/// What an error message says about the accepted syntax.
pub const ACCEPTED: &str =
    "write whole numbers with a unit (h, m, s, ms, us, ns), e.g. \"500ms\", \"2s\", \"1m30s\"";

/// Parses `text` into nanoseconds. The error says what is wrong, without the
/// [`ACCEPTED`] syntax (the caller adds it).
pub fn parse_nanos(text: &str) -> Result<u64, String> {
    if text.is_empty() {
        return Err("empty duration".to_owned());
    }
    if text.contains(char::is_whitespace) {
        return Err(format!("\"{text}\" contains spaces"));
    }
    let mut rest = text;
    let mut total: u64 = 0;
    while !rest.is_empty() {
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        if digits == 0 {
            return Err(format!("expected a number at `{rest}`"));
        }
        let number: u64 = rest[..digits]
            .parse()
            .map_err(|_| format!("`{}` is too large", &rest[..digits]))?;
        rest = &rest[digits..];
        if rest.starts_with('_') {
            return Err(
                "digit separators are not accepted (\"1000ms\", not \"1_000ms\")".to_owned(),
            );
        }
        if rest.starts_with(['.', ',']) {
            return Err(
                "fractions are not accepted; use a smaller unit (\"1500ms\", not \"1.5s\")"
                    .to_owned(),
            );
        }
        let unit_len = rest.len() - rest.trim_start_matches(|c: char| c.is_alphabetic()).len();
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        if unit.is_empty() {
            return Err(format!("`{number}` has no unit"));
        }
        let Some(&(_, nanos)) = UNITS.iter().find(|(name, _)| *name == unit) else {
            return Err(format!("unknown unit `{unit}`"));
        };
        total = number
            .checked_mul(nanos)
            .and_then(|part| total.checked_add(part))
            .ok_or_else(|| {
                format!("\"{text}\" is longer than the ~584 years a duration literal can hold")
            })?;
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::parse_nanos;

    #[test]
    fn each_unit_scales_its_number() {
        assert_eq!(parse_nanos("250ns"), Ok(250));
        assert_eq!(parse_nanos("250us"), Ok(250_000));
        assert_eq!(parse_nanos("250µs"), Ok(250_000));
        assert_eq!(parse_nanos("250\u{3bc}s"), Ok(250_000), "the Greek mu");
        assert_eq!(parse_nanos("500ms"), Ok(500_000_000));
        assert_eq!(parse_nanos("2s"), Ok(2_000_000_000));
        assert_eq!(parse_nanos("1m"), Ok(60_000_000_000));
        assert_eq!(parse_nanos("1h"), Ok(3_600_000_000_000));
        assert_eq!(parse_nanos("0s"), Ok(0));
    }

    #[test]
    fn parts_add_up() {
        assert_eq!(parse_nanos("1m30s"), Ok(90_000_000_000));
        assert_eq!(parse_nanos("1s500ms"), Ok(1_500_000_000));
    }

    #[test]
    fn malformed_literals_say_what_is_wrong() {
        assert_eq!(parse_nanos(""), Err("empty duration".to_owned()));
        assert_eq!(parse_nanos("500"), Err("`500` has no unit".to_owned()));
        assert_eq!(
            parse_nanos("5 s"),
            Err("\"5 s\" contains spaces".to_owned())
        );
        assert_eq!(
            parse_nanos("s5"),
            Err("expected a number at `s5`".to_owned())
        );
        assert_eq!(parse_nanos("2sec"), Err("unknown unit `sec`".to_owned()));
        assert!(parse_nanos("1.5s")
            .unwrap_err()
            .contains("fractions are not accepted"));
        assert!(parse_nanos("1_000ms")
            .unwrap_err()
            .contains("digit separators are not accepted"));
        assert!(parse_nanos("ms").is_err());
        assert!(parse_nanos("-1s").is_err());
        assert!(parse_nanos("99999999999999999999s")
            .unwrap_err()
            .contains("too large"));
        assert!(parse_nanos("6000000h").unwrap_err().contains("584 years"));
    }
}
