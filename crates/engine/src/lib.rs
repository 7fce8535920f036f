//! The provisioning boundary of govcloud: how hosts, volumes and IP addresses come into
//! being in the cloud that the contract pays for.
//!
//! govcloud keeps the accounts (who has what, since when, at what price); an [`Engine`] is
//! what makes a recorded resource real. There are two engines:
//!
//! - [`ManualEngine`] — the default, and a real production mode, not a test double. The
//!   provider provisions each resource by hand in its own cloud console and govcloud only
//!   records it. Every method succeeds at once without calling anything outside the process
//!   and hands back a reference of the form `manual:<name>`; [`Engine::describe`] returns
//!   `None` because govcloud has nothing to look at. Use it whenever the cloud is not driven
//!   by govcloud.
//! - `LibvirtEngine` (cargo feature `libvirt`, off by default) — drives a libvirt
//!   hypervisor: hosts are domains, volumes live in a storage pool, addresses are DHCP host
//!   reservations in a libvirt network. See the `libvirt` module docs for the details and
//!   for what libvirt's in-process test driver (`test:///default`) does and does not
//!   support. Building with the feature needs the libvirt C library and pkg-config
//!   (Debian: `apt-get install libvirt-dev pkg-config`); the default build does not.
//!
//! # Blocking
//!
//! The methods are synchronous and may block for as long as the hypervisor takes (a
//! libvirt call, a guest shutdown during a resize). Async callers must run them on a
//! blocking thread, e.g. with `tokio::task::spawn_blocking`, holding the engine in an
//! `Arc<dyn Engine>`; engines are `Send + Sync` for that reason.
//!
//! # References
//!
//! Creating a resource returns an engine reference, an opaque string that the caller
//! stores with the resource and passes back to every later call about it. Its format
//! belongs to the engine that made it; a reference from another engine is rejected with
//! the error code `invalid_ref`.

mod manual;
pub use manual::ManualEngine;

#[cfg(feature = "libvirt")]
pub mod libvirt;
#[cfg(feature = "libvirt")]
pub use libvirt::LibvirtEngine;

/// CPU architectures a host can have: `x86` (x86-64), `arm` (AArch64) and `c86` (Hygon's
/// x86-64-compatible processors).
pub const ARCHES: [&str; 3] = ["x86", "arm", "c86"];

/// Volume tiers.
pub const TIERS: [&str; 2] = ["standard", "performance"];

/// What to create for a host (a virtual machine).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostSpec {
    /// The host's name, unique within the engine: 1 to 64 characters of `A-Z a-z 0-9 . _ -`,
    /// not starting with `.` or `-`.
    pub name: String,
    /// Virtual CPUs, at least 1.
    pub vcpus: u32,
    /// Memory in MiB, at least 1.
    pub memory_mib: u64,
    /// One of [`ARCHES`].
    pub arch: String,
}

impl HostSpec {
    /// Checks the spec; every engine does this before anything else.
    pub fn validate(&self) -> Result<(), EngineError> {
        validate_name("host name", &self.name)?;
        validate_size(self.vcpus, self.memory_mib)?;
        if !ARCHES.contains(&self.arch.as_str()) {
            return Err(EngineError::InvalidSpec(format!(
                "architecture {:?} is not one of {}",
                self.arch,
                ARCHES.join(", ")
            )));
        }
        Ok(())
    }
}

/// What to create for a block-storage volume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeSpec {
    /// The volume's name, unique within the engine's storage: same rules as a host name.
    pub name: String,
    /// Size in GiB, at least 1.
    pub size_gib: u64,
    /// One of [`TIERS`].
    pub tier: String,
    /// The IOPS limit that the tier grants; applied when the volume is attached to a host.
    /// 0 means no limit.
    pub iops: u32,
}

impl VolumeSpec {
    /// Checks the spec; every engine does this before anything else.
    pub fn validate(&self) -> Result<(), EngineError> {
        validate_name("volume name", &self.name)?;
        if self.size_gib == 0 {
            return Err(EngineError::InvalidSpec(
                "a volume needs at least 1 GiB".into(),
            ));
        }
        if !TIERS.contains(&self.tier.as_str()) {
            return Err(EngineError::InvalidSpec(format!(
                "tier {:?} is not one of {}",
                self.tier,
                TIERS.join(", ")
            )));
        }
        Ok(())
    }
}

/// What an engine sees of a resource, for tests and reconciliation to compare with what
/// govcloud recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Described {
    /// A host as the hypervisor runs it (the live values while it runs, the persistent
    /// definition while it is off).
    Host {
        vcpus: u32,
        memory_mib: u64,
        running: bool,
    },
    /// A volume as the storage reports it.
    Volume { capacity_bytes: u64 },
}

/// Why an engine call failed. [`EngineError::code`] is stable and meant for callers to
/// branch on and to show in API errors; the message is for people.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The spec or an argument breaks a rule (bad name, zero size, unknown tier, shrink).
    #[error("invalid request: {0}")]
    InvalidSpec(String),
    /// The reference is malformed or belongs to another engine.
    #[error("invalid engine reference: {0}")]
    InvalidRef(String),
    /// The resource, pool or network does not exist (any more).
    #[error("not found: {0}")]
    NotFound(String),
    /// A resource with that name already exists, or the volume is already attached.
    #[error("conflict: {0}")]
    Conflict(String),
    /// No free address or device slot is left.
    #[error("exhausted: {0}")]
    Exhausted(String),
    /// The backend cannot do this operation (e.g. a libvirt driver without volume resize).
    #[error("not supported by the engine: {0}")]
    Unsupported(String),
    /// Any other failure of the backend (connection lost, hypervisor error...).
    #[error("engine backend error: {0}")]
    Backend(String),
}

