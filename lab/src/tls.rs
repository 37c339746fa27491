//! The lab's certificate authority and the BMC server certificate it signs, so that clients can keep
//! TLS verification on (with the CA bundle or a fingerprint pin) against the simulated fleet.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose, SanType,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::ServerConfig;
use sha2::{Digest, Sha256};

/// The lab's CA and one server identity valid for `127.0.0.1`, `::1` and `localhost`.
pub struct LabTls {
    pub ca_pem: String,
    /// The server certificate and its private key, as PEM (for peers that need a certificate too).
    pub cert_pem: String,
    pub key_pem: String,
    pub server: Arc<ServerConfig>,
    /// Serves another certificate from the same CA (a node with the `other_certificate` fault).
    pub replaced: Arc<ServerConfig>,
    /// SHA-256 of the server certificate's DER, as colon-separated hex: what a pin compares.
    pub fingerprint: String,
}

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("could not generate the lab certificates")]
    Generate(#[source] rcgen::Error),
    #[error("could not build the TLS server configuration")]
    Config(#[source] rustls::Error),
}

impl LabTls {
    pub fn generate() -> Result<LabTls, TlsError> {
        let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(TlsError::Generate)?;
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::CommonName, "Bare-metal lab CA");
        ca.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_key = KeyPair::generate().map_err(TlsError::Generate)?;
        let ca_cert = ca.self_signed(&ca_key).map_err(TlsError::Generate)?;

        let (cert_pem, key_pem, der, server) = leaf(&ca_cert, &ca_key)?;
        // A second certificate from the same CA, for the "replaced certificate" fault: trusted by
        // the CA bundle, refused by a pin of the first.
        let (_, _, _, replaced) = leaf(&ca_cert, &ca_key)?;
        let fingerprint = Sha256::digest(der.as_ref())
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect::<Vec<_>>()
            .join(":");
        Ok(LabTls {
            ca_pem: ca_cert.pem(),
            cert_pem,
            key_pem,
            server: Arc::new(server),
            replaced: Arc::new(replaced),
            fingerprint,
        })
    }
}

/// A leaf certificate for the loopback addresses signed by the lab CA: (PEM, key PEM, DER, the
/// server configuration serving it).
fn leaf(
    ca_cert: &rcgen::Certificate,
    ca_key: &KeyPair,
) -> Result<(String, String, CertificateDer<'static>, ServerConfig), TlsError> {
    let mut leaf =
        CertificateParams::new(vec!["localhost".to_string()]).map_err(TlsError::Generate)?;
    leaf.subject_alt_names
        .push(SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    leaf.subject_alt_names
        .push(SanType::IpAddress("::1".parse().expect("literal")));
    leaf.distinguished_name.push(DnType::CommonName, "lab-bmc");
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    leaf.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    let leaf_key = KeyPair::generate().map_err(TlsError::Generate)?;
    let leaf_cert = leaf
        .signed_by(&leaf_key, ca_cert, ca_key)
        .map_err(TlsError::Generate)?;
    let der: CertificateDer<'static> = leaf_cert.der().clone();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
    let mut server =
        ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(TlsError::Config)?
            .with_no_client_auth()
            .with_single_cert(vec![der.clone()], key)
            .map_err(TlsError::Config)?;
    // Every simulated BMC shares this configuration, but a real one keeps its own session state:
    // with rustls' default (a 256-session cache for the whole lab) a client's second connection
    // to a BMC misses its resumption whenever more than ~100 nodes are read at once. Stateless
    // tickets scale with the fleet.
    server.ticketer = rustls::crypto::ring::Ticketer::new().map_err(TlsError::Config)?;
    Ok((leaf_cert.pem(), leaf_key.serialize_pem(), der, server))
}
