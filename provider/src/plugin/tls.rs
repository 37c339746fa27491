//! TLS for the plugin socket: the provider's own certificate, made at start (the handshake line
//! gives it to Terraform), and Terraform's client certificate required and pinned.
//!
//! Terraform's client certificate is ECDSA P-521, which ring (the one TLS crypto of this project)
//! does not verify. The pinned verifier adds exactly that one signature algorithm, computed by the
//! RustCrypto `p521` crate, to ring's list, so rustls stays the only TLS stack and ring its crypto.

use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, WebPkiSupportedAlgorithms};
use rustls::pki_types::{
    alg_id, AlgorithmIdentifier, CertificateDer, InvalidSignature, PrivateKeyDer,
    PrivatePkcs8KeyDer, SignatureVerificationAlgorithm, UnixTime,
};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};

/// ECDSA on P-521 with SHA-512, for Terraform's certificate.
#[derive(Debug)]
struct EcdsaP521Sha512;

impl SignatureVerificationAlgorithm for EcdsaP521Sha512 {
    fn verify_signature(
        &self,
        public_key: &[u8],
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), InvalidSignature> {
        use p521::ecdsa::signature::Verifier;
        let key =
            p521::ecdsa::VerifyingKey::from_sec1_bytes(public_key).map_err(|_| InvalidSignature)?;
        let sig = p521::ecdsa::Signature::from_der(signature).map_err(|_| InvalidSignature)?;
        key.verify(message, &sig).map_err(|_| InvalidSignature)
    }

    fn public_key_alg_id(&self) -> AlgorithmIdentifier {
        alg_id::ECDSA_P521
    }

    fn signature_alg_id(&self) -> AlgorithmIdentifier {
        alg_id::ECDSA_SHA512
    }
}

static P521: EcdsaP521Sha512 = EcdsaP521Sha512;
static P521_ONLY: [&dyn SignatureVerificationAlgorithm; 1] = [&P521];

/// Ring's signature algorithms, and P-521.
fn algorithms() -> WebPkiSupportedAlgorithms {
    let ring = rustls::crypto::ring::default_provider().signature_verification_algorithms;
    let mut all: Vec<&'static dyn SignatureVerificationAlgorithm> = ring.all.to_vec();
    all.push(&P521);
    let mut mapping: Vec<(
        SignatureScheme,
        &'static [&'static dyn SignatureVerificationAlgorithm],
    )> = ring.mapping.to_vec();
    mapping.push((SignatureScheme::ECDSA_NISTP521_SHA512, &P521_ONLY));
    // Made once per provider process.
    WebPkiSupportedAlgorithms {
        all: Box::leak(all.into_boxed_slice()),
        mapping: Box::leak(mapping.into_boxed_slice()),
    }
}

/// Accepts exactly one client certificate: the one Terraform gave in `PLUGIN_CLIENT_CERT`.
#[derive(Debug)]
struct Pinned {
    cert: CertificateDer<'static>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ClientCertVerifier for Pinned {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        if end_entity.as_ref() == self.cert.as_ref() {
            Ok(ClientCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::ApplicationVerificationFailure,
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// The server side: a fresh certificate for "localhost" (DER, for the handshake line) and the
/// configuration that requires the pinned client certificate.
pub(crate) fn server(client_pem: &str) -> Result<(Vec<u8>, rustls::ServerConfig), String> {
    let client = pem_cert(client_pem)?;
    let key = rcgen::KeyPair::generate().map_err(|e| format!("server key: {e}"))?;
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()])
        .map_err(|e| format!("server certificate: {e}"))?;
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.key_usages = vec![
        rcgen::KeyUsagePurpose::DigitalSignature,
        rcgen::KeyUsagePurpose::KeyEncipherment,
        rcgen::KeyUsagePurpose::KeyCertSign,
    ];
    params.extended_key_usages = vec![
        rcgen::ExtendedKeyUsagePurpose::ServerAuth,
        rcgen::ExtendedKeyUsagePurpose::ClientAuth,
    ];
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "localhost");
    let cert = params
        .self_signed(&key)
        .map_err(|e| format!("server certificate: {e}"))?;
    let der = cert.der().to_vec();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| format!("TLS: {e}"))?
        .with_client_cert_verifier(Arc::new(Pinned {
            cert: client,
            algorithms: algorithms(),
        }))
        .with_single_cert(
            vec![CertificateDer::from(der.clone())],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
        .map_err(|e| format!("TLS: {e}"))?;
    // gRPC runs on HTTP/2, which Go's gRPC insists on agreeing through ALPN.
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok((der, config))
}

/// The one certificate of a PEM text.
fn pem_cert(pem: &str) -> Result<CertificateDer<'static>, String> {
    let body: String = pem
        .lines()
        .skip_while(|l| !l.starts_with("-----BEGIN CERTIFICATE-----"))
        .skip(1)
        .take_while(|l| !l.starts_with("-----END CERTIFICATE-----"))
        .map(str::trim)
        .collect();
    if body.is_empty() {
        return Err("PLUGIN_CLIENT_CERT holds no PEM certificate".into());
    }
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .map(CertificateDer::from)
        .map_err(|e| format!("PLUGIN_CLIENT_CERT is not a PEM certificate: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn p521_signatures_verify_and_forgeries_do_not() {
        use p521::ecdsa::signature::Signer;
        let mut scalar = [7u8; 66];
        scalar[0] = 0; // below the group order
        let secret = p521::SecretKey::from_slice(&scalar).unwrap();
        let signing = p521::ecdsa::SigningKey::from(&secret);
        let public = signing.verifying_key().to_sec1_point(false);
        let sig: p521::ecdsa::Signature = signing.sign(b"handshake");
        let der = sig.to_der();
        assert!(P521
            .verify_signature(public.as_bytes(), b"handshake", der.as_bytes())
            .is_ok());
        assert!(P521
            .verify_signature(public.as_bytes(), b"handshakf", der.as_bytes())
            .is_err());
        assert!(algorithms()
            .supported_schemes()
            .contains(&SignatureScheme::ECDSA_NISTP521_SHA512));
    }

    #[test]
    fn only_the_pinned_certificate_is_accepted() {
        let a = rcgen::generate_simple_self_signed(vec!["a".into()]).unwrap();
        let b = rcgen::generate_simple_self_signed(vec!["b".into()]).unwrap();
        let (_, _config) = server(&a.cert.pem()).unwrap();
        let v = Pinned {
            cert: pem_cert(&a.cert.pem()).unwrap(),
            algorithms: algorithms(),
        };
        let now = UnixTime::now();
        assert!(v.verify_client_cert(a.cert.der(), &[], now).is_ok());
        assert!(v.verify_client_cert(b.cert.der(), &[], now).is_err());
        assert!(server("not a pem").is_err());
    }
}
