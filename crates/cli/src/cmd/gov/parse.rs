//! Command-line values: entries, phases, device models, severities, statuses. Each parser is a
//! clap value parser, so a bad value is refused before anything connects (exit 2, naming the
//! flag and what was expected).

use meterlab_governance::model::DmcId;
use meterlab_governance::model::{
    DeviceModel, DnbKey, DocType, EntryKey, IssueStatus, PhaseKind, Release, Severity, SmsoId,
    TestPhase,
};

/// `RELEASE/SMSO/DMC`, e.g. `MOC/smso-north/acme-ch1-e470-g4`.
pub fn entry(text: &str) -> Result<EntryKey, String> {
    let parts: Vec<&str> = text.split('/').collect();
    let [release, smso, dmc] = parts.as_slice() else {
        return Err(format!(
            "{text:?}: expected RELEASE/SMSO/DMC, e.g. MOC/smso-north/acme-ch1-e470-g4"
        ));
    };
    let release = Release::parse(&release.to_ascii_uppercase())
        .ok_or_else(|| format!("{text:?}: release {release:?} is not IOC, MOC or FOC"))?;
    if smso.trim().is_empty() || dmc.trim().is_empty() {
        return Err(format!("{text:?}: the SMSO and the DMC must not be empty"));
    }
    Ok(EntryKey {
        release,
        smso: SmsoId::new(*smso),
        dmc: DmcId::new(*dmc),
    })
}

/// `mt.active`, `sit.mixed`, ... (also `MT/active`).
pub fn phase_kind(text: &str) -> Result<PhaseKind, String> {
    let normal = text.to_ascii_lowercase().replace(['/', ' ', '-'], ".");
    PhaseKind::parse(&normal).ok_or_else(|| {
        format!("{text:?}: expected TEST.MODE with TEST mt or sit and MODE active, dormant or mixed, e.g. mt.active")
    })
}

/// The phase `kind` of `entry`.
pub fn phase(entry: &EntryKey, kind: PhaseKind) -> TestPhase {
    TestPhase {
        entry: entry.clone(),
        kind,
    }
}

/// `MANUFACTURER:MODEL:FIRMWARE`, e.g. `ACME:CH1:1.4.0`.
pub fn device_model(text: &str) -> Result<DeviceModel, String> {
    let parts: Vec<&str> = text.split(':').collect();
    match parts.as_slice() {
        [manufacturer, model, firmware]
            if !manufacturer.is_empty() && !model.is_empty() && !firmware.is_empty() =>
        {
            Ok(DeviceModel {
                manufacturer: (*manufacturer).to_owned(),
                model: (*model).to_owned(),
                firmware: (*firmware).to_owned(),
            })
        }
        _ => Err(format!(
            "{text:?}: expected MANUFACTURER:MODEL:FIRMWARE, e.g. ACME:CH1:1.4.0"
        )),
    }
}

/// 1 (most severe) to 5; `sev3` also reads.
pub fn severity(text: &str) -> Result<Severity, String> {
    let digits = text.trim_start_matches("sev");
    digits
        .parse::<u8>()
        .ok()
        .and_then(|level| Severity::new(level).ok())
        .ok_or_else(|| format!("{text:?}: a severity is 1 (most severe) to 5"))
}

/// `open`, `fixed`, `closed`, `known_defect` (or `known-defect`).
pub fn issue_status(text: &str) -> Result<IssueStatus, String> {
    let normal = text.to_ascii_lowercase().replace('-', "_");
    IssueStatus::ALL
        .into_iter()
        .find(|s| s.as_str() == normal)
        .ok_or_else(|| format!("{text:?}: expected open, fixed, closed or known_defect"))
}

/// `mt`, `sit` or `regression`.
pub fn doc_type(text: &str) -> Result<DocType, String> {
    match text.to_ascii_lowercase().as_str() {
        "mt" => Ok(DocType::Mt),
        "sit" => Ok(DocType::Sit),
        "regression" => Ok(DocType::Regression),
        _ => Err(format!("{text:?}: expected mt, sit or regression")),
    }
}

/// `IOC`, `MOC` or `FOC`.
pub fn release(text: &str) -> Result<Release, String> {
    Release::parse(&text.to_ascii_uppercase())
        .ok_or_else(|| format!("{text:?}: expected IOC, MOC or FOC"))
}

/// Which Depth & Breadth document: release, SMSO and type.
#[derive(Debug, Clone, clap::Args)]
pub struct DnbKeyArgs {
    /// Capability release: IOC, MOC or FOC.
    #[arg(long, value_parser = release)]
    pub release: Release,
    /// The SMSO the document is agreed for.
    #[arg(long)]
    pub smso: String,
    /// mt, sit, or regression (the regression list of release and SMSO).
    #[arg(long = "type", value_parser = doc_type)]
    pub doc_type: DocType,
}

impl DnbKeyArgs {
    pub fn key(&self) -> DnbKey {
        DnbKey {
            release: self.release,
            smso: SmsoId::new(self.smso.clone()),
            doc_type: self.doc_type,
        }
    }
}

#[cfg(test)]
mod tests {
    use meterlab_governance::model::{Mode, TestType};

    use super::*;

    #[test]
    fn values_read_as_the_domain_and_bad_ones_say_what_was_expected() {
        let e = entry("moc/smso-a/dmc-1").expect("entry");
        assert_eq!(e.to_string(), "MOC/smso-a/dmc-1");
        assert!(
            entry("MOC/smso-a")
                .expect_err("two parts")
                .contains("RELEASE/SMSO/DMC")
        );
        assert!(
            entry("XOC/a/b")
                .expect_err("release")
                .contains("IOC, MOC or FOC")
        );
        let kind = phase_kind("SIT/dormant").expect("kind");
        assert_eq!((kind.test, kind.mode), (TestType::Sit, Mode::Dormant));
        assert!(
            phase_kind("mt.asleep")
                .expect_err("mode")
                .contains("e.g. mt.active")
        );
        assert_eq!(severity("sev2").expect("sev").level(), 2);
        assert!(severity("6").is_err());
        assert_eq!(issue_status("known-defect"), Ok(IssueStatus::KnownDefect));
        assert_eq!(device_model("A:B:1.0").expect("model").firmware, "1.0");
        assert!(device_model("A:B").is_err());
    }
}
