//! The importer's reading of a page of users: identifiers borrowed from the body (most of them
//! are only looked up in the portal index, never kept), phones, tokens and keys read straight
//! into [`Authenticator`]s, everything else skipped over.

use std::borrow::Cow;
use std::hash::{BuildHasher, RandomState};

use serde::Deserialize;

use super::UserId;
use super::matching::{Few, PortalIndex, Slot};
use super::{Authenticator, DuoGroup};
use crate::Error;
use crate::models::{AliasList, Capability, Platform, Token, UserStatus};

#[derive(Debug, Deserialize)]
struct DuoPhone {
    phone_id: String,
    #[serde(default)]
    number: Option<String>,
    #[serde(default)]
    platform: Option<Open<Platform>>,
    #[serde(default)]
    activated: Option<bool>,
    #[serde(default)]
    capabilities: Vec<Open<Capability>>,
}

/// A value of an open enum (status, platform, capability), read from the string as it lies in
/// the page: no `String` is made for the values this version knows (the enums' own
/// `Deserialize` reads an owned string first).
#[derive(Debug)]
struct Open<T>(T);

impl<'de, T: for<'a> From<&'a str>> Deserialize<'de> for Open<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Text<T>(std::marker::PhantomData<T>);
        impl<T: for<'a> From<&'a str>> serde::de::Visitor<'_> for Text<T> {
            type Value = Open<T>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Open<T>, E> {
                Ok(Open(T::from(s)))
            }
        }
        d.deserialize_str(Text(std::marker::PhantomData))
    }
}

#[derive(Debug, Deserialize)]
struct DuoKey {
    #[serde(default)]
    webauthnkey: Option<String>,
    #[serde(default)]
    credential_name: Option<String>,
}

/// A Duo user as the importer keeps it: what the report uses, taken from the page and
/// looked up in the portal index on the blocking pool while the next pages are fetched.
#[derive(Debug)]
pub(super) struct Read {
    pub(super) user_id: String,
    pub(super) username: String,
    pub(super) status: UserStatus,
    pub(super) authenticators: Vec<Authenticator>,
    pub(super) groups: Vec<DuoGroup>,
    pub(super) id_hash: u64,
    /// The portal users this Duo user reaches, and how.
    pub(super) claims: Few<(usize, Slot)>,
    /// What matching reads, kept when the page was read before the portal index was ready.
    pub(super) unmatched: Option<Box<Identifiers>>,
}

/// A Duo user's aliases and email, for looking the user up later.
#[derive(Debug)]
pub(super) struct Identifiers {
    aliases: Vec<String>,
    email: Option<String>,
}

impl Read {
    /// Looks the user up in `index` if its page was read before the index was ready.
    pub(super) fn look_up(&mut self, index: &PortalIndex) {
        if let Some(ids) = self.unmatched.take() {
            let mut claims = Few::None;
            index.claims(
                &self.user_id,
                &self.username,
                ids.aliases.iter().map(String::as_str),
                ids.email.as_deref(),
                |pi, slot| claims.push((pi, slot)),
            );
            self.claims = claims;
        }
    }
}

impl UserId for Read {
    fn user_id(&self) -> &str {
        &self.user_id
    }
}

/// The importer's reading of a page: the users' identifiers borrowed from the body (most of
/// them are only looked up, never kept), the rest skipped over.
pub(super) struct ImportDecode {
    /// Set by the importer right after the walk's request chain has started (building it
    /// takes about as long as that request); a page decoded before keeps what matching needs
    /// for the walk to look it up.
    pub(super) index: std::sync::OnceLock<PortalIndex>,
    pub(super) ids: RandomState,
}

/// A string as it lies in the page: borrowed unless it had escapes.
struct Text<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(TextVisitor)
    }
}

struct TextVisitor;

