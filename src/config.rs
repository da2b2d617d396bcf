//! Where the Exchange is and how to authenticate: explicit arguments first, then the
//! environment (`JHE_URL`, `JHE_TOKEN` as JupyterHub injects them, or
//! `JHE_CLIENT_ID`/`JHE_CLIENT_SECRET` for a client-credentials key).

use std::fmt;
use std::time::Duration;

use url::Url;

use crate::error::{JheError, Result};
use crate::redact::Redactor;

pub const ENV_URL: &str = "JHE_URL";
pub const ENV_TOKEN: &str = "JHE_TOKEN";
pub const ENV_CLIENT_ID: &str = "JHE_CLIENT_ID";
pub const ENV_CLIENT_SECRET: &str = "JHE_CLIENT_SECRET";

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

/// How the client proves who it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credentials {
    /// An access token as given (JupyterHub's `JHE_TOKEN`); it cannot be renewed.
    Token(Secret),
    /// OAuth2 `client_credentials` with a key from `practitioner_clients`: minted again
    /// whenever the token nears expiry or is rejected.
    ClientCredentials { client_id: String, client_secret: Secret },
    /// OAuth2 `refresh_token`; each refresh returns the next refresh token.
    RefreshToken {
        refresh_token: Secret,
        client: Option<(String, Secret)>,
    },
}

impl Credentials {
    pub fn can_renew(&self) -> bool {
        !matches!(self, Self::Token(_))
    }

    /// What a server could echo back: each secret, and the HTTP Basic credentials (the
    /// client key) made of a client's id and secret.
    pub fn secrets(&self) -> Vec<Secret> {
        let basic = |id: &str, secret: &Secret| {
            use base64::Engine as _;
            Secret::new(base64::engine::general_purpose::STANDARD.encode(format!("{id}:{}", secret.expose())))
        };
        match self {
            Self::Token(token) => vec![token.clone()],
            Self::ClientCredentials { client_id, client_secret } => {
                vec![client_secret.clone(), basic(client_id, client_secret)]
            }
            Self::RefreshToken { refresh_token, client } => {
                let mut secrets = vec![refresh_token.clone()];
                if let Some((id, secret)) = client {
                    secrets.extend([secret.clone(), basic(id, secret)]);
                }
                secrets
            }
        }
    }
}

/// Everything a client needs to talk to one Exchange.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The Exchange's root, always ending in `/` so relative joins keep its path.
    pub base_url: Url,
    pub credentials: Credentials,
    pub timeout: Duration,
    /// Rows asked for per page (the server caps at 1000).
    pub page_size: u32,
    /// Attempts after the first for a request that failed transiently.
    pub retries: u32,
    /// Pages in flight at once when a fetch starts.
    pub concurrency: usize,
    /// The most pages in flight at once: the fetch raises `concurrency` towards it while
    /// the server keeps up (`crate::fetch` paces it).
    pub max_concurrency: usize,
    /// The largest response body read, counted after decompression.
    pub max_response_bytes: u64,
}

pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
pub const DEFAULT_PAGE_SIZE: u32 = 1000;
pub const MAX_PAGE_SIZE: u32 = 1000;
pub const DEFAULT_RETRIES: u32 = 5;
/// A real Exchange answers 16 pages at once as fast as one (API.md: the server's page time
/// is the floor), and starting there lets a fetch of up to 1 + 16 + 32 pages take three
/// round trips; a server that is busy says so and is backed off from (`fetch::pace`).
pub const DEFAULT_CONCURRENCY: usize = 16;
pub const DEFAULT_MAX_CONCURRENCY: usize = 32;
pub const MAX_CONCURRENCY: usize = 64;
/// A day: longer is a mistake (and near `Duration`'s limits, arithmetic on it would overflow).
pub const MAX_TIMEOUT: Duration = Duration::from_secs(86_400);
pub const MAX_RETRIES: u32 = 100;
/// A page of 1000 observations is under 2 MB; this leaves room for large payloads while a
/// runaway or hostile body stops well before it can take the machine's memory.
pub const DEFAULT_MAX_RESPONSE_BYTES: u64 = 64 * 1024 * 1024;

/// A timeout given in seconds, checked: positive, finite, at most [`MAX_TIMEOUT`].
pub fn timeout_from_secs(seconds: f64) -> Result<Duration> {
    let refuse = || {
        JheError::Config(format!(
            "timeout must be a positive number of seconds up to {}, got {seconds}",
            MAX_TIMEOUT.as_secs()
        ))
    };
    if !(seconds > 0.0) {
        return Err(refuse());
    }
    let timeout = Duration::try_from_secs_f64(seconds).map_err(|_| refuse())?;
    check_timeout(timeout).map_err(|_| refuse())
}

