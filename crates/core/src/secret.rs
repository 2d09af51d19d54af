//! A wrapper for values that must never reach a log: its `Debug` prints `[redacted]`.
//! A secret that can be printed will be printed, so every secret travels in one of these.
//!
//! It reads from configuration as the bare value (`Deserialize` is transparent) but is
//! deliberately not `Serialize` and not `Display`: writing a secret out is done through
//! `expose`, where a reader can see it happen.

use serde::Deserialize;
use std::fmt;

#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    pub fn new(value: T) -> Self {
        Self(value)
    }

    /// The one way to look inside; grep for it when auditing where secrets go.
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_shows_the_value() {
        let secret = Secret::new("hunter2-is-my-password".to_string());
        assert_eq!(format!("{secret:?}"), "[redacted]");
        assert_eq!(secret.expose(), "hunter2-is-my-password");
    }

    #[test]
    fn debug_output_of_a_struct_holding_a_secret_hides_only_the_secret() {
        #[derive(Debug)]
        #[allow(dead_code)] // Read only through Debug, which is the point.
        struct Settings {
            user: String,
            token: Option<Secret<String>>,
        }
        let settings = Settings {
            user: "ann".into(),
            token: Some(Secret::new("tok-hunter2".into())),
        };
        let printed = format!("{settings:?}");
        assert!(!printed.contains("tok-hunter2"), "{printed}");
        assert!(
            printed.contains("[redacted]") && printed.contains("ann"),
            "{printed}"
        );
        let pretty = format!("{settings:#?}");
        assert!(!pretty.contains("tok-hunter2"), "{pretty}");
    }

    #[test]
    fn it_reads_as_the_bare_value_and_clones_to_the_same_value() {
        let secret: Secret<String> = serde_json::from_str("\"smtp://u:pw@mail\"").unwrap();
        assert_eq!(secret.expose(), "smtp://u:pw@mail");
        assert_eq!(secret.clone(), secret);
        let missing: Option<Secret<String>> = serde_json::from_str("null").unwrap();
        assert_eq!(missing, None);
        assert!(serde_json::from_str::<Secret<String>>("7").is_err());
    }
}
