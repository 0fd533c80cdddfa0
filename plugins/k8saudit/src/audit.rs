//! Audit records read into typed views that borrow from the JSON text and skip every other
//! member, instead of a `serde_json::Value` tree: a record is about 600 bytes of which the
//! rules read a dozen members, and building the tree (then, for a record's payload, writing
//! it out again) was most of the plugin's cost. A record whose members have unexpected types
//! fails these views; the callers then fall back to the tree, so answers do not change.

use serde::Deserialize;
use serde_json::value::RawValue;
use std::borrow::Cow;

/// What a line or a posted body is: an `EventList` (its `items`) or one event (its times).
#[derive(Deserialize)]
pub struct Record<'a> {
    #[serde(borrow, default)]
    pub kind: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub items: Option<Vec<&'a RawValue>>,
    #[serde(rename = "stageTimestamp", borrow, default)]
    pub stage: Option<Cow<'a, str>>,
    #[serde(rename = "requestReceivedTimestamp", borrow, default)]
    pub received: Option<Cow<'a, str>>,
}

/// An event's times, as RFC 3339 text.
#[derive(Deserialize, Default)]
pub struct Times<'a> {
    #[serde(rename = "stageTimestamp", borrow, default)]
    pub stage: Option<Cow<'a, str>>,
    #[serde(rename = "requestReceivedTimestamp", borrow, default)]
    pub received: Option<Cow<'a, str>>,
}

/// The members of an audit event that the `ka.*` fields read.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct Audit<'a> {
    #[serde(rename = "auditID", borrow)]
    pub audit_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub stage: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub verb: Option<Cow<'a, str>>,
    #[serde(rename = "requestURI", borrow)]
    pub request_uri: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub user: Option<User<'a>>,
    #[serde(rename = "objectRef", borrow)]
    pub object_ref: Option<ObjectRef<'a>>,
    #[serde(rename = "userAgent", borrow)]
    pub user_agent: Option<Cow<'a, str>>,
    #[serde(rename = "responseStatus")]
    pub response_status: Option<Status>,
    #[serde(rename = "requestObject")]
    pub request_object: Option<RequestObject>,
    #[serde(rename = "sourceIPs", borrow)]
    pub source_ips: Option<Vec<Cow<'a, str>>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct User<'a> {
    #[serde(borrow)]
    pub username: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub groups: Option<Vec<Cow<'a, str>>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct ObjectRef<'a> {
    #[serde(borrow)]
    pub resource: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub subresource: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub namespace: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub name: Option<Cow<'a, str>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct Status {
    pub code: Option<u64>,
}

/// Only a pod's containers are read; any other object's members are skipped.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct RequestObject {
    pub spec: Option<Spec>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct Spec {
    pub containers: Option<Vec<Container>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct Container {
    #[serde(rename = "securityContext")]
    pub security_context: Option<SecurityContext>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct SecurityContext {
    pub privileged: Option<bool>,
}

impl Audit<'_> {
    /// The text member behind `TEXT_FIELDS[i]` (the same order).
    pub fn text(&self, i: usize) -> Option<&str> {
        let obj = self.object_ref.as_ref();
        let v = match i {
            0 => &self.audit_id,
            1 => &self.stage,
            2 => &self.verb,
            3 => &self.request_uri,
            4 => return self.user.as_ref()?.username.as_deref(),
            5 => return obj?.resource.as_deref(),
            6 => return obj?.subresource.as_deref(),
            7 => return obj?.namespace.as_deref(),
            8 => return obj?.name.as_deref(),
            9 => &self.user_agent,
            _ => return None,
        };
        v.as_deref()
    }

    /// Whether any container of the pod in the request is privileged; `None` when the
    /// request has no containers.
    pub fn privileged(&self) -> Option<bool> {
        let containers = self.request_object.as_ref()?.spec.as_ref()?.containers.as_ref()?;
        Some(
            containers
                .iter()
                .any(|c| c.security_context.as_ref().and_then(|s| s.privileged).unwrap_or(false)),
        )
    }
}
