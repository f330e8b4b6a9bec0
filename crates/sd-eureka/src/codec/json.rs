//! The JSON codec: serde, with the model's tolerant field readers and a strict writer.

use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};

use super::{Format, lenient};
use crate::error::{DecodeError, EncodeError};
use crate::model::{
    Application, Applications, DataCenterInfo, Document, InstanceInfo, Metadata, Port,
};

/// The three roots a document may have: `{"applications": ...}` and so on.
#[derive(Deserialize)]
enum Root {
    #[serde(rename = "applications")]
    Applications(#[serde(deserialize_with = "lenient::or_default")] Applications),
    #[serde(rename = "application")]
    Application(#[serde(deserialize_with = "lenient::or_default")] Application),
    #[serde(rename = "instance")]
    Instance(Box<InstanceInfo>),
}

pub(super) fn decode(bytes: &[u8]) -> Result<Document, DecodeError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    // One UTF-8 check of the whole input is far cheaper than serde_json's check of every
    // string (8–9% of a large decode); from_str then trusts the input.
    let text = std::str::from_utf8(bytes).map_err(|e| {
        DecodeError::syntax(Format::Json, format!("the document is not UTF-8: {e}"))
            .at_offset(bytes, e.valid_up_to())
    })?;
    match serde_json::from_str::<Root>(text) {
        Ok(root) => Ok(match root {
            Root::Applications(apps) => Document::Applications(apps),
            Root::Application(app) => Document::Application(app),
            Root::Instance(instance) => Document::Instance(instance),
        }),
        // Errors are rare: decode again, tracking the path, only to say where it failed.
        Err(error) => Err(explain(text, &error)),
    }
}

fn explain(text: &str, error: &serde_json::Error) -> DecodeError {
    let mut de = serde_json::Deserializer::from_str(text);
    let path = match serde_path_to_error::deserialize::<_, Root>(&mut de) {
        Err(tracked) => tracked.path().to_string(),
        Ok(_) => String::new(),
    };
    // serde_json appends " at line L column C"; the position is reported separately.
    let rendered = error.to_string();
    let message = rendered
        .rsplit_once(" at line ")
        .map_or(rendered.as_str(), |(m, _)| m)
        .to_owned();
    // serde_json files some shape errors ("{}" for an enum) under syntax; what matters to
    // a caller is whether the input is JSON at all.
    let well_formed = serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok();
    let decode_error = if well_formed {
        DecodeError::invalid(Format::Json, message)
    } else {
        DecodeError::syntax(Format::Json, message)
    };
    decode_error.in_field(path).at(error.line(), error.column())
}

pub(super) fn encode_instance(instance: &InstanceInfo) -> Result<Vec<u8>, EncodeError> {
    Ok(serde_json::to_vec(&Wrapped("instance", Wire(instance)))?)
}

pub(super) fn encode_application(app: &Application) -> Result<Vec<u8>, EncodeError> {
    Ok(serde_json::to_vec(&Wrapped("application", Wire(app)))?)
}

pub(super) fn encode_applications(apps: &Applications) -> Result<Vec<u8>, EncodeError> {
    Ok(serde_json::to_vec(&Wrapped("applications", Wire(apps)))?)
}

/// `{"<root>": value}`: real servers reject unwrapped bodies.
struct Wrapped<T>(&'static str, T);

impl<T: Serialize> Serialize for Wrapped<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(1))?;
        map.serialize_entry(self.0, &self.1)?;
        map.end()
    }
}

/// The strict writer's view of a model value.
struct Wire<'a, T>(&'a T);

impl Serialize for Wire<'_, Applications> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let apps = self.0;
        let mut map = s.serialize_map(None)?;
        if let Some(version) = apps.versions_delta {
            map.serialize_entry("versions__delta", &version.to_string())?;
        }
        match &apps.apps_hashcode {
            Some(hash) => map.serialize_entry("apps__hashcode", hash)?,
            None => map.serialize_entry("apps__hashcode", &apps.reconcile_hash_code())?,
        }
        let list: Vec<Wire<'_, Application>> = apps.applications.iter().map(Wire).collect();
        map.serialize_entry("application", &list)?;
        map.end()
    }
}

impl Serialize for Wire<'_, Application> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(2))?;
        map.serialize_entry("name", &self.0.name)?;
        let list: Vec<Wire<'_, InstanceInfo>> = self.0.instances.iter().map(Wire).collect();
        map.serialize_entry("instance", &list)?;
        map.end()
    }
}

impl Serialize for Wire<'_, InstanceInfo> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let i = self.0;
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("instanceId", &i.instance_id)?;
        map.serialize_entry("hostName", &i.host_name)?;
        map.serialize_entry("app", &i.app)?;
        map.serialize_entry("ipAddr", &i.ip_addr)?;
        map.serialize_entry("status", i.status.as_str())?;
        map.serialize_entry("overriddenStatus", i.overridden_status.as_str())?;
        map.serialize_entry("port", &Wire(&i.port))?;
        map.serialize_entry("securePort", &Wire(&i.secure_port))?;
        map.serialize_entry("countryId", &i.country_id)?;
        map.serialize_entry("dataCenterInfo", &Wire(&i.data_center_info))?;
        map.serialize_entry("leaseInfo", &i.lease_info.unwrap_or_default())?;
        map.serialize_entry("metadata", &Wire(&i.metadata))?;

        for (key, value) in i.optional_fields() {
            if let Some(value) = value {
                map.serialize_entry(key, value)?;
            }
        }
        map.serialize_entry(
            "isCoordinatingDiscoveryServer",
            if i.is_coordinating_discovery_server {
                "true"
            } else {
                "false"
            },
        )?;
        map.serialize_entry(
            "lastUpdatedTimestamp",
            &i.last_updated_timestamp.to_string(),
        )?;
        map.serialize_entry("lastDirtyTimestamp", &i.last_dirty_timestamp.to_string())?;
        if let Some(action) = i.action_type {
            map.serialize_entry("actionType", action.as_str())?;
        }
        map.end()
    }
}

impl Serialize for Wire<'_, Port> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(2))?;
        map.serialize_entry("$", &self.0.port)?;
        map.serialize_entry("@enabled", if self.0.enabled { "true" } else { "false" })?;
        map.end()
    }
}

impl Serialize for Wire<'_, DataCenterInfo> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let dc = self.0;
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("@class", dc.class_or_default())?;
        map.serialize_entry("name", &dc.name)?;
        if !dc.metadata.is_empty() {
            map.serialize_entry("metadata", &dc.metadata)?;
        }
        map.end()
    }
}

/// Empty metadata carries Java's marker class, as servers write it.
impl Serialize for Wire<'_, Metadata> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.0.is_empty() {
            let mut map = s.serialize_map(Some(1))?;
            map.serialize_entry("@class", "java.util.Collections$EmptyMap")?;
            map.end()
        } else {
            self.0.serialize(s)
        }
    }
}
