//! The demo's story file (`suites/scenarios/stories/demo.toml`): which phases run, what the
//! migration inventory gets wrong, how long each line is waited on, and which cases are
//! de-scoped and why. Data, not code: a lab tells another story by editing the file.

use std::collections::BTreeSet;
use std::time::Duration;

use anyhow::bail;
use meterlab_devices::DevicesFile;
use meterlab_emulator::scenario::Scenario;
use meterlab_governance::model::PhaseKind;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    #[serde(default)]
    retries: u32,
    exchange_timeout_ms: Option<u64>,
    phases: Vec<String>,
    #[serde(default)]
    inventory: Vec<RawInventory>,
    #[serde(default)]
    line: Vec<RawLine>,
    #[serde(default)]
    descope: Vec<RawDescope>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawInventory {
    device: String,
    firmware: String,
    note: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLine {
    hub: String,
    exchange_timeout_ms: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDescope {
    case: String,
    cited: String,
    phases: Vec<String>,
    rationale: String,
}

/// A wrong firmware version the inventory records for one device.
#[derive(Debug, Clone)]
pub struct InventoryError {
    pub device: String,
    pub firmware: String,
    pub note: Option<String>,
}

/// A case the test manager asks to de-scope in some phases of every entry, citing another case
/// of the same phase.
#[derive(Debug, Clone)]
pub struct Descope {
    pub case: String,
    pub cited: String,
    pub phases: Vec<PhaseKind>,
    pub rationale: String,
}

/// The story, validated against the scenario it is told on.
#[derive(Debug, Clone)]
pub struct Story {
    pub retries: u32,
    pub exchange_timeout: Duration,
    pub phases: Vec<PhaseKind>,
    pub inventory: Vec<InventoryError>,
    /// Per hub, a shorter (or longer) exchange timeout than the story's.
    pub lines: Vec<(String, Duration)>,
    pub descopes: Vec<Descope>,
}

fn phase_kinds(file: &str, field: &str, names: &[String]) -> anyhow::Result<Vec<PhaseKind>> {
    let mut seen = BTreeSet::new();
    names
        .iter()
        .map(|name| {
            let kind = PhaseKind::parse(name).ok_or_else(|| {
                anyhow::anyhow!(
                    "{file}: {field}: {name:?} is not a phase (mt.active, mt.dormant, mt.mixed, \
                     sit.active, sit.dormant or sit.mixed)"
                )
            })?;
            if !seen.insert(name.clone()) {
                bail!("{file}: {field}: {name:?} is listed twice");
            }
            Ok(kind)
        })
        .collect()
}

impl Story {
    /// Parses a story file's text and checks every hub and device it names against `scenario`.
    pub fn parse(file: &str, text: &str, scenario: &Scenario) -> anyhow::Result<Self> {
        let raw: Raw = toml::from_str(text).map_err(|error| anyhow::anyhow!("{file}: {error}"))?;
        let phases = phase_kinds(file, "phases", &raw.phases)?;
        if phases.is_empty() {
            bail!("{file}: phases: the story runs no phase");
        }
        let hubs: BTreeSet<&str> = scenario.hubs.iter().map(|hub| hub.id.as_str()).collect();
        let mut inventory = Vec::new();
        for (index, entry) in raw.inventory.into_iter().enumerate() {
            let hub = entry.device.rsplit_once('.').map_or("", |(hub, _)| hub);
            if !hubs.contains(hub) {
                bail!(
                    "{file}: inventory[{index}].device: {:?} is not a device of the scenario \
                     (HUB.hub, HUB.esme or HUB.gsme of a hub it defines)",
                    entry.device
                );
            }
            if entry.firmware.trim().is_empty() {
                bail!("{file}: inventory[{index}].firmware is empty");
            }
            inventory.push(InventoryError {
                device: entry.device,
                firmware: entry.firmware,
                note: entry.note,
            });
        }
        let mut lines = Vec::new();
        for (index, line) in raw.line.into_iter().enumerate() {
            if !hubs.contains(line.hub.as_str()) {
                bail!(
                    "{file}: line[{index}].hub: {:?} is not a hub of the scenario",
                    line.hub
                );
            }
            if line.exchange_timeout_ms == 0 {
                bail!("{file}: line[{index}].exchange_timeout_ms must be above 0");
            }
            lines.push((line.hub, Duration::from_millis(line.exchange_timeout_ms)));
        }
        let mut descopes = Vec::new();
        for (index, descope) in raw.descope.into_iter().enumerate() {
            if descope.rationale.trim().is_empty() {
                bail!("{file}: descope[{index}].rationale is empty: a de-scope needs one");
            }
            if descope.case == descope.cited {
                bail!("{file}: descope[{index}]: a case cannot stand for itself");
            }
            descopes.push(Descope {
                phases: phase_kinds(file, &format!("descope[{index}].phases"), &descope.phases)?,
                case: descope.case,
                cited: descope.cited,
                rationale: descope.rationale,
            });
        }
        Ok(Self {
            retries: raw.retries,
            exchange_timeout: Duration::from_millis(raw.exchange_timeout_ms.unwrap_or(5000)),
            phases,
            inventory,
            lines,
            descopes,
        })
    }

    /// Keeps only the named phases of the story (a shorter demo, say for a test).
    pub fn only(&mut self, names: &[String]) -> anyhow::Result<()> {
        let chosen = phase_kinds("--phase", "value", names)?;
        if let Some(missing) = chosen.iter().find(|kind| !self.phases.contains(kind)) {
            bail!("--phase {missing}: the story has no such phase");
        }
        self.phases.retain(|kind| chosen.contains(kind));
        Ok(())
    }

    /// The exchange timeout on a hub's line.
    pub fn exchange_timeout(&self, hub: &str) -> Duration {
        self.lines
            .iter()
            .find(|(id, _)| id == hub)
            .map_or(self.exchange_timeout, |(_, timeout)| *timeout)
    }

    /// Writes the inventory's errors into the devices file the runner reads; names a device
    /// the emulation does not have.
    pub fn falsify_inventory(&self, devices: &mut DevicesFile) -> anyhow::Result<()> {
        for wrong in &self.inventory {
            let Some(device) = devices
                .devices
                .iter_mut()
                .find(|device| device.name == wrong.device)
            else {
                bail!(
                    "the story's inventory names {}, which the emulation does not have",
                    wrong.device
                );
            };
            device.firmware = wrong.firmware.clone();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scenario() -> Scenario {
        Scenario::parse("demo.toml", super::super::DEFAULT_SCENARIO).unwrap_or_else(|e| {
            panic!("the shipped demo scenario does not parse: {e}");
        })
    }

    fn error(text: &str) -> String {
        match Story::parse("story.toml", text, &scenario()) {
            Ok(story) => panic!("accepted: {story:?}"),
            Err(error) => error.to_string(),
        }
    }

    #[test]
    fn the_shipped_story_fits_the_shipped_scenario() {
        let story = Story::parse("story", super::super::DEFAULT_STORY, &scenario())
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(story.phases.len(), 6);
        assert_eq!(
            story.exchange_timeout("south-dormant"),
            Duration::from_millis(300)
        );
        assert_eq!(
            story.exchange_timeout("north-active"),
            story.exchange_timeout
        );
    }

    #[test]
    fn mistakes_are_named_with_file_and_field() {
        let base = "phases = [\"mt.active\"]\n";
        let unknown_device = error(&format!(
            "{base}[[inventory]]\ndevice = \"nowhere.esme\"\nfirmware = \"1\"\n"
        ));
        assert!(
            unknown_device.contains("story.toml: inventory[0].device: \"nowhere.esme\""),
            "{unknown_device}"
        );
        let unknown_key = error(&format!("{base}colour = \"red\"\n"));
        assert!(
            unknown_key.contains("story.toml") && unknown_key.contains("colour"),
            "{unknown_key}"
        );
        let bad_phase = error("phases = [\"mt.sleepy\"]\n");
        assert!(bad_phase.contains("phases: \"mt.sleepy\""), "{bad_phase}");
        let no_rationale = error(&format!(
            "{base}[[descope]]\ncase = \"A\"\ncited = \"B\"\nphases = [\"sit.active\"]\nrationale = \" \"\n"
        ));
        assert!(
            no_rationale.contains("descope[0].rationale is empty"),
            "{no_rationale}"
        );
    }

    #[test]
    fn only_keeps_the_named_phases_and_refuses_others() {
        let mut story = Story::parse("story", super::super::DEFAULT_STORY, &scenario())
            .unwrap_or_else(|e| panic!("{e}"));
        story
            .only(&["sit.mixed".to_owned()])
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(story.phases.len(), 1);
        assert!(story.only(&["mt.active".to_owned()]).is_err());
    }
}
