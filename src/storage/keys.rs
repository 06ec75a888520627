//! Key-encryption keys: read from a key file or the environment, one key per
//! line as `id base64-of-32-bytes`. The last line is the current key, which
//! wraps new files; the others still open files wrapped under them until
//! `ambito keys rotate` re-wraps those.

use std::collections::HashMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use anyhow::{Context as _, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::envelope::Kek;

pub struct Keyring {
    keys: HashMap<String, Kek>,
    current: String,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring").field("current", &self.current).field("keys", &self.keys.len()).finish()
    }
}

fn valid_id(id: &str) -> bool {
    (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

impl Keyring {
    /// Keys from text: one `id base64` per line (or separated by `;`), `#` comments.
    pub fn parse(text: &str) -> anyhow::Result<Keyring> {
        let mut keys = HashMap::new();
        let mut current = None;
        for (n, line) in text.split(['\n', ';']).map(str::trim).enumerate() {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (id, b64) = line
                .split_once(|c: char| c.is_whitespace() || c == ':')
                .with_context(|| format!("key entry {}: expected `id base64-key`", n + 1))?;
            let (id, b64) = (id.trim(), b64.trim());
            if !valid_id(id) {
                bail!("key entry {}: a key id is 1–64 letters, digits, '-', '_' or '.'", n + 1);
            }
            let bytes: [u8; 32] = STANDARD
                .decode(b64)
                .ok()
                .and_then(|b| b.try_into().ok())
                .with_context(|| format!("key entry {} ({id}): the key must be 32 bytes in base64", n + 1))?;
            if keys.insert(id.to_owned(), Kek::new(id, bytes)).is_some() {
                bail!("key entry {}: the id {id} appears twice", n + 1);
            }
            current = Some(id.to_owned());
        }
        let current = current.context("no key-encryption key given")?;
        Ok(Keyring { keys, current })
    }

    pub fn load(path: &Path) -> anyhow::Result<Keyring> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading the key file {}", path.display()))?;
        Keyring::parse(&text).with_context(|| format!("in the key file {}", path.display()))
    }

    /// The key file at `path`, created with one fresh key when missing (the
    /// embedded default keeps it under the data dir).
    pub fn load_or_create(path: &Path) -> anyhow::Result<Keyring> {
        if !path.exists() {
            Keyring::add_generated(path)?;
            tracing::warn!(
                file = %path.display(),
                "generated a key-encryption key: back this file up, without it no stored document can be read"
            );
        }
        Keyring::load(path)
    }

    /// Appends a fresh key to the file (created if missing, readable by its
    /// owner only); it becomes the current key. Returns its id.
    pub fn add_generated(path: &Path) -> anyhow::Result<String> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).context("the operating system's random source")?;
        let mut suffix = [0u8; 3];
        getrandom::fill(&mut suffix).context("the operating system's random source")?;
        let id = format!("kek-{}-{}", chrono::Utc::now().format("%Y%m%d"), super::hex(&suffix));
        let mut options = std::fs::OpenOptions::new();
        options.create(true).append(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(path).with_context(|| format!("writing the key file {}", path.display()))?;
        writeln!(file, "{id} {}", STANDARD.encode(bytes))?;
        file.sync_all()?;
        Ok(id)
    }

    /// The key that wraps new files.
    pub fn current(&self) -> &Kek {
        &self.keys[&self.current]
    }

    pub fn get(&self, id: &str) -> Option<&Kek> {
        self.keys.get(id)
    }
}

/// The keys of a running server. Given as a key file, they are read again
/// whenever the file changes (its modification time, checked on each use:
/// one `stat`), so `ambito keys rotate --generate` reaches running servers
/// without a restart: new uploads are wrapped under the new current key at
/// once, and documents re-wrapped under it open. Keys given inline
/// (`AMBITO_KEYS`) cannot change under a running process.
pub struct LiveKeys {
    file: Option<PathBuf>,
    loaded: RwLock<Loaded>,
}

