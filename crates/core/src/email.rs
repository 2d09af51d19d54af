//! E-mail addresses. An `Email` is trimmed, lower-cased and checked once, at the edge; the
//! lower-cased form is the account's lookup key and the key its failures are counted under
//! (S47), so `Ann@Example.com` and `ann@example.com` are one account and one budget.

use std::fmt;

/// RFC 5321 §4.5.3.1.3: a path is at most 256 octets, so an address at most 254.
const MAX_LEN: usize = 254;

#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Enter an email address like name@example.com")]
pub struct InvalidEmail;

impl Email {
    pub fn parse(input: &str) -> Result<Self, InvalidEmail> {
        let candidate = input.trim().to_lowercase();
        let (local, domain) = candidate.split_once('@').ok_or(InvalidEmail)?;
        let well_formed = !local.is_empty()
            && !domain.is_empty()
            && candidate.len() <= MAX_LEN
            && !domain.contains('@')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..")
            && !candidate.chars().any(|c| {
                c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | '"' | ',' | ';')
            });
        if well_formed {
            Ok(Self(candidate))
        } else {
            Err(InvalidEmail)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// What the code page shows of the address ("We sent a code to j•••@example.com"): enough
    /// for the owner to recognise it, too little to harvest it.
    pub fn masked(&self) -> String {
        let (local, domain) = self.0.split_once('@').unwrap_or((&self.0, ""));
        let first: String = local.chars().take(1).collect();
        format!("{first}\u{2022}\u{2022}\u{2022}@{domain}")
    }
}

impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Email({})", self.0)
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_trimmed_and_lower_cased() {
        let email = Email::parse("  Ann.Lee@Example.COM ").map(|e| e.as_str().to_string());
        assert_eq!(email, Ok("ann.lee@example.com".to_string()));
    }

    #[test]
    fn malformed_addresses_are_refused() {
        for bad in [
            "",
            "ann",
            "@example.com",
            "ann@",
            "ann@@example.com",
            "ann lee@example.com",
            "ann@.example.com",
            "ann@example..com",
            "<ann@example.com>",
            "ann@example.com\r\nBcc: x@y.z",
        ] {
            assert_eq!(Email::parse(bad), Err(InvalidEmail), "{bad:?}");
        }
        assert!(Email::parse(&format!("{}@example.com", "a".repeat(250))).is_err());
    }

    #[test]
    fn masked_form_keeps_first_letter_and_domain() {
        let email = Email::parse("jane@example.com").map(|e| e.masked());
        assert_eq!(
            email,
            Ok("j\u{2022}\u{2022}\u{2022}@example.com".to_string())
        );
    }
}
