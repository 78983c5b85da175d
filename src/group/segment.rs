//! The operating-system side of a group: the per-user directory, marker
//! files, the sealed memfd a writer publishes into, and read-only mappings
//! of other processes' segments. Every `unsafe` block of the module is
//! here (memfd_create, fcntl seals, mmap/munmap, geteuid, clock_gettime);
//! file work goes through `std::fs` (open flags, fstat, fchmod, ftruncate).

use super::layout::{self, SEGMENT_BYTES};
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, RawFd};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::ptr::NonNull;
use std::sync::atomic::AtomicU64;

/// A failure with a code: the OS's own (`EACCES`, `ENOENT`, …) when the OS
/// refused, else one of ours.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupErr {
    pub code: &'static str,
    pub message: String,
}

pub const SEGMENT_CODE: &str = "ERR_NODEPERF_GROUP_SEGMENT";
pub const DIR_CODE: &str = "ERR_NODEPERF_GROUP_DIR";

impl GroupErr {
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    pub fn io(what: &str, e: &std::io::Error) -> Self {
        let code = match e.raw_os_error() {
            Some(libc::EACCES) => "EACCES",
            Some(libc::EPERM) => "EPERM",
            Some(libc::ENOENT) => "ENOENT",
            Some(libc::ELOOP) => "ELOOP",
            Some(libc::EEXIST) => "EEXIST",
            Some(libc::EBADF) => "EBADF",
            _ => SEGMENT_CODE,
        };
        Self::new(code, format!("{what}: {e}"))
    }
}

pub fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// CLOCK_MONOTONIC in ns: the clock `uv_hrtime` reads, system-wide on Linux,
/// so values published by one process compare with another's.
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the call's duration;
    // CLOCK_MONOTONIC always exists on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Field 22 of `/proc/<pid>/stat` (start time in clock ticks since boot),
/// or None if the process is gone.
pub fn start_time(pid: u32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold anything:
    // count fields from the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// The group directory: `NODEPERF_GROUP_DIR`, else `/dev/shm/nodeperf-<uid>`;
/// created 0700 if missing; refused if a symlink, not a directory, owned by
/// another user, or open to group or others.
pub fn group_dir() -> Result<PathBuf, GroupErr> {
    let dir = match std::env::var_os("NODEPERF_GROUP_DIR") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => PathBuf::from(format!("/dev/shm/nodeperf-{}", euid())),
    };
    if let Err(e) = fs::DirBuilder::new().mode(0o700).create(&dir) {
        if e.kind() != std::io::ErrorKind::AlreadyExists {
            return Err(GroupErr::io(
                &format!("cannot create the group directory {}", dir.display()),
                &e,
            ));
        }
    }
    let m = fs::symlink_metadata(&dir)
        .map_err(|e| GroupErr::io(&format!("group directory {}", dir.display()), &e))?;
    let refuse = |why: &str| {
        Err(GroupErr::new(
            DIR_CODE,
            format!("refusing the group directory {}: {why}", dir.display()),
        ))
    };
    if m.file_type().is_symlink() {
        return refuse("it is a symbolic link");
    }
    if !m.is_dir() {
        return refuse("it is not a directory");
    }
    if m.uid() != euid() {
        return refuse(&format!("it belongs to uid {}, not {}", m.uid(), euid()));
    }
    if m.mode() & 0o077 != 0 {
        return refuse(&format!(
            "its mode is {:o}; it must give group and others nothing (0700)",
            m.mode() & 0o777
        ));
    }
    Ok(dir)
}

/// A marker file's fixed record.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Marker {
    pub pid: u32,
    pub start_time: u64,
    pub fd: i32,
    pub size: u64,
}

const MARKER_MAGIC: u64 = u64::from_le_bytes(*b"NPGMARK1");
pub const MARKER_BYTES: usize = 48;

impl Marker {
    fn bytes(&self) -> [u8; MARKER_BYTES] {
        let words = [
            MARKER_MAGIC,
            layout::VERSION,
            u64::from(self.pid),
            self.start_time,
            self.fd as u64,
            self.size,
        ];
        let mut out = [0u8; MARKER_BYTES];
        for (chunk, w) in out.chunks_exact_mut(8).zip(words) {
            chunk.copy_from_slice(&w.to_le_bytes());
        }
        out
    }

    fn parse(b: &[u8]) -> Result<Self, GroupErr> {
        let bad = |why: String| Err(GroupErr::new(SEGMENT_CODE, format!("marker {why}")));
        if b.len() != MARKER_BYTES {
            return bad(format!("is {} bytes, not {MARKER_BYTES}", b.len()));
        }
        let w: Vec<u64> = b
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")))
            .collect();
        if w[0] != MARKER_MAGIC {
            return bad(format!("magic is {:#x}, not {MARKER_MAGIC:#x}", w[0]));
        }
        if w[1] != layout::VERSION {
            return bad(format!(
                "version {} (this build reads {})",
                w[1],
                layout::VERSION
            ));
        }
        if w[2] == 0 || w[2] > i32::MAX as u64 || w[4] > i32::MAX as u64 {
            return bad(format!("names pid {} fd {}", w[2], w[4]));
        }
        if w[5] != SEGMENT_BYTES as u64 {
            return bad(format!(
                "gives a segment of {} bytes, the layout is {SEGMENT_BYTES}",
                w[5]
            ));
        }
        Ok(Self {
            pid: w[2] as u32,
            start_time: w[3],
            fd: w[4] as i32,
            size: w[5],
        })
    }
}

