//! Keeping secrets secret in memory and on disk: key files readable by their owner only,
//! secret buffers wiped when dropped, and a process that holds keys unable to dump core.
//!
//! What is wiped: every buffer of secret bytes this crate owns (key files as read, decoded
//! keys, generated PKCS#8 documents, the JSON of an AES key file), through [`zeroize`], and the
//! ring key objects themselves ([`Wiped`]). What is not: copies the compiler leaves in stack
//! temporaries inside ring's calls, and pages the kernel swapped out (run without swap, or
//! with encrypted swap).

use std::fs;
use std::io::{Read, Write};
use std::mem::{size_of, ManuallyDrop};
use std::ops::Deref;
use std::path::Path;
use std::sync::atomic::{compiler_fence, Ordering};

pub use zeroize::Zeroizing;

use super::CredentialError;

/// Largest key or secret file read (a PKCS#8 key is < 200 bytes).
const MAX_SECRET_FILE: u64 = 16 * 1024;

/// A value whose memory is overwritten with zeros when it is dropped: for ring's key types,
/// which hold their key material inline and do not wipe it themselves.
///
/// Only types without drop glue can be wrapped (checked at compile time): their bytes are all
/// there is, so zeroing them in place, with the value's own drop suppressed, frees nothing and
/// leaves nothing behind.
pub struct Wiped<T>(ManuallyDrop<T>);

impl<T> Wiped<T> {
    pub fn new(value: T) -> Self {
        const { assert!(!std::mem::needs_drop::<T>(), "Wiped<T> needs a T without drop glue") };
        Wiped(ManuallyDrop::new(value))
    }

    #[cfg(test)]
    fn bytes(&self) -> &[u8] {
        // SAFETY: reading the initialised bytes of a live value we own, as bytes.
        unsafe { std::slice::from_raw_parts((&*self.0 as *const T).cast::<u8>(), size_of::<T>()) }
    }

    #[cfg(test)]
    fn wipe_now(&mut self) {
        self.wipe();
    }

    fn wipe(&mut self) {
        let p = (&mut *self.0 as *mut T).cast::<u8>();
        for i in 0..size_of::<T>() {
            // SAFETY: `p..p + size_of::<T>()` is the value's own storage, which we own
            // exclusively; the value is never read as a `T` again (ManuallyDrop: no drop glue
            // runs, and `Wiped` is being dropped). Volatile so the writes are not optimised away.
            unsafe { p.add(i).write_volatile(0) };
        }
        compiler_fence(Ordering::SeqCst);
    }
}

impl<T> Deref for Wiped<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T> Drop for Wiped<T> {
    fn drop(&mut self) {
        self.wipe();
    }
}

/// Makes this process unable to write a core dump (which would hold its keys): the core size
/// limit goes to 0 and the process is marked not dumpable (`prctl(PR_SET_DUMPABLE, 0)`, which
/// also keeps other processes of the same user from attaching a debugger or reading its
/// memory through /proc). Call it before loading keys; `ikd` does for every command.
pub fn forbid_core_dumps() -> std::io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        let zero = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: plain system calls with a valid pointer to a local and constant arguments.
        if unsafe { libc::setrlimit(libc::RLIMIT_CORE, &zero) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: as above; PR_SET_DUMPABLE takes one integer argument.
        if unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Whether this process can dump core (for tests and startup logs).
pub fn core_dumps_possible() -> bool {
    #[cfg(target_os = "linux")]
    {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: plain system calls with a valid pointer to a local.
        let dumpable = unsafe { libc::prctl(libc::PR_GET_DUMPABLE, 0, 0, 0, 0) };
        let ok = unsafe { libc::getrlimit(libc::RLIMIT_CORE, &mut limit) } == 0;
        dumpable != 0 || !ok || limit.rlim_cur != 0
    }
    #[cfg(not(target_os = "linux"))]
    {
        true
    }
}

/// Sets the process's file-creation mask (e.g. `0o027`: nothing for others, no writing for the
/// group) and returns the previous one. Output of a run names citizens: it must not be created
/// world-readable, whatever the caller's shell umask.
pub fn restrict_umask(mask: u32) -> u32 {
    #[cfg(unix)]
    {
        // SAFETY: umask cannot fail and touches no memory.
        unsafe { libc::umask(mask as libc::mode_t) as u32 }
    }
    #[cfg(not(unix))]
    {
        let _ = mask;
        0
    }
}

pub(crate) fn create_private_dir(dir: &Path) -> Result<(), CredentialError> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir).map_err(|source| CredentialError::KeyFile {
        path: dir.to_path_buf(),
        source,
    })
}

/// Create a new file with mode 0600 (fails if it exists) and write `data`.
pub(crate) fn write_private_file(path: &Path, data: &[u8]) -> Result<(), CredentialError> {
    let io = |source| CredentialError::KeyFile {
        path: path.to_path_buf(),
        source,
    };
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut file = opts.open(path).map_err(io)?;
    file.write_all(data).map_err(io)?;
    file.sync_all().map_err(io)
}

/// Read a private key or secret file, refusing it if group/others have any access to it or it is
/// not a regular file. The mode is checked on the opened handle (no check-then-open race). The
/// bytes are wiped when the buffer is dropped.
pub(crate) fn read_private_file(path: &Path) -> Result<Zeroizing<Vec<u8>>, CredentialError> {
    let io = |source| CredentialError::KeyFile {
        path: path.to_path_buf(),
        source,
    };
    let file = fs::File::open(path).map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    check_private_mode(path, &meta)?;
    if meta.len() > MAX_SECRET_FILE {
        return Err(CredentialError::InvalidKey(format!(
            "{} is too large for a key",
            path.display()
        )));
    }
    // Sized up front so the buffer never grows (a reallocation would leave an unwiped copy).
    let mut buf = Zeroizing::new(Vec::with_capacity(MAX_SECRET_FILE as usize + 1));
    file.take(MAX_SECRET_FILE).read_to_end(&mut buf).map_err(io)?;
    Ok(buf)
}

#[cfg(unix)]
fn check_private_mode(path: &Path, meta: &fs::Metadata) -> Result<(), CredentialError> {
    use std::os::unix::fs::PermissionsExt;
    let mode = meta.permissions().mode() & 0o7777;
    if !meta.is_file() || mode & 0o077 != 0 {
        return Err(CredentialError::InsecureKeyPermissions {
            path: path.to_path_buf(),
            mode,
        });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private_mode(path: &Path, meta: &fs::Metadata) -> Result<(), CredentialError> {
    // No POSIX modes to check: refuse rather than load a key whose exposure is unknown.
    let _ = meta;
    Err(CredentialError::InsecureKeyPermissions {
        path: path.to_path_buf(),
        mode: 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wiped_values_are_zero_after_wiping() {
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &[0xA5; 32]);
        let mut w = Wiped::new(key);
        assert!(w.bytes().iter().any(|&b| b != 0));
        // Still usable until then.
        let tag = ring::hmac::sign(&w, b"m");
        assert_eq!(tag.as_ref().len(), 32);
        w.wipe_now();
        assert!(w.bytes().iter().all(|&b| b == 0));
        // (Dropping wipes again; a wiped key is never used.)
    }

    #[test]
    fn no_core_dumps_after_forbid() {
        forbid_core_dumps().unwrap();
        assert!(!core_dumps_possible());
    }
}
