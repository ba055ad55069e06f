//! TLS for every broker's link: the profile's CA file (or the system's
//! roots), its client certificate, rustls with ring (the provider already
//! in the tree for async-nats).

use std::path::PathBuf;
use std::sync::Arc;

use thiserror::Error;

use tokio::io::{AsyncRead, AsyncWrite};

use crate::broker::profile::ConnectionProfile;

/// A byte stream to the server, plain or TLS (Sync: a link held across an
/// await by reference stays Send).
pub(crate) trait Stream: AsyncRead + AsyncWrite + Unpin + Send + Sync {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + Sync> Stream for T {}

/// Why TLS could not be set up or agreed, in a sentence (the link's error
/// names the server).
#[derive(Debug, Error)]
pub enum TlsError {
    #[error("cannot read {what} {}: {source}", .path.display())]
    Read {
        what: &'static str,
        path: PathBuf,
        source: rustls::pki_types::pem::Error,
    },
    #[error("unusable certificate in {}: {source}", .path.display())]
    Unusable {
        path: PathBuf,
        source: rustls::Error,
    },
    #[error("unusable client certificate: {0}")]
    ClientCertificate(rustls::Error),
    #[error("no TLS protocol version to offer: {0}")]
    Versions(rustls::Error),
    #[error("'{0}' is not a name a certificate can be checked against")]
    ServerName(String),
    #[error("the server's certificate is not valid for this host name ({0})")]
    NotValidForName(std::io::Error),
    #[error("the server's certificate is not signed by a trusted CA; give the CA file ({0})")]
    UnknownIssuer(std::io::Error),
    #[error("{0}")]
    Handshake(std::io::Error),
}

/// A reading error of `path` as a `TlsError`.
fn read(
    what: &'static str,
    path: &std::path::Path,
) -> impl Fn(rustls::pki_types::pem::Error) -> TlsError {
    let path = path.to_path_buf();
    move |source| TlsError::Read {
        what,
        path: path.clone(),
        source,
    }
}

/// Put TLS over `stream` to `host`.
pub(crate) async fn upgrade(
    stream: Box<dyn Stream>,
    host: &str,
    profile: &ConnectionProfile,
) -> Result<Box<dyn Stream>, TlsError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    match &profile.tls.ca_file {
        Some(ca) => {
            for cert in CertificateDer::pem_file_iter(ca).map_err(read("CA file", ca))? {
                let cert = cert.map_err(read("a certificate in", ca))?;
                roots.add(cert).map_err(|source| TlsError::Unusable {
                    path: ca.clone(),
                    source,
                })?;
            }
        }
        None => {
            for cert in rustls_native_certs::load_native_certs().certs {
                let _ = roots.add(cert);
            }
        }
    }
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Versions)?
        .with_root_certificates(roots);
    let config = match (&profile.tls.client_cert, &profile.tls.client_key) {
        (Some(cert), Some(key)) => {
            let chain = CertificateDer::pem_file_iter(cert)
                .map_err(read("the certificate", cert))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(read("a certificate in", cert))?;
            let key = PrivateKeyDer::from_pem_file(key).map_err(read("the key", key))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(TlsError::ClientCertificate)?
        }
        _ => builder.with_no_client_auth(),
    };
    let name =
        ServerName::try_from(host.to_owned()).map_err(|_| TlsError::ServerName(host.to_owned()))?;
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tls = connector
        .connect(name, stream)
        .await
        .map_err(handshake_error)?;
    Ok(Box::new(tls))
}

/// Name the certificate problem itself (a name mismatch is not a wrong
/// port).
fn handshake_error(error: std::io::Error) -> TlsError {
    let text = error.to_string();
    if text.contains("NotValidForName") {
        TlsError::NotValidForName(error)
    } else if text.contains("UnknownIssuer") {
        TlsError::UnknownIssuer(error)
    } else {
        TlsError::Handshake(error)
    }
}
