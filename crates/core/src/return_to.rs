//! Where a person goes after signing in (S37): only a same-origin relative path. Anything
//! that a browser could read as another origin (`//evil`, `/\evil`, `https://…`, control
//! characters) is refused, and the person lands on their account page instead.

/// A path on this origin, safe to put in a `Location` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReturnTo(String);

impl ReturnTo {
    pub fn parse(input: &str) -> Option<Self> {
        let safe = input.starts_with('/')
            && !input.starts_with("//")
            && !input.starts_with("/\\")
            && input.len() <= 2048
            && !input
                .chars()
                .any(|c| c.is_control() || c == '\\' || c.is_whitespace());
        safe.then(|| Self(input.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_are_kept() {
        assert_eq!(
            ReturnTo::parse("/account").map(|r| r.0),
            Some("/account".into())
        );
        assert!(ReturnTo::parse("/oauth/authorize?client_id=x&state=y").is_some());
    }

    #[test]
    fn anything_that_leaves_the_origin_is_refused() {
        for bad in [
            "https://evil.example/",
            "//evil.example/",
            "/\\evil.example/",
            "/\\/evil.example",
            "javascript:alert(1)",
            "evil.example",
            "",
            "/ok\r\nSet-Cookie: x=y",
            "/\tfoo",
        ] {
            assert_eq!(ReturnTo::parse(bad), None, "{bad:?}");
        }
    }
}
