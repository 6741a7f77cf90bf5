pub fn run(_a: IngestArgs, _c: &ragd_config::Config) -> anyhow::Result<std::process::ExitCode> { todo!() }
#[derive(Debug, clap::Args)] pub struct IngestArgs {}