impl<'de> serde::de::Visitor<'de> for TextVisitor {
    type Value = Text<'de>;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a string")
    }
    fn visit_borrowed_str<E: serde::de::Error>(self, s: &'de str) -> Result<Text<'de>, E> {
        Ok(Text(Cow::Borrowed(s)))
    }
    fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Text<'de>, E> {
        Ok(Text(Cow::Owned(s.to_owned())))
    }
    fn visit_string<E: serde::de::Error>(self, s: String) -> Result<Text<'de>, E> {
        Ok(Text(Cow::Owned(s)))
    }
}

/// A listed user, as the importer reads it.
#[derive(Deserialize)]
struct Listed<'a> {
    #[serde(borrow)]
    user_id: Text<'a>,
    #[serde(borrow)]
    username: Text<'a>,
    #[serde(borrow, default)]
    email: Option<Text<'a>>,
    status: Open<UserStatus>,
    #[serde(borrow, default)]
    aliases: AliasList<'a>,
    #[serde(default)]
    phones: Authenticators<DuoPhone>,
    #[serde(default)]
    tokens: Authenticators<Token>,
    #[serde(default)]
    webauthncredentials: Authenticators<DuoKey>,
    #[serde(default)]
    groups: Vec<DuoGroup>,
}

/// A list of phones, tokens or keys read straight into [`Authenticator`]s, one element at a
/// time (no intermediate list).
struct Authenticators<S>(Vec<Authenticator>, std::marker::PhantomData<S>);

impl<S> Default for Authenticators<S> {
    fn default() -> Self {
        Self(Vec::new(), std::marker::PhantomData)
    }
}

/// What a listed phone, token or key becomes.
trait AsAuthenticator {
    fn authenticator(self) -> Authenticator;
}

impl<'de, S: Deserialize<'de> + AsAuthenticator> Deserialize<'de> for Authenticators<S> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<S>(std::marker::PhantomData<S>);
        impl<'de, S: Deserialize<'de> + AsAuthenticator> serde::de::Visitor<'de> for V<S> {
            type Value = Authenticators<S>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a list")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Self::Value, A::Error> {
                let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(16));
                while let Some(item) = seq.next_element::<S>()? {
                    out.push(item.authenticator());
                }
                Ok(Authenticators(out, std::marker::PhantomData))
            }
        }
        d.deserialize_seq(V(std::marker::PhantomData))
    }
}

impl AsAuthenticator for DuoPhone {
    fn authenticator(self) -> Authenticator {
        let p = self;
        Authenticator::Phone {
            phone_id: p.phone_id,
            number: p.number,
            platform: p.platform.map(|p| p.0),
            activated: p.activated.unwrap_or(false),
            capabilities: p.capabilities.into_iter().map(|c| c.0).collect(),
        }
    }
}

impl AsAuthenticator for Token {
    fn authenticator(self) -> Authenticator {
        let t = self;
        Authenticator::Token {
            token_id: t.token_id,
            serial: t.serial,
            token_type: t.kind,
        }
    }
}

impl AsAuthenticator for DuoKey {
    fn authenticator(self) -> Authenticator {
        let w = self;
        Authenticator::WebAuthn {
            key: w.webauthnkey,
            name: w.credential_name,
        }
    }
}

/// A page's envelope, its users read one by one straight into [`Read`]s (no list of parsed
/// users in between).
struct Envelope<'d>(&'d ImportDecode);

/// What a page gives: `stat`, the users, `metadata`.
type ReadPage = (Option<String>, Vec<Read>, serde_json::Value);

impl<'de> serde::de::DeserializeSeed<'de> for Envelope<'_> {
    type Value = ReadPage;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<ReadPage, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Envelope<'_> {
    type Value = ReadPage;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Duo's envelope")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<ReadPage, A::Error> {
        let (mut stat, mut users, mut metadata) = (None, None, serde_json::Value::Null);
        while let Some(Text(k)) = map.next_key::<Text<'de>>()? {
            match &*k {
                "stat" => stat = Some(map.next_value::<Text<'de>>()?.0.into_owned()),
                "response" => users = Some(map.next_value_seed(Users(self.0))?),
                "metadata" => metadata = map.next_value()?,
                _ => {
                    map.next_value::<serde::de::IgnoredAny>()?;
                }
            }
        }
        let users = users.ok_or_else(|| serde::de::Error::missing_field("response"))?;
        Ok((stat, users, metadata))
    }
}