fn check_timeout(timeout: Duration) -> Result<Duration> {
    if timeout.is_zero() || timeout > MAX_TIMEOUT {
        return Err(JheError::Config(format!(
            "timeout must be a positive number of seconds up to {}, got {}",
            MAX_TIMEOUT.as_secs(),
            timeout.as_secs_f64()
        )));
    }
    Ok(timeout)
}

/// Options a caller may set; `None` means "use the environment or the default".
#[derive(Debug, Clone, Default)]
pub struct ClientOptions {
    pub url: Option<String>,
    pub token: Option<String>,
    /// The key JHE issues for `client_credentials`: base64 of `client_id:client_secret`.
    pub client_key: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub refresh_token: Option<String>,
    pub timeout: Option<Duration>,
    pub page_size: Option<u32>,
    pub retries: Option<u32>,
    pub concurrency: Option<usize>,
    /// The ceiling concurrency is raised to; `None`: [`DEFAULT_MAX_CONCURRENCY`], or
    /// `concurrency` when that is higher.
    pub max_concurrency: Option<usize>,
    pub max_response_bytes: Option<u64>,
    /// Allow sending credentials over plain http to a host that is not loopback.
    pub allow_insecure: bool,
}

fn non_empty(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_string()).filter(|v| !v.is_empty())
}

/// `base64(client_id:client_secret)`, as JHE's `practitioner_clients` issues it.
fn parse_client_key(key: &str) -> Result<(String, Secret)> {
    use base64::Engine as _;
    let invalid = || {
        JheError::Config(
            "client_key is not a key JHE issues (base64 of client_id:client_secret)".into(),
        )
    };
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(key.trim())
        .map_err(|_| invalid())?;
    let text = String::from_utf8(decoded).map_err(|_| invalid())?;
    match text.split_once(':') {
        Some((id, secret)) if !id.is_empty() && !secret.is_empty() => {
            Ok((id.to_string(), Secret::new(secret)))
        }
        _ => Err(invalid()),
    }
}

fn resolve_credentials(options: &ClientOptions, env: &impl Fn(&str) -> Option<String>) -> Result<Option<Credentials>> {
    let token = non_empty(options.token.clone());
    let key = non_empty(options.client_key.clone());
    let id = non_empty(options.client_id.clone());
    let secret = non_empty(options.client_secret.clone());
    let refresh = non_empty(options.refresh_token.clone());
    let client = match (id, secret) {
        (Some(id), Some(secret)) => Some((id, Secret::new(secret))),
        (Some(_), None) => return Err(JheError::Config("client_id was given without client_secret".into())),
        (None, Some(_)) => return Err(JheError::Config("client_secret was given without client_id".into())),
        (None, None) => None,
    };
    let ways = [token.is_some(), key.is_some(), client.is_some() && refresh.is_none(), refresh.is_some()];
    if ways.iter().filter(|&&w| w).count() > 1 {
        return Err(JheError::Config(
            "pass one way to authenticate: token, client_key, client_id with client_secret, or refresh_token".into(),
        ));
    }
    if let Some(token) = token {
        return Ok(Some(Credentials::Token(Secret::new(token))));
    }
    if let Some(key) = key {
        let (client_id, client_secret) = parse_client_key(&key)?;
        return Ok(Some(Credentials::ClientCredentials { client_id, client_secret }));
    }
    if let Some(refresh) = refresh {
        return Ok(Some(Credentials::RefreshToken { refresh_token: Secret::new(refresh), client }));
    }
    if let Some((client_id, client_secret)) = client {
        return Ok(Some(Credentials::ClientCredentials { client_id, client_secret }));
    }
    // The environment: JupyterHub's token first, then a client-credentials pair.
    if let Some(token) = non_empty(env(ENV_TOKEN)) {
        return Ok(Some(Credentials::Token(Secret::new(token))));
    }
    match (non_empty(env(ENV_CLIENT_ID)), non_empty(env(ENV_CLIENT_SECRET))) {
        (Some(client_id), Some(secret)) => Ok(Some(Credentials::ClientCredentials {
            client_id,
            client_secret: Secret::new(secret),
        })),
        (Some(_), None) => Err(JheError::Config(format!("{ENV_CLIENT_ID} is set but {ENV_CLIENT_SECRET} is not"))),
        (None, Some(_)) => Err(JheError::Config(format!("{ENV_CLIENT_SECRET} is set but {ENV_CLIENT_ID} is not"))),
        (None, None) => Ok(None),
    }
}

impl ClientConfig {
    /// Resolve options against an environment lookup (a closure, so tests need not touch the
    /// process environment).
    /// Every message is scrubbed of the secrets given (an invalid URL is quoted in it).
    pub fn resolve(options: ClientOptions, env: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let given = [&options.token, &options.client_key, &options.client_secret, &options.refresh_token];
        let from_env = [env(ENV_TOKEN), env(ENV_CLIENT_SECRET)];
        let secrets: Vec<Secret> = given
            .into_iter()
            .flatten()
            .chain(from_env.iter().flatten())
            .map(|s| Secret::new(s.trim()))
            .collect();
        Self::resolve_unscrubbed(options, env).map_err(|e| Redactor::new(&secrets).error(e))
    }

