//! The image store: where captured images are kept, for good (the image cache, by contrast,
//! evicts). A captured image's URL is `file://` in this directory; the engine fetches `file://`
//! URLs from here only, so an image's URL cannot make it read another local file.
//!
//! Configured by `BAREMETAL_IMAGE_STORE_DIR` (default `$XDG_DATA_HOME/baremetal/images`, else
//! `~/.local/share/baremetal/images`).

use std::path::{Path, PathBuf};

pub const DIR_ENV: &str = "BAREMETAL_IMAGE_STORE_DIR";

/// The store's directory, as the environment sets it.
pub fn dir() -> PathBuf {
    dir_by(|k| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    })
}

fn dir_by(env: impl Fn(&str) -> Option<PathBuf>) -> PathBuf {
    env(DIR_ENV).unwrap_or_else(|| {
        env("XDG_DATA_HOME")
            .or_else(|| env("HOME").map(|h| h.join(".local").join("share")))
            .unwrap_or_else(std::env::temp_dir)
            .join("baremetal")
            .join("images")
    })
}

/// The file a `file://` URL names, when it is in the store `store`; an error when it is not.
/// `None` for other schemes.
pub fn local_path_in(url: &str, store: &Path) -> Result<Option<PathBuf>, String> {
    let Some(rest) = url.strip_prefix("file://") else {
        return Ok(None);
    };
    let path = PathBuf::from(rest);
    let outside = || {
        format!(
            "{url}: a file:// image must be in the engine's image store ({}, set by {DIR_ENV}); no other local file is read",
            store.display()
        )
    };
    // Resolved, so neither `..` nor a link leads out.
    let real = path.canonicalize().map_err(|e| format!("{url}: {e}"))?;
    let store = store.canonicalize().map_err(|_| outside())?;
    if !real.starts_with(&store) {
        return Err(outside());
    }
    Ok(Some(real))
}

/// [`local_path_in`] the configured store.
pub fn local_path(url: &str) -> Result<Option<PathBuf>, String> {
    local_path_in(url, &dir())
}

/// A `file://` URL for a path in the store.
pub fn url_of(path: &Path) -> String {
    format!("file://{}", path.display())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_store_is_configured_and_only_its_files_are_read() {
        let d = dir_by(|k| (k == "HOME").then(|| PathBuf::from("/home/u")));
        assert_eq!(d, Path::new("/home/u/.local/share/baremetal/images"));
        let d = dir_by(|k| (k == DIR_ENV).then(|| PathBuf::from("/srv/images")));
        assert_eq!(d, Path::new("/srv/images"));
        let store = tempfile::tempdir().unwrap();
        let img = store.path().join("a.raw.zst");
        std::fs::write(&img, b"x").unwrap();
        let got = local_path_in(&url_of(&img), store.path()).unwrap().unwrap();
        assert_eq!(got, img.canonicalize().unwrap());
        assert_eq!(local_path_in("http://h/x", store.path()).unwrap(), None);
        let e = local_path_in("file:///etc/hostname", store.path()).unwrap_err();
        assert!(e.contains("must be in the engine's image store"), "{e}");
        let sneaky = format!("file://{}/../../etc/hostname", store.path().display());
        assert!(local_path_in(&sneaky, store.path()).is_err());
    }
}