/// The `response` list of a page of users.
struct Users<'d>(&'d ImportDecode);

impl<'de> serde::de::DeserializeSeed<'de> for Users<'_> {
    type Value = Vec<Read>;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Vec<Read>, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Users<'_> {
    type Value = Vec<Read>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a list of users")
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<Read>, A::Error> {
        // Duo's pages hold up to 300 users.
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(300).min(1024));
        while let Some(user) = seq.next_element::<Listed<'de>>()? {
            out.push(self.0.read(user));
        }
        Ok(out)
    }
}

impl crate::paging::Decode for ImportDecode {
    type Item = Read;

    fn decode(
        &self,
        raw: &duo_auth::transport::RawResponse,
        attempts: u32,
    ) -> Result<(Vec<Read>, serde_json::Value), Error> {
        let shape_error = if (200..300).contains(&raw.status) {
            use serde::de::DeserializeSeed;
            // Checked to be UTF-8 once, so the reader need not check each string again.
            let read = match std::str::from_utf8(&raw.body) {
                Ok(text) => {
                    let mut de = serde_json::Deserializer::from_str(text);
                    Envelope(self)
                        .deserialize(&mut de)
                        .and_then(|p| de.end().map(|()| p))
                }
                Err(_) => {
                    let mut de = serde_json::Deserializer::from_slice(&raw.body);
                    Envelope(self)
                        .deserialize(&mut de)
                        .and_then(|p| de.end().map(|()| p))
                }
            };
            match read {
                Ok((Some(stat), users, metadata)) if stat == "OK" => return Ok((users, metadata)),
                Ok(_) => None,
                Err(e) => Some(e),
            }
        } else {
            None
        };
        // Duo's error answer, or no envelope at all: told as any other listing tells it.
        duo_auth::transport::parse_typed::<serde::de::IgnoredAny>(raw, attempts)?;
        // An envelope saying OK whose users are not users.
        let keep = &raw.body[..raw.body.len().min(4096)];
        Err(Error::Duo(duo_auth::Error::UnexpectedResponse {
            status: raw.status,
            reason: match shape_error {
                Some(e) => format!("the response does not have the expected shape: {e}"),
                None => "the response does not have the expected shape".to_owned(),
            },
            body: String::from_utf8_lossy(keep).into_owned(),
        }))
    }
}

impl ImportDecode {
    fn read(&self, u: Listed<'_>) -> Read {
        let mut claims = Few::None;
        let mut unmatched = None;
        match self.index.get() {
            Some(index) => index.claims(
                &u.user_id.0,
                &u.username.0,
                u.aliases.0.iter().map(|(_, a)| &**a),
                u.email.as_ref().map(|e| &*e.0),
                |pi, slot| claims.push((pi, slot)),
            ),
            None => {
                unmatched = Some(Box::new(Identifiers {
                    aliases: u
                        .aliases
                        .0
                        .into_iter()
                        .map(|(_, a)| a.into_owned())
                        .collect(),
                    email: u.email.map(|e| e.0.into_owned()),
                }))
            }
        }
        // Phones first, then tokens, then keys (most users have only phones: no copy then).
        let mut authenticators = u.phones.0;
        authenticators.extend(u.tokens.0);
        authenticators.extend(u.webauthncredentials.0);
        Read {
            id_hash: self.ids.hash_one(&*u.user_id.0),
            user_id: u.user_id.0.into_owned(),
            username: u.username.0.into_owned(),
            status: u.status.0,
            authenticators,
            groups: u.groups,
            claims,
            unmatched,
        }
    }
}