fn check_private(m: &fs::Metadata, what: &str) -> Result<(), GroupErr> {
    if m.uid() != euid() {
        return Err(GroupErr::new(
            "EACCES",
            format!("{what} belongs to uid {}, not {}", m.uid(), euid()),
        ));
    }
    if m.mode() & 0o077 != 0 {
        return Err(GroupErr::new(
            SEGMENT_CODE,
            format!(
                "{what} has mode {:o}; group and others must have no access",
                m.mode() & 0o777
            ),
        ));
    }
    Ok(())
}

/// Creates `path` (O_EXCL, O_NOFOLLOW, 0600) holding `marker`.
pub fn write_marker(path: &Path, marker: &Marker) -> Result<(), GroupErr> {
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| GroupErr::io(&format!("cannot create the marker {}", path.display()), &e))?;
    f.write_all(&marker.bytes())
        .map_err(|e| GroupErr::io(&format!("cannot write the marker {}", path.display()), &e))
}

/// Reads and checks a marker (no symlink, a regular file of ours, 0600).
pub fn read_marker(path: &Path) -> Result<Marker, GroupErr> {
    let f = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| GroupErr::io(&format!("marker {}", path.display()), &e))?;
    let m = f
        .metadata()
        .map_err(|e| GroupErr::io(&format!("marker {}", path.display()), &e))?;
    if !m.is_file() {
        return Err(GroupErr::new(
            SEGMENT_CODE,
            format!("marker {} is not a regular file", path.display()),
        ));
    }
    check_private(&m, &format!("marker {}", path.display()))?;
    let mut buf = Vec::with_capacity(MARKER_BYTES);
    f.take(MARKER_BYTES as u64 + 1)
        .read_to_end(&mut buf)
        .map_err(|e| GroupErr::io(&format!("marker {}", path.display()), &e))?;
    Marker::parse(&buf)
}

/// A mapping of a whole segment, as shared 64-bit words.
pub struct Mapping {
    ptr: NonNull<AtomicU64>,
    words: usize,
}

// SAFETY: the mapping is only ever accessed through `&[AtomicU64]`, which is
// Sync; the pointer is owned (unmapped once, in Drop).
unsafe impl Send for Mapping {}
// SAFETY: every access is an atomic load or store on an AtomicU64.
unsafe impl Sync for Mapping {}

impl Mapping {
    /// Maps all `bytes` of `fd` MAP_SHARED, read-only unless `write`.
    fn map(fd: RawFd, bytes: usize, write: bool) -> Result<Self, GroupErr> {
        let prot = if write {
            libc::PROT_READ | libc::PROT_WRITE
        } else {
            libc::PROT_READ
        };
        // SAFETY: a fresh mapping chosen by the kernel (addr NULL), of an
        // open fd whose size the caller checked to be `bytes` and sealed
        // against shrinking, so every page of it stays backed.
        let p = unsafe { libc::mmap(std::ptr::null_mut(), bytes, prot, libc::MAP_SHARED, fd, 0) };
        if p == libc::MAP_FAILED {
            return Err(GroupErr::io(
                "mmap of the segment",
                &std::io::Error::last_os_error(),
            ));
        }
        Ok(Self {
            ptr: NonNull::new(p.cast()).expect("mmap never returns NULL on success"),
            words: bytes / 8,
        })
    }

    pub fn words(&self) -> &[AtomicU64] {
        // SAFETY: `ptr` is a live, page-aligned mapping of `words * 8` bytes
        // (unmapped only in Drop, which needs `&mut self`), sealed against
        // shrinking so no page can go away; AtomicU64 has u64's layout and
        // every access through this slice is atomic, so concurrent writes by
        // another process are no data race.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.words) }
    }

    pub fn bytes(&self) -> usize {
        self.words * 8
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: `ptr`/`words * 8` is exactly the mapping `map` made, and no
        // borrow of it outlives `&self` (words() borrows self).
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.words * 8) };
    }
}

/// A writer's own segment: the memfd (kept open: readers find it as
/// `/proc/<pid>/fd/<fd>`) and its read-write mapping.
pub struct OwnSegment {
    pub file: File,
    pub map: Mapping,
}

