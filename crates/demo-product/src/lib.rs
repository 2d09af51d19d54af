//! The demo product: a small web app that signs people in through Gatehouse over OpenID
//! Connect, as a confidential client using the authorization code flow with PKCE (S256),
//! state and nonce. `gatehouse demo` starts it in-process so people can watch a product's
//! sign-in end to end. It must know nothing of Gatehouse's internals: it depends on no
//! gatehouse crate and talks to Gatehouse only over HTTP, exactly like a real product
//! would, so it also shows what connecting a product takes.

mod gatehouse;
mod memory;
mod oidc;
mod pages;
mod product;

use axum::routing::{get, post};
use axum::Router;
use std::fmt;
use std::future::Future;
use std::io;
use std::sync::Arc;

/// How to run the product.
#[derive(Clone)]
pub struct DemoProductConfig {
    /// The product's name on its pages, e.g. "Demo product".
    pub name: String,
    /// Gatehouse's issuer, e.g. "http://127.0.0.1:8080".
    pub issuer: String,
    pub client_id: String,
    pub client_secret: String,
    /// This product's own base URL, e.g. "http://127.0.0.1:8081".
    pub public_url: String,
}

/// The secret never reaches a log through `{:?}`.
impl fmt::Debug for DemoProductConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DemoProductConfig")
            .field("name", &self.name)
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("client_secret", &"[redacted]")
            .field("public_url", &self.public_url)
            .finish()
    }
}

/// The redirect URI to register for a product at `public_url`.
pub fn redirect_uri(public_url: &str) -> String {
    format!("{}/callback", public_url.trim_end_matches('/'))
}

/// The post-logout redirect URI to register for a product at `public_url`: its home page.
pub fn post_logout_redirect_uri(public_url: &str) -> String {
    format!("{}/", public_url.trim_end_matches('/'))
}

/// Serves the product on `listener` until `shutdown` resolves.
///
/// Fails at once, before serving, when `public_url` is not an absolute URL or the HTTP
/// client cannot be built; Gatehouse need not be up yet (discovery is read at the first
/// sign-in).
pub async fn serve(
    listener: tokio::net::TcpListener,
    config: DemoProductConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let router = router(config)?;
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}

fn router(config: DemoProductConfig) -> io::Result<Router> {
    let public_url = config.public_url.trim_end_matches('/').to_string();
    let origin = url::Url::parse(&public_url)
        .map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("the demo product's public URL {public_url:?} is not a URL: {e}"),
            )
        })?
        .origin()
        .ascii_serialization();
    let issuer = config.issuer.trim_end_matches('/').to_string();
    let gatehouse = gatehouse::Gatehouse::new(issuer).map_err(io::Error::other)?;
    let settings = product::Settings {
        name: config.name,
        client_id: config.client_id,
        client_secret: config.client_secret,
        public_url: public_url.clone(),
    };
    let site = pages::Site {
        product: product::Product::new(settings, gatehouse),
        origin,
        secure: public_url.starts_with("https://"),
    };
    Ok(Router::new()
        .route("/", get(pages::home))
        .route("/login", post(pages::login))
        .route("/callback", get(pages::callback))
        .route("/logout", post(pages::logout))
        .route("/demo.css", get(pages::stylesheet))
        .layer(axum::middleware::from_fn(pages::security_headers))
        .with_state(Arc::new(site)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registered_uris_hang_off_the_public_url() {
        assert_eq!(
            redirect_uri("http://127.0.0.1:8081"),
            "http://127.0.0.1:8081/callback"
        );
        assert_eq!(
            redirect_uri("http://127.0.0.1:8081/"),
            "http://127.0.0.1:8081/callback"
        );
        assert_eq!(
            post_logout_redirect_uri("http://127.0.0.1:8081"),
            "http://127.0.0.1:8081/"
        );
    }

    #[test]
    fn debug_hides_the_client_secret() {
        let config = DemoProductConfig {
            name: "Demo product".into(),
            issuer: "http://127.0.0.1:8080".into(),
            client_id: "demo-product".into(),
            client_secret: "s3cret-value".into(),
            public_url: "http://127.0.0.1:8081".into(),
        };
        let shown = format!("{config:?}");
        assert!(!shown.contains("s3cret-value"));
        assert!(shown.contains("[redacted]"));
    }

    #[test]
    fn a_public_url_that_is_not_a_url_is_refused() {
        let config = DemoProductConfig {
            name: "Demo product".into(),
            issuer: "http://127.0.0.1:8080".into(),
            client_id: "demo-product".into(),
            client_secret: "secret".into(),
            public_url: "not a url".into(),
        };
        assert!(router(config).is_err());
    }
}