impl EngineError {
    /// A stable, machine-readable code: `invalid_spec`, `invalid_ref`, `not_found`,
    /// `conflict`, `exhausted`, `unsupported` or `backend`.
    pub fn code(&self) -> &'static str {
        match self {
            EngineError::InvalidSpec(_) => "invalid_spec",
            EngineError::InvalidRef(_) => "invalid_ref",
            EngineError::NotFound(_) => "not_found",
            EngineError::Conflict(_) => "conflict",
            EngineError::Exhausted(_) => "exhausted",
            EngineError::Unsupported(_) => "unsupported",
            EngineError::Backend(_) => "backend",
        }
    }

    /// The human-readable message, without the code.
    pub fn message(&self) -> &str {
        match self {
            EngineError::InvalidSpec(m)
            | EngineError::InvalidRef(m)
            | EngineError::NotFound(m)
            | EngineError::Conflict(m)
            | EngineError::Exhausted(m)
            | EngineError::Unsupported(m)
            | EngineError::Backend(m) => m,
        }
    }
}

/// The provisioning boundary. All methods block (see the crate docs): call them from a
/// blocking thread in async code.
///
/// `r`, `host` and `volume` arguments are references returned earlier by the same engine.
pub trait Engine: Send + Sync {
    /// `"manual"` or `"libvirt"`.
    fn name(&self) -> &'static str;

    /// Creates and starts a host; returns its reference.
    fn create_host(&self, spec: &HostSpec) -> Result<String, EngineError>;

    /// Changes a host's vCPUs and memory.
    fn resize_host(&self, r: &str, vcpus: u32, memory_mib: u64) -> Result<(), EngineError>;

    /// Stops and removes a host. Attached volumes are left alone.
    fn delete_host(&self, r: &str) -> Result<(), EngineError>;

    /// Creates a volume; returns its reference.
    fn create_volume(&self, spec: &VolumeSpec) -> Result<String, EngineError>;

    /// Grows a volume to `size_gib` (shrinking is refused with `invalid_spec`).
    fn resize_volume(&self, r: &str, size_gib: u64) -> Result<(), EngineError>;

    /// Makes a snapshot named `snapshot` of a volume; returns the snapshot's reference
    /// (itself usable as a volume).
    fn snapshot_volume(&self, r: &str, snapshot: &str) -> Result<String, EngineError>;

    /// Removes a volume.
    fn delete_volume(&self, r: &str) -> Result<(), EngineError>;

    /// Attaches a volume to a host, with the volume tier's IOPS limit.
    fn attach_volume(&self, host: &str, volume: &str) -> Result<(), EngineError>;

    /// Reserves an IP address in `network`; returns it.
    fn allocate_ip(&self, network: &str) -> Result<String, EngineError>;

    /// Gives back an address obtained from [`Engine::allocate_ip`].
    fn release_ip(&self, network: &str, ip: &str) -> Result<(), EngineError>;

    /// What the engine sees of a host or volume; `None` when it sees nothing (the resource
    /// is gone, or the engine does not look, as with the manual engine).
    fn describe(&self, r: &str) -> Result<Option<Described>, EngineError>;
}

/// Checks a host, volume or snapshot name: 1 to 64 characters of `A-Z a-z 0-9 . _ -`,
/// not starting with `.` or `-`. Such names are safe as libvirt object names, file names
/// and inside XML without escaping.
pub fn validate_name(what: &str, name: &str) -> Result<(), EngineError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && !name.starts_with(['.', '-'])
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(EngineError::InvalidSpec(format!(
            "{what} {name:?} must be 1 to 64 characters of A-Z a-z 0-9 . _ - and not start with . or -"
        )))
    }
}

fn validate_size(vcpus: u32, memory_mib: u64) -> Result<(), EngineError> {
    if vcpus == 0 {
        return Err(EngineError::InvalidSpec(
            "a host needs at least 1 vCPU".into(),
        ));
    }
    if memory_mib == 0 {
        return Err(EngineError::InvalidSpec(
            "a host needs at least 1 MiB of memory".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for good in ["a", "web-01", "db_2.prod", &"x".repeat(64)] {
            assert!(validate_name("n", good).is_ok(), "{good}");
        }
        for bad in ["", "-a", ".a", "a b", "a/b", "a'b", "名字", &"x".repeat(65)] {
            assert_eq!(validate_name("n", bad).unwrap_err().code(), "invalid_spec");
        }
    }

    #[test]
    fn specs() {
        let host = HostSpec {
            name: "h".into(),
            vcpus: 2,
            memory_mib: 1024,
            arch: "c86".into(),
        };
        assert!(host.validate().is_ok());
        for bad in [
            HostSpec {
                vcpus: 0,
                ..host.clone()
            },
            HostSpec {
                memory_mib: 0,
                ..host.clone()
            },
            HostSpec {
                arch: "riscv".into(),
                ..host.clone()
            },
        ] {
            assert_eq!(bad.validate().unwrap_err().code(), "invalid_spec");
        }
        let vol = VolumeSpec {
            name: "v".into(),
            size_gib: 10,
            tier: "performance".into(),
            iops: 5000,
        };
        assert!(vol.validate().is_ok());
        for bad in [
            VolumeSpec {
                size_gib: 0,
                ..vol.clone()
            },
            VolumeSpec {
                tier: "gold".into(),
                ..vol.clone()
            },
        ] {
            assert_eq!(bad.validate().unwrap_err().code(), "invalid_spec");
        }
    }

    #[test]
    fn error_codes_and_messages() {
        let e = EngineError::NotFound("volume v".into());
        assert_eq!(e.code(), "not_found");
        assert_eq!(e.message(), "volume v");
        assert_eq!(e.to_string(), "not found: volume v");
    }
}
