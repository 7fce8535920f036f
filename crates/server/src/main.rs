fn main() -> std::process::ExitCode {
    govcloud::cli::main()
}
