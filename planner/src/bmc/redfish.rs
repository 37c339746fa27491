//! A thin typed Redfish client on reqwest + serde.

use serde_json::Value;

use super::{BmcError, Endpoint, TlsTrust};

/// A client for one BMC.
pub struct RedfishClient {
    endpoint: Endpoint,
    http: reqwest::Client,
}

/// What the inventory keeps about a computer system.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SystemSummary {
    pub id: String,
    pub manufacturer: String,
    pub model: String,
    pub serial: String,
    pub uuid: String,
    pub power_state: String,
    pub health: String,
    pub cpus: u64,
    pub memory_gib: f64,
    pub bios_version: String,
}

impl RedfishClient {
    pub fn new(endpoint: Endpoint) -> Result<RedfishClient, BmcError> {
        let bmc = endpoint.url.clone();
        let mut builder = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(30))
            .connect_timeout(std::time::Duration::from_secs(10))
            .tls_built_in_root_certs(false);
        match &endpoint.tls {
            TlsTrust::NoExtraRoots => {}
            TlsTrust::CaBundle(path) => {
                let pem = std::fs::read(path).map_err(|source| BmcError::CaBundle {
                    bmc: bmc.clone(),
                    path: path.clone(),
                    source,
                })?;
                let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|_| {
                    BmcError::CaBundleEmpty {
                        bmc: bmc.clone(),
                        path: path.clone(),
                    }
                })?;
                if certs.is_empty() {
                    return Err(BmcError::CaBundleEmpty {
                        bmc,
                        path: path.clone(),
                    });
                }
                for c in certs {
                    builder = builder.add_root_certificate(c);
                }
            }
            TlsTrust::Insecure => builder = builder.danger_accept_invalid_certs(true),
        }
        let http = builder
            .build()
            .map_err(|source| BmcError::Client { bmc, source })?;
        Ok(RedfishClient { endpoint, http })
    }

    /// GETs a Redfish resource by its path (`/redfish/v1/...`).
    pub async fn get(&self, path: &str, operation: &str) -> Result<Value, BmcError> {
        let url = format!("{}{}", self.endpoint.url.trim_end_matches('/'), path);
        let bmc = || self.endpoint.url.clone();
        let resp = self
            .http
            .get(&url)
            .basic_auth(&self.endpoint.username, Some(&self.endpoint.password))
            .header("OData-Version", "4.0")
            .header("Accept", "application/json")
            .send()
            .await
            .map_err(|source| BmcError::Transport {
                bmc: bmc(),
                operation: operation.into(),
                source,
            })?;
        let status = resp.status();
        if !status.is_success() {
            let body: Value = resp.json().await.unwrap_or(Value::Null);
            return Err(BmcError::Status {
                bmc: bmc(),
                operation: operation.into(),
                status: status.as_u16(),
                messages: extended_info(&body),
            });
        }
        resp.json().await.map_err(|source| BmcError::Decode {
            bmc: bmc(),
            operation: operation.into(),
            source,
        })
    }

    /// Ids of the systems this BMC manages.
    pub async fn system_ids(&self) -> Result<Vec<String>, BmcError> {
        let c = self.get("/redfish/v1/Systems", "list systems").await?;
        Ok(members(&c)
            .into_iter()
            .filter_map(|m| m.rsplit('/').next().map(String::from))
            .collect())
    }

    pub async fn system(&self, id: &str) -> Result<SystemSummary, BmcError> {
        let s = self
            .get(&format!("/redfish/v1/Systems/{id}"), "read system")
            .await?;
        let text = |p: &str| {
            s.pointer(p)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        Ok(SystemSummary {
            id: id.to_string(),
            manufacturer: text("/Manufacturer"),
            model: text("/Model"),
            serial: text("/SerialNumber"),
            uuid: text("/UUID"),
            power_state: text("/PowerState"),
            health: text("/Status/Health"),
            cpus: s
                .pointer("/ProcessorSummary/Count")
                .and_then(Value::as_u64)
                .unwrap_or(0),
            memory_gib: s
                .pointer("/MemorySummary/TotalSystemMemoryGiB")
                .and_then(Value::as_f64)
                .unwrap_or(0.0),
            bios_version: text("/BiosVersion"),
        })
    }

    /// Current BIOS attributes of a system.
    pub async fn bios_attributes(
        &self,
        id: &str,
    ) -> Result<serde_json::Map<String, Value>, BmcError> {
        let b = self
            .get(&format!("/redfish/v1/Systems/{id}/Bios"), "read BIOS")
            .await?;
        Ok(b.get("Attributes")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default())
    }
}

/// The `@odata.id` of each member of a collection.
pub fn members(collection: &Value) -> Vec<String> {
    collection
        .get("Members")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|m| m.get("@odata.id").and_then(Value::as_str).map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// The human-readable messages of a Redfish error body.
pub fn extended_info(body: &Value) -> Vec<String> {
    let mut out: Vec<String> = body
        .pointer("/error/@Message.ExtendedInfo")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|m| m.get("Message").and_then(Value::as_str).map(String::from))
                .collect()
        })
        .unwrap_or_default();
    if out.is_empty() {
        if let Some(m) = body.pointer("/error/message").and_then(Value::as_str) {
            out.push(m.to_string());
        }
    }
    out
}
