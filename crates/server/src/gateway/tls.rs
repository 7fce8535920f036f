//! The gateway's TLS listener with optional client certificates (mutual TLS). The client
//! certificate must chain to govcloud's RSA hierarchy (root or issuing CA, read from the
//! store at start); its serial is handed to the request as [`ClientCert`] and matched
//! against the certificates bound to the app.
//!
//! SM2 client certificates are not accepted: neither rustls nor the OpenSSL 3.0 on the
//! target systems negotiate SM2 in TLS (RFC 8998 / TLCP), so there is no TLS stack here to
//! carry them.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Context};
use axum::extract::ConnectInfo;
use axum::{Extension, Router};
use govcloud_store::Store;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use tokio_rustls::TlsAcceptor;

/// The serial (lowercase hex, as the store keeps it) of the client certificate the
/// connection presented, if any.
#[derive(Clone, Debug, Default)]
pub struct ClientCert(pub Option<String>);

/// Environment variable holding the password of an encrypted key file.
pub const KEY_PASSWORD_ENV: &str = "GOVCLOUD_TLS_KEY_PASSWORD";

/// The server configuration: the certificate chain and key from PEM files (the key as
/// PKCS #8, encrypted as `govcloud pki issue` writes it with its password in
/// `GOVCLOUD_TLS_KEY_PASSWORD`, or plain), client certificates optional and verified
/// against govcloud's RSA CAs.
pub async fn server_config(
    store: &dyn Store,
    cert: &Path,
    key: &Path,
) -> anyhow::Result<Arc<ServerConfig>> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .with_context(|| format!("cannot read {}", cert.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| format!("{} is not a PEM certificate chain", cert.display()))?;
    if chain.is_empty() {
        return Err(anyhow!("{} holds no certificate", cert.display()));
    }
    let key_pem =
        std::fs::read_to_string(key).with_context(|| format!("cannot read {}", key.display()))?;
    let key_der: PrivateKeyDer<'static> = if key_pem.contains("ENCRYPTED PRIVATE KEY") {
        let password = std::env::var(KEY_PASSWORD_ENV).map_err(|_| {
            anyhow!(
                "{} is encrypted: set {KEY_PASSWORD_ENV} to its password",
                key.display()
            )
        })?;
        let der = govcloud_pki::keygen::decrypt_pem(&key_pem, &password)
            .with_context(|| format!("cannot decrypt {}", key.display()))?;
        PrivateKeyDer::Pkcs8(der.to_vec().into())
    } else {
        PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
            .with_context(|| format!("{} is not a PEM private key", key.display()))?
    };
    let mut roots = RootCertStore::empty();
    for c in store.list_certificates().await? {
        if c.alg == "rsa" && (c.profile == "root-ca" || c.profile == "issuing-ca") && !c.revoked() {
            roots
                .add(CertificateDer::from(c.der))
                .map_err(|e| anyhow!("govcloud RSA CA {}: {e}", c.serial))?;
        }
    }
    if roots.is_empty() {
        return Err(anyhow!(
            "no govcloud RSA CA in the store: start `govcloud serve` once on this store first"
        ));
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .allow_unauthenticated()
        .build()?;
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key_der)
        .context("the TLS certificate and key do not match")?;
    // HTTP/1.1 only: the gateway answers refusals (401/403/429) without reading the body,
    // which over HTTP/2 ends in a stream reset that some clients (curl) report as an error.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

fn serial_of(der: &CertificateDer<'_>) -> Option<String> {
    govcloud_pki::cert::parse_certificate(der.as_ref())
        .ok()
        .map(|c| govcloud_pki::cert::serial_hex(&c))
}

/// Accept TLS connections and serve `app` on each until `shutdown` completes; then let the
/// connections finish (at most 30 s).
pub async fn serve(
    listener: tokio::net::TcpListener,
    config: Arc<ServerConfig>,
    app: Router,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let acceptor = TlsAcceptor::from(config);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let builder = auto::Builder::new(TokioExecutor::new());
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            conn = listener.accept() => match conn {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let app = app.clone();
        let builder = builder.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let tls =
                match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await {
                    Ok(Ok(t)) => t,
                    Ok(Err(e)) => {
                        tracing::info!(%peer, error = %e, "TLS handshake refused");
                        return;
                    }
                    Err(_) => return,
                };
            let serial = tls
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|c| c.first())
                .and_then(serial_of);
            let svc = app
                .layer(Extension(ClientCert(serial)))
                .layer(Extension(ConnectInfo::<SocketAddr>(peer)));
            let conn = builder
                .serve_connection_with_upgrades(TokioIo::new(tls), TowerToHyperService::new(svc));
            let _ = watcher.watch(conn.into_owned()).await;
        });
    }
    if tokio::time::timeout(Duration::from_secs(30), graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("connections still open after 30 s; stopping anyway");
    }
}
