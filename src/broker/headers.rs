//! Building the client's `HeaderMap` from name/value text without ever
//! reaching async-nats' panics: `HeaderMap::append(&str, &str)` asserts
//! that names are visible ASCII without ':' and values carry no CR/LF, and
//! names and values here come from users and capture files.

use std::str::FromStr;

use async_nats::{HeaderMap, HeaderName, HeaderValue};

/// Parsed header names by text: a replay sends the same few names over and
/// over, and parsing one (a check, a comparison against every standard
/// name, an allocation) cost more than the lookup.
#[derive(Default)]
pub struct HeaderNames {
    known: Vec<(Box<str>, HeaderName)>,
    /// Reused by `build` for the names already in the map being built.
    added: Vec<HeaderName>,
}

/// Distinct names kept at most; past that, names are parsed each time.
const MAX_KNOWN: usize = 64;

impl HeaderNames {
    fn get(&mut self, name: &str) -> Result<HeaderName, String> {
        if let Some((_, parsed)) = self.known.iter().find(|(n, _)| &**n == name) {
            return Ok(parsed.clone());
        }
        let parsed = HeaderName::from_str(name).map_err(|_| {
            format!("header name {name:?} cannot be sent: only visible ASCII characters, no ':'")
        })?;
        if self.known.len() < MAX_KNOWN {
            self.known.push((name.into(), parsed.clone()));
        }
        Ok(parsed)
    }

    /// A header map of `pairs` (multi-valued names kept), or what is wrong.
    pub fn map<'a>(
        &mut self,
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<HeaderMap, String> {
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
    ) -> Result<HeaderMap, String> {
        let mut map = HeaderMap::new();
        // Names already in the map: `append` hashes twice (a lookup, then
        // an insert), `insert` once, and names rarely repeat in a message.
        let mut added = std::mem::take(&mut self.added);
        added.clear();
        let mut result = Ok(());
        fill(&mut |name, value| {
            if result.is_ok() {
                result = self.add(&mut map, &mut added, name, value);
            }
        });
        self.added = added;
        result.map(|()| map)
    }

    fn add(
        &mut self,
        map: &mut HeaderMap,
        added: &mut Vec<HeaderName>,
        name: &str,
        value: &str,
    ) -> Result<(), String> {
        let value = HeaderValue::from_str(value)
            .map_err(|_| format!("header {name} cannot be sent: its value has a line break"))?;
        let name = self.get(name)?;
        if added.contains(&name) {
            map.append(name, value);
        } else {
            added.push(name.clone());
            map.insert(name, value);
        }
        Ok(())
    }
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
                .contains("bad name")
        );
        assert!(names.map([("ünï", "v")]).is_err());
        assert!(names.map([("a:b", "v")]).is_err());
        assert!(
            names
                .map([("ok", "line\r\nbreak")])
                .unwrap_err()
                .contains("line break")
        );
    }
}
