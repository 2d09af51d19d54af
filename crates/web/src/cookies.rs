//! Cookie names and attributes (S26, S32): every cookie is HttpOnly and SameSite=Lax;
//! served over HTTPS they are also Secure and `__Host-` prefixed, which pins them to this
//! exact origin and path.

use axum::http::header::COOKIE;
use axum::http::HeaderMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CookiePolicy {
    pub secure: bool,
}

#[derive(Debug, Clone, Copy)]
pub enum CookieName {
    Csrf,
    Flow,
    Session,
    Trust,
    SignUp,
    /// S56: names the browser; one that signed in to an account keeps its own budget there.
    Device,
}

impl CookieName {
    fn base(self) -> &'static str {
        match self {
            Self::Csrf => "gatehouse_csrf",
            Self::Flow => "gatehouse_flow",
            Self::Session => "gatehouse_session",
            Self::Trust => "gatehouse_trust",
            Self::SignUp => "gatehouse_signup",
            Self::Device => "gatehouse_device",
        }
    }
}

impl CookiePolicy {
    pub fn name(self, cookie: CookieName) -> String {
        if self.secure {
            format!("__Host-{}", cookie.base())
        } else {
            cookie.base().to_string()
        }
    }

    /// A `Set-Cookie` value. `max_age` of `None` makes a browser-session cookie.
    pub fn set(self, cookie: CookieName, value: &str, max_age: Option<i64>) -> String {
        let mut out = format!(
            "{}={value}; Path=/; HttpOnly; SameSite=Lax",
            self.name(cookie)
        );
        if let Some(seconds) = max_age {
            out.push_str(&format!("; Max-Age={seconds}"));
        }
        if self.secure {
            out.push_str("; Secure");
        }
        out
    }

    pub fn clear(self, cookie: CookieName) -> String {
        self.set(cookie, "", Some(0))
    }

    /// The value of one of our cookies in a request, if present.
    pub fn read(self, headers: &HeaderMap, cookie: CookieName) -> Option<String> {
        let name = self.name(cookie);
        headers
            .get_all(COOKIE)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn secure_cookies_are_host_prefixed() {
        let policy = CookiePolicy { secure: true };
        let set = policy.set(CookieName::Session, "abc", None);
        assert_eq!(
            set,
            "__Host-gatehouse_session=abc; Path=/; HttpOnly; SameSite=Lax; Secure"
        );
    }

    #[test]
    fn reads_one_cookie_among_many() {
        let policy = CookiePolicy { secure: false };
        let mut headers = HeaderMap::new();
        headers.insert(
            COOKIE,
            HeaderValue::from_static("a=1; gatehouse_flow=xyz; b=2"),
        );
        assert_eq!(policy.read(&headers, CookieName::Flow), Some("xyz".into()));
        assert_eq!(policy.read(&headers, CookieName::Trust), None);
    }
}
