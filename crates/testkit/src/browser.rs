//! A cookie-keeping HTTP client that behaves like a browser on our forms: it does not
//! follow redirects by itself (tests look at them), and it sends the CSRF cookie's value
//! in the form's `csrf` field, as the pages' hidden input does.

use crate::html::Html;
use reqwest::cookie::{CookieStore, Jar};
use reqwest::redirect::Policy;
use std::sync::Arc;

#[derive(Debug, Clone)]
pub struct Page {
    pub status: u16,
    /// The `Location` of a redirect, as a path.
    pub location: Option<String>,
    pub body: String,
    pub headers: reqwest::header::HeaderMap,
}

impl Page {
    /// The body read as a page: its visible text, fields, forms, buttons and links.
    pub fn html(&self) -> Html {
        Html::parse(&self.body)
    }

    /// The backup code the page shows (`<code id="backup-code">`), if it shows one.
    pub fn backup_code(&self) -> Option<String> {
        self.html().code("backup-code")
    }

    /// The `Location` header exactly as sent (absolute for a redirect off this origin).
    pub fn location_header(&self) -> Option<String> {
        self.headers
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }

    pub fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_string))
            .collect()
    }
}

#[derive(Clone)]
pub struct Browser {
    base: String,
    jar: Arc<Jar>,
    client: reqwest::Client,
    user_agent: String,
}

impl Browser {
    pub fn new(base_url: &str) -> Self {
        Self::with_user_agent(base_url, "testkit-browser/1.0")
    }

    pub fn with_user_agent(base_url: &str, user_agent: &str) -> Self {
        let jar = Arc::new(Jar::default());
        let client = reqwest::Client::builder()
            .cookie_provider(Arc::clone(&jar))
            .redirect(Policy::none())
            .user_agent(user_agent)
            .build()
            .unwrap();
        Self {
            base: base_url.to_string(),
            jar,
            client,
            user_agent: user_agent.to_string(),
        }
    }

    /// The same browser, cookies and all, sent to another address: the other node behind a
    /// load balancer, or the server started again on a new port. Cookies belong to a host,
    /// not a port, so it presents everything it holds, as a real browser would.
    pub fn at(&self, base_url: &str) -> Self {
        Self {
            base: base_url.to_string(),
            jar: Arc::clone(&self.jar),
            client: self.client.clone(),
            user_agent: self.user_agent.clone(),
        }
    }

    /// A second browser sharing nothing with this one.
    pub fn fresh(&self) -> Self {
        Self::with_user_agent(&self.base, &self.user_agent)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The value of a cookie this browser holds.
    pub fn cookie(&self, name: &str) -> Option<String> {
        let url = reqwest::Url::parse(&self.base).unwrap();
        let header = self.jar.cookies(&url)?;
        header
            .to_str()
            .ok()?
            .split("; ")
            .filter_map(|pair| pair.split_once('='))
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value.to_string())
    }

    /// Puts a cookie in the jar, as a tampering attacker or a copied cookie would.
    pub fn set_cookie(&self, name: &str, value: &str) {
        let url = reqwest::Url::parse(&self.base).unwrap();
        self.jar
            .add_cookie_str(&format!("{name}={value}; Path=/"), &url);
    }

    /// The address the browser was made for (the server's base URL).
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// A GET of an absolute URL (a product's authorization request, a redirect's target).
    pub async fn get_url(&self, url: &str) -> Page {
        let response = self.client.get(url).send().await.unwrap();
        page(response).await
    }

    pub async fn get(&self, path: &str) -> Page {
        let response = self.client.get(self.url(path)).send().await.unwrap();
        page(response).await
    }

    /// Posts a form the way the pages do: with the CSRF field filled from the cookie.
    pub async fn post(&self, path: &str, fields: &[(&str, &str)]) -> Page {
        if self.cookie("gatehouse_csrf").is_none() {
            self.get("/sign-in").await;
        }
        let csrf = self.cookie("gatehouse_csrf").unwrap_or_default();
        let mut form: Vec<(&str, &str)> = vec![("csrf", csrf.as_str())];
        form.extend_from_slice(fields);
        self.post_raw(path, &form, &[]).await
    }

    /// A GET with extra headers, as a proxy in front would send it (`X-Request-Id`).
    pub async fn get_with_headers(&self, path: &str, headers: &[(&str, &str)]) -> Page {
        let mut request = self.client.get(self.url(path));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        page(request.send().await.unwrap()).await
    }

    /// Like `post`, but a server that is gone gives `None` instead of a panic (crash tests).
    pub async fn try_post(&self, path: &str, fields: &[(&str, &str)]) -> Option<Page> {
        let csrf = self.cookie("gatehouse_csrf").unwrap_or_default();
        let mut form: Vec<(&str, &str)> = vec![("csrf", csrf.as_str())];
        form.extend_from_slice(fields);
        let response = self
            .client
            .post(self.url(path))
            .form(&form)
            .send()
            .await
            .ok()?;
        Some(page(response).await)
    }

    pub async fn try_get(&self, path: &str) -> Option<Page> {
        let response = self.client.get(self.url(path)).send().await.ok()?;
        Some(page(response).await)
    }

    /// Posts exactly these fields and headers (for CSRF and Origin tests).
    pub async fn post_raw(
        &self,
        path: &str,
        fields: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> Page {
        let mut request = self.client.post(self.url(path)).form(fields);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        page(request.send().await.unwrap()).await
    }
}

async fn page(response: reqwest::Response) -> Page {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let location = headers
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(|l| match l.find("://") {
            Some(i) => l[i + 3..]
                .find('/')
                .map_or("/".to_string(), |p| l[i + 3 + p..].to_string()),
            None => l.to_string(),
        });
    let body = response.text().await.unwrap_or_default();
    Page {
        status,
        location,
        body,
        headers,
    }
}
