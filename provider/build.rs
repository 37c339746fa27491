//! Generates the gRPC server code for Terraform's plugin protocol (`proto/tfplugin6.proto`) and
//! go-plugin's services (`proto/go_plugin.proto`, `proto/health.proto`) with tonic-build; `protoc`
//! comes from the system (Debian's `protobuf-compiler`, installed by `scripts/test.sh`).

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protos = [
        "proto/tfplugin6.proto",
        "proto/go_plugin.proto",
        "proto/health.proto",
    ];
    for p in protos {
        println!("cargo:rerun-if-changed={p}");
    }
    tonic_build::configure()
        .build_client(false)
        .build_server(true)
        .compile_protos(&protos, &["proto"])?;
    Ok(())
}
