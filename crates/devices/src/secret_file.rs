//! Secret files named by a devices file, read relative to it and refused when others may read them.

use std::path::{Path, PathBuf};

use crate::model::SecretText;
use crate::parse::SecretFiles;

/// Reads secret files relative to a directory (the devices file's).
#[derive(Debug, Clone)]
pub struct SecretFilesNextTo {
    dir: PathBuf,
}

impl SecretFilesNextTo {
    /// Secret files are looked up relative to `dir` (absolute paths are taken as they are).
    pub fn new(dir: &Path) -> Self {
        Self {
            dir: dir.to_owned(),
        }
    }
}

impl SecretFiles for SecretFilesNextTo {
    fn read(&self, path: &str) -> Result<SecretText, String> {
        let full = self.dir.join(path);
        let shown = full.display();
        let metadata = std::fs::metadata(&full).map_err(|error| format!("{shown}: {error}"))?;
        if !metadata.is_file() {
            return Err(format!("{shown} is not a file"));
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = metadata.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                return Err(format!(
                    "{shown}: secret file is readable by group or others (mode {mode:o}); run \
                     `chmod 600 {shown}`"
                ));
            }
        }
        let bytes = std::fs::read(&full).map_err(|error| format!("{shown}: {error}"))?;
        let text = String::from_utf8(bytes).map_err(|_| format!("{shown} is not UTF-8 text"))?;
        Ok(SecretText::new(text.trim().to_owned()))
    }
}
