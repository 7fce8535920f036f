//! The manual engine: the provider provisions in its own console, govcloud records.

use crate::{validate_name, validate_size, Described, Engine, EngineError, HostSpec, VolumeSpec};

const PREFIX: &str = "manual:";

/// The default engine, for clouds that govcloud does not drive.
///
/// This is a production mode, not a stand-in for tests: the provider creates, resizes and
/// deletes resources by hand in its own cloud console, and govcloud keeps the accounts.
/// Each method validates its arguments and then succeeds without calling anything outside
/// the process:
///
/// - creating a host or volume returns `manual:<name>`, a snapshot `manual:<volume>-<snapshot>`;
/// - resizing, deleting, attaching and releasing do nothing;
/// - [`Engine::allocate_ip`] returns `manual:<network>`, which is a placeholder and not an
///   address: the address is whatever the provider's console assigned, and the operator
///   records it;
/// - [`Engine::describe`] returns `None`: there is nothing for govcloud to look at.
#[derive(Debug, Clone, Copy, Default)]
pub struct ManualEngine;

impl ManualEngine {
    pub fn new() -> Self {
        ManualEngine
    }
}

/// The name inside a `manual:<name>` reference.
fn parse(r: &str) -> Result<&str, EngineError> {
    match r.strip_prefix(PREFIX) {
        Some(name) if validate_name("name", name).is_ok() => Ok(name),
        _ => Err(EngineError::InvalidRef(format!(
            "{r:?} is not a manual engine reference (manual:<name>)"
        ))),
    }
}

impl Engine for ManualEngine {
    fn name(&self) -> &'static str {
        "manual"
    }

    fn create_host(&self, spec: &HostSpec) -> Result<String, EngineError> {
        spec.validate()?;
        Ok(format!("{PREFIX}{}", spec.name))
    }

    fn resize_host(&self, r: &str, vcpus: u32, memory_mib: u64) -> Result<(), EngineError> {
        parse(r)?;
        validate_size(vcpus, memory_mib)
    }

    fn delete_host(&self, r: &str) -> Result<(), EngineError> {
        parse(r).map(drop)
    }

    fn create_volume(&self, spec: &VolumeSpec) -> Result<String, EngineError> {
        spec.validate()?;
        Ok(format!("{PREFIX}{}", spec.name))
    }

    fn resize_volume(&self, r: &str, size_gib: u64) -> Result<(), EngineError> {
        parse(r)?;
        if size_gib == 0 {
            return Err(EngineError::InvalidSpec(
                "a volume needs at least 1 GiB".into(),
            ));
        }
        Ok(())
    }

    fn snapshot_volume(&self, r: &str, snapshot: &str) -> Result<String, EngineError> {
        let volume = parse(r)?;
        let name = format!("{volume}-{snapshot}");
        validate_name("snapshot name", snapshot)?;
        validate_name("snapshot volume name", &name)?;
        Ok(format!("{PREFIX}{name}"))
    }

    fn delete_volume(&self, r: &str) -> Result<(), EngineError> {
        parse(r).map(drop)
    }

    fn attach_volume(&self, host: &str, volume: &str) -> Result<(), EngineError> {
        parse(host)?;
        parse(volume).map(drop)
    }

    fn allocate_ip(&self, network: &str) -> Result<String, EngineError> {
        validate_name("network name", network)?;
        Ok(format!("{PREFIX}{network}"))
    }

    fn release_ip(&self, network: &str, _ip: &str) -> Result<(), EngineError> {
        validate_name("network name", network)
    }

    fn describe(&self, r: &str) -> Result<Option<Described>, EngineError> {
        parse(r)?;
        Ok(None)
    }
}
