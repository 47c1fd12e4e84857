//! `mqtt://`: the address (always compiled) and the client (cargo feature `mqtt`).

use crate::address::{Scheme, Target};
use crate::error::Error;
use crate::options::Options;

use super::Protocol;

/// Checks a `mqtt://` address; its host and port.
pub(super) fn endpoint(scheme: Scheme, url: &str) -> Result<(String, u16), Error> {
    let _ = scheme;
    super::generic_endpoint(url)
}

/// The protocol for `target`, or `Unsupported` naming the feature.
pub(super) fn protocol(target: &Target, _options: &Options) -> Result<Box<dyn Protocol>, Error> {
    Err(super::feature_off(target.scheme(), "mqtt"))
}