/// Creates a sealed memfd of [`SEGMENT_BYTES`], 0600, mapped read-write,
/// with its header written.
pub fn create_segment(pid: u32, start_time: u64) -> Result<OwnSegment, GroupErr> {
    // Through syscall(2), not glibc's memfd_create() wrapper: that symbol is
    // glibc 2.27's, and the shipped binary targets glibc 2.17 (on a kernel
    // without memfd, < 3.17, this is a clear ENOSYS error).
    // SAFETY: SYS_memfd_create takes a NUL-terminated name (a literal here)
    // and a flag word; both are valid, and the call touches no other memory.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_memfd_create,
            c"nodeperf-group".as_ptr(),
            libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING,
        )
    } as libc::c_int;
    if fd < 0 {
        return Err(GroupErr::io(
            "memfd_create",
            &std::io::Error::last_os_error(),
        ));
    }
    // SAFETY: memfd_create just returned this fd, owned by nothing else.
    let file = unsafe { File::from_raw_fd(fd) };
    file.set_len(SEGMENT_BYTES as u64)
        .map_err(|e| GroupErr::io("ftruncate of the segment", &e))?;
    use std::os::unix::fs::PermissionsExt;
    file.set_permissions(fs::Permissions::from_mode(0o600))
        .map_err(|e| GroupErr::io("fchmod of the segment", &e))?;
    let seals = libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_SEAL;
    // SAFETY: F_ADD_SEALS on an fd we own, with a valid seal mask.
    if unsafe { libc::fcntl(file.as_raw_fd(), libc::F_ADD_SEALS, seals) } != 0 {
        return Err(GroupErr::io(
            "sealing the segment",
            &std::io::Error::last_os_error(),
        ));
    }
    let map = Mapping::map(file.as_raw_fd(), SEGMENT_BYTES, true)?;
    for (w, v) in map
        .words()
        .iter()
        .zip(layout::header(u64::from(pid), start_time))
    {
        w.store(v, std::sync::atomic::Ordering::Relaxed);
    }
    std::sync::atomic::fence(std::sync::atomic::Ordering::Release);
    Ok(OwnSegment { file, map })
}

/// Opens `marker`'s segment read-only through `/proc/<pid>/fd/<fd>` and
/// checks it: a regular file of ours, 0600, sealed against shrinking and
/// growing, exactly the layout's size, a header naming the same process.
pub fn open_segment(marker: &Marker) -> Result<Mapping, GroupErr> {
    let path = format!("/proc/{}/fd/{}", marker.pid, marker.fd);
    // Look before opening: a tampered fd number may name a device or a
    // FIFO the writer has open, and opening some devices does something.
    let target = fs::metadata(&path)
        .map_err(|e| GroupErr::io(&format!("cannot open the segment {path}"), &e))?;
    if !target.is_file() {
        return Err(GroupErr::new(
            SEGMENT_CODE,
            format!("{path} is not a regular file"),
        ));
    }
    let f = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_CLOEXEC | libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(&path)
        .map_err(|e| GroupErr::io(&format!("cannot open the segment {path}"), &e))?;
    let m = f.metadata().map_err(|e| GroupErr::io(&path, &e))?;
    if !m.is_file() {
        return Err(GroupErr::new(
            SEGMENT_CODE,
            format!("{path} is not a regular file"),
        ));
    }
    check_private(&m, &path)?;
    // SAFETY: F_GET_SEALS on an fd we own; it takes no pointer.
    let seals = unsafe { libc::fcntl(f.as_raw_fd(), libc::F_GET_SEALS) };
    let need = libc::F_SEAL_SHRINK | libc::F_SEAL_GROW;
    if seals < 0 || seals & need != need {
        return Err(GroupErr::new(
            SEGMENT_CODE,
            format!("{path} is not a memfd sealed against resizing"),
        ));
    }
    if m.len() != SEGMENT_BYTES as u64 || marker.size != SEGMENT_BYTES as u64 {
        return Err(GroupErr::new(
            SEGMENT_CODE,
            format!("{path} is {} bytes, the layout is {SEGMENT_BYTES}", m.len()),
        ));
    }
    let map = Mapping::map(f.as_raw_fd(), SEGMENT_BYTES, false)?;
    let header: Vec<u64> = map.words()[..layout::HEADER_WORDS]
        .iter()
        .map(|w| w.load(std::sync::atomic::Ordering::Acquire))
        .collect();
    layout::check_header(
        &header,
        map.bytes(),
        u64::from(marker.pid),
        marker.start_time,
    )
    .map_err(|e| GroupErr::new(SEGMENT_CODE, format!("{path}: {e}")))?;
    Ok(map)
}

/// A second mapping of this process's own segment, read-only, opened the
/// way another process would (for the tests).
#[cfg(test)]
pub fn reopen_own(seg: &OwnSegment) -> Mapping {
    let f = File::open(format!("/proc/self/fd/{}", seg.file.as_raw_fd())).unwrap();
    Mapping::map(f.as_raw_fd(), SEGMENT_BYTES, false).unwrap()
}
