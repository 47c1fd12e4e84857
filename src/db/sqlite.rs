//! `sqlite3://`: the address (always compiled) and the client (cargo feature `sqlite`).

use crate::address::Target;
use crate::error::Error;
use crate::options::Options;

use super::Opener;

/// Checks a `sqlite3://` address; its host and port.
pub(super) fn endpoint(url: &str) -> Result<(String, u16), Error> {
    let _ = url;
    Ok((String::new(), 0))
}

/// The opener for `target`, or `Unsupported` naming the feature.
pub(super) fn opener(target: &Target, _options: &Options) -> Result<Box<dyn Opener>, Error> {
    Err(super::feature_off(target.scheme(), "sqlite"))
}
