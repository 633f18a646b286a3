//! A loaded catalogue: every case of a set of files, checked as a whole (ids unique across
//! files), or every problem found.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use meterlab_devices::{DeviceRole, Location};

use crate::error::{CatalogErrors, Problem};
use crate::model::{Case, Mode, Phase};

/// Test cases, sorted by id.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    cases: Vec<Case>,
}

impl Catalog {
    /// Loads case files. Each path is a `.toml` case file or a directory searched recursively
    /// for `.toml` files (read in sorted path order; subdirectories named in
    /// [`NOT_CASE_DIRECTORIES`] are skipped). Any problem in any file fails the whole
    /// load, with every problem listed.
    pub fn load<P: AsRef<Path>>(paths: &[P]) -> Result<Self, CatalogErrors> {
        let mut problems = Vec::new();
        let mut files = Vec::new();
        for path in paths {
            let path = path.as_ref();
            collect_files(path, &mut files, &mut problems);
        }
        files.sort();
        files.dedup();
        let mut sources = Vec::with_capacity(files.len());
        for file in files {
            match std::fs::read_to_string(&file) {
                Ok(text) => sources.push((file.display().to_string(), text)),
                Err(error) => problems.push(Problem {
                    location: Location::at_offset(&file.display().to_string(), "", 0),
                    message: format!("cannot read case file: {error}"),
                }),
            }
        }
        let borrowed: Vec<(&str, &str)> = sources
            .iter()
            .map(|(file, text)| (file.as_str(), text.as_str()))
            .collect();
        Self::from_sources(&borrowed, problems)
    }

    /// Parses one file's text; `file` names it in problems.
    pub fn parse_str(file: &str, text: &str) -> Result<Self, CatalogErrors> {
        Self::from_sources(&[(file, text)], Vec::new())
    }

    /// Parses several named texts as one catalogue.
    pub fn parse_sources(sources: &[(&str, &str)]) -> Result<Self, CatalogErrors> {
        Self::from_sources(sources, Vec::new())
    }

    fn from_sources(
        sources: &[(&str, &str)],
        mut problems: Vec<Problem>,
    ) -> Result<Self, CatalogErrors> {
        let mut cases = Vec::new();
        for (file, text) in sources {
            let (file_cases, file_problems) = crate::parse::parse_file(file, text);
            problems.extend(file_problems);
            cases.extend(file_cases);
        }
        let mut first_place: BTreeMap<String, Location> = BTreeMap::new();
        for case in &cases {
            match first_place.get(&case.id) {
                Some(first) => problems.push(Problem {
                    location: case.location.clone(),
                    message: format!("duplicate case id {:?}: first defined at {first}", case.id),
                }),
                None => {
                    first_place.insert(case.id.clone(), case.location.clone());
                }
            }
        }
        if !problems.is_empty() {
            tracing::debug!(
                files = sources.len(),
                problems = problems.len(),
                "case files refused"
            );
            return Err(CatalogErrors::new(problems));
        }
        cases.sort_by(|a, b| a.id.cmp(&b.id));
        tracing::debug!(
            files = sources.len(),
            cases = cases.len(),
            "case files loaded"
        );
        Ok(Self { cases })
    }

    /// Every case, sorted by id.
    pub fn cases(&self) -> &[Case] {
        &self.cases
    }

    /// The case with this id.
    pub fn get(&self, id: &str) -> Option<&Case> {
        self.cases
            .binary_search_by(|case| case.id.as_str().cmp(id))
            .ok()
            .map(|index| &self.cases[index])
    }

    /// The cases of `phase` written for `mode` that run on `device_type`; `None` selects any.
    pub fn select(
        &self,
        phase: Option<Phase>,
        mode: Option<Mode>,
        device_type: Option<DeviceRole>,
    ) -> Vec<&Case> {
        self.cases
            .iter()
            .filter(|case| phase.is_none_or(|phase| case.phase == phase))
            .filter(|case| mode.is_none_or(|mode| case.covers_mode(mode)))
            .filter(|case| device_type.is_none_or(|role| case.covers_device(role)))
            .collect()
    }

    /// How many cases.
    pub fn len(&self) -> usize {
        self.cases.len()
    }

    /// Whether there are no cases.
    pub fn is_empty(&self) -> bool {
        self.cases.is_empty()
    }
}

fn collect_files(path: &Path, files: &mut Vec<PathBuf>, problems: &mut Vec<Problem>) {
    let label = path.display().to_string();
    let problem = |message: String| Problem {
        location: Location::at_offset(&label, "", 0),
        message,
    };
    let metadata = match std::fs::metadata(path) {
        Ok(metadata) => metadata,
        Err(error) => {
            problems.push(problem(format!("cannot read case path: {error}")));
            return;
        }
    };
    if metadata.is_file() {
        files.push(path.to_path_buf());
        return;
    }
    let before = files.len();
    walk(path, files, problems);
    if files.len() == before {
        problems.push(problem(
            "no case files (*.toml) in this directory".to_owned(),
        ));
    }
}

/// Directories under `suites/` that hold other data (DMC descriptions, emulator scenarios,
/// governance profiles): skipped when a directory is searched, so `suites/` can be checked whole.
pub const NOT_CASE_DIRECTORIES: [&str; 3] = ["dmcs", "scenarios", "profiles"];

fn walk(directory: &Path, files: &mut Vec<PathBuf>, problems: &mut Vec<Problem>) {
    let entries = match std::fs::read_dir(directory) {
        Ok(entries) => entries,
        Err(error) => {
            problems.push(Problem {
                location: Location::at_offset(&directory.display().to_string(), "", 0),
                message: format!("cannot list directory: {error}"),
            });
            return;
        }
    };
    for entry in entries.flatten() {
        let path = entry.path();
        // Symlinked directories are not followed: a link loop must not recurse for ever.
        let is_real_directory = entry.file_type().is_ok_and(|kind| kind.is_dir());
        if is_real_directory {
            let skipped = path
                .file_name()
                .and_then(|name| name.to_str())
                .is_some_and(|name| NOT_CASE_DIRECTORIES.contains(&name));
            if !skipped {
                walk(&path, files, problems);
            }
        } else if path
            .extension()
            .is_some_and(|extension| extension == "toml")
        {
            files.push(path);
        }
    }
}
