//! `terraform-provider-baremetal`: the tfplugin6 server. Thin: it turns the planner's schema specs into
//! Terraform schemas and diagnostics, and each resource's create, read, update and delete into calls
//! to the same engine `bmplan` uses (the `planner` crate).

mod actions;
mod data;
mod engine;
mod ephemeral;
mod lists;
mod logging;
mod plugin;
mod provider;
mod resource;
mod resources;
mod value;

fn main() -> std::process::ExitCode {
    logging::init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("terraform-provider-baremetal: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let provider = std::sync::Arc::new(provider::BaremetalProvider::default());
    match runtime.block_on(plugin::serve::serve(provider)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("terraform-provider-baremetal: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
