//! Building the client's `HeaderMap` from name/value text without ever
//! reaching async-nats' panics: `HeaderMap::append(&str, &str)` asserts
//! that names are visible ASCII without ':' and values carry no CR/LF, and
//! names and values here come from users and capture files.

use std::str::FromStr;

use async_nats::{HeaderMap, HeaderName, HeaderValue};

/// A header the client cannot send.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    #[error("header name {0:?} cannot be sent: only visible ASCII characters, no ':'")]
    BadName(String),
    #[error("header {0} cannot be sent: its value has a line break")]
    BadValue(String),
}

/// Parsed header names by text: a replay sends the same few names over and
/// over, and parsing one (a check, a comparison against every standard
/// name, an allocation) cost more than the lookup.
#[derive(Default)]
pub struct HeaderNames {
    known: Vec<(Box<str>, HeaderName)>,
}

/// Distinct names kept at most (one bit each in `Added`); past that, names
/// are parsed each time.
const MAX_KNOWN: usize = 64;

/// Which known names the map being built already holds, by index in
/// `known`: a bit test instead of comparing (and cloning) names.
type Added = u64;

/// A name to insert: one of the known ones, or one parsed just now.
enum Name {
    Known(usize),
    Parsed(HeaderName),
}

impl HeaderNames {
    fn get(&mut self, name: &str) -> Result<Name, HeaderError> {
        if let Some(index) = self.known.iter().position(|(n, _)| &**n == name) {
            return Ok(Name::Known(index));
        }
        let parsed =
            HeaderName::from_str(name).map_err(|_| HeaderError::BadName(name.to_owned()))?;
        if self.known.len() < MAX_KNOWN {
            self.known.push((name.into(), parsed));
            return Ok(Name::Known(self.known.len() - 1));
        }
        Ok(Name::Parsed(parsed))
    }

    /// A header map of `pairs` (multi-valued names kept), or what is wrong.
    pub fn map<'a>(
        &mut self,
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<HeaderMap, HeaderError> {
        self.build(|add| {
            for (name, value) in pairs {
                add(name, value);
            }
        })
    }

    /// A header map of the pairs `fill` hands to `add`, or the first thing
    /// wrong with them.
    pub fn build(
        &mut self,
        fill: impl FnOnce(&mut dyn FnMut(&str, &str)),
    ) -> Result<HeaderMap, HeaderError> {
        let mut map = HeaderMap::new();
        let mut added: Added = 0;
        let mut result = Ok(());
        fill(&mut |name, value| {
            if result.is_ok() {
                result = self.add(&mut map, &mut added, name, value);
            }
        });
        result.map(|()| map)
    }

    /// Add one header to a map built earlier (appended: the map may hold
    /// the name already).
    pub fn append(
        &mut self,
        map: &mut HeaderMap,
        name: &str,
        value: &str,
    ) -> Result<(), HeaderError> {
        let value = header_value(name, value)?;
        map.append(self.name(name)?, value);
        Ok(())
    }

    /// Set one header of a map built earlier, replacing its values.
    pub fn set(&mut self, map: &mut HeaderMap, name: &str, value: &str) -> Result<(), HeaderError> {
        let value = header_value(name, value)?;
        map.insert(self.name(name)?, value);
        Ok(())
    }

    fn name(&mut self, name: &str) -> Result<HeaderName, HeaderError> {
        Ok(match self.get(name)? {
            Name::Known(index) => self.known[index].1.clone(),
            Name::Parsed(name) => name,
        })
    }

    fn add(
        &mut self,
        map: &mut HeaderMap,
        added: &mut Added,
        name: &str,
        value: &str,
    ) -> Result<(), HeaderError> {
        let value = header_value(name, value)?;
        // `append` hashes twice (a lookup, then an insert), `insert` once,
        // and names rarely repeat within a message.
        match self.get(name)? {
            Name::Known(index) if *added & (1 << index) == 0 => {
                *added |= 1 << index;
                map.insert(self.known[index].1.clone(), value);
            }
            Name::Known(index) => map.append(self.known[index].1.clone(), value),
            Name::Parsed(name) => map.append(name, value),
        }
        Ok(())
    }
}

fn header_value(name: &str, value: &str) -> Result<HeaderValue, HeaderError> {
    HeaderValue::from_str(value).map_err(|_| HeaderError::BadValue(name.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_names_and_values_are_errors_not_panics() {
        let mut names = HeaderNames::default();
        let map = names
            .map([("ce-id", "1"), ("X-Multi", "a"), ("X-Multi", "b")])
            .expect("valid");
        assert_eq!(map.get_all("X-Multi").count(), 2);
        assert!(
            names
                .map([("bad name", "v")])
                .unwrap_err()
                .to_string()
                .contains("bad name")
        );
        assert!(names.map([("ünï", "v")]).is_err());
        assert!(names.map([("a:b", "v")]).is_err());
        assert!(
            names
                .map([("ok", "line\r\nbreak")])
                .unwrap_err()
                .to_string()
                .contains("line break")
        );
    }
}
