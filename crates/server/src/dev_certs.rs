//! Throwaway certificates for local use and tests (`meterlab dev-certs DIR`): a CA, a server
//! certificate for `localhost`/`127.0.0.1`/`::1`, and client certificates whose subject common
//! names are principals. The CA key is never written, so nothing else can be signed with it.

use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use secrecy::{ExposeSecret as _, SecretString};

use crate::error::SecretFileError;

/// One certificate and its private key, PEM.
#[derive(Debug)]
pub struct PemPair {
    /// Certificate.
    pub cert: String,
    /// Private key (redacted in `Debug`).
    pub key: SecretString,
}

/// A CA certificate and the certificates it signed.
#[derive(Debug)]
pub struct DevCerts {
    /// The CA certificate, PEM (its key is dropped).
    pub ca: String,
    /// Server certificate for localhost.
    pub server: PemPair,
    /// Client certificates, by subject common name.
    pub clients: Vec<(String, PemPair)>,
}

/// Generates a fresh CA named `ca_name`, a localhost server certificate and one client
/// certificate per common name.
pub fn generate(ca_name: &str, client_names: &[&str]) -> Result<DevCerts, rcgen::Error> {
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, ca_name);
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate()?)?;

    let leaf = |names: Vec<String>, cn: &str, usage: ExtendedKeyUsagePurpose| {
        let mut params = CertificateParams::new(names)?;
        params.distinguished_name.push(DnType::CommonName, cn);
        params.extended_key_usages = vec![usage];
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &ca)?;
        Ok::<_, rcgen::Error>(PemPair {
            cert: cert.pem(),
            key: SecretString::from(key.serialize_pem()),
        })
    };
    let server = leaf(
        vec!["localhost".into(), "127.0.0.1".into(), "::1".into()],
        "localhost",
        ExtendedKeyUsagePurpose::ServerAuth,
    )?;
    let clients = client_names
        .iter()
        .map(|cn| {
            Ok((
                (*cn).to_owned(),
                leaf(vec![], cn, ExtendedKeyUsagePurpose::ClientAuth)?,
            ))
        })
        .collect::<Result<Vec<_>, rcgen::Error>>()?;
    Ok(DevCerts {
        ca: ca.pem(),
        server,
        clients,
    })
}

impl DevCerts {
    /// Writes `ca.pem`, `server.pem`, `server.key` and `<cn>.pem`/`<cn>.key` per client into
    /// `dir` (created if absent); keys are created owner-only (0600). Returns the files written.
    pub fn write(&self, dir: &Path) -> Result<Vec<PathBuf>, SecretFileError> {
        let io = |path: &Path| {
            let path = path.display().to_string();
            move |source| SecretFileError::Read { path, source }
        };
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let mut written = Vec::new();
        let mut put = |name: &str, text: &str, secret: bool| {
            let path = dir.join(name);
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(if secret { 0o600 } else { 0o644 })
                .open(&path)
                .map_err(io(&path))?;
            file.write_all(text.as_bytes()).map_err(io(&path))?;
            written.push(path);
            Ok::<_, SecretFileError>(())
        };
        put("ca.pem", &self.ca, false)?;
        put("server.pem", &self.server.cert, false)?;
        put("server.key", self.server.key.expose_secret(), true)?;
        for (cn, pair) in &self.clients {
            put(&format!("{cn}.pem"), &pair.cert, false)?;
            put(&format!("{cn}.key"), pair.key.expose_secret(), true)?;
        }
        Ok(written)
    }
}
