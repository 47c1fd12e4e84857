//! `kafka://`: the address (always compiled) and the client (cargo feature `kafka`).

use crate::address::Target;
use crate::error::Error;
use crate::options::Options;

use super::Protocol;

/// Checks a `kafka://` address; its host and port.
pub(super) fn endpoint(url: &str) -> Result<(String, u16), Error> {
    super::generic_endpoint(url)
}

/// The protocol for `target`, or `Unsupported` naming the feature.
pub(super) fn protocol(target: &Target, _options: &Options) -> Result<Box<dyn Protocol>, Error> {
    Err(super::feature_off(target.scheme(), "kafka"))
}
