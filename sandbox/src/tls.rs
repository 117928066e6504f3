//! Certificates for the HTTPS listener, made fresh at every start: a throw-away CA (whose PEM
//! clients are told to trust) and a server certificate it signs for `localhost` and the bound
//! loopback address. A separate CA, rather than one self-signed leaf, because webpki-based
//! clients (rustls) refuse an end-entity certificate used as its own trust anchor.

use std::net::IpAddr;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};

pub(crate) struct Certificate {
    /// The CA certificate to trust.
    pub(crate) ca_pem: String,
    /// The server's certificate chain (leaf, then CA).
    pub(crate) chain_pem: String,
    /// The server's private key.
    pub(crate) key_pem: String,
}

impl Certificate {
    pub(crate) fn generate(ip: IpAddr) -> Result<Self, String> {
        let e = |e: rcgen::Error| e.to_string();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(e)?;
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "idp-sandbox test CA");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca_key = KeyPair::generate().map_err(e)?;
        let ca_cert = ca_params.self_signed(&ca_key).map_err(e)?;
        let issuer = Issuer::new(ca_params, ca_key);

        let mut leaf_params =
            CertificateParams::new(vec!["localhost".to_owned(), ip.to_string()]).map_err(e)?;
        leaf_params
            .distinguished_name
            .push(DnType::CommonName, "idp-sandbox");
        let leaf_key = KeyPair::generate().map_err(e)?;
        let leaf = leaf_params.signed_by(&leaf_key, &issuer).map_err(e)?;
        Ok(Self {
            chain_pem: format!("{}{}", leaf.pem(), ca_cert.pem()),
            ca_pem: ca_cert.pem(),
            key_pem: leaf_key.serialize_pem(),
        })
    }
}