struct Loaded {
    modified: Option<SystemTime>,
    ring: Arc<Keyring>,
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

impl LiveKeys {
    /// Keys read from `file` (already loaded as `ring`), followed as it changes.
    pub fn watching(file: PathBuf, ring: Keyring) -> LiveKeys {
        let loaded = Loaded { modified: modified(&file), ring: Arc::new(ring) };
        LiveKeys { file: Some(file), loaded: RwLock::new(loaded) }
    }

    /// The keys as they are now.
    pub fn ring(&self) -> Arc<Keyring> {
        let Some(file) = &self.file else { return self.read().ring.clone() };
        let now = modified(file);
        {
            let loaded = self.read();
            if loaded.modified == now {
                return loaded.ring.clone();
            }
        }
        let mut loaded = self.loaded.write().unwrap_or_else(|e| e.into_inner());
        if loaded.modified != now {
            match Keyring::load(file) {
                Ok(ring) => {
                    tracing::info!(current = %ring.current().id, "the key file changed: keys reloaded");
                    *loaded = Loaded { modified: now, ring: Arc::new(ring) };
                }
                // A file caught half-written: keep the keys we have, try again next time.
                Err(e) => tracing::warn!(error = %e, "the key file changed but cannot be read; keeping the old keys"),
            }
        }
        loaded.ring.clone()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Loaded> {
        self.loaded.read().unwrap_or_else(|e| e.into_inner())
    }
}

impl From<Keyring> for LiveKeys {
    fn from(ring: Keyring) -> LiveKeys {
        LiveKeys { file: None, loaded: RwLock::new(Loaded { modified: None, ring: Arc::new(ring) }) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_key_is_current_and_bad_entries_are_named() {
        let a = STANDARD.encode([1u8; 32]);
        let b = STANDARD.encode([2u8; 32]);
        let ring = Keyring::parse(&format!("# keys\nold {a}\n\nnew {b}\n")).unwrap();
        assert_eq!(ring.current().id, "new");
        assert!(ring.get("old").is_some() && ring.get("other").is_none());
        assert_eq!(Keyring::parse(&format!("one:{a};two:{b}")).unwrap().current().id, "two");
        let err = |t: &str| format!("{:#}", Keyring::parse(t).unwrap_err());
        assert!(err("").contains("no key"));
        assert!(err(&format!("x {}", STANDARD.encode([1u8; 16]))).contains("32 bytes"));
        assert!(err(&format!("a/b {a}")).contains("key id"));
        assert!(err(&format!("k {a}\nk {b}")).contains("twice"));
        assert!(!format!("{ring:?}").contains(&a), "keys never print");
    }

    #[test]
    fn a_running_server_follows_its_key_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys");
        let first = Keyring::load_or_create(&path).unwrap();
        let live = LiveKeys::watching(path.clone(), Keyring::load(&path).unwrap());
        assert_eq!(live.ring().current().id, first.current().id);
        // File times can be coarse: make the change visible as one.
        std::thread::sleep(std::time::Duration::from_millis(20));
        let second = Keyring::add_generated(&path).unwrap();
        let t = std::fs::File::options().append(true).open(&path).unwrap();
        t.set_modified(SystemTime::now() + std::time::Duration::from_secs(2)).unwrap();
        let ring = live.ring();
        assert_eq!(ring.current().id, second, "new uploads use the new key");
        assert!(ring.get(&first.current().id).is_some(), "old documents still open");
    }

    #[test]
    fn generated_keys_append_and_become_current() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys");
        let first = Keyring::load_or_create(&path).unwrap().current().id.clone();
        assert_eq!(Keyring::load_or_create(&path).unwrap().current().id, first, "an existing file is kept");
        let second = Keyring::add_generated(&path).unwrap();
        let ring = Keyring::load(&path).unwrap();
        assert_eq!(ring.current().id, second);
        assert!(ring.get(&first).is_some());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
    }
}
