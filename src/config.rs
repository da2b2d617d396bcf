//! Where the Exchange is and how to authenticate: explicit arguments first, then the
//! environment variables JupyterHub injects (`JHE_URL`, `JHE_TOKEN`).

use std::fmt;
use std::time::Duration;

use url::Url;

use crate::error::{JheError, Result};

pub const ENV_URL: &str = "JHE_URL";
pub const ENV_TOKEN: &str = "JHE_TOKEN";

/// A credential that must never be printed: `Debug` and `Display` show a placeholder.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    /// The real value, for the one place that sends it (the Authorization header).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Everything a client needs to talk to one Exchange.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The Exchange's root, always ending in `/` so relative joins keep its path.
    pub base_url: Url,
    pub token: Secret,
    pub timeout: Duration,
    /// Rows asked for per page (the server caps at 1000).
    pub page_size: u32,
}

pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
pub const DEFAULT_PAGE_SIZE: u32 = 1000;
pub const MAX_PAGE_SIZE: u32 = 1000;

/// Options a caller may set; `None` means "use the environment or the default".
#[derive(Debug, Clone, Default)]
pub struct ClientOptions {
    pub url: Option<String>,
    pub token: Option<String>,
    pub timeout: Option<Duration>,
    pub page_size: Option<u32>,
    /// Allow sending credentials over plain http to a host that is not loopback.
    pub allow_insecure: bool,
}

impl ClientConfig {
    /// Resolve options against an environment lookup (a closure, so tests need not touch the
    /// process environment).
    pub fn resolve(options: ClientOptions, env: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let non_empty = |value: Option<String>| value.filter(|v| !v.trim().is_empty());
        let url = non_empty(options.url).or_else(|| non_empty(env(ENV_URL)));
        let token = non_empty(options.token).or_else(|| non_empty(env(ENV_TOKEN)));
        let (url, token) = match (url, token) {
            (None, None) => {
                return Err(JheError::Config(format!(
                    "no Exchange to talk to: pass url=... and token=..., or set the {ENV_URL} and {ENV_TOKEN} environment variables"
                )));
            }
            (None, Some(_)) => {
                return Err(JheError::Config(format!(
                    "no Exchange URL: pass url=... or set the {ENV_URL} environment variable"
                )));
            }
            (Some(_), None) => {
                return Err(JheError::Config(format!(
                    "no access token: pass token=... or set the {ENV_TOKEN} environment variable"
                )));
            }
            (Some(url), Some(token)) => (url, token),
        };
        let base_url = parse_base_url(&url)?;
        if base_url.scheme() == "http" && !is_loopback(&base_url) && !options.allow_insecure {
            return Err(JheError::Config(format!(
                "refusing to send credentials over plain http to {}: use https, or pass allow_insecure=True if you accept the risk",
                base_url.host_str().unwrap_or("")
            )));
        }
        let page_size = options.page_size.unwrap_or(DEFAULT_PAGE_SIZE);
        if page_size == 0 || page_size > MAX_PAGE_SIZE {
            return Err(JheError::Config(format!(
                "page_size must be between 1 and {MAX_PAGE_SIZE}, got {page_size}"
            )));
        }
        Ok(Self {
            base_url,
            token: Secret::new(token.trim()),
            timeout: options.timeout.unwrap_or(DEFAULT_TIMEOUT),
            page_size,
        })
    }

    /// The base URL as users wrote it (no trailing slash), for display.
    pub fn display_url(&self) -> String {
        self.base_url.as_str().trim_end_matches('/').to_string()
    }
}

fn parse_base_url(raw: &str) -> Result<Url> {
    let raw = raw.trim();
    let mut url = Url::parse(raw).map_err(|e| {
        JheError::Config(format!(
            "the Exchange URL {raw:?} is not a valid URL ({e}); expected something like https://jhe.example.org"
        ))
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(JheError::Config(format!(
            "the Exchange URL must start with https:// or http://, got {raw:?}"
        )));
    }
    if url.username() != "" || url.password().is_some() {
        return Err(JheError::Config(
            "the Exchange URL must not carry a user name or password; pass the token separately".into(),
        ));
    }
    url.set_query(None);
    url.set_fragment(None);
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> =
            pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |key| pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())
    }

    #[test]
    fn arguments_win_over_environment() {
        let options = ClientOptions {
            url: Some("https://a.example".into()),
            token: Some("arg-token".into()),
            ..Default::default()
        };
        let config =
            ClientConfig::resolve(options, env_of(&[(ENV_URL, "https://b.example"), (ENV_TOKEN, "env")]))
                .unwrap();
        assert_eq!(config.base_url.as_str(), "https://a.example/");
        assert_eq!(config.token.expose(), "arg-token");
    }

    #[test]
    fn environment_fills_in() {
        let config = ClientConfig::resolve(
            ClientOptions::default(),
            env_of(&[(ENV_URL, "https://jhe.example/sub"), (ENV_TOKEN, "tok")]),
        )
        .unwrap();
        assert_eq!(config.base_url.as_str(), "https://jhe.example/sub/");
        assert_eq!(config.display_url(), "https://jhe.example/sub");
        assert_eq!(config.token.expose(), "tok");
    }

    #[test]
    fn missing_settings_name_the_variables() {
        let none = ClientConfig::resolve(ClientOptions::default(), env_of(&[])).unwrap_err();
        assert!(none.to_string().contains("JHE_URL") && none.to_string().contains("JHE_TOKEN"));
        let no_token =
            ClientConfig::resolve(ClientOptions::default(), env_of(&[(ENV_URL, "https://x.example")]))
                .unwrap_err();
        assert!(no_token.to_string().contains("JHE_TOKEN"));
        assert!(!no_token.to_string().contains("JHE_URL"));
    }

    #[test]
    fn plain_http_only_to_loopback_unless_allowed() {
        let opts = |url: &str, allow| ClientOptions {
            url: Some(url.into()),
            token: Some("t".into()),
            allow_insecure: allow,
            ..Default::default()
        };
        assert!(ClientConfig::resolve(opts("http://127.0.0.1:8000", false), env_of(&[])).is_ok());
        assert!(ClientConfig::resolve(opts("http://localhost:8000", false), env_of(&[])).is_ok());
        let refused = ClientConfig::resolve(opts("http://jhe.example", false), env_of(&[])).unwrap_err();
        assert!(refused.to_string().contains("allow_insecure"));
        assert!(ClientConfig::resolve(opts("http://jhe.example", true), env_of(&[])).is_ok());
    }

    #[test]
    fn secrets_do_not_print() {
        let options = ClientOptions {
            url: Some("https://a.example".into()),
            token: Some("super-secret-value".into()),
            ..Default::default()
        };
        let config = ClientConfig::resolve(options, env_of(&[])).unwrap();
        assert!(!format!("{config:?}").contains("super-secret-value"));
    }

    #[test]
    fn bad_urls_are_explained() {
        let opts = |url: &str| ClientOptions {
            url: Some(url.into()),
            token: Some("t".into()),
            ..Default::default()
        };
        assert!(ClientConfig::resolve(opts("jhe.example"), env_of(&[])).unwrap_err().to_string().contains("not a valid URL"));
        assert!(ClientConfig::resolve(opts("ftp://jhe.example"), env_of(&[])).is_err());
        assert!(ClientConfig::resolve(opts("https://u:p@jhe.example"), env_of(&[])).is_err());
    }
}