    fn resolve_unscrubbed(options: ClientOptions, env: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let url = non_empty(options.url.clone()).or_else(|| non_empty(env(ENV_URL)));
        let credentials = resolve_credentials(&options, &env)?;
        let (url, credentials) = match (url, credentials) {
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
                    "no credentials: pass token=... (or client_key=..., client_id=/client_secret=..., refresh_token=...), or set the {ENV_TOKEN} environment variable (or {ENV_CLIENT_ID} and {ENV_CLIENT_SECRET})"
                )));
            }
            (Some(url), Some(credentials)) => (url, credentials),
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
        let concurrency = options.concurrency.unwrap_or(DEFAULT_CONCURRENCY);
        if concurrency == 0 || concurrency > MAX_CONCURRENCY {
            return Err(JheError::Config(format!(
                "concurrency must be between 1 and {MAX_CONCURRENCY}, got {concurrency}"
            )));
        }
        let max_concurrency = options.max_concurrency.unwrap_or(DEFAULT_MAX_CONCURRENCY.max(concurrency));
        if max_concurrency < concurrency || max_concurrency > MAX_CONCURRENCY {
            return Err(JheError::Config(format!(
                "max_concurrency must be between concurrency ({concurrency}) and {MAX_CONCURRENCY}, got {max_concurrency}"
            )));
        }
        let retries = options.retries.unwrap_or(DEFAULT_RETRIES);
        if retries > MAX_RETRIES {
            return Err(JheError::Config(format!("retries must be at most {MAX_RETRIES}, got {retries}")));
        }
        let max_response_bytes = options.max_response_bytes.unwrap_or(DEFAULT_MAX_RESPONSE_BYTES);
        if max_response_bytes == 0 {
            return Err(JheError::Config("max_response_bytes must be a positive number of bytes".into()));
        }
        Ok(Self {
            base_url,
            credentials,
            timeout: check_timeout(options.timeout.unwrap_or(DEFAULT_TIMEOUT))?,
            page_size,
            retries,
            concurrency,
            max_concurrency,
            max_response_bytes,
        })
    }

    /// The OAuth2 token endpoint.
    pub fn token_url(&self) -> Url {
        self.base_url.join("o/token/").expect("a constant relative path joins")
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
    without_api_path(&mut url);
    Ok(url)
}

