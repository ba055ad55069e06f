//! TLS for every broker's link: the profile's CA file (or the system's
//! roots), its client certificate, rustls with ring (the provider already
//! in the tree for async-nats).

use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncWrite};

use crate::broker::profile::ConnectionProfile;

/// A byte stream to the server, plain or TLS.
pub(crate) trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// Put TLS over `stream` to `host`; the reason in a sentence when it fails.
pub(crate) async fn upgrade(
    stream: Box<dyn Stream>,
    host: &str,
    profile: &ConnectionProfile,
) -> Result<Box<dyn Stream>, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    match &profile.tls.ca_file {
        Some(ca) => {
            for cert in CertificateDer::pem_file_iter(ca)
                .map_err(|e| format!("cannot read CA file {}: {e}", ca.display()))?
            {
                let cert = cert.map_err(|e| format!("bad certificate in {}: {e}", ca.display()))?;
                roots
                    .add(cert)
                    .map_err(|e| format!("unusable certificate in {}: {e}", ca.display()))?;
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
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots);
    let config = match (&profile.tls.client_cert, &profile.tls.client_key) {
        (Some(cert), Some(key)) => {
            let chain = CertificateDer::pem_file_iter(cert)
                .map_err(|e| format!("cannot read {}: {e}", cert.display()))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| format!("bad certificate in {}: {e}", cert.display()))?;
            let key = PrivateKeyDer::from_pem_file(key)
                .map_err(|e| format!("cannot read the key {}: {e}", key.display()))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| format!("unusable client certificate: {e}"))?
        }
        _ => builder.with_no_client_auth(),
    };
    let name = ServerName::try_from(host.to_owned()).map_err(|e| e.to_string())?;
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tls = connector
        .connect(name, stream)
        .await
        .map_err(|e| describe_tls_error(&e))?;
    Ok(Box::new(tls))
}

/// Name the certificate problem itself (a name mismatch is not a wrong
/// port).
fn describe_tls_error(error: &std::io::Error) -> String {
    let text = error.to_string();
    if text.contains("NotValidForName") {
        format!("the server's certificate is not valid for this host name ({text})")
    } else if text.contains("UnknownIssuer") {
        format!("the server's certificate is not signed by a trusted CA; give the CA file ({text})")
    } else {
        text
    }
}
