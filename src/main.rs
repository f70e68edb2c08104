//! The `cordon` binary: parse arguments, hand over to the library's CLI.

fn main() {
    std::process::exit(cordon::cli::main());
}