/// The Exchange's own address from one that names one of its APIs
/// (`https://jhe.example/api/v1/` or `.../FHIR/R5/`), as users often copy it.
fn without_api_path(url: &mut Url) {
    const API_PATHS: [&str; 3] = ["api/v1/", "FHIR/R5/", "fhir/r5/"];
    let path = url.path().to_string();
    let base = API_PATHS.iter().find_map(|api| path.strip_suffix(api)).filter(|base| base.ends_with('/'));
    if let Some(base) = base {
        log::info!("using {base} of {path}: jhe adds the API paths itself");
        url.set_path(base);
    }
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
        assert_eq!(config.credentials, Credentials::Token(Secret::new("arg-token")));
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
        assert_eq!(config.credentials, Credentials::Token(Secret::new("tok")));
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
    fn every_way_to_authenticate() {
        use base64::Engine as _;
        let url = Some("https://a.example".to_string());
        let key = base64::engine::general_purpose::STANDARD.encode("my-id:my-secret");
        let resolve = |options: ClientOptions, env: &[(&str, &str)]| ClientConfig::resolve(options, env_of(env));
        let from_key = resolve(ClientOptions { url: url.clone(), client_key: Some(key), ..Default::default() }, &[]).unwrap();
        assert_eq!(
            from_key.credentials,
            Credentials::ClientCredentials { client_id: "my-id".into(), client_secret: Secret::new("my-secret") }
        );
        let from_pair = resolve(
            ClientOptions { url: url.clone(), client_id: Some("i".into()), client_secret: Some("s".into()), ..Default::default() },
            &[],
        )
        .unwrap();
        assert!(from_pair.credentials.can_renew());
        let from_env = resolve(ClientOptions { url: url.clone(), ..Default::default() }, &[(ENV_CLIENT_ID, "i"), (ENV_CLIENT_SECRET, "s")]).unwrap();
        assert_eq!(from_env.credentials, from_pair.credentials);
        let refresh = resolve(ClientOptions { url: url.clone(), refresh_token: Some("r".into()), ..Default::default() }, &[]).unwrap();
        assert!(matches!(refresh.credentials, Credentials::RefreshToken { client: None, .. }));
        // JupyterHub's token wins over a pair in the environment
        let hub = resolve(ClientOptions { url: url.clone(), ..Default::default() }, &[(ENV_TOKEN, "t"), (ENV_CLIENT_ID, "i"), (ENV_CLIENT_SECRET, "s")]).unwrap();
        assert!(!hub.credentials.can_renew());
        let two = resolve(ClientOptions { url: url.clone(), token: Some("t".into()), refresh_token: Some("r".into()), ..Default::default() }, &[]);
        assert!(two.unwrap_err().to_string().contains("one way"));
        let half = resolve(ClientOptions { url: url.clone(), client_id: Some("i".into()), ..Default::default() }, &[]);
        assert!(half.unwrap_err().to_string().contains("client_secret"));
        let bad_key = resolve(ClientOptions { url: url.clone(), client_key: Some("not-a-key".into()), ..Default::default() }, &[]);
        assert!(bad_key.unwrap_err().to_string().contains("client_key"));
        let half_env = resolve(ClientOptions { url, ..Default::default() }, &[(ENV_CLIENT_ID, "i")]);
        assert!(half_env.unwrap_err().to_string().contains(ENV_CLIENT_SECRET));
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

    #[test]
    fn numeric_settings_are_checked_never_panicked() {
        for bad in [1e20, 1e300, f64::NAN, f64::INFINITY, -1.0, 0.0, 86_401.0, 1e-12] {
            assert!(timeout_from_secs(bad).unwrap_err().to_string().contains("timeout"), "{bad}");
        }
        assert_eq!(timeout_from_secs(86_400.0).unwrap(), MAX_TIMEOUT);
        let opts = |retries, max_response_bytes| ClientOptions {
            url: Some("https://a.example".into()),
            token: Some("t".into()),
            retries: Some(retries),
            max_response_bytes: Some(max_response_bytes),
            ..Default::default()
        };
        assert!(ClientConfig::resolve(opts(101, 1), env_of(&[])).unwrap_err().to_string().contains("retries"));
        assert!(ClientConfig::resolve(opts(0, 0), env_of(&[])).unwrap_err().to_string().contains("max_response_bytes"));
        let config = ClientConfig::resolve(opts(100, u64::MAX), env_of(&[])).unwrap();
        assert_eq!((config.retries, config.max_response_bytes), (100, u64::MAX));
    }

    #[test]
    fn concurrency_starts_at_16_and_its_ceiling_defaults_to_32_or_the_start_and_is_checked() {
        let opts = |concurrency, max_concurrency| ClientOptions {
            url: Some("https://a.example".into()),
            token: Some("t".into()),
            concurrency,
            max_concurrency,
            ..Default::default()
        };
        let pair = |c: ClientConfig| (c.concurrency, c.max_concurrency);
        assert_eq!(pair(ClientConfig::resolve(opts(None, None), env_of(&[])).unwrap()), (16, 32));
        assert_eq!(pair(ClientConfig::resolve(opts(Some(40), None), env_of(&[])).unwrap()), (40, 40));
        assert_eq!(pair(ClientConfig::resolve(opts(Some(1), Some(1)), env_of(&[])).unwrap()), (1, 1));
        for (concurrency, max) in [(Some(8), Some(4)), (None, Some(65)), (Some(1), Some(0))] {
            let error = ClientConfig::resolve(opts(concurrency, max), env_of(&[])).unwrap_err().to_string();
            assert!(error.contains("max_concurrency must be between concurrency"), "{error}");
        }
    }

    #[test]
    fn configuration_errors_quote_no_secret() {
        let opts = |url: &str| ClientOptions { url: Some(url.into()), token: Some("tok-abcdef".into()), ..Default::default() };
        for url in ["https://u:pw-secret@exa mple.org", "https://exa mple.org/?token=pw-secret", "https://tok-abcdef .org"] {
            let text = ClientConfig::resolve(opts(url), env_of(&[])).unwrap_err().to_string();
            assert!(!text.contains("pw-secret") && !text.contains("tok-abcdef"), "{text}");
        }
    }

    #[test]
    fn an_api_path_in_the_url_is_dropped() {
        let opts = |url: &str| ClientOptions { url: Some(url.into()), token: Some("t".into()), ..Default::default() };
        for url in ["https://jhe.example/sub/api/v1/", "https://jhe.example/sub/api/v1", "https://jhe.example/sub/FHIR/R5"] {
            assert_eq!(ClientConfig::resolve(opts(url), env_of(&[])).unwrap().base_url.as_str(), "https://jhe.example/sub/");
        }
        for kept in ["/api/v1x/", "/xapi/v1/"] {
            let url = format!("https://jhe.example{kept}");
            assert_eq!(ClientConfig::resolve(opts(&url), env_of(&[])).unwrap().base_url.path(), kept);
        }
    }
}

