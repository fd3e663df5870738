//! Files named by input rows (selfies in requests, KTP-el photos in a gallery's photo list)
//! are resolved inside one directory (the input file's own, or `ikd run --selfie-dir`): a row
//! cannot make the job read a file elsewhere, by an absolute path, by `..`, or by a symlink
//! that points out.

use std::io;
use std::path::{Component, Path, PathBuf};

/// The directory an input file's rows may name files in (canonical: symlinks resolved).
#[derive(Debug, Clone)]
pub struct InputDir {
    root: PathBuf,
}

/// Why a row's path was not resolved.
#[derive(Debug)]
pub enum PathError {
    /// Outside the directory: by an absolute path, by `..`, or through a symlink.
    Outside(String),
    /// Inside, but it cannot be opened.
    Unreadable(io::Error),
}

impl InputDir {
    /// The directory holding `input_file`.
    pub fn of_file(input_file: &Path) -> io::Result<InputDir> {
        let dir = match input_file.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        Ok(InputDir {
            root: std::fs::canonicalize(dir)?,
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// This directory itself (canonicalised), for a deployment's selfie store.
    pub fn new(dir: &Path) -> io::Result<InputDir> {
        Ok(InputDir {
            root: std::fs::canonicalize(dir)?,
        })
    }

    /// The canonical path of `path` (relative to this directory, or absolute) if it names
    /// something inside this directory. Checked twice: on the words of the path (so nothing
    /// outside is even looked at) and after symlinks are resolved.
    pub fn resolve(&self, path: &str) -> Result<PathBuf, PathError> {
        let mut lexical = self.root.clone();
        for c in Path::new(path).components() {
            match c {
                Component::Normal(part) => lexical.push(part),
                Component::CurDir => {}
                Component::ParentDir => {
                    lexical.pop();
                }
                Component::RootDir | Component::Prefix(_) => lexical = PathBuf::from("/"),
            }
        }
        if !lexical.starts_with(&self.root) {
            return Err(PathError::Outside(format!(
                "it names a file outside {}",
                self.root.display()
            )));
        }
        let full = std::fs::canonicalize(&lexical).map_err(PathError::Unreadable)?;
        if !full.starts_with(&self.root) {
            return Err(PathError::Outside(format!(
                "it leads through a symlink to outside {}",
                self.root.display()
            )));
        }
        Ok(full)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_stay_inside_the_input_directory() {
        let dir = tempfile::tempdir().unwrap();
        let inside = dir.path().join("in");
        std::fs::create_dir_all(inside.join("sub")).unwrap();
        std::fs::write(inside.join("sub/a.jpg"), b"x").unwrap();
        std::fs::write(dir.path().join("secret.txt"), b"s").unwrap();
        std::os::unix::fs::symlink(dir.path().join("secret.txt"), inside.join("link.jpg")).unwrap();
        std::os::unix::fs::symlink(inside.join("sub/a.jpg"), inside.join("ok-link.jpg")).unwrap();
        let base = InputDir::of_file(&inside.join("requests.csv")).unwrap();

        assert!(base.resolve("sub/a.jpg").unwrap().ends_with("in/sub/a.jpg"));
        assert!(base.resolve("./sub/a.jpg").is_ok());
        assert!(
            base.resolve("ok-link.jpg").is_ok(),
            "a symlink that stays inside is fine"
        );
        assert!(base.resolve("sub/../sub/a.jpg").is_ok());
        let absolute_inside = base.root().join("sub/a.jpg");
        assert!(base.resolve(absolute_inside.to_str().unwrap()).is_ok());
        for hostile in [
            "../secret.txt",
            "sub/../../secret.txt",
            "/etc/passwd",
            "link.jpg",
            "../none.jpg",
        ] {
            assert!(
                matches!(base.resolve(hostile), Err(PathError::Outside(_))),
                "{hostile} must be refused"
            );
        }
        assert!(matches!(base.resolve("sub/none.jpg"), Err(PathError::Unreadable(_))));
    }
}
