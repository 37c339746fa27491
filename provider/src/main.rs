//! `terraform-provider-baremetal`: the tfplugin6 server. Thin: it turns the planner's schema specs into
//! Terraform schemas and diagnostics, and each resource's create, read, update and delete into calls
//! to the same engine `bmplan` uses (the `planner` crate).

mod data;
mod engine;
mod logging;
mod nodelay;
mod provider;
mod resource;
mod resources;
mod value;

fn main() -> anyhow::Result<()> {
    // Terraform passes RUST_BACKTRACE through; without this, tf-provider appends a backtrace to every
    // diagnostic the user reads.
    std::env::set_var("RUST_LIB_BACKTRACE", "0");
    logging::init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(tf_provider::serve(
        "baremetal",
        provider::BaremetalProvider::default(),
    ))
}
