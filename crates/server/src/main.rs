fn main() -> std::process::ExitCode {
    govcloud::install_crypto_provider();
    govcloud::cli::main()
}
