//! Float text as Go's `strconv.FormatFloat(f, 'g', -1, 64)` (`%g`) writes it: the shortest
//! digits that round-trip, `e` notation when the exponent is below -4 or at least 6, and
//! `+Inf`/`-Inf`/`NaN`. Prometheus normalises `le` and `quantile` label values this way and
//! the oracle vectors print values this way.

/// Formats `value` like Go's `%g`.
pub fn format_go_g(value: f64) -> String {
    if value.is_nan() {
        return "NaN".to_string();
    }
    if value.is_infinite() {
        return if value > 0.0 { "+Inf" } else { "-Inf" }.to_string();
    }
    // Rust's `{:e}` gives the shortest round-trip digits, e.g. `-1.2345e-7`.
    let shortest = format!("{value:e}");
    let (negative, unsigned) = match shortest.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, shortest.as_str()),
    };
    let (mantissa, exponent) = unsigned.split_once('e').unwrap_or((unsigned, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let digits: Vec<u8> = mantissa.bytes().filter(u8::is_ascii_digit).collect();
    let digit_count = digits.len() as i32;
    let decimal_point = exponent + 1;

    let mut out = String::new();
    if negative {
        out.push('-');
    }
    if !(-4..6).contains(&exponent) {
        out.push(char::from(digits.first().copied().unwrap_or(b'0')));
        if digits.len() > 1 {
            out.push('.');
            out.extend(digits.iter().skip(1).map(|&d| char::from(d)));
        }
        out.push('e');
        out.push(if exponent < 0 { '-' } else { '+' });
        let magnitude = exponent.unsigned_abs();
        if magnitude < 10 {
            out.push('0');
        }
        out.push_str(&magnitude.to_string());
        return out;
    }
    let digit_at = |index: i32| -> char {
        if index >= 0 && index < digit_count {
            char::from(digits[index as usize])
        } else {
            '0'
        }
    };
    if decimal_point > 0 {
        for index in 0..decimal_point {
            out.push(digit_at(index));
        }
    } else {
        out.push('0');
    }
    let fraction_digits = (digit_count - decimal_point).max(0);
    if fraction_digits > 0 {
        out.push('.');
        for index in 0..fraction_digits {
            out.push(digit_at(decimal_point + index));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::format_go_g;

    #[test]
    fn matches_go_g_formatting() {
        let cases = [
            (0.0, "0"),
            (-0.0, "-0"),
            (1.0, "1"),
            (-3000.0, "-3000"),
            (1.234, "1.234"),
            (0.23, "0.23"),
            (100000.0, "100000"),
            (1000000.0, "1e+06"),
            (1234567.0, "1.234567e+06"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1.726839813016397e9, "1.726839813016397e+09"),
            (-8.452185437166741e-05, "-8.452185437166741e-05"),
            (179886.5000000001, "179886.5000000001"),
            (1e21, "1e+21"),
            (1.5e-300, "1.5e-300"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
            (f64::NAN, "NaN"),
        ];
        for (value, expected) in cases {
            assert_eq!(format_go_g(value), expected, "{value:?}");
        }
    }
}
