//! BMC sessions given out for the length of one Terraform run (the provider's ephemeral
//! `baremetal_bmc_session`): opened with the node's sealed credentials, kept alive, closed, and
//! audited (opening and closing; never the token).

use crate::bmc::{Bmc, BmcError, BmcSession};
use crate::inventory::{Inventory, InventoryError};

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error(transparent)]
    Inventory(#[from] InventoryError),
    #[error(transparent)]
    Bmc(#[from] BmcError),
}

/// An open session on a node's BMC, with the client that opened it (the one to close it with).
pub struct OpenSession {
    pub node: String,
    /// The BMC's base URL: the only origin the token may be sent to.
    pub url: String,
    pub session: BmcSession,
    bmc: Box<dyn Bmc>,
}

/// Opens a session on `node`'s BMC for `who` (audited).
pub async fn open(inv: &Inventory, node: &str, who: &str) -> Result<OpenSession, SessionError> {
    let (ep, _system) = inv.node_endpoint(node).await?;
    let url = ep.url.clone();
    let bmc = crate::bmc::open(ep, crate::bmc::Purpose::Change)?;
    let session = bmc.open_session().await?;
    let audited = inv
        .record_node_operation("node.session.open", node, None, &format!("for {who}"))
        .await;
    if let Err(e) = audited {
        // Not recorded, so not given out: the session is ended on the BMC.
        bmc.close_session(&session).await;
        return Err(e.into());
    }
    Ok(OpenSession {
        node: node.to_string(),
        url,
        session,
        bmc,
    })
}

impl OpenSession {
    /// Keeps the session alive; an error when it has ended on the BMC.
    pub async fn renew(&self) -> Result<(), BmcError> {
        self.bmc.renew_session(&self.session).await
    }

    /// Ends the session on the BMC (audited).
    pub async fn close(&self, inv: &Inventory, who: &str) {
        self.bmc.close_session(&self.session).await;
        let detail = format!("for {who}");
        let _ = inv
            .record_node_operation("node.session.close", &self.node, None, &detail)
            .await;
    }
}
