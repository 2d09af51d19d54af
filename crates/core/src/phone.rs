//! Phone numbers for SMS codes: E.164 only ("+" and 8 to 15 digits, no leading zero), so a
//! number has one spelling, one rate-limit key and one place it can be sent to.

use std::fmt;

#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PhoneNumber(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Enter the number in international format, like +44 7700 900123")]
pub struct InvalidPhoneNumber;

impl PhoneNumber {
    /// Accepts what people type: spaces, dashes, dots and brackets are dropped; a leading
    /// "00" is read as "+". Anything else must be digits.
    pub fn parse(input: &str) -> Result<Self, InvalidPhoneNumber> {
        let trimmed = input.trim();
        let rest = if let Some(rest) = trimmed.strip_prefix('+') {
            rest
        } else if let Some(rest) = trimmed.strip_prefix("00") {
            rest
        } else {
            return Err(InvalidPhoneNumber);
        };
        let digits: String = rest
            .chars()
            .filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')'))
            .collect();
        let valid = (8..=15).contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit())
            && !digits.starts_with('0');
        if valid {
            Ok(Self(format!("+{digits}")))
        } else {
            Err(InvalidPhoneNumber)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// What pages show: "•••• 0123", enough to recognise one's own number.
    pub fn masked(&self) -> String {
        mask_last_digits(self.last_digits())
    }

    /// The last four digits: all that is kept in clear.
    pub fn last_digits(&self) -> &str {
        // E.164 numbers are ASCII and at least 9 characters long.
        &self.0[self.0.len() - 4..]
    }
}

/// "•••• 0123" from the last four digits alone.
pub fn mask_last_digits(last_digits: &str) -> String {
    format!("\u{2022}\u{2022}\u{2022}\u{2022} {last_digits}")
}

impl fmt::Debug for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PhoneNumber({})", self.masked())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn international_numbers_in_any_common_spelling() {
        for typed in [
            "+44 7700 900123",
            "+44-7700-900-123",
            "0044 7700 900123",
            " +447700900123 ",
            "+44 (7700) 900.123",
        ] {
            assert_eq!(
                PhoneNumber::parse(typed).map(|p| p.as_str().to_string()),
                Ok("+447700900123".into()),
                "{typed}"
            );
        }
    }

    #[test]
    fn anything_else_is_refused() {
        for bad in [
            "",
            "07700 900123",
            "+",
            "+1234567",
            "+1234567890123456",
            "+0447700900123",
            "+44 7700 9001a3",
            "+44 7700 900123 ext 4",
        ] {
            assert_eq!(PhoneNumber::parse(bad), Err(InvalidPhoneNumber), "{bad}");
        }
    }

    #[test]
    fn pages_and_logs_see_only_the_last_digits() {
        let phone = PhoneNumber::parse("+447700900123").unwrap();
        assert_eq!(phone.masked(), "\u{2022}\u{2022}\u{2022}\u{2022} 0123");
        assert!(!format!("{phone:?}").contains("7700"));
    }
}
