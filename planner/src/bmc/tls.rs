//! TLS for BMC connections: a CA bundle, a certificate fingerprint pin, or (only when asked) no
//! verification. Public web roots are never trusted for BMCs.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use sha2::{Digest, Sha256};

use super::{parse_fingerprint, BmcError, Endpoint, TlsTrust};

/// Accepts exactly the server certificate whose SHA-256 matches the pin; signatures are still checked.
#[derive(Debug)]
struct PinnedCertificate {
    pin: [u8; 32],
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for PinnedCertificate {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let got: [u8; 32] = Sha256::digest(end_entity.as_ref()).into();
        if got == self.pin {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General(format!(
                "the BMC's certificate fingerprint {} does not match the pinned {}",
                hex::encode(got),
                hex::encode(self.pin)
            )))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// The HTTP client for one endpoint, with its trust settings and timeouts.
pub fn http_client(ep: &Endpoint) -> Result<reqwest::Client, BmcError> {
    let bmc = ep.url.clone();
    let mut builder = reqwest::Client::builder()
        .timeout(ep.limits.request_timeout)
        .connect_timeout(ep.limits.connect_timeout)
        .pool_max_idle_per_host(ep.limits.max_connections)
        .tls_built_in_root_certs(false)
        // A BMC that redirects elsewhere must not receive our credentials there.
        .redirect(reqwest::redirect::Policy::none());
    match &ep.tls {
        TlsTrust::NoExtraRoots => {}
        TlsTrust::CaBundle(_) | TlsTrust::CaPem(_) => {
            let (pem, path) = match &ep.tls {
                TlsTrust::CaBundle(path) => (
                    std::fs::read(path).map_err(|source| BmcError::CaBundle {
                        bmc: bmc.clone(),
                        path: path.clone(),
                        source,
                    })?,
                    path.clone(),
                ),
                TlsTrust::CaPem(text) => (
                    text.as_bytes().to_vec(),
                    std::path::PathBuf::from("(from the inventory)"),
                ),
                _ => unreachable!("matched above"),
            };
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .ok()
                .filter(|c| !c.is_empty())
                .ok_or_else(|| BmcError::CaBundleEmpty {
                    bmc: bmc.clone(),
                    path,
                })?;
            for c in certs {
                builder = builder.add_root_certificate(c);
            }
        }
        TlsTrust::Fingerprint(fp) => {
            let pin = parse_fingerprint(fp).ok_or_else(|| BmcError::BadTrust {
                bmc: bmc.clone(),
                detail: format!(
                    "{fp:?} is not a SHA-256 fingerprint (64 hex digits, colons allowed)"
                ),
            })?;
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let config = rustls::ClientConfig::builder_with_provider(provider.clone())
                .with_safe_default_protocol_versions()
                .map_err(|e| BmcError::BadTrust {
                    bmc: bmc.clone(),
                    detail: format!("TLS setup: {e}"),
                })?
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(PinnedCertificate { pin, provider }))
                .with_no_client_auth();
            builder = builder.use_preconfigured_tls(config);
        }
        TlsTrust::Insecure => builder = builder.danger_accept_invalid_certs(true),
    }
    builder
        .build()
        .map_err(|source| BmcError::Client { bmc, source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_parse_with_or_without_colons() {
        let hex = "AB".repeat(32);
        let colons = (0..32).map(|_| "ab").collect::<Vec<_>>().join(":");
        assert_eq!(parse_fingerprint(&hex), parse_fingerprint(&colons));
        assert_eq!(
            parse_fingerprint(&format!("sha256:{hex}")).unwrap()[0],
            0xab
        );
        assert!(parse_fingerprint("abcd").is_none());
        assert!(parse_fingerprint(&"zz".repeat(32)).is_none());
    }
}
