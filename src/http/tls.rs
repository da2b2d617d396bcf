//! The TLS crypto provider. reqwest is built with `rustls-no-provider` and rustls with
//! `ring`: reqwest's default provider, aws-lc-rs, is a C library that was the slowest
//! dependency to compile, and ring serves the same TLS 1.2 and 1.3 cipher suites.

/// Make ring the process's rustls provider; reqwest needs one before it builds a client.
pub fn install_crypto_provider() {
    // An error means a provider is already installed: ours, or one the embedding program chose.
    let _ = rustls::crypto::ring::default_provider().install_default();
}
